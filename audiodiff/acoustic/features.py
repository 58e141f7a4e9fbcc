"""Plan -> frame-aligned conditioning features for the acoustic model.

A plan's tracks go to fixed *slots*: the pitched tracks in plan order fill ``NUM_SLOTS`` slots
(the corpus writes melody, bass, comping; chorales write four voices); further pitched tracks are
merged into the last slot. Each slot contributes ``SLOT_CHANNELS`` rows per frame:

- ``NUM_PITCHES`` rows of the active piano roll over MIDI pitches ``PITCH_LOW..PITCH_HIGH - 1``
  (velocity / 127 while a note sounds; pitches outside the range are folded in by octaves),
- one onset row (1 on the frame a note of the slot starts),

and the slot's GM program (``NULL_PROGRAM`` for an empty slot) goes separately, for the network's
program embedding. Drum tracks add ``len(DRUM_CLASSES)`` onset rows (velocity / 127 of the
loudest hit of the class). Frames follow :meth:`Plan.piano_roll`: a note at beat b starts on frame
``round(b * 60 / bpm * fps)``; notes with negative starts (sounding from before a window) are
active from frame 0 without an onset.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audiodiff.music.plan import Plan

NUM_SLOTS = 4
PITCH_LOW, PITCH_HIGH = 24, 108  # C1..B7: seven octaves
NUM_PITCHES = PITCH_HIGH - PITCH_LOW
SLOT_CHANNELS = NUM_PITCHES + 1  # active roll + onset
DRUM_CLASSES = ("kick", "snare", "hat", "other")
NUM_FEATURES = NUM_SLOTS * SLOT_CHANNELS + len(DRUM_CLASSES)
NUM_PROGRAMS = 128  # GM programs 0..127
NULL_PROGRAM = NUM_PROGRAMS  # empty slot, or programs dropped for classifier-free guidance
_DRUM_CLASS_OF_PITCH = {35: 0, 36: 0, 37: 1, 38: 1, 39: 1, 40: 1, 42: 2, 44: 2, 46: 2}


@dataclass
class PlanFeatures:
    """Conditioning of one plan: ``rolls`` float32 ``[NUM_FEATURES, T]`` at the codec frame rate
    and ``programs`` int64 ``[NUM_SLOTS]`` (GM program per slot, NULL_PROGRAM if empty)."""

    rolls: np.ndarray
    programs: np.ndarray

    @property
    def num_frames(self) -> int:
        return self.rolls.shape[1]


def plan_frames(plan: Plan, fps: float, tail_seconds: float = 0.0) -> int:
    """Frames that cover the plan (to the frame of its last step) plus ``tail_seconds`` of release."""
    return plan.step_to_frame(plan.num_steps, fps) + int(round(tail_seconds * fps))


def _fold(pitches: np.ndarray) -> np.ndarray:
    """MIDI pitches moved by octaves into [PITCH_LOW, PITCH_HIGH), as row indices from 0."""
    low = PITCH_LOW + (pitches - PITCH_LOW) % 12
    high = PITCH_HIGH - 12 + (pitches - PITCH_HIGH) % 12
    return np.where(pitches < PITCH_LOW, low, np.where(pitches >= PITCH_HIGH, high, pitches)) - PITCH_LOW


def plan_features(plan: Plan, fps: float, num_frames: int | None = None) -> PlanFeatures:
    """Features of ``plan`` over ``num_frames`` frames at ``fps`` Hz (default :func:`plan_frames`);
    frames past the plan's notes are silent (all zero)."""
    if num_frames is None:
        num_frames = plan_frames(plan, fps)
    active, onset = plan.piano_roll(fps, num_frames)  # [tracks, 128, T] each
    rolls = np.zeros((NUM_FEATURES, num_frames), dtype=np.float32)
    programs = np.full(NUM_SLOTS, NULL_PROGRAM, dtype=np.int64)
    folded = _fold(np.arange(128))
    pitched = [i for i, t in enumerate(plan.tracks) if not t.is_drum]
    for order, i in enumerate(pitched):
        slot = min(order, NUM_SLOTS - 1)
        if programs[slot] == NULL_PROGRAM:
            programs[slot] = plan.tracks[i].program
        base = slot * SLOT_CHANNELS
        used = np.flatnonzero(active[i].any(axis=1))
        np.maximum.at(rolls, base + folded[used], active[i][used])  # folded pitches may share a row
        rolls[base + NUM_PITCHES] = np.maximum(rolls[base + NUM_PITCHES], onset[i].max(axis=0))
    drums = rolls[NUM_SLOTS * SLOT_CHANNELS:]
    for i, track in enumerate(plan.tracks):
        if track.is_drum:
            hits = onset[i] * active[i]  # velocity on the onset frame
            for pitch in np.flatnonzero(hits.any(axis=1)):
                row = _DRUM_CLASS_OF_PITCH.get(int(pitch), len(DRUM_CLASSES) - 1)
                drums[row] = np.maximum(drums[row], hits[pitch])
    return PlanFeatures(rolls, programs)
