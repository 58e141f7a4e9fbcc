"""``audiodiff generate`` (prompt -> WAV) and ``audiodiff render`` (MIDI plan -> WAV), each with a
sidecar JSON and optionally the plan's MIDI and a plot."""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from audiodiff.cli.control import guide_from_args, guide_record
from audiodiff.cli.messages import CliError, running, warn, warn_mapped
from audiodiff.cli.outputs import Staged, outputs, staged
from audiodiff.cli.plan import check_length

if TYPE_CHECKING:
    from audiodiff.pipeline import Result


def _check_seed(seed: int | None) -> int | None:
    from audiodiff.music.prompt import SEED_LIMIT

    if seed is not None and not 0 <= seed < SEED_LIMIT:
        raise CliError(f"--seed must be in 0..{SEED_LIMIT - 1}, got {seed}")
    return seed


def _sidecar(out: Path, result: Result, plan_path: Path | None, extra: dict) -> str:
    """The JSON written next to a WAV: what it should sound like, and how to make it again."""
    import json

    from audiodiff.music.instruments import program_name

    plan = result.plan
    melody = plan.melody
    data = {
        "audio": out.name,
        "key": plan.key.name, "bpm": plan.bpm, "meter": plan.meter.name,
        "program": melody.program if melody else None,
        "instrument": program_name(melody.program) if melody else None,
        "seconds": round(result.seconds, 6), "seed": result.seed,
        "plan": os.path.relpath(plan_path.resolve(), out.resolve().parent) if plan_path else None,
        **extra,
        "plan_data": plan.to_dict(),
    }
    return json.dumps(data, indent=1) + "\n"


def _write_result(stage: Staged, result: Result, out: Path, sidecar: Path, plan_out: Path | None,
                  plot: Path | None, plan_ref: Path | None, extra: dict, title: str) -> None:
    """Stage the WAV, its sidecar, and the optional plan MIDI and plot of one result."""
    from audiodiff.io.atomic import write_text_atomic
    from audiodiff.io.audio import write_wav

    if write_wav(stage(out), result.audio, result.sample_rate):
        warn(f"{out}: the audio would clip; peak-normalised to -1 dBFS")
    if plan_out is not None:
        from audiodiff.music.midi import save_midi

        save_midi(result.plan, stage(plan_out))
    if plot is not None:
        from audiodiff.io.plot import save_plot

        save_plot(stage(plot), result.plan, result.audio, result.sample_rate, title=title)
    write_text_atomic(stage(sidecar), _sidecar(out, result, plan_out or plan_ref, extra))


def _set_threads(threads: int | None) -> int:
    """Set torch's CPU thread count if given; returns the count in use (it is part of what reproduces the bytes)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def _checkpoints(args: argparse.Namespace) -> dict:
    return {name: getattr(args, name, None) or "shipped" for name in ("structure", "acoustic", "codec")}


def _print_result(out: Path, result: Result) -> None:
    print(f"{out}: {result.plan.key.name}, {result.plan.bpm:g} bpm, {result.plan.meter}, "
          f"{result.seconds:g} s, seed {result.seed}")


def cmd_generate(args: argparse.Namespace) -> None:
    """Plan and render ``args.prompt``; write the WAV, its sidecar and the optional MIDI and plot."""
    from dataclasses import replace

    from audiodiff.music.prompt import parse

    prompt = parse(args.prompt)
    if args.seconds is not None:
        prompt = replace(prompt, seconds=args.seconds)
    if args.seed is not None:
        prompt = replace(prompt, seed=args.seed)
    out, sidecar, plan_out, plot = outputs(args.force, (args.output, "wav"),
                                           (Path(args.output).with_suffix(".json"), "json"),
                                           (args.plan_out, "midi"), (args.plot, "png"))
    from audiodiff.music.instruments import nearest_program
    from audiodiff.pipeline import Pipeline
    from audiodiff.seeds import resolve_seed

    prompt = replace(prompt, seed=resolve_seed(prompt.seed))
    guide, prompt = guide_from_args(args, args.prompt, prompt)
    if guide is None:
        check_length(prompt)
    threads = _set_threads(args.threads)
    pipeline = Pipeline.load(args.structure, args.acoustic, args.codec)
    program = nearest_program(prompt.program, pipeline.programs)
    if program != prompt.program:
        warn_mapped([("the melody", prompt.program, program)])
        prompt = replace(prompt, program=program)
    for warning in pipeline.warnings:
        warn(warning)
    with running():
        result = pipeline.generate([prompt], steps=args.steps, plan_steps=args.plan_steps, guidance=args.guidance,
                                   plan_guidance=args.plan_guidance, drums=not args.no_drums,
                                   guides=None if guide is None else [guide])[0]
        extra = {"prompt": result.prompt.to_text(), "steps": args.steps, "plan_steps": args.plan_steps,
                 "guidance": args.guidance, "plan_guidance": args.plan_guidance, "drums": not args.no_drums,
                 "threads": threads, "checkpoints": _checkpoints(args), **guide_record(args)}
        with staged() as stage:
            _write_result(stage, result, out, sidecar, plan_out, plot, None, extra, result.prompt.to_text())
            stage.commit()
    _print_result(out, result)


def cmd_render(args: argparse.Namespace) -> None:
    """Render the MIDI file ``args.plan``; write the WAV, its sidecar and the optional plot."""
    from audiodiff.music.midi import load_midi

    _check_seed(args.seed)
    if args.seconds is not None and not args.seconds > 0:
        raise CliError(f"--seconds must be positive, got {args.seconds:g}")
    out, sidecar, plot = outputs(args.force, (args.output, "wav"), (Path(args.output).with_suffix(".json"), "json"),
                                 (args.plot, "png"))
    plan, report = load_midi(args.plan)
    if report.num_moved:
        warn(f"{args.plan}: {report.num_moved} of {2 * report.num_notes} note times moved to the 16th grid "
             f"(max {report.max_error_seconds * 1000:.0f} ms)")
    from audiodiff.pipeline import Pipeline, map_programs
    from audiodiff.seeds import resolve_seed

    threads = _set_threads(args.threads)
    pipeline = Pipeline.load(acoustic=args.acoustic, codec=args.codec, with_structure=False)
    warn_mapped(map_programs(plan, pipeline.programs)[1])
    for warning in pipeline.warnings:
        warn(warning)
    seed = resolve_seed(args.seed)
    with running():
        result = pipeline.render([plan], [seed], steps=args.steps, guidance=args.guidance, seconds=[args.seconds])[0]
        extra = {"source": str(args.plan), "steps": args.steps, "guidance": args.guidance, "threads": threads,
                 "checkpoints": {k: v for k, v in _checkpoints(args).items() if k != "structure"}}
        with staged() as stage:
            _write_result(stage, result, out, sidecar, None, plot, Path(args.plan), extra,
                          f"{args.plan}, seed {seed}")
            stage.commit()
    _print_result(out, result)
