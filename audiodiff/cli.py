"""The audiodiff command line: the only place that prints or exits.

    audiodiff plan "D minor, 96 bpm, 3/4" -o plan.mid --bars 16 --seed 7
    audiodiff generate "D minor, 96 bpm, 3/4, violin" -o out.wav --seconds 30 --seed 7 --plan-out out.mid --plot out.png
    audiodiff render plan.mid -o out.wav --seed 7
    audiodiff evaluate outputs/ --json scores.json

Heavy modules (torch, librosa, matplotlib) are imported inside the commands, so ``--help`` is instant.
Outputs are written under temporary names and moved into place together at the end: an error
leaves no half-written file, and existing files are kept unless ``--force`` is given.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

EXIT_USAGE = 2
# The models' sampler defaults (acoustic.model.DEFAULT_STEPS / DEFAULT_GUIDANCE, structure.model.DEFAULT_STEPS),
# repeated here so that building the parser imports no torch; tests/test_pipeline.py checks they agree.
ACOUSTIC_STEPS, GUIDANCE, PLAN_STEPS = 24, 2.0, 32


class CliError(Exception):
    """A user-facing problem: printed as one line, exit code 2."""


def _output_path(path: str, force: bool) -> Path:
    out = Path(path)
    if out.exists() and not force:
        raise CliError(f"{out} exists; pass --force to overwrite")
    if not out.parent.exists():
        raise CliError(f"{out.parent} does not exist")
    if out.is_dir():
        raise CliError(f"{out} is a directory")
    return out


class _Staged:
    """Output files written under temporary names, moved onto their final names together."""

    def __init__(self) -> None:
        self.pairs: list[tuple[Path, Path]] = []

    def __call__(self, final: Path) -> Path:
        tmp = final.with_name(f".{final.name}.{os.getpid()}.partial{final.suffix}")
        self.pairs.append((tmp, final))
        return tmp

    def commit(self) -> None:
        for tmp, final in self.pairs:
            os.replace(tmp, final)
        self.pairs = []


@contextlib.contextmanager
def _staged() -> Iterator[_Staged]:
    stage = _Staged()
    try:
        yield stage
    finally:
        for tmp, _ in stage.pairs:  # not committed: an error happened
            tmp.unlink(missing_ok=True)


def _outputs(force: bool, *paths: str | Path | None) -> list[Path | None]:
    """Check every output path up front (before any work); they must be distinct."""
    out = [None if p is None else _output_path(str(p), force) for p in paths]
    given = [p.resolve() for p in out if p is not None]
    if len(set(given)) != len(given):
        raise CliError("output files must be distinct (-o, its .json sidecar, --plan-out, --plot, --json)")
    return out


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"want a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"want a whole number >= 1, got {value}")
    return value


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _keep_bars(text: str | None) -> frozenset[int]:
    """'1,2,5-8' (1-based bar numbers) -> 0-based bar indices."""
    if not text:
        return frozenset()
    bars: set[int] = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            bars.update(range(int(lo) - 1, int(hi or lo)))
    except ValueError:
        raise CliError(f"--keep-bars wants bar numbers like 1,2,5-8, got {text!r}") from None
    if min(bars) < 0:
        raise CliError("bar numbers start at 1")
    return frozenset(bars)


def cmd_plan(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from audiodiff.composer import compose, default_checkpoint, resolve_seed
    from audiodiff.midi import load_midi, save_midi
    from audiodiff.prompt import parse
    from audiodiff.structure.model import StructureModel

    prompt = parse(args.prompt)
    if args.seed is not None:
        prompt = replace(prompt, seed=args.seed)
    prompt = replace(prompt, seed=resolve_seed(prompt.seed))
    out = _output_path(args.output, args.force)
    source, keep = None, _keep_bars(args.keep_bars)
    bars = args.bars
    if args.source:
        source, report = load_midi(args.source)
        if report.num_moved:
            print(f"warning: {args.source}: {report.num_moved} note times moved to the 16th grid "
                  f"(max {report.max_error_seconds * 1000:.0f} ms)", file=sys.stderr)
        prompt = replace(prompt, key=source.key, bpm=source.bpm, meter=source.meter)
        if not keep:
            keep = frozenset(range(source.num_bars))  # keep everything: a continuation
        bars = bars or source.num_bars + (args.extend or 0)
    elif args.keep_bars or args.extend:
        raise CliError("--keep-bars and --extend need --from FILE.mid")
    model = StructureModel.load(args.structure or default_checkpoint("structure"))
    plan = compose(model, [prompt], bars=bars, steps=args.steps, drums=not args.no_drums,
                   source=source, keep_bars=keep)[0]
    save_midi(plan, out)
    print(f"{out}: {plan.key.name}, {plan.bpm:g} bpm, {plan.meter}, {plan.num_bars} bars, "
          f"{plan.seconds:.1f} s, seed {prompt.seed}")


def _check_seed(seed: int | None) -> int | None:
    from audiodiff.prompt import SEED_LIMIT

    if seed is not None and not 0 <= seed < SEED_LIMIT:
        raise CliError(f"--seed must be in 0..{SEED_LIMIT - 1}, got {seed}")
    return seed


def _warn_mapped(changes: list[tuple[str, int, int]]) -> None:
    """One warning line per program the model was not trained on."""
    from audiodiff.instruments import program_name

    seen: dict[int, tuple[int, list[str]]] = {}
    for track, old, new in changes:
        seen.setdefault(old, (new, []))[1].append(track)
    for old, (new, tracks) in seen.items():
        _warn(f"program {old + 1} ({program_name(old)}) is not among the instruments the acoustic model was "
              f"trained on; {', '.join(tracks)} rendered as program {new + 1} ({program_name(new)})")


def _sidecar(out: Path, result, plan_path: Path | None, extra: dict) -> str:
    """The JSON written next to a WAV: what it should sound like, and how to make it again."""
    import json

    from audiodiff.instruments import program_name

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


def _write_result(stage: _Staged, result, out: Path, sidecar: Path, plan_out: Path | None, plot: Path | None,
                  plan_ref: Path | None, extra: dict, title: str) -> None:
    """Stage the WAV, its sidecar, and the optional plan MIDI and plot of one result."""
    from audiodiff.audio_io import write_text_atomic, write_wav

    if write_wav(stage(out), result.audio, result.sample_rate):
        _warn(f"{out}: the audio would clip; peak-normalised to -1 dBFS")
    if plan_out is not None:
        from audiodiff.midi import save_midi

        save_midi(result.plan, stage(plan_out))
    if plot is not None:
        from audiodiff.plot import save_plot

        save_plot(stage(plot), result.plan, result.audio, result.sample_rate, title=title)
    write_text_atomic(stage(sidecar), _sidecar(out, result, plan_out or plan_ref, extra))


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def _checkpoints(args: argparse.Namespace) -> dict:
    return {name: getattr(args, name, None) or "shipped" for name in ("structure", "acoustic", "codec")}


def cmd_generate(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from audiodiff.prompt import parse

    prompt = parse(args.prompt)
    if args.seconds is not None:
        prompt = replace(prompt, seconds=args.seconds)
    if args.seed is not None:
        prompt = replace(prompt, seed=args.seed)
    out, sidecar, plan_out, plot = _outputs(args.force, args.output, Path(args.output).with_suffix(".json"),
                                            args.plan_out, args.plot)
    from audiodiff.composer import resolve_seed
    from audiodiff.instruments import nearest_program
    from audiodiff.pipeline import SUPPORTED_PROGRAMS, Pipeline

    prompt = replace(prompt, seed=resolve_seed(prompt.seed))
    program = nearest_program(prompt.program, SUPPORTED_PROGRAMS)
    if program != prompt.program:
        _warn_mapped([("the melody", prompt.program, program)])
        prompt = replace(prompt, program=program)
    _set_threads(args.threads)
    pipeline = Pipeline.load(args.structure, args.acoustic, args.codec)
    for note in pipeline.notes:
        _warn(note)
    result = pipeline.generate([prompt], steps=args.steps, plan_steps=args.plan_steps, guidance=args.guidance,
                               drums=not args.no_drums)[0]
    extra = {"prompt": result.prompt.to_text(), "steps": args.steps, "plan_steps": args.plan_steps,
             "guidance": args.guidance, "drums": not args.no_drums, "checkpoints": _checkpoints(args)}
    with _staged() as stage:
        _write_result(stage, result, out, sidecar, plan_out, plot, None, extra, result.prompt.to_text())
        stage.commit()
    print(f"{out}: {result.plan.key.name}, {result.plan.bpm:g} bpm, {result.plan.meter}, "
          f"{result.seconds:g} s, seed {result.seed}")


def cmd_render(args: argparse.Namespace) -> None:
    from audiodiff.midi import load_midi

    _check_seed(args.seed)
    if args.seconds is not None and not args.seconds > 0:
        raise CliError(f"--seconds must be positive, got {args.seconds:g}")
    out, sidecar, plot = _outputs(args.force, args.output, Path(args.output).with_suffix(".json"), args.plot)
    plan, report = load_midi(args.plan)
    if report.num_moved:
        _warn(f"{args.plan}: {report.num_moved} of {2 * report.num_notes} note times moved to the 16th grid "
              f"(max {report.max_error_seconds * 1000:.0f} ms)")
    from audiodiff.composer import resolve_seed
    from audiodiff.pipeline import Pipeline, map_programs

    _warn_mapped(map_programs(plan)[1])
    _set_threads(args.threads)
    pipeline = Pipeline.load(acoustic=args.acoustic, codec=args.codec, with_structure=False)
    for note in pipeline.notes:
        _warn(note)
    seed = resolve_seed(args.seed)
    result = pipeline.render([plan], [seed], steps=args.steps, guidance=args.guidance, seconds=[args.seconds])[0]
    extra = {"source": str(args.plan), "steps": args.steps, "guidance": args.guidance,
             "checkpoints": {k: v for k, v in _checkpoints(args).items() if k != "structure"}}
    with _staged() as stage:
        _write_result(stage, result, out, sidecar, None, plot, Path(args.plan), extra, f"{args.plan}, seed {seed}")
        stage.commit()
    print(f"{out}: {result.plan.key.name}, {result.plan.bpm:g} bpm, {result.plan.meter}, "
          f"{result.seconds:g} s, seed {result.seed}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    import json

    from audiodiff.evaluate_clips import format_table, read_clips, score_clip, summary

    (json_out,) = _outputs(args.force, args.json) if args.json else (None,)
    # librosa warns about short or quiet clips (tuning from no peaks, FFT longer than a CQT octave);
    # the estimates are still made, and the table is what the user asked for
    warnings.filterwarnings("ignore", category=UserWarning, module="librosa")
    clips, notes = read_clips(args.source)
    for note in notes:
        _warn(note)
    scores = [score_clip(c) for c in clips]
    totals = summary(scores)
    if json_out is not None:
        from audiodiff.audio_io import write_text_atomic

        write_text_atomic(json_out, json.dumps({"source": str(args.source), "summary": totals,
                                                "clips": [s.to_dict() for s in scores]}, indent=1) + "\n")
    print(format_table(scores, totals))


def _model_args(parser: argparse.ArgumentParser, structure: bool = True) -> None:
    if structure:
        parser.add_argument("--structure", help="structure checkpoint (default: the one shipped with the package)")
    parser.add_argument("--acoustic", help="acoustic checkpoint (default: the one shipped with the package)")
    parser.add_argument("--codec", help="codec checkpoint (default: the one shipped with the package)")
    parser.add_argument("--threads", type=_positive, help="torch CPU threads (default: all cores; 1 is "
                        "fastest when other jobs keep the cores busy)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audiodiff", description="Hierarchical music generation from a "
                                     "prompt like 'D minor, 96 bpm, 3/4, violin'.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan = sub.add_parser("plan", help="write a plan (melody, chords, bass, comping, drums) as MIDI",
                          description="Write the structure model's plan for a prompt as a MIDI file, "
                          "without rendering audio.")
    plan.add_argument("prompt", help="e.g. 'D minor, 96 bpm, 3/4, violin' (key, tempo, meter, instrument, seconds, seed)")
    plan.add_argument("-o", "--output", required=True, help="MIDI file to write")
    plan.add_argument("--bars", type=int, help="length in bars (default: from the prompt's seconds, at least 4)")
    plan.add_argument("--seed", type=int, help="random seed (default: the prompt's, else random and printed)")
    plan.add_argument("--steps", type=int, default=32, help="diffusion sampling steps (default 32)")
    plan.add_argument("--no-drums", action="store_true", help="leave out the drum track")
    plan.add_argument("--from", dest="source", metavar="FILE.mid", help="start from an existing plan/MIDI file")
    plan.add_argument("--keep-bars", help="with --from: bars to keep, e.g. 1-4,9 (others are regenerated)")
    plan.add_argument("--extend", type=int, help="with --from: add this many new bars at the end")
    plan.add_argument("--structure", help="structure checkpoint (default: the one shipped with the package)")
    plan.add_argument("--force", action="store_true", help="overwrite the output file")
    plan.set_defaults(run=cmd_plan)

    gen = sub.add_parser("generate", help="prompt -> WAV (plan, then audio)",
                         description="Generate audio for a prompt: the structure model writes a plan, the "
                         "acoustic model renders it. Writes the WAV and a sidecar <name>.json (prompt "
                         "fields, seed, plan) next to it; prints the path, key, tempo, meter, length and seed.")
    gen.add_argument("prompt", help="e.g. 'D minor, 96 bpm, 3/4, violin' (key, tempo, meter, instrument, "
                     "seconds, seed)")
    gen.add_argument("-o", "--output", required=True, help="WAV file to write (24 kHz, 16 bit)")
    gen.add_argument("--seconds", type=float, help="length in seconds, 1..600 (default: the prompt's, else 10)")
    gen.add_argument("--seed", type=int, help="random seed (default: the prompt's, else random and printed)")
    gen.add_argument("--steps", type=_positive, default=ACOUSTIC_STEPS,
                     help=f"acoustic diffusion steps (default {ACOUSTIC_STEPS})")
    gen.add_argument("--plan-steps", type=_positive, default=PLAN_STEPS,
                     help=f"structure diffusion steps (default {PLAN_STEPS})")
    gen.add_argument("--guidance", type=float, default=GUIDANCE,
                     help=f"acoustic classifier-free guidance scale, 1 = off (default {GUIDANCE:g})")
    gen.add_argument("--no-drums", action="store_true", help="leave out the drum track")
    gen.add_argument("--plan-out", metavar="FILE.mid", help="also write the plan that was rendered as MIDI")
    gen.add_argument("--plot", metavar="FILE.png", help="also write a PNG: the plan over the mel spectrogram")
    _model_args(gen)
    gen.add_argument("--force", action="store_true", help="overwrite existing output files")
    gen.set_defaults(run=cmd_generate)

    ren = sub.add_parser("render", help="MIDI plan -> WAV",
                         description="Render a MIDI file (e.g. from 'audiodiff plan', or your own) with the "
                         "acoustic model. Programs the model was not trained on are mapped to the nearest one "
                         "it knows, and off-grid notes are quantized to 16ths (both with a warning).")
    ren.add_argument("plan", help="MIDI file to render")
    ren.add_argument("-o", "--output", required=True, help="WAV file to write (24 kHz, 16 bit)")
    ren.add_argument("--seconds", type=float, help="cut the audio to this length (default: the whole plan + 1 s)")
    ren.add_argument("--seed", type=int, help="random seed (default: random and printed)")
    ren.add_argument("--steps", type=_positive, default=ACOUSTIC_STEPS,
                     help=f"acoustic diffusion steps (default {ACOUSTIC_STEPS})")
    ren.add_argument("--guidance", type=float, default=GUIDANCE,
                     help=f"classifier-free guidance scale, 1 = off (default {GUIDANCE:g})")
    ren.add_argument("--plot", metavar="FILE.png", help="also write a PNG: the plan over the mel spectrogram")
    _model_args(ren, structure=False)
    ren.add_argument("--force", action="store_true", help="overwrite existing output files")
    ren.set_defaults(run=cmd_render)

    ev = sub.add_parser("evaluate", help="score WAVs against their prompts (key, tempo, plan)",
                        description="Estimate key and tempo of each clip and compare with its labels (key exact, "
                        "exact or relative, tempo within 4 %%, tempo bin, bin +-1); where a plan is known, "
                        "also onset F1 (50 ms) and chroma agreement with it. SOURCE is a directory of WAVs with "
                        "the sidecar JSONs 'generate' writes, or a JSONL/CSV manifest with columns audio, key, "
                        "bpm (optional mode, meter, plan; paths relative to the manifest).")
    ev.add_argument("source", metavar="DIR_OR_MANIFEST", help="directory of WAVs + sidecars, or .jsonl / .csv")
    ev.add_argument("--json", metavar="FILE.json", help="also write every clip's scores and the summary as JSON")
    ev.add_argument("--force", action="store_true", help="overwrite the JSON file")
    ev.set_defaults(run=cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        args.run(args)
    except (CliError, ValueError, OSError) as exc:  # OSError: missing files, permissions, a full disk
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
