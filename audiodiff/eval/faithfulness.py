"""Does the audio play its plan? Two simple, documented measures (librosa and mir_eval, imported lazily).

- **Onset F1** (:func:`onset_f1`): note onsets of the plan (seconds, from the grid and the
  tempo) against onsets that ``librosa.onset.onset_detect`` finds in the audio (spectral-flux
  onset strength, default peak picking, no backtracking), scored by ``mir_eval.onset.f_measure``:
  an estimate matches a reference onset within ``ONSET_TOLERANCE`` (50 ms, as in MIREX onset
  detection), each at most once, by a maximum bipartite matching, so the figures compare with
  published ones. :func:`plan_faithfulness` scores the melody's onsets (``melody_onset_f1``) and
  the union of every track's onsets including drums (``onset_f1``): with a band playing, the
  detector also hears bass, comping and drum onsets, which count as false alarms against the
  melody alone, so the melody score is bounded by how much the band plays off the melody's
  rhythm; the union score has no such bias. With a band playing 16ths and 8ths, ±50 ms windows
  cover much of the time line, so chance onset F1 is high: chroma agreement is the more telling.
- **Chroma agreement** (:func:`chroma_agreement`): the mean over frames of the cosine between the
  audio's chroma-CQT (hop 512) and the plan's pitch-class roll (velocity of the sounding notes
  of the pitched tracks folded onto 12 pitch classes) on the same frames, over the frames where
  the plan has notes. Both vectors are non-negative, so unrelated content does not score 0: a
  flat chroma against a triad scores 0.5; 1 is a perfect match of pitch-class energy profiles.

Only the part of the plan that the audio covers is scored. Note F1 by transcription, which also
checks pitches, is :mod:`audiodiff.eval.transcription` (an optional extra).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audiodiff.music.performance import Performance
from audiodiff.music.plan import Plan

ONSET_TOLERANCE = 0.05  # seconds
CHROMA_HOP = 512  # samples


def onset_f1(reference: np.ndarray, estimate: np.ndarray, tolerance: float = ONSET_TOLERANCE) -> float:
    """F1 of estimated against reference onset times (seconds, ascending), ``mir_eval.onset.f_measure``
    within ``tolerance``; 0.0 when one side is empty, 1.0 when both are."""
    from mir_eval.onset import f_measure

    ref, est = np.asarray(reference, dtype=np.float64), np.asarray(estimate, dtype=np.float64)
    if not len(ref) or not len(est):
        return float(not len(ref) and not len(est))
    return float(f_measure(ref, est, window=tolerance)[0])


def plan_onsets(plan: Plan, seconds: float, melody_only: bool = False) -> np.ndarray:
    """Sorted distinct onset times (seconds) of the plan's notes that start in ``[0, seconds)``:
    the melody's (first pitched track) or every track's, drums included."""
    tracks = ([plan.melody] if plan.melody else []) if melody_only else plan.tracks
    times = {round(plan.step_to_seconds(n.start), 6) for t in tracks for n in t.notes
             if n.start >= 0 and plan.step_to_seconds(n.start) < seconds}
    return np.array(sorted(times), dtype=np.float64)


def audio_onsets(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Onset times (seconds) that librosa's default onset detector finds in mono ``audio [N]``."""
    import librosa

    return librosa.onset.onset_detect(y=np.asarray(audio, dtype=np.float32), sr=sample_rate, units="time")


def plan_chroma(plan: Plan, fps: float, num_frames: int) -> np.ndarray:
    """Pitch-class roll ``[12, num_frames]`` of the plan's pitched tracks (summed velocity / 127)."""
    active, _ = plan.piano_roll(fps, num_frames)
    pitched = [i for i, t in enumerate(plan.tracks) if not t.is_drum]
    roll = active[pitched].sum(axis=0) if pitched else np.zeros((128, num_frames), dtype=np.float32)
    return np.stack([roll[pc::12].sum(axis=0) for pc in range(12)])  # MIDI pitch 0 is a C


def performance_chroma(performance: Performance, fps: float, num_frames: int) -> np.ndarray:
    """Pitch-class roll ``[12, num_frames]`` of the performance's pitched parts (summed velocity / 127
    over the frames from ``round(start * fps)`` up to ``round(end * fps)``, at least one)."""
    roll = np.zeros((12, num_frames), dtype=np.float32)
    for note in (n for t in performance.tracks if not t.is_drum for n in t.notes):
        a = int(round(note.start * fps))
        b = max(int(round(note.end * fps)), a + 1)
        roll[note.pitch % 12, max(a, 0):max(min(b, num_frames), 0)] += note.velocity / 127
    return roll


def chroma_agreement(audio: np.ndarray, sample_rate: int, notes: Plan | Performance) -> float | None:
    """Mean per-frame cosine between the audio's chroma-CQT and the pitch-class roll of a plan or
    performance, over frames where it has pitched notes (None if it has none in the audio's span)."""
    import librosa

    chroma = librosa.feature.chroma_cqt(y=np.asarray(audio, dtype=np.float32), sr=sample_rate,
                                        hop_length=CHROMA_HOP)
    to_roll = plan_chroma if isinstance(notes, Plan) else performance_chroma
    roll = to_roll(notes, sample_rate / CHROMA_HOP, chroma.shape[1])
    frames = roll.sum(axis=0) > 0
    if not frames.any():
        return None
    a, b = chroma[:, frames], roll[:, frames]
    cos = (a * b).sum(axis=0) / np.maximum(np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0), 1e-12)
    return float(cos.mean())


@dataclass(frozen=True)
class Faithfulness:
    """How well a clip plays its plan (see the module docstring)."""

    melody_onset_f1: float
    onset_f1: float
    chroma_agreement: float | None


def plan_faithfulness(audio: np.ndarray, sample_rate: int, plan: Plan) -> Faithfulness:
    """Onset F1 (melody, all tracks) and chroma agreement of mono ``audio [N]`` with ``plan``."""
    seconds = len(audio) / sample_rate
    found = audio_onsets(audio, sample_rate)
    return Faithfulness(
        melody_onset_f1=onset_f1(plan_onsets(plan, seconds, melody_only=True), found),
        onset_f1=onset_f1(plan_onsets(plan, seconds), found),
        chroma_agreement=chroma_agreement(audio, sample_rate, plan),
    )
