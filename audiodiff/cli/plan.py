"""``audiodiff plan``: a prompt's plan (melody, chords, bass, comping, drums) as MIDI."""
from __future__ import annotations

import argparse

from audiodiff.cli.messages import CliError, warn
from audiodiff.cli.outputs import output_path


def _keep_bars(text: str | None) -> frozenset[int]:
    """'1,2,5-8' (1-based bar numbers) -> 0-based bar indices."""
    if not text:
        return frozenset()
    bars: set[int] = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            first, last = int(lo), int(hi or lo)
            if first > last:
                raise ValueError(part)
            bars.update(range(first - 1, last))
    except ValueError:
        raise CliError(f"--keep-bars wants bar numbers like 1,2,5-8, got {text!r}") from None
    if min(bars) < 0:
        raise CliError("bar numbers start at 1")
    return frozenset(bars)


def cmd_plan(args: argparse.Namespace) -> None:
    """Write the structure model's plan for ``args.prompt`` (or continue ``--from``) as MIDI."""
    from dataclasses import replace

    from audiodiff.io.checkpoint import default_checkpoint
    from audiodiff.music.midi import load_midi, save_midi
    from audiodiff.music.prompt import parse
    from audiodiff.seeds import resolve_seed
    from audiodiff.structure.compose import compose
    from audiodiff.structure.model import StructureModel

    prompt = parse(args.prompt)
    if args.seed is not None:
        prompt = replace(prompt, seed=args.seed)
    prompt = replace(prompt, seed=resolve_seed(prompt.seed))
    out = output_path(args.output, args.force)
    source, keep = None, _keep_bars(args.keep_bars)
    bars = args.bars
    if args.source:
        source, report = load_midi(args.source)
        if report.num_moved:
            warn(f"{args.source}: {report.num_moved} note times moved to the 16th grid "
                 f"(max {report.max_error_seconds * 1000:.0f} ms)")
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
