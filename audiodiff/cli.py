"""The audiodiff command line: the only place that prints or exits.

    audiodiff plan "D minor, 96 bpm, 3/4" -o plan.mid --bars 16 --seed 7
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

EXIT_USAGE = 2


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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        args.run(args)
    except (CliError, ValueError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
