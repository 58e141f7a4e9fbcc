"""Standard MIDI Files: read any file's notes at their real times, and Plan <-> grid MIDI (mido).

:func:`read_midi` returns a :class:`MidiScore`: every note with its start and end in seconds, following
the file's whole tempo map, plus the tempo and meter changes. :func:`load_midi` builds a grid
:class:`Plan` on it and refuses files a plan cannot hold (a tempo or meter change, a tempo outside the
models' range). :func:`save_midi` writes a plan; chords travel as marker events "chord:<symbol>".

Reading rules: a file without set_tempo plays at 120 quarter notes per minute (the MIDI default); of
several tempo (or meter) events at one tick the last wins; a note-on of a pitch that is already
sounding on that channel closes the earlier note there and starts a new one (both are kept; two
note-ons at one tick make one note); a note still sounding at the end of its track ends there.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

from audiodiff.io.atomic import atomic_path
from audiodiff.music.performance import Part, Performance, TimedNote
from audiodiff.music.plan import DRUM_CHANNEL, Note, Plan, Track
from audiodiff.music.prompt import BPM_RANGE
from audiodiff.music.theory import Chord, Key, Meter, estimate_key, parse_pitch_class

TICKS_PER_QUARTER = 480
TICKS_PER_STEP = TICKS_PER_QUARTER // 4
DEFAULT_QPM = 120.0  # the MIDI standard's tempo when a file sets none
_CHORD_PREFIX = "chord:"
_NO_CHORD = "N.C."


# -- reading: notes at their real times ---------------------------------------------------------
@dataclass(frozen=True)
class TempoChange:
    """From ``seconds`` (= ``quarters`` quarter notes) on, the file plays at ``qpm`` quarters per minute."""

    seconds: float
    quarters: float
    qpm: float


@dataclass(frozen=True)
class MeterChange:
    """From ``seconds`` (= ``quarters`` quarter notes) on, the time signature is numerator/denominator."""

    seconds: float
    quarters: float
    numerator: int
    denominator: int

    @property
    def name(self) -> str:
        return f"{self.numerator}/{self.denominator}"


@dataclass
class MidiScore:
    """What a MIDI file plays, in seconds: its tracks, tempo map, meters, key signature, chord markers.

    ``tempo_changes[0]`` and ``meter_changes[0]`` (when there is a time signature) are the values at
    time 0; every later entry is a real change. ``end_seconds`` is the end of the longest track.
    """

    tracks: list[Part]
    tempo_changes: list[TempoChange]
    meter_changes: list[MeterChange]
    key_signature: str | None
    chord_marks: list[tuple[float, str]]
    end_seconds: float

    def performance(self) -> Performance:
        """The file's notes at their real times, to render as they are (no grid, tempo map kept)."""
        return Performance(self.tracks, self.end_seconds)

    def quarters(self, seconds: float) -> float:
        """Position in quarter notes of a time in seconds, following the tempo map."""
        change = self.tempo_changes[0]
        for later in self.tempo_changes[1:]:
            if later.seconds <= seconds:
                change = later
        return change.quarters + (seconds - change.seconds) * change.qpm / 60.0


def _open(path: str | Path) -> mido.MidiFile:
    """The parsed file, or ValueError with a one-line reason."""
    try:
        return mido.MidiFile(str(path))
    except EOFError:
        size = Path(path).stat().st_size
        raise ValueError(f"{path}: empty file, not a MIDI file" if size == 0 else
                         f"{path}: truncated MIDI file (it ends after {size} bytes, inside a chunk)") from None
    except (OSError, ValueError, KeyError, IndexError) as exc:
        if isinstance(exc, OSError) and exc.filename is not None:  # missing file, a folder, no permission
            raise
        raise ValueError(f"{path}: not a readable MIDI file ({str(exc) or type(exc).__name__})") from None


def _events(mid: mido.MidiFile) -> list[tuple[int, int, mido.Message]]:
    """Every message with its absolute tick and track index, in time order (track order within a tick)."""
    out = []
    for ti, track in enumerate(mid.tracks):
        tick = 0
        for msg in track:
            tick += msg.time
            out.append((tick, ti, msg))
    out.sort(key=lambda e: (e[0], e[1]))
    return out


def _tempo_map(events: list[tuple[int, int, mido.Message]], tpq: int) -> list[tuple[int, float, float]]:
    """(tick, seconds, qpm) at time 0 and at every tick where the tempo really changes."""
    by_tick: dict[int, int] = {0: int(round(60e6 / DEFAULT_QPM))}
    for tick, _, msg in events:
        if msg.type == "set_tempo":
            by_tick[tick] = msg.tempo  # the last of one tick wins
    out: list[tuple[int, float, float]] = []
    for tick, tempo in sorted(by_tick.items()):
        qpm = 60e6 / tempo
        if out and round(qpm, 2) == round(out[-1][2], 2):
            continue
        seconds = out[-1][1] + (tick - out[-1][0]) / tpq * 60.0 / out[-1][2] if out else 0.0
        out.append((tick, seconds, qpm))
    return out


