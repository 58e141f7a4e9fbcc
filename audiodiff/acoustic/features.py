"""One part's notes -> frame-aligned conditioning for the acoustic model.

The acoustic model renders one part (one instrument) at a time; a piece is the sum of its parts,
so the order of a file's tracks cannot matter and every part's audio is a stem. A part is seen as:

- ``rolls`` float32 ``[NUM_FEATURES, T]``: the active piano roll over MIDI pitches
  ``PITCH_LOW..PITCH_HIGH - 1`` (velocity / 127 while a note sounds; pitches outside the range are
  folded in by octaves), one onset row (velocity / 127 on a note's first frame), and for a drum
  part ``len(DRUM_CLASSES)`` onset rows by drum class instead of the pitched rows;
- ``program``: its GM program 0..127, :data:`DRUM_PROGRAM` for the drum kit (:data:`NULL_PROGRAM`
  stands for "no part given", the unconditional branch of classifier-free guidance).

Times are seconds: a note starting at ``t`` starts on frame ``round(t * fps)`` and ends on
``round(end * fps)`` (at least one frame later); notes that began before a window sound from
frame 0 without an onset.
"""
from __future__ import annotations

import numpy as np

from audiodiff.music.performance import Part

PITCH_LOW, PITCH_HIGH = 24, 108  # C1..B7: seven octaves
NUM_PITCHES = PITCH_HIGH - PITCH_LOW
DRUM_CLASSES = ("kick", "snare", "hat", "tom", "cymbal", "other")
ONSET_ROW = NUM_PITCHES
DRUM_ROW = NUM_PITCHES + 1
NUM_FEATURES = DRUM_ROW + len(DRUM_CLASSES)
NUM_PROGRAMS = 128  # GM programs 0..127
DRUM_PROGRAM = NUM_PROGRAMS  # the drum kit
NULL_PROGRAM = NUM_PROGRAMS + 1  # no part: dropped for classifier-free guidance
_DRUM_CLASS_OF_PITCH = {35: 0, 36: 0, 37: 1, 38: 1, 39: 1, 40: 1, 42: 2, 44: 2, 46: 2,
                        41: 3, 43: 3, 45: 3, 47: 3, 48: 3, 50: 3, 49: 4, 51: 4, 52: 4, 53: 4, 55: 4, 57: 4, 59: 4}


def part_program(part: Part) -> int:
    """The program index the network sees for ``part``: its GM program, or DRUM_PROGRAM."""
    return DRUM_PROGRAM if part.is_drum else int(part.program)


def fold_pitch(pitch: int) -> int:
    """Row of MIDI ``pitch`` in the roll, moved by octaves into [PITCH_LOW, PITCH_HIGH)."""
    if pitch < PITCH_LOW:
        pitch = PITCH_LOW + (pitch - PITCH_LOW) % 12
    elif pitch >= PITCH_HIGH:
        pitch = PITCH_HIGH - 12 + (pitch - PITCH_HIGH) % 12
    return pitch - PITCH_LOW


def part_rolls(part: Part, fps: float, num_frames: int, start: float = 0.0) -> np.ndarray:
    """Conditioning rows ``[NUM_FEATURES, num_frames]`` of ``part`` for the frames from time
    ``start`` (seconds) on, at ``fps`` Hz."""
    rolls = np.zeros((NUM_FEATURES, num_frames), dtype=np.float32)
    for note in part.notes:
        on = int(round((note.start - start) * fps))
        off = max(int(round((note.end - start) * fps)), on + 1)
        if off <= 0 or on >= num_frames:
            continue
        level = max(1, min(127, int(note.velocity))) / 127
        if part.is_drum:
            if on >= 0:
                row = DRUM_ROW + _DRUM_CLASS_OF_PITCH.get(int(note.pitch), len(DRUM_CLASSES) - 1)
                rolls[row, on] = max(rolls[row, on], level)
            continue
        row = fold_pitch(int(note.pitch))
        rolls[row, max(on, 0):min(off, num_frames)] = np.maximum(rolls[row, max(on, 0):min(off, num_frames)], level)
        if on >= 0:
            rolls[ONSET_ROW, on] = max(rolls[ONSET_ROW, on], level)
    return rolls
