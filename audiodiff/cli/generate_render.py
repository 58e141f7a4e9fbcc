"""``audiodiff generate`` (prompt -> WAV) and ``audiodiff render`` (MIDI plan -> WAV), each with a
sidecar JSON and optionally the plan's MIDI and a plot."""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from audiodiff.cli.control import guide_from_args, guide_record
from audiodiff.cli.messages import CliError, running, warn, warn_mapped
from audiodiff.cli.outputs import Staged, outputs, staged, stems_dir
from audiodiff.cli.plan import check_length

if TYPE_CHECKING:
    from audiodiff.music.plan import Plan
    from audiodiff.music.prompt import Prompt
    from audiodiff.pipeline import Pipeline, Result
    from audiodiff.structure.guide import Guide


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
        "program": melody.program + 1 if melody else None,  # GM numbers 1-128, as prompts and warnings
        "instrument": program_name(melody.program) if melody else None,
        "seconds": round(result.seconds, 6), "seed": result.seed,
        "plan": os.path.relpath(plan_path.resolve(), out.resolve().parent) if plan_path else None,
        **extra,
        "plan_data": plan.to_dict(),
    }
    return json.dumps(data, indent=1) + "\n"


def write_result(stage: Staged, result: Result, out: Path, sidecar: Path, plan_out: Path | None,
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


def _write_stems(stage: Staged, result: Result, folder: Path | None, **labels: object) -> None:
    """Stage the stem folder of one result (:func:`audiodiff.io.stems.write_stem_folder`), if asked for."""
    if folder is None:
        return
    from audiodiff.io.stems import piece_labels, stem_set, write_stem_folder

    write_stem_folder(stage.directory(folder), stem_set(result), piece_labels(result, **labels))


def set_threads(threads: int | None) -> int:
    """Set torch's CPU thread count if given; returns the count in use (it is part of what reproduces the bytes)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def load_pipeline(args: argparse.Namespace, with_structure: bool = True,
                  checkpoints: dict[str, str | None] | None = None) -> tuple[Pipeline, int]:
    """The pipeline of ``checkpoints`` (``{"structure": path or None, ...}``; by default ``args``'s) on
    ``args.backend`` with ``args.threads``, and the thread count it runs with (part of what
    reproduces the bytes)."""
    from audiodiff.pipeline import Pipeline

    paths = checkpoints or {name: getattr(args, name, None) for name in ("structure", "acoustic", "codec")}
    try:
        pipeline = Pipeline.load(paths.get("structure"), paths.get("acoustic"), paths.get("codec"),
                                 with_structure=with_structure, backend=args.backend, threads=args.threads)
    except ImportError as err:  # the backend's runtime is not installed: a one-line message naming the extra
        raise CliError(str(err), code=1) from None
    if pipeline.backend == "torch":
        return pipeline, set_threads(args.threads)
    return pipeline, args.threads or os.cpu_count() or 1


def checkpoints_record(args: argparse.Namespace) -> dict:
    return {name: getattr(args, name, None) or "shipped" for name in ("structure", "acoustic", "codec")}


def _print_result(out: Path, result: Result) -> None:
    from audiodiff.music.prompt import seconds_text

    print(f"{out}: {result.plan.key.name}, {result.plan.bpm:g} bpm, {result.plan.meter}, "
          f"{seconds_text(result.seconds)}, seed {result.seed}")


def warn_since(pipeline: Pipeline, seen: int) -> None:
    """Print the pipeline's warnings after the first ``seen`` (those already printed)."""
    for warning in pipeline.warnings[seen:]:
        warn(warning)


def check_generate(args: argparse.Namespace) -> tuple[Prompt, Guide | None, list[Path | None]]:
    """Everything ``generate`` checks before loading a model: the prompt (with ``--seconds``, ``--seed`` and a
    resolved seed), the guide of --chords / --melody / --form, and the output paths (WAV, sidecar, plan, plot)."""
    from dataclasses import replace

    from audiodiff.music.prompt import parse
    from audiodiff.seeds import resolve_seed

    prompt = parse(args.prompt)
    if args.seconds is not None:
        prompt = replace(prompt, seconds=args.seconds)
    if args.seed is not None:
        prompt = replace(prompt, seed=args.seed)
    paths = [*outputs(args.force, (args.output, "wav"), (Path(args.output).with_suffix(".json"), "json"),
                      (args.plan_out, "midi"), (args.plot, "png")), stems_dir(getattr(args, "stems", None))]
    prompt = replace(prompt, seed=resolve_seed(prompt.seed))
    guide, prompt = guide_from_args(args, args.prompt, prompt, seconds_given=args.seconds is not None)
    if guide is None:
        check_length(prompt)
    return prompt, guide, paths


def generate_with(pipeline: Pipeline, args: argparse.Namespace, prompt: Prompt, guide: Guide | None,
                  paths: list[Path | None], threads: int) -> Result:
    """Plan and render a checked request (:func:`check_generate`) with a loaded pipeline; write its files."""
    from dataclasses import replace

    from audiodiff.music.instruments import nearest_program

    out, sidecar, plan_out, plot, stems = paths
    assert out is not None and sidecar is not None
    program = nearest_program(prompt.program, pipeline.programs)
    if program != prompt.program:  # the prompt recorded in the sidecar names what is heard
        warn_mapped([("the melody", prompt.program, program)])
        prompt = replace(prompt, program=program)
    warn_since(pipeline, 0)
    seen = len(pipeline.warnings)
    with running():
        result = pipeline.generate([prompt], steps=args.steps, plan_steps=args.plan_steps, guidance=args.guidance,
                                   plan_guidance=args.plan_guidance, drums=not args.no_drums,
                                   guides=None if guide is None else [guide])[0]
        warn_since(pipeline, seen)
        extra = {"prompt": result.prompt.to_text(), "steps": args.steps, "plan_steps": args.plan_steps,
                 "guidance": args.guidance, "plan_guidance": args.plan_guidance, "drums": not args.no_drums,
                 "threads": threads, "backend": pipeline.backend, "checkpoints": checkpoints_record(args),
                 **guide_record(args)}
        with staged() as stage:
            _write_stems(stage, result, stems, steps=args.steps, guidance=args.guidance)
            write_result(stage, result, out, sidecar, plan_out, plot, None, extra, result.prompt.to_text())
            stage.commit()
    return result


def cmd_generate(args: argparse.Namespace) -> None:
    """Plan and render ``args.prompt``; write the WAV, its sidecar and the optional MIDI and plot."""
    prompt, guide, paths = check_generate(args)
    pipeline, threads = load_pipeline(args)
    result = generate_with(pipeline, args, prompt, guide, paths, threads)
    _print_result(Path(args.output), result)


def check_render(args: argparse.Namespace) -> tuple[Plan, list[Path | None]]:
    """Everything ``render`` checks before loading a model: seed, length, outputs (WAV, sidecar, plot) and
    the MIDI file, read as the plan that labels it (a note when the plan's grid moves note times; the
    audio plays the file as written, :func:`render_with`)."""
    from audiodiff.io.stems import MAX_STEMS
    from audiodiff.music.midi import load_midi, read_midi
    from audiodiff.music.plan import TAIL_SECONDS
    from audiodiff.music.prompt import seconds_text

    _check_seed(args.seed)
    if args.seconds is not None and not args.seconds > 0:
        raise CliError(f"--seconds must be positive, got {args.seconds:g}")
    paths = [*outputs(args.force, (args.output, "wav"), (Path(args.output).with_suffix(".json"), "json"),
                      (args.plot, "png")), stems_dir(getattr(args, "stems", None))]
    plan, report = load_midi(args.plan, as_written=True)
    if paths[-1] is not None and len(plan.tracks) > MAX_STEMS:
        raise CliError(f"{args.plan}: {len(plan.tracks)} tracks with notes; --stems writes at most {MAX_STEMS}")
    if report.num_moved:
        warn(f"{args.plan}: the audio plays every note as written; the sidecar's plan puts {report.num_moved} of "
             f"{2 * report.num_notes} note times on the 16th grid (max {report.max_error_seconds * 1000:.0f} ms)")
    seconds = read_midi(args.plan).performance().seconds
    if args.seconds is not None and args.seconds > seconds + TAIL_SECONDS:
        warn(f"--seconds {args.seconds:g} is longer than {args.plan} ({seconds_text(seconds)} and a "
             f"{seconds_text(TAIL_SECONDS)} release): rendering {seconds_text(seconds + TAIL_SECONDS)}")
    return plan, paths


def render_with(pipeline: Pipeline, args: argparse.Namespace, plan: Plan, paths: list[Path | None],
                threads: int) -> Result:
    """Render a checked file (:func:`check_render`) as written with a loaded pipeline; write its files."""
    from audiodiff.music.midi import read_midi
    from audiodiff.seeds import resolve_seed

    out, sidecar, plot, stems = paths
    assert out is not None and sidecar is not None
    warn_since(pipeline, 0)
    seen = len(pipeline.warnings)
    seed = resolve_seed(args.seed)
    performance = read_midi(args.plan).performance()
    with running():
        result = pipeline.render([plan], [seed], steps=args.steps, guidance=args.guidance, seconds=[args.seconds],
                                 performances=[performance])[0]
        warn_since(pipeline, seen)
        extra = {"source": str(args.plan), "steps": args.steps, "guidance": args.guidance, "threads": threads,
                 "backend": pipeline.backend,
                 "checkpoints": {k: v for k, v in checkpoints_record(args).items() if k != "structure"}}
        with staged() as stage:
            _write_stems(stage, result, stems, source=str(args.plan), steps=args.steps, guidance=args.guidance)
            write_result(stage, result, out, sidecar, None, plot, Path(args.plan), extra,
                         f"{args.plan}, seed {seed}")
            stage.commit()
    return result


def cmd_render(args: argparse.Namespace) -> None:
    """Render the MIDI file ``args.plan`` as written; write the WAV, its sidecar and the optional plot."""
    plan, paths = check_render(args)
    pipeline, threads = load_pipeline(args, with_structure=False)
    _print_result(Path(args.output), render_with(pipeline, args, plan, paths, threads))
