"""Plan <-> Standard MIDI File (mido). Chords travel as marker events "chord:<symbol>"."""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

from audiodiff.io.atomic import atomic_path
from audiodiff.music.plan import DRUM_CHANNEL, Note, Plan, Track
from audiodiff.music.theory import Chord, Key, Meter, estimate_key, parse_pitch_class

TICKS_PER_QUARTER = 480
TICKS_PER_STEP = TICKS_PER_QUARTER // 4
_CHORD_PREFIX = "chord:"
_NO_CHORD = "N.C."


@dataclass(frozen=True)
class QuantizationReport:
    """How far imported note onsets and ends were moved to reach the 16th grid."""

    num_notes: int
    num_moved: int
    max_error_steps: float
    mean_error_steps: float
    max_error_seconds: float


def _channels(plan: Plan) -> list[int]:
    free = [c for c in range(16) if c != DRUM_CHANNEL]
    out, k = [], 0
    for track in plan.tracks:
        if track.is_drum:
            out.append(DRUM_CHANNEL)
        else:
            if k >= len(free):
                raise ValueError(f"a MIDI file holds at most {len(free)} pitched tracks, plan has more")
            out.append(free[k])
            k += 1
    return out


def _to_delta(events: list[tuple[int, int, mido.Message]]) -> mido.MidiTrack:
    track = mido.MidiTrack()
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tick - now))
        now = tick
    return track


def plan_to_midi(plan: Plan) -> mido.MidiFile:
    """A type-1 MIDI file: a conductor track (tempo, meter, key, chords) and one track per part."""
    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_QUARTER)
    qpm = plan.bpm * plan.meter.quarters_per_beat
    conductor: list[tuple[int, int, mido.Message]] = [
        (0, 0, mido.MetaMessage("set_tempo", tempo=int(round(60e6 / qpm)))),
        (0, 0, mido.MetaMessage("time_signature", numerator=plan.meter.numerator,
                                denominator=plan.meter.denominator)),
        (0, 0, mido.MetaMessage("key_signature", key=plan.key.short_name)),
    ]
    previous: object = object()
    for beat, chord in enumerate(plan.chords):
        if chord != previous:
            text = _CHORD_PREFIX + (chord.symbol if chord else _NO_CHORD)
            conductor.append((beat * plan.meter.steps_per_beat * TICKS_PER_STEP, 1,
                              mido.MetaMessage("marker", text=text)))
            previous = chord
    conductor.append((plan.num_steps * TICKS_PER_STEP, 9, mido.MetaMessage("end_of_track")))
    mid.tracks.append(_to_delta(conductor))
    for track, channel in zip(plan.tracks, _channels(plan)):
        events: list[tuple[int, int, mido.Message]] = [
            (0, 0, mido.MetaMessage("track_name", name=track.name)),
        ]
        if not track.is_drum:
            events.append((0, 1, mido.Message("program_change", channel=channel, program=track.program)))
        for note in track.notes:
            on = max(note.start, 0) * TICKS_PER_STEP
            events.append((on, 3, mido.Message("note_on", channel=channel, note=note.pitch,
                                               velocity=note.velocity)))
            events.append((note.end * TICKS_PER_STEP, 2, mido.Message("note_off", channel=channel,
                                                                       note=note.pitch, velocity=0)))
        mid.tracks.append(_to_delta(events))
    return mid


def save_midi(plan: Plan, path: str | Path) -> None:
    """Write the plan as a MIDI file atomically (:mod:`audiodiff.io.atomic`)."""
    with atomic_path(path) as tmp:
        plan_to_midi(plan).save(str(tmp))


def _absolute(track: mido.MidiTrack) -> list[tuple[int, mido.Message]]:
    now, out = 0, []
    for msg in track:
        now += msg.time
        out.append((now, msg))
    return out


