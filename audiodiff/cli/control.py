"""Bring your own music: --chords, --melody, --form (plan, generate) and --keep (plan --from)."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from audiodiff.cli.messages import CliError, warn

if TYPE_CHECKING:
    from audiodiff.music.prompt import Prompt
    from audiodiff.structure.guide import Guide

CHORDS_HELP = ("chords, one bar per |, chords in a bar split it evenly, e.g. 'Dm | Gm A7 | Dm | A7 Dm'. "
               "Symbols: C, Cm, C7, Cmaj7, Cm7, Cdim, Cm7b5, Caug, Csus2, Csus4, C6, C9, slash bass C/E, N.C.; "
               "the plan knows major, minor, diminished and dominant-7th chords, so maj7/6/sus/aug play as "
               "major, m7 as minor, m7b5 as diminished, 9 as 7, and the bass plays the root (not the slash "
               "note). A shorter progression repeats; a longer one sets the length. The melody is written "
               "to fit them.")


def add_guide_args(parser: argparse.ArgumentParser) -> None:
    """--chords, --melody, --melody-track, --form, --bars-per-section."""
    parser.add_argument("--chords", metavar="'Dm | Gm A7'", help=CHORDS_HELP)
    parser.add_argument("--melody", metavar="TUNE.mid", help="keep this melody (quantized to 16ths; the error is "
                        "reported) and let the model write the chords and fill empty bars. The prompt's meter "
                        "must match the file's; leave meter, tempo or key out of the prompt to take the file's")
    parser.add_argument("--melody-track", type=int, metavar="N", help="with --melody: the N-th pitched track "
                        "(default 1, the first)")
    parser.add_argument("--form", metavar="AABA", help="sections by letter: repeated letters repeat their section "
                        "(the last bar of a repeat may change to lead on), new letters are new material, the "
                        "piece ends on the tonic. Sets the length")
    parser.add_argument("--bars-per-section", type=int, default=None, metavar="N",
                        help="with --form: bars per section (default 8)")


def _prompt_has(text: str, field: str) -> bool:
    """Whether the prompt text gives a field (a Prompt field name: key, bpm, meter, ...)."""
    from audiodiff.music.prompt import parse_fields

    return field in parse_fields(text)


def _load_melody(path: str, track: int | None, prompt: Prompt, text: str) -> tuple[list, Prompt]:
    """The melody notes of a MIDI file and the prompt with the file's meter / tempo / key where the
    prompt leaves them out."""
    from dataclasses import replace

    from audiodiff.music.midi import load_midi

    plan, report = load_midi(path)
    pitched = [t for t in plan.tracks if not t.is_drum and t.notes]
    if not pitched:
        raise CliError(f"{path}: no pitched notes (only drums)")
    index = 1 if track is None else track
    if not 1 <= index <= len(pitched):
        raise CliError(f"--melody-track {index}: {path} has {len(pitched)} pitched track(s), 1..{len(pitched)}")
    if report.num_moved:
        warn(f"{path}: {report.num_moved} of {2 * report.num_notes} note times moved to the 16th grid "
             f"(max {report.max_error_seconds * 1000:.0f} ms, mean {report.mean_error_steps:.2f} steps)")
    if _prompt_has(text, "meter"):
        if plan.meter != prompt.meter:
            raise CliError(f"{path} is in {plan.meter}, the prompt asks for {prompt.meter}; leave the meter out "
                           "of the prompt to take the file's")
    else:
        prompt = replace(prompt, meter=plan.meter)
    if not _prompt_has(text, "bpm"):
        prompt = replace(prompt, bpm=min(max(plan.bpm, 40.0), 240.0))
    if not _prompt_has(text, "key"):
        prompt = replace(prompt, key=plan.key)  # the file's key signature, else estimated from its notes
    return pitched[index - 1].notes, prompt


def guide_from_args(args: argparse.Namespace, text: str, prompt: Prompt) -> tuple[Guide | None, Prompt]:
    """The guide the options ask for (None without any) and the prompt to use with it. Warns when
    the material suggests another key than the prompt's (the prompt's is used)."""
    from dataclasses import replace

    from audiodiff.music.chords import parse_progression
    from audiodiff.structure.guide import DEFAULT_BARS_PER_SECTION, Guide, check_guide, settle_key

    if args.melody_track is not None and not args.melody:
        raise CliError("--melody-track needs --melody FILE.mid")
    if args.bars_per_section is not None and not args.form:
        raise CliError("--bars-per-section needs --form")
    if not (args.chords or args.melody or args.form):
        return None, prompt
    chords = parse_progression(args.chords) if args.chords else None
    melody = None
    if args.melody:
        melody, prompt = _load_melody(args.melody, args.melody_track, prompt, text)
    guide = Guide(chords, melody, args.form, args.bars_per_section or DEFAULT_BARS_PER_SECTION)
    key, suggested = settle_key(guide, prompt.key, _prompt_has(text, "key"))
    prompt = replace(prompt, key=key)
    check_guide(guide, prompt.meter)  # refuses material that does not fit the form or the meter
    if suggested is not None:
        given = " and ".join(name for name, v in (("--melody", melody), ("--chords", chords)) if v)
        warn(f"{given} suggest(s) {suggested.name}, the prompt asks for {prompt.key.name}; using {prompt.key.name}")
    return guide, prompt


def guide_record(args: argparse.Namespace) -> dict:
    """What the sidecar records of the guide options."""
    return {k: getattr(args, k) for k in ("chords", "melody", "melody_track", "form", "bars_per_section")
            if getattr(args, k) is not None}


def keep_streams(streams: str | None, bars: frozenset[int]) -> dict[str, frozenset[int]]:
    """--keep melody,chords -> {stream: the 0-based bars to keep} (default: melody and chords)."""
    from audiodiff.structure.compose import STREAMS

    names = [s.strip() for s in (streams or "melody,chords").split(",") if s.strip()]
    unknown = [s for s in names if s not in STREAMS]
    if unknown or not names:
        raise CliError(f"--keep wants streams from {', '.join(STREAMS)} (comma-separated), got {streams!r}")
    return {s: bars for s in names}
