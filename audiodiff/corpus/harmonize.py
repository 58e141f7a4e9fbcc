"""Chords for a melody: diatonic triads chosen by Viterbi over melody fit and progression habits.

Used to build training data: folk tunes have no harmony, but an accompaniment that makes key and
tempo audible needs one. Also names the chord of any set of sounding notes (chorales).
"""
from __future__ import annotations

from bisect import bisect_left

import numpy as np

from audiodiff.music.plan import Note, Plan
from audiodiff.music.theory import Chord, Key

# Scale-degree roots (semitones above the tonic) and qualities of the candidate chords.
_MAJOR_CHORDS = ((0, "maj"), (2, "min"), (4, "min"), (5, "maj"), (7, "maj"), (7, "7"), (9, "min"))
_MINOR_CHORDS = ((0, "min"), (5, "min"), (7, "maj"), (7, "7"), (8, "maj"), (3, "maj"), (10, "maj"))
# Progression habits: (from degree, to degree) -> bonus.
_MOVES = {(7, 0): 1.0, (5, 7): 0.6, (2, 7): 0.6, (0, 5): 0.4, (0, 7): 0.4, (9, 2): 0.4,
          (8, 7): 0.5, (3, 8): 0.3, (10, 3): 0.4, (5, 0): 0.4, (0, 9): 0.3, (4, 9): 0.3}
_STAY = 0.15
_NON_CHORD_TONE = -0.6
_DOWNBEAT_WEIGHT = 1.5


def candidate_chords(key: Key) -> list[tuple[int, Chord]]:
    """(degree, chord) pairs a harmonization may use in this key."""
    table = _MAJOR_CHORDS if key.mode == "major" else _MINOR_CHORDS
    return [(deg, Chord((key.tonic + deg) % 12, q)) for deg, q in table]


def _fit(notes: list[Note], chord: Chord, start: int, end: int) -> float:
    tones = set(chord.pitch_classes)
    score = 0.0
    for n in notes:
        overlap = min(n.end, end) - max(n.start, start)
        if overlap <= 0:
            continue
        weight = overlap * (_DOWNBEAT_WEIGHT if n.start == start else 1.0)
        score += weight if n.pitch % 12 in tones else _NON_CHORD_TONE * weight
    return score / max(end - start, 1)


def harmonize(plan: Plan, steps_per_chord: int) -> list[Chord]:
    """A chord per beat for the plan's melody, changing every ``steps_per_chord`` steps.

    The first segment prefers the tonic, the last one must be the tonic and the one before it
    prefers the dominant (a cadence).
    """
    melody = sorted(plan.melody.notes, key=lambda n: n.start) if plan.melody else []
    candidates = candidate_chords(plan.key)
    bounds = list(range(0, plan.num_steps, steps_per_chord))
    n_seg, n_cand = len(bounds), len(candidates)
    starts = [n.start for n in melody]
    longest = max((n.duration for n in melody), default=0)
    local = np.zeros((n_seg, n_cand))
    for i, s in enumerate(bounds):
        # only notes starting in [s - longest, s + steps_per_chord) can overlap this segment
        near = melody[bisect_left(starts, s - longest): bisect_left(starts, s + steps_per_chord)]
        local[i] = [_fit(near, c, s, s + steps_per_chord) for _, c in candidates]
    degrees = [d for d, _ in candidates]
    local[0, [i for i, d in enumerate(degrees) if d == 0]] += 1.0
    local[-1, [i for i, d in enumerate(degrees) if d != 0]] -= 10.0
    if n_seg > 1:
        local[-2, [i for i, d in enumerate(degrees) if d == 7]] += 0.8
    move = np.array([[(_STAY if a == b else _MOVES.get((da, db), 0.0))
                      for b, (db, _) in enumerate(candidates)] for a, (da, _) in enumerate(candidates)])
    score = local[0].copy()
    back = np.zeros((n_seg, n_cand), dtype=int)
    for s in range(1, n_seg):
        total = score[:, None] + move
        back[s] = total.argmax(axis=0)
        score = total.max(axis=0) + local[s]
    path = [int(score.argmax())]
    for s in range(n_seg - 1, 0, -1):
        path.append(int(back[s, path[-1]]))
    path.reverse()
    spb = plan.meter.steps_per_beat
    chords = []
    for beat in range(plan.num_beats):
        chords.append(candidates[path[min(beat * spb // steps_per_chord, n_seg - 1)]][1])
    return chords


def chord_of_notes(notes: list[Note], start: int, end: int, key: Key) -> Chord | None:
    """The candidate chord that best explains the notes sounding in [start, end), or None."""
    sounding = [n for n in notes if n.start < end and n.end > start]
    if not sounding:
        return None
    return max(candidate_chords(key), key=lambda dc: _fit(sounding, dc[1], start, end))[1]