def load_midi(path: str | Path, default_bpm: float = 120.0) -> tuple[Plan, QuantizationReport]:
    """Read a MIDI file into a plan, quantizing notes to the 16th grid.

    Key comes from the first key signature, else it is estimated from the notes; meter from the
    first time signature (4/4 if none); tempo from the first set_tempo. Raises ValueError with a
    one-line message for unreadable files, unsupported meters or files without notes.
    """
    try:
        mid = mido.MidiFile(str(path))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        raise ValueError(f"{path}: not a readable MIDI file ({exc})") from None
    if mid.type == 2:
        raise ValueError(f"{path}: MIDI type 2 (independent sequences) is not supported")
    tpq = mid.ticks_per_beat
    tempo = key_sig = time_sig = None
    chord_marks: list[tuple[int, str]] = []
    parts: dict[tuple[int, int], list[tuple[int, int, int, int]]] = defaultdict(list)
    programs: dict[tuple[int, int], int] = {}
    names: dict[int, str] = {}
    for ti, track in enumerate(mid.tracks):
        sounding: dict[tuple[int, int], tuple[int, int]] = {}
        for tick, msg in _absolute(track):
            if msg.type == "set_tempo" and tempo is None:
                tempo = msg.tempo
            elif msg.type == "time_signature" and time_sig is None:
                time_sig = (msg.numerator, msg.denominator)
            elif msg.type == "key_signature" and key_sig is None:
                key_sig = msg.key
            elif msg.type == "marker" and msg.text.startswith(_CHORD_PREFIX):
                chord_marks.append((tick, msg.text[len(_CHORD_PREFIX):]))
            elif msg.type == "track_name":
                names[ti] = msg.name
            elif msg.type == "program_change":
                programs.setdefault((ti, msg.channel), msg.program)
            elif msg.type == "note_on" and msg.velocity > 0:
                sounding[(msg.channel, msg.note)] = (tick, msg.velocity)
            elif msg.type in ("note_off", "note_on") and (msg.channel, msg.note) in sounding:
                start, velocity = sounding.pop((msg.channel, msg.note))
                parts[(ti, msg.channel)].append((msg.note, start, tick, velocity))
    if not parts:
        raise ValueError(f"{path}: the MIDI file has no notes")
    try:
        meter = Meter(*time_sig) if time_sig else Meter(4, 4)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    qpm = 60e6 / tempo if tempo else default_bpm * meter.quarters_per_beat
    bpm = round(qpm / meter.quarters_per_beat, 2)  # MIDI stores whole microseconds per quarter

    errors: list[float] = []

    def quantize(tick: int) -> int:
        exact = tick * 4 / tpq
        step = int(round(exact))
        errors.append(abs(exact - step))
        return step

    tracks: list[Track] = []
    for (ti, channel), raw in sorted(parts.items()):
        notes = []
        for pitch, on, off, velocity in sorted(raw, key=lambda r: (r[1], r[0])):
            start = quantize(on)
            end = max(quantize(off), start + 1)
            notes.append(Note(pitch, start, end - start, velocity))
        is_drum = channel == DRUM_CHANNEL
        name = names.get(ti) or ("drums" if is_drum else f"track{len(tracks)}")
        tracks.append(Track(name, programs.get((ti, channel), 0), notes, is_drum))
    end_tick = max(sum(m.time for m in t) for t in mid.tracks)
    num_steps = max(max(n.end for t in tracks for n in t.notes), math.ceil(end_tick * 4 / tpq))

    pitched = [n for t in tracks if not t.is_drum for n in t.notes]
    if key_sig:
        key = Key(parse_pitch_class(key_sig.rstrip("m")), "minor" if key_sig.endswith("m") else "major")
    else:
        weights = np.zeros(12)
        for n in pitched:
            weights[n.pitch % 12] += n.duration
        key = estimate_key(weights)

    num_beats = -(-num_steps // meter.steps_per_beat)
    chords: list[Chord | None] = [None] * num_beats
    ticks_per_beat = meter.steps_per_beat * tpq // 4
    for i, (tick, text) in enumerate(chord_marks):
        until = chord_marks[i + 1][0] if i + 1 < len(chord_marks) else num_beats * ticks_per_beat
        chord = None if text == _NO_CHORD else Chord.parse(text)
        for beat in range(round(tick / ticks_per_beat), min(round(until / ticks_per_beat), num_beats)):
            chords[beat] = chord

    moved = [e for e in errors if e > 1e-9]
    report = QuantizationReport(
        num_notes=len(errors) // 2,
        num_moved=len(moved),
        max_error_steps=max(errors, default=0.0),
        mean_error_steps=float(np.mean(errors)) if errors else 0.0,
        max_error_seconds=max(errors, default=0.0) * 60.0 / bpm / meter.steps_per_beat,
    )
    plan = Plan(key=key, bpm=bpm, meter=meter, tracks=tracks, chords=chords, num_steps=num_steps)
    return plan, report
