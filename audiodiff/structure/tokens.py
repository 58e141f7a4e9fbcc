"""Plan <-> low-rate tokens for the structure model.

Two aligned streams, both relative to the key's tonic so the model learns scale degrees:

* melody: one token per 16th step: REST, HOLD (the previous note goes on) or NOTE(k), a pitch k
  semitones from the tonic's reference pitch, k in [-12, 24];
* chords: one token per beat: NONE or (root above the tonic, quality).

The tonic's reference pitch is ``TONIC_BASE + tonic`` folded into [54, 65] (F#3..F4), so a
melody's register does not jump with the key.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audiodiff.diffusion.masked_numpy import MASK_ID
from audiodiff.music.plan import Note, Plan, Track
from audiodiff.music.theory import CHORD_QUALITIES, SUPPORTED_METERS, Chord, Key, Meter

PAD, MASK = 0, MASK_ID  # shared by both vocabularies; MASK is the masked sampler's
REST, HOLD, NOTE0 = 2, 3, 4
NOTE_LOW, NOTE_HIGH = -12, 24
MELODY_VOCAB = NOTE0 + NOTE_HIGH - NOTE_LOW + 1
_QUALITIES = tuple(CHORD_QUALITIES)
NO_CHORD, CHORD0 = 2, 3
CHORD_VOCAB = CHORD0 + 12 * len(_QUALITIES)


def tonic_pitch(key: Key) -> int:
    """MIDI pitch that NOTE(0) stands for in this key (54..65)."""
    return 54 + (key.tonic - 6) % 12


@dataclass
class PlanTokens:
    """Token streams of one plan: melody [num_steps] and chords [num_beats] (int64 arrays)."""

    melody: np.ndarray
    chords: np.ndarray
    key: Key
    meter: Meter


def _fold(offset: int) -> int:
    while offset < NOTE_LOW:
        offset += 12
    while offset > NOTE_HIGH:
        offset -= 12
    return offset


def chord_token(chord: Chord | None, key: Key) -> int:
    if chord is None:
        return NO_CHORD
    return CHORD0 + ((chord.root - key.tonic) % 12) * len(_QUALITIES) + _QUALITIES.index(chord.quality)


def token_chord(token: int, key: Key) -> Chord | None:
    if token < CHORD0:
        return None
    rel, quality = divmod(int(token) - CHORD0, len(_QUALITIES))
    return Chord((key.tonic + rel) % 12, _QUALITIES[quality])


def plan_to_tokens(plan: Plan) -> PlanTokens:
    """Melody (the first pitched track, its top note at each onset) and chords as tokens.

    Notes are cut where the next note starts; pitches outside the token range fold by octaves.
    """
    melody = np.full(plan.num_steps, REST, dtype=np.int64)
    base = tonic_pitch(plan.key)
    track = plan.melody
    notes = sorted(track.notes, key=lambda n: (n.start, -n.pitch)) if track else []
    for note in notes:
        if note.start < 0 or note.start >= plan.num_steps or melody[note.start] >= NOTE0:
            continue  # negative start (window plans) or a lower note of a chord
        melody[note.start] = NOTE0 + _fold(note.pitch - base) - NOTE_LOW
        for step in range(note.start + 1, min(note.end, plan.num_steps)):
            if melody[step] >= NOTE0:
                break
            melody[step] = HOLD
    chords = np.array([chord_token(c, plan.key) for c in plan.chords[: plan.num_beats]]
                      + [NO_CHORD] * max(plan.num_beats - len(plan.chords), 0), dtype=np.int64)
    return PlanTokens(melody, chords, plan.key, plan.meter)


def tokens_to_plan(tokens: PlanTokens, bpm: float, program: int = 0, velocity: int = 90) -> Plan:
    """The melody-and-chords plan the tokens describe (HOLD after a rest counts as a rest)."""
    base = tonic_pitch(tokens.key)
    notes: list[Note] = []
    current: list[int] | None = None  # [pitch, start, duration]
    for step, token in enumerate(tokens.melody.tolist()):
        if token >= NOTE0:
            if current:
                notes.append(Note(current[0], current[1], current[2], velocity))
            current = [base + token - NOTE0 + NOTE_LOW, step, 1]
        elif token == HOLD and current:
            current[2] += 1
        else:
            if current:
                notes.append(Note(current[0], current[1], current[2], velocity))
            current = None
    if current:
        notes.append(Note(current[0], current[1], current[2], velocity))
    chords = [token_chord(t, tokens.key) for t in tokens.chords.tolist()]
    return Plan(tokens.key, float(bpm), tokens.meter, [Track("melody", program, notes)], chords,
                len(tokens.melody))


# The structure network's input sizes and the per-beat layout it reads (the network, its training
# data and the numpy sampler share them; this module needs no torch).
NUM_KEYS, NUM_METERS, NUM_TEMPO_BINS = 24, 4, 16
MAX_BARS = 128
MAX_BEATS_PER_BAR = 4  # 4/4, the longest supported meter
STEPS_PER_BEAT = 6  # slots per beat: 4 used in x/4 meters, 6 in 6/8
TEMPO_RANGE = (40.0, 240.0)
METER_INDEX = {Meter(*m): i for i, m in enumerate(SUPPORTED_METERS)}


def beat_positions(meter: Meter, num_bars: int, end_known: bool = True) -> dict[str, np.ndarray]:
    """Per-beat position features of a piece of ``num_bars`` bars: [N] int64 arrays."""
    beats = np.arange(num_bars * meter.beats_per_bar)
    bar = beats // meter.beats_per_bar
    return {
        "beat_in_bar": beats % meter.beats_per_bar,
        "bar": bar,
        "bars_to_end": (num_bars - 1 - bar) if end_known else np.full_like(bar, MAX_BARS),
    }


def melody_by_beat(melody: np.ndarray, meter: Meter) -> np.ndarray:
    """[S] step tokens -> [N, STEPS_PER_BEAT] with PAD in the slots a beat does not have."""
    spb = meter.steps_per_beat
    out = np.full((len(melody) // spb, STEPS_PER_BEAT), PAD, dtype=np.int64)
    out[:, :spb] = melody.reshape(-1, spb)
    return out


def melody_by_step(slots: np.ndarray, meter: Meter) -> np.ndarray:
    """Inverse of :func:`melody_by_beat`: [N, STEPS_PER_BEAT] -> [S]."""
    return slots[:, : meter.steps_per_beat].reshape(-1)
