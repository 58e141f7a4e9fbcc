"""``audiodiff extend`` and ``audiodiff repaint``: continue or rewrite bars of a clip that
``audiodiff generate`` made, from the plan and seed in its sidecar JSON."""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING

from audiodiff.cli.messages import CliError, running, warn
from audiodiff.cli.outputs import outputs, staged

if TYPE_CHECKING:
    from audiodiff.pipeline import Pipeline, Result


def _bar_range(text: str) -> tuple[int, int]:
    """'5-8' or '5' (1-based, inclusive) -> 0-based (first, last)."""
    lo, _, hi = text.partition("-")
    try:
        first, last = int(lo), int(hi or lo)
    except ValueError:
        raise CliError(f"--bars wants a bar or a range like 5-8, got {text!r}") from None
    if not 1 <= first <= last:
        raise CliError(f"--bars wants 1 <= first <= last, got {text!r}")
    return first - 1, last - 1


def read_clip(path: str) -> tuple[Result, dict]:
    """The clip at ``path`` (audio, plan, seed) and its sidecar, checked to belong together."""
    import json

    from audiodiff.io.audio import read_audio
    from audiodiff.music.plan import Plan
    from audiodiff.pipeline import Result

    wav = Path(path)
    sidecar = wav.with_suffix(".json")
    if not wav.is_file():
        raise CliError(f"{wav}: no such file")
    if not sidecar.is_file():
        raise CliError(f"{wav}: no sidecar {sidecar.name}; extend and repaint work on clips audiodiff generate made")
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        plan, seed = Plan.from_dict(data["plan_data"]), int(data["seed"])
        prompt, seconds = data["prompt"], float(data["seconds"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise CliError(f"{sidecar}: not a sidecar of audiodiff generate (it needs prompt, seed, seconds and "
                       "plan_data)") from None
    audio, rate = read_audio(wav)
    if abs(len(audio) - seconds * rate) > 1:
        raise CliError(f"{wav} lasts {len(audio) / rate:.3f} s, its sidecar says {seconds:g} s: "
                       "it is not the clip the sidecar describes")
    return Result(audio, rate, plan, seed), {**data, "prompt": prompt}


def _pipeline(args: argparse.Namespace, data: dict, rate: int) -> Pipeline:
    """The pipeline of the clip's checkpoints (the sidecar's, unless given), at the clip's rate."""
    from audiodiff.cli.generate_render import _set_threads
    from audiodiff.pipeline import Pipeline

    used = data.get("checkpoints") or {}
    paths = {name: getattr(args, name) or (None if used.get(name, "shipped") == "shipped" else used[name])
             for name in ("structure", "acoustic", "codec")}
    _set_threads(args.threads)
    pipeline = Pipeline.load(**paths)
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


def _finish(args: argparse.Namespace, paths: tuple[Path, Path], result: Result, data: dict, edit: dict) -> None:
    """Write the new clip and its sidecar (the old one's settings, plus what was done)."""
    from audiodiff.cli.generate_render import _print_result, _write_result

    out, sidecar = paths
    keys = ("prompt", "steps", "plan_steps", "guidance", "plan_guidance", "drums", "threads", "checkpoints")
    extra = {**{k: data[k] for k in keys if k in data}, args.command: {"from": Path(args.clip).name, **edit}}
    with staged() as stage:
        _write_result(stage, result, out, sidecar, None, None, None, extra, data["prompt"])
        stage.commit()
    _print_result(out, result)


def _settings(data: dict) -> dict:
    """The sampler settings the clip was made with (the defaults where the sidecar has none)."""
    from audiodiff.acoustic.model import DEFAULT_GUIDANCE, DEFAULT_STEPS
    from audiodiff.structure.model import DEFAULT_GUIDANCE as PLAN_GUIDANCE
    from audiodiff.structure.model import DEFAULT_STEPS as PLAN_STEPS

    return {"steps": int(data.get("steps", DEFAULT_STEPS)), "guidance": float(data.get("guidance", DEFAULT_GUIDANCE)),
            "plan_steps": int(data.get("plan_steps", PLAN_STEPS)),
            "plan_guidance": float(data.get("plan_guidance", PLAN_GUIDANCE))}


def cmd_extend(args: argparse.Namespace) -> None:
    """Continue ``args.clip`` by ``args.seconds``."""
    if not args.seconds > 0:
        raise CliError(f"--seconds must be positive, got {args.seconds:g}")
    result, data = read_clip(args.clip)
    paths = _outputs(args)
    pipeline = _pipeline(args, data, result.sample_rate)
    with running():
        extended = pipeline.extend(result, args.seconds, **_settings(data))
        _finish(args, paths, extended, data, {"seconds": args.seconds})


def cmd_repaint(args: argparse.Namespace) -> None:
    """Write and render bars ``args.bars`` of ``args.clip`` again."""
    first, last = _bar_range(args.bars)
    result, data = read_clip(args.clip)
    plan = result.plan
    heard = min(plan.num_bars, math.ceil(result.seconds / (plan.meter.steps_per_bar * plan.seconds_per_step) - 1e-9))
    if last >= heard:
        raise CliError(f"--bars {args.bars}: {args.clip} has bars 1-{heard}")
    paths = _outputs(args)
    pipeline = _pipeline(args, data, result.sample_rate)
    with running():
        repainted = pipeline.repaint(result, first, last, **_settings(data))
        _finish(args, paths, repainted, data, {"bars": args.bars})
