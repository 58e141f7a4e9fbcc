"""``audiodiff plan``: a prompt's plan (melody, chords, bass, comping, drums) as MIDI, or a MIDI file
continued, inpainted or re-set (``--from``)."""
from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TYPE_CHECKING

from audiodiff.cli.control import guide_from_args, keep_streams
from audiodiff.cli.messages import CliError, running, warn
from audiodiff.cli.outputs import SUFFIXES, output_path

if TYPE_CHECKING:
    from audiodiff.music.plan import Plan
    from audiodiff.music.prompt import Prompt


def _keep_bars(text: str | None) -> frozenset[int]:
    """'1,2,5-8' (1-based bar numbers) -> 0-based bar indices."""
    if not text:
        return frozenset()
    bars: set[int] = set()
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        try:
            first, last = int(lo), int(hi if dash else lo)
        except ValueError:
            raise CliError(f"--keep-bars wants bar numbers like 1,2,5-8, got {text!r}") from None
        if first < 1:
            raise CliError(f"--keep-bars: bar numbers start at 1, got {part.strip()!r}")
        if last < first:
            raise CliError(f"--keep-bars: {part.strip()!r} runs backwards; write {last}-{first}")
        bars.update(range(first - 1, last))
    return frozenset(bars)


def check_length(prompt: Prompt, bars: int | None = None) -> None:
    """Refuse a plan longer than the structure model writes, saying the real limit at the prompt's tempo and
    meter (``bars``: the asked length, default the prompt's seconds)."""
    from audiodiff.music.prompt import seconds_text
    from audiodiff.structure.compose import bars_for
    from audiodiff.structure.sampling import MAX_BARS_GENERATED

    bars = bars or bars_for(prompt)
    if bars > MAX_BARS_GENERATED:
        bar_seconds = prompt.meter.beats_per_bar * 60.0 / prompt.bpm
        raise CliError(f"{bars} bars ({seconds_text(bars * bar_seconds)} at {prompt.bpm:g} bpm in {prompt.meter}) is "
                       f"too long: the structure model writes at most {MAX_BARS_GENERATED} bars "
                       f"({seconds_text(MAX_BARS_GENERATED * bar_seconds)} at this tempo and meter)")


def _apply_prompt(source: Plan, given: dict[str, object], path: str) -> Plan:
    """The source plan with the prompt's key (by transposing, same mode only) and tempo; a prompt meter,
    mode or length that contradicts the source is refused, never silently dropped."""
    from audiodiff.music.theory import Key, Meter

    if "seconds" in given:
        raise CliError("with --from the length is the source's bars plus --extend (or --bars); "
                       "leave the length out of the prompt")
    meter = given.get("meter")
    if isinstance(meter, Meter) and meter != source.meter:
        raise CliError(f"the prompt's meter {meter} contradicts {path} (in {source.meter}); a plan keeps its "
                       "meter: leave the meter out of the prompt")
    key = given.get("key")
    if isinstance(key, Key) and key != source.key:
        if key.mode != source.key.mode:
            raise CliError(f"the prompt's key {key} contradicts {path} (in {source.key}): transposing cannot "
                           f"change the mode; give a {source.key.mode} key or leave the key out")
        source = source.transpose((key.tonic - source.key.tonic + 6) % 12 - 6)  # the nearer way, up or down
    if "bpm" in given:
        source = replace(source, bpm=float(given["bpm"]))  # type: ignore[arg-type]
    return source


def _source_bars(args: argparse.Namespace, source: Plan, keep: frozenset[int]) -> tuple[int, frozenset[int]]:
    """The plan's length in bars and the source bars to keep, checked against the source."""
    if args.bars and args.extend:
        raise CliError("give --bars or --extend, not both")
    if keep and max(keep) >= source.num_bars:
        raise CliError(f"--keep-bars: bar {max(keep) + 1} is past the end of {args.source} ({source.num_bars} bars)")
    keep = keep or frozenset(range(source.num_bars))  # keep everything: a continuation
    bars = args.bars or source.num_bars + (args.extend or 0)
    if max(keep) >= bars:
        raise CliError(f"--bars {bars} is shorter than the {max(keep) + 1} bars kept from {args.source}; "
                       "give more bars, or keep fewer with --keep-bars")
    return bars, keep


def cmd_plan(args: argparse.Namespace) -> None:
    """Write the structure model's plan for ``args.prompt`` (or continue ``--from``) as MIDI."""
    from audiodiff.io.checkpoint import default_checkpoint
    from audiodiff.music.midi import load_midi, save_midi
    from audiodiff.music.prompt import Prompt, parse_fields, seconds_text
    from audiodiff.seeds import resolve_seed
    from audiodiff.structure.compose import compose
    from audiodiff.structure.model import StructureModel

    given = parse_fields(args.prompt)
    prompt = Prompt(**given)  # type: ignore[arg-type]
    if args.seed is not None:
        prompt = replace(prompt, seed=args.seed)
    prompt = replace(prompt, seed=resolve_seed(prompt.seed))
    out = output_path(args.output, args.force, SUFFIXES["midi"])
    source, keep, bars = None, _keep_bars(args.keep_bars), args.bars
    streams = None
    guide, prompt = guide_from_args(args, args.prompt, prompt)
    if guide is not None and (args.source or args.bars):
        raise CliError("--chords, --melody and --form set the material and length; they do not go with "
                       "--from or --bars")
    if args.source:
        source, report = load_midi(args.source)
        if report.num_moved:
            warn(f"{args.source}: {report.num_moved} note times moved to the 16th grid "
                 f"(max {report.max_error_seconds * 1000:.0f} ms)")
        source = _apply_prompt(source, given, args.source)
        bars, keep = _source_bars(args, source, keep)
        streams = keep_streams(args.keep, keep)
        melody = source.melody
        prompt = replace(prompt, key=source.key, bpm=source.bpm, meter=source.meter,
                         program=prompt.program if "program" in given or melody is None else melody.program)
    elif args.keep_bars or args.extend or args.keep:
        raise CliError("--keep, --keep-bars and --extend need --from FILE.mid")
    check_length(prompt, bars)
    model = StructureModel.load(args.structure or default_checkpoint("structure"))
    with running():
        plan = compose(model, [prompt], bars=bars, steps=args.plan_steps, guidance=args.plan_guidance,
                       drums=not args.no_drums, source=source, keep=streams, guides=[guide])[0]
        save_midi(plan, out)
    print(f"{out}: {plan.key.name}, {plan.bpm:g} bpm, {plan.meter}, {plan.num_bars} bars, "
          f"{seconds_text(plan.seconds)}, seed {prompt.seed}")
