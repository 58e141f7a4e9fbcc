"""``audiodiff extend`` and ``audiodiff repaint``: continue or rewrite bars of a clip that
``audiodiff generate`` made, from the plan and seed in its sidecar JSON."""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING

from audiodiff.cli.generate_render import _print_result
from audiodiff.cli.messages import CliError, running, warn
from audiodiff.cli.outputs import outputs, staged

if TYPE_CHECKING:
    from audiodiff.music.plan import Plan
    from audiodiff.pipeline import Pipeline, Result


def bar_range(text: str) -> tuple[int, int]:
    """'5-8' or '5' (1-based, inclusive) -> 0-based (first, last)."""
    lo, _, hi = text.partition("-")
    try:
        first, last = int(lo), int(hi or lo)
    except ValueError:
        raise CliError(f"--bars wants a bar or a range like 5-8, got {text!r}") from None
    if not 1 <= first <= last:
        raise CliError(f"--bars wants 1 <= first <= last, got {text!r}")
    return first - 1, last - 1


def _check_plan(plan: Plan, where: str) -> None:
    """Refuse a sidecar plan that no model could render: tempo, length, programs, and every note's
    pitch, time, length and velocity, naming the field."""
    from audiodiff.music.prompt import BPM_RANGE
    from audiodiff.structure.sampling import MAX_BARS_GENERATED

    def bad(field: str, value: object, allowed: str) -> CliError:
        return CliError(f"{where}: plan_data {field} is {value!r}, want {allowed}")

    if not BPM_RANGE[0] <= plan.bpm <= BPM_RANGE[1]:
        raise bad("bpm", plan.bpm, f"{BPM_RANGE[0]}..{BPM_RANGE[1]}")
    most = MAX_BARS_GENERATED * plan.meter.steps_per_bar
    if not 1 <= plan.num_steps <= most:
        raise bad("num_steps", plan.num_steps, f"1..{most} ({MAX_BARS_GENERATED} bars)")
    if len(plan.chords) < plan.num_beats:
        raise bad("chords", f"{len(plan.chords)} chords", f"one per beat ({plan.num_beats})")
    for t, track in enumerate(plan.tracks):
        if not 0 <= track.program <= 127:
            raise bad(f"tracks[{t}].program", track.program, "a MIDI program 0..127")
        for i, n in enumerate(track.notes):
            for name, value, low, high in (("pitch", n.pitch, 0, 127), ("start", n.start, 0, plan.num_steps - 1),
                                           ("duration", n.duration, 1, most), ("velocity", n.velocity, 1, 127)):
                if not low <= value <= high:
                    raise bad(f"tracks[{t}].notes[{i}] {name}", value, f"{low}..{high}")


def _whole_field(data: dict, name: str, low: int, high: int, where: str) -> int:
    """The sidecar's whole-number field ``name``, checked to be in low..high."""
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CliError(f"{where}: {name} is {value!r}, want a whole number in {low}..{high}")
    return value


def _number_field(data: dict, name: str, low: float, high: float, where: str) -> float:
    """The sidecar's number field ``name``, checked to be finite and in low..high."""
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:  # refuses nan
        raise CliError(f"{where}: {name} is {value!r}, want a number in {low:g}..{high:g}")
    return float(value)


def read_clip(path: str) -> tuple[Result, dict]:
    """The clip at ``path`` (audio, plan, seed) and its sidecar, every field checked (a one-line error
    naming the field), and checked to belong together."""
    import json

    from audiodiff.io.audio import read_audio
    from audiodiff.music.plan import Plan
    from audiodiff.music.prompt import SEED_LIMIT, parse
    from audiodiff.pipeline import Result

    wav = Path(path)
    sidecar = wav.with_suffix(".json")
    if not wav.is_file():
        raise CliError(f"{wav}: no such file")
    if not sidecar.is_file():
        raise CliError(f"{wav}: no sidecar {sidecar.name}; extend and repaint work on clips audiodiff generate made")
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except ValueError:
        data = None
    if not isinstance(data, dict) or any(k not in data for k in ("prompt", "seed", "seconds", "plan_data")):
        raise CliError(f"{sidecar}: not a sidecar of audiodiff generate (it needs prompt, seed, seconds and "
                       "plan_data)")
    try:
        plan = Plan.from_dict(data["plan_data"])
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as err:
        raise CliError(f"{sidecar}: plan_data is not a plan ({type(err).__name__}: {err})") from None
    try:
        parse(data["prompt"])
    except (ValueError, TypeError) as err:
        raise CliError(f"{sidecar}: prompt {data['prompt']!r} does not parse ({err})") from None
    seed = _whole_field(data, "seed", 0, SEED_LIMIT - 1, str(sidecar))
    seconds = _number_field(data, "seconds", 0.001, 10000.0, str(sidecar))
    _check_plan(plan, str(sidecar))
    audio, rate = read_audio(wav)
    if abs(len(audio) - seconds * rate) > 1:
        raise CliError(f"{wav} lasts {len(audio) / rate:.3f} s, its sidecar says {seconds:g} s: "
                       "it is not the clip the sidecar describes")
    return Result(audio, rate, plan, seed), data


