"""Bring your own music: --chords, --melody, --form (plan, generate) and --keep (plan --from)."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from audiodiff.cli.messages import CliError, warn

if TYPE_CHECKING:
    from audiodiff.music.prompt import Prompt
    from audiodiff.music.theory import Key
    from audiodiff.structure.guide import Guide

CHORDS_HELP = ("chords, one bar per |, chords in a bar split it evenly, e.g. 'Dm | Gm A7 | Dm | A7 Dm'. "
               "Symbols: C, Cm, C7, Cmaj7, Cm7, Cdim, Cm7b5, Caug, Csus2, Csus4, C6, C9, slash bass C/E, N.C.; "
               "the plan knows major, minor, diminished and dominant-7th chords, so maj7/6/sus/aug play as "
               "major, m7 as minor, m7b5 as diminished, 9 as 7, and the bass plays the root (not the slash "
               "note); roots take #, b, ♯ or ♭. Chords are never cut: a progression shorter than the "
               "prompt's seconds repeats, one as long or longer sets the length. The melody is written to fit them.")


def add_guide_args(parser: argparse.ArgumentParser) -> None:
    """--chords, --melody, --melody-track, --form, --bars-per-section."""
    parser.add_argument("--chords", metavar="'Dm | Gm A7'", help=CHORDS_HELP)
    parser.add_argument("--melody", metavar="TUNE.mid", help="keep this melody whole (quantized to 16ths; the error "
                        "is reported) and let the model write the chords and fill empty bars; a melody longer than "
                        "the prompt's seconds sets the length. The prompt's meter "
                        "must match the file's; leave meter, tempo or key out of the prompt to take the file's")
    parser.add_argument("--melody-track", type=int, metavar="N", help="with --melody: the N-th pitched track "
                        "(default 1, the first)")
    parser.add_argument("--form", metavar="AABA", help="sections by letter: repeated letters repeat their section "
                        "(the last bar of a repeat may change to lead on), new letters are new material, the "
                        "piece ends on the tonic. Sets the length")
    parser.add_argument("--bars-per-section", type=int, default=None, metavar="N",
                        help="with --form: bars per section, a whole number >= 1 (default 8)")


def _prompt_has(text: str, field: str) -> bool:
    """Whether the prompt text gives a field (a Prompt field name: key, bpm, meter, ...)."""
    from audiodiff.music.prompt import parse_fields

    return field in parse_fields(text)


def _load_melody(path: str, track: int | None, prompt: Prompt, text: str) -> tuple[list, Key, Prompt]:
    """The melody notes of a MIDI file, the file's key (its key signature, else found from its notes)
    and the prompt with the file's meter / tempo / key where the prompt leaves them out."""
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
    return pitched[index - 1].notes, plan.key, prompt


def guide_from_args(args: argparse.Namespace, text: str, prompt: Prompt,
                    seconds_given: bool = False) -> tuple[Guide | None, Prompt]:
    """The guide the options ask for (None without any) and the prompt to use with it. Warns when
    the material suggests another key than the prompt's (the prompt's is used), when it sets another
    length than the seconds given (``seconds_given``: by the prompt or --seconds), and when it breaks
    a promise of the form."""
    from dataclasses import replace

    from audiodiff.music.chords import parse_progression
    from audiodiff.structure.guide import (
        DEFAULT_BARS_PER_SECTION,
        Guide,
        check_guide,
        form_promises,
        length_note,
        settle_key,
    )

    if args.melody_track is not None and not args.melody:
        raise CliError("--melody-track needs --melody FILE.mid")
    if args.bars_per_section is not None and args.form is None:
        raise CliError("--bars-per-section needs --form")
    if args.chords is None and args.melody is None and args.form is None:
        return None, prompt
    chords = parse_progression(args.chords) if args.chords is not None else None
    melody, melody_key = None, None
    if args.melody is not None:
        melody, melody_key, prompt = _load_melody(args.melody, args.melody_track, prompt, text)
    per_section = DEFAULT_BARS_PER_SECTION if args.bars_per_section is None else args.bars_per_section
    guide = Guide(chords, melody, args.form, per_section, melody_key)
    key, suggested = settle_key(guide, prompt.key, _prompt_has(text, "key"))
    prompt = replace(prompt, key=key)
    check_guide(guide, prompt.meter)  # refuses material that does not fit the form or the meter
    if suggested is not None:
        given = "--melody" if melody else "--chords"
        warn(f"{given} suggests {suggested.name}, the prompt asks for {key.name}; using {key.name}")
    note = length_note(prompt, guide) if seconds_given or _prompt_has(text, "seconds") else None
    if note:
        warn(note)
    for line in form_promises(guide, key, prompt.meter):
        warn(f"--form {guide.form}: {line}")
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