def read_midi(path: str | Path) -> MidiScore:
    """Read a MIDI file (type 0 or 1) with every note at its real time in seconds.

    Raises ValueError with a one-line message for empty, truncated, unreadable or type-2 files; OSError
    for a missing or unreadable path. See the module doc for how overlapping notes are read.
    """
    mid = _open(path)
    if mid.type == 2:
        raise ValueError(f"{path}: MIDI type 2 (independent sequences) is not supported")
    tpq = mid.ticks_per_beat
    events = _events(mid)
    tempos = _tempo_map(events, tpq)

    def seconds(tick: int) -> float:
        t0, s0, qpm = next(t for t in reversed(tempos) if t[0] <= tick)
        return s0 + (tick - t0) / tpq * 60.0 / qpm

    meters: list[MeterChange] = []
    key_signature = None
    chord_marks: list[tuple[float, str]] = []
    names: dict[int, str] = {}
    programs: dict[tuple[int, int], int] = {}
    parts: dict[tuple[int, int], list[TimedNote]] = defaultdict(list)
    sounding: dict[tuple[int, int, int], tuple[int, int]] = {}  # (track, channel, pitch) -> (tick, velocity)
    track_ends = [sum(m.time for m in t) for t in mid.tracks]

    def close(ti: int, channel: int, pitch: int, tick: int) -> None:
        start, velocity = sounding.pop((ti, channel, pitch))
        if tick > start:
            parts[(ti, channel)].append(TimedNote(pitch, seconds(start), seconds(tick), velocity))

    for tick, ti, msg in events:
        if msg.type == "time_signature":
            change = MeterChange(seconds(tick), tick / tpq, msg.numerator, msg.denominator)
            if meters and meters[-1].quarters == change.quarters:
                meters.pop()  # the last of one tick wins
            if not meters or meters[-1].name != change.name:
                meters.append(change)
        elif msg.type == "key_signature" and key_signature is None:
            key_signature = msg.key
        elif msg.type == "marker" and msg.text.startswith(_CHORD_PREFIX):
            chord_marks.append((seconds(tick), msg.text[len(_CHORD_PREFIX):]))
        elif msg.type == "track_name":
            names.setdefault(ti, msg.name)
        elif msg.type == "program_change":
            programs.setdefault((ti, msg.channel), msg.program)
        elif msg.type in ("note_on", "note_off"):
            voice = (ti, msg.channel, msg.note)
            if voice in sounding:
                close(*voice, tick)
            if msg.type == "note_on" and msg.velocity > 0:
                sounding[voice] = (tick, msg.velocity)
    for voice in list(sounding):
        close(*voice, track_ends[voice[0]])

    tracks = []
    for (ti, channel), notes in sorted(parts.items()):
        is_drum = channel == DRUM_CHANNEL
        name = names.get(ti) or ("drums" if is_drum else f"track{len(tracks)}")
        tracks.append(Part(name, programs.get((ti, channel), 0), sorted(notes, key=lambda n: (n.start, n.pitch)),
                           is_drum))
    return MidiScore(
        tracks=tracks,
        tempo_changes=[TempoChange(s, t / tpq, qpm) for t, s, qpm in tempos],
        meter_changes=meters,
        key_signature=key_signature,
        chord_marks=chord_marks,
        end_seconds=seconds(max(track_ends, default=0)),
    )


# -- the grid plan ------------------------------------------------------------------------------
@dataclass(frozen=True)
class QuantizationReport:
    """How far imported note onsets and ends were moved to reach the 16th grid."""

    num_notes: int
    num_moved: int
    max_error_steps: float
    mean_error_steps: float
    max_error_seconds: float


def _check_one_tempo_and_meter(path: str | Path, score: MidiScore, meter: Meter) -> None:
    """ValueError naming the first tempo or meter change before the music ends (a plan has one of each).
    ``score`` has at least one note."""
    music_end = max(n.end for t in score.tracks for n in t.notes)
    first = score.tempo_changes[0]
    for tempo in score.tempo_changes[1:]:
        if tempo.seconds < music_end:
            beat = tempo.quarters / meter.quarters_per_beat
            raise ValueError(
                f"{path}: tempo changes at {tempo.seconds:.3g} s, after {beat:g} beats "
                f"({_bpm(first.qpm, meter):g} -> {_bpm(tempo.qpm, meter):g} bpm); audiodiff plans have one tempo")
    for before, after in zip(score.meter_changes, score.meter_changes[1:]):
        if after.seconds < music_end:
            bars = (after.quarters - before.quarters) / (4 * before.numerator / before.denominator)
            raise ValueError(f"{path}: meter changes at {after.seconds:.3g} s, after {bars:g} bars of "
                             f"{before.name} ({before.name} -> {after.name}); audiodiff plans have one meter")