def _pipeline(args: argparse.Namespace, data: dict, rate: int) -> Pipeline:
    """The pipeline of the clip's checkpoints (the sidecar's, unless given), at the clip's rate."""
    from audiodiff.cli.generate_render import load_pipeline

    used = data.get("checkpoints") or {}
    paths = {name: getattr(args, name) or (None if used.get(name, "shipped") == "shipped" else used[name])
             for name in ("structure", "acoustic", "codec")}
    pipeline, _ = load_pipeline(args, checkpoints=paths)
    for note in pipeline.warnings:
        warn(note)
    if pipeline.sample_rate != rate:
        raise CliError(f"{args.clip} is at {rate} Hz, the codec makes {pipeline.sample_rate} Hz")
    return pipeline


def _outputs(args: argparse.Namespace) -> tuple[Path, Path]:
    """The WAV and sidecar to write (default <name>-extended.wav / -repainted.wav), checked up front."""
    wav = Path(args.output or Path(args.clip).with_name(f"{Path(args.clip).stem}-{args.command}ed.wav"))
    out, sidecar = outputs(args.force, (wav, "wav"), (wav.with_suffix(".json"), "json"))
    assert out is not None and sidecar is not None
    return out, sidecar


def write_edit(args: argparse.Namespace, paths: tuple[Path, Path], result: Result, data: dict, edit: dict) -> None:
    """Write the new clip and its sidecar (the old one's settings, plus what was done: ``args.command``
    from ``args.clip``)."""
    from dataclasses import replace

    from audiodiff.cli.generate_render import write_result
    from audiodiff.music.prompt import SECONDS_RANGE, parse

    out, sidecar = paths
    keys = ("steps", "plan_steps", "guidance", "plan_guidance", "drums", "threads", "backend", "checkpoints")
    length = min(max(round(result.seconds, 2), SECONDS_RANGE[0]), SECONDS_RANGE[1])
    prompt = replace(parse(data["prompt"]), seconds=length).to_text()  # the new clip's length
    extra = {"prompt": prompt, **{k: data[k] for k in keys if k in data},
             args.command: {"from": Path(args.clip).name, **edit}}
    with staged() as stage:
        write_result(stage, result, out, sidecar, None, None, None, extra, prompt)
        stage.commit()


def sampler_settings(data: dict, where: str) -> dict:
    """The sampler settings the clip was made with (the defaults where the sidecar has none), checked
    (a one-line error naming the field of the sidecar ``where``)."""
    from audiodiff.acoustic.sampling import DEFAULT_GUIDANCE, DEFAULT_STEPS
    from audiodiff.cli.parser import MAX_GUIDANCE, MAX_STEPS
    from audiodiff.structure.sampling import DEFAULT_GUIDANCE as PLAN_GUIDANCE
    from audiodiff.structure.sampling import DEFAULT_STEPS as PLAN_STEPS

    data = {"steps": DEFAULT_STEPS, "guidance": DEFAULT_GUIDANCE, "plan_steps": PLAN_STEPS,
            "plan_guidance": PLAN_GUIDANCE, **data}
    return {"steps": _whole_field(data, "steps", 1, MAX_STEPS, where),
            "guidance": _number_field(data, "guidance", 0.0, MAX_GUIDANCE, where),
            "plan_steps": _whole_field(data, "plan_steps", 1, MAX_STEPS, where),
            "plan_guidance": _number_field(data, "plan_guidance", 0.0, MAX_GUIDANCE, where)}