def _pickup(meters: list[MeterChange], music_end: float) -> str | None:
    """What to say about a first bar in another meter than the rest (a pickup written as a short
    bar, e.g. 1/4 before 4/4), or None if the file does not start like that."""
    if len(meters) < 2 or meters[1].seconds >= music_end:
        return None
    first, then = meters[0], meters[1]
    bar = 4 * first.numerator / first.denominator
    if first.quarters != 0 or then.quarters != bar or bar >= 4 * then.numerator / then.denominator:
        return None
    return (f"the first bar is in {first.name}, the rest in {then.name}: a pickup (anacrusis) written as a short "
            f"bar; a plan has one meter, so write the pickup as a whole {then.name} bar that starts with rests")


def _bpm(qpm: float, meter: Meter) -> float:
    """Beats of the meter per minute from quarters per minute (MIDI stores whole microseconds per quarter)."""
    return round(qpm / meter.quarters_per_beat, 2)


def notes_key(notes: Sequence[Note]) -> Key:
    """The key notes without a key signature are in: their pitch classes weighted by duration,
    correlated with the key profiles (:func:`audiodiff.music.theory.estimate_key`)."""
    weights = np.zeros(12)
    for n in notes:
        weights[n.pitch % 12] += n.duration
    return estimate_key(weights)


def load_midi(path: str | Path, *, as_written: bool = False) -> tuple[Plan, QuantizationReport]:
    """Read a MIDI file into a plan, quantizing notes to the 16th grid (through the tempo map).

    Key comes from the first key signature, else it is estimated from the notes; meter from the time
    signature (4/4 if none); tempo from set_tempo (120 quarters per minute if none). Raises ValueError
    with a one-line message for unreadable files, files without notes, unsupported meters, a tempo
    outside BPM_RANGE, and a tempo or meter change before the last note ends (it names the first one).
    ``as_written``: the plan only labels a file that is played as written (``read_midi(path).performance()``),
    so tempo and meter changes and any tempo are allowed; the plan takes the first tempo and meter.
    """
    score = read_midi(path)
    if not any(t.notes for t in score.tracks):
        raise ValueError(f"{path}: the MIDI file has no notes")
    first_meter = score.meter_changes[0] if score.meter_changes else None
    pickup = _pickup(score.meter_changes, max(n.end for t in score.tracks for n in t.notes))
    if pickup:
        raise ValueError(f"{path}: {pickup}")
    try:
        meter = Meter(first_meter.numerator, first_meter.denominator) if first_meter else Meter(4, 4)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if not as_written:
        _check_one_tempo_and_meter(path, score, meter)
    qpm = score.tempo_changes[0].qpm
    bpm = _bpm(qpm, meter)
    if not as_written and not BPM_RANGE[0] <= bpm <= BPM_RANGE[1]:
        raise ValueError(f"{path}: tempo {bpm:g} bpm is outside {BPM_RANGE[0]}..{BPM_RANGE[1]} bpm, "
                         f"the range the models know (prompts have the same limit)")

    errors: list[float] = []

    def quantize(seconds: float) -> int:
        exact = round(score.quarters(seconds) * 4, 9)  # in 16ths; rounding drops float noise of the ticks -> seconds
        step = int(round(exact))
        errors.append(abs(exact - step))
        return step

    tracks: list[Track] = []
    for part in score.tracks:
        notes = []
        for pitch, on, off, velocity in ((n.pitch, n.start, n.end, n.velocity) for n in part.notes):
            start = quantize(on)
            notes.append(Note(pitch, start, max(quantize(off), start + 1) - start, velocity))
        tracks.append(Track(part.name, part.program, notes, part.is_drum))
    num_steps = max(max(n.end for t in tracks for n in t.notes),
                    math.ceil(round(score.quarters(score.end_seconds) * 4, 6)))

    if score.key_signature:
        sig = score.key_signature
        key = Key(parse_pitch_class(sig.rstrip("m")), "minor" if sig.endswith("m") else "major")
    else:
        key = notes_key([n for t in tracks if not t.is_drum for n in t.notes])

    num_beats = -(-num_steps // meter.steps_per_beat)
    chords: list[Chord | None] = [None] * num_beats
    beat_of = [round(score.quarters(s) / meter.quarters_per_beat) for s, _ in score.chord_marks] + [num_beats]
    for i, (_, text) in enumerate(score.chord_marks):
        chord = None if text == _NO_CHORD else Chord.parse(text)
        for beat in range(beat_of[i], min(beat_of[i + 1], num_beats)):
            chords[beat] = chord

    report = QuantizationReport(
        num_notes=len(errors) // 2,
        num_moved=sum(e > 0 for e in errors),
        max_error_steps=max(errors),  # never empty: a file without notes was refused above
        mean_error_steps=float(np.mean(errors)),
        max_error_seconds=max(errors) * 60.0 / bpm / meter.steps_per_beat,
    )
    plan = Plan(key=key, bpm=bpm, meter=meter, tracks=tracks, chords=chords, num_steps=num_steps)
    return plan, report


# -- writing ------------------------------------------------------------------------------------
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
            text = _CHORD_PREFIX + (chord.symbol_in(plan.key) if chord else _NO_CHORD)
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