def _check_extension(clip: Result, seconds: float) -> None:
    """Refuse an extension the structure model cannot write, in seconds as ``generate`` says it."""
    from audiodiff.music.prompt import SECONDS_RANGE, seconds_text
    from audiodiff.structure.sampling import MAX_BARS_GENERATED

    plan = clip.plan
    bar_seconds = plan.meter.steps_per_bar * plan.seconds_per_step
    total = clip.seconds + seconds
    bars = math.ceil(total / bar_seconds - 1e-9)
    most = min(SECONDS_RANGE[1], MAX_BARS_GENERATED * bar_seconds)
    if total > most:
        raise CliError(f"--seconds {seconds:g}: the clip ({seconds_text(clip.seconds)}) would last "
                       f"{seconds_text(total)} ({bars} bars at {plan.bpm:g} bpm in {plan.meter}); at most "
                       f"{seconds_text(most)} at this tempo and meter ({MAX_BARS_GENERATED} bars, "
                       f"{SECONDS_RANGE[1]} s), so add at most {seconds_text(max(most - clip.seconds, 0))}")


def check_extend_seconds(seconds: float) -> None:
    """Refuse a length to extend by that is not positive and finite."""
    if not (math.isfinite(seconds) and seconds > 0):
        raise CliError(f"--seconds must be positive and finite, got {seconds:g}")


def _sidecar(clip: str) -> str:
    return str(Path(clip).with_suffix(".json"))


def extend_with(pipeline: Pipeline, args: argparse.Namespace, result: Result, data: dict,
                paths: tuple[Path, Path]) -> Result:
    """Continue a read clip (:func:`read_clip`) by ``args.seconds`` with a loaded pipeline; write it."""
    from audiodiff.continuation import extend

    with running():
        extended = extend(pipeline, result, args.seconds, **sampler_settings(data, _sidecar(args.clip)))
        write_edit(args, paths, extended, data, {"seconds": args.seconds})
    return extended


def cmd_extend(args: argparse.Namespace) -> None:
    """Continue ``args.clip`` by ``args.seconds``."""
    check_extend_seconds(args.seconds)
    result, data = read_clip(args.clip)
    _check_extension(result, args.seconds)
    sampler_settings(data, _sidecar(args.clip))
    paths = _outputs(args)
    pipeline = _pipeline(args, data, result.sample_rate)
    _print_result(paths[0], extend_with(pipeline, args, result, data, paths))


def repaint_bars(text: str, result: Result, clip: str) -> tuple[int, int]:
    """The 0-based (first, last) bars of ``--bars`` text, refused past the bars heard in the clip."""
    first, last = bar_range(text)
    plan = result.plan
    heard = min(plan.num_bars, math.ceil(result.seconds / (plan.meter.steps_per_bar * plan.seconds_per_step) - 1e-9))
    if last >= heard:
        raise CliError(f"--bars {text}: {clip} has bars 1-{heard}")
    return first, last


def repaint_with(pipeline: Pipeline, args: argparse.Namespace, result: Result, data: dict,
                 paths: tuple[Path, Path]) -> Result:
    """Rewrite bars ``args.bars`` of a read clip (:func:`read_clip`) with a loaded pipeline; write it."""
    from audiodiff.continuation import repaint

    first, last = repaint_bars(args.bars, result, args.clip)
    with running():
        repainted = repaint(pipeline, result, first, last, **sampler_settings(data, _sidecar(args.clip)))
        write_edit(args, paths, repainted, data, {"bars": args.bars})
    return repainted


def cmd_repaint(args: argparse.Namespace) -> None:
    """Write and render bars ``args.bars`` of ``args.clip`` again."""
    bar_range(args.bars)
    result, data = read_clip(args.clip)
    repaint_bars(args.bars, result, args.clip)
    sampler_settings(data, _sidecar(args.clip))
    paths = _outputs(args)
    pipeline = _pipeline(args, data, result.sample_rate)
    _print_result(paths[0], repaint_with(pipeline, args, result, data, paths))
