"""Does the audio play the notes? Note F1 by automatic transcription, as in the music-transcription literature.

The transcriber is basic-pitch (Bittner et al., ICASSP 2022; Spotify, Apache-2.0): a small
network over a harmonic CQT whose weights ship inside its wheel, so it runs offline. It and
TensorFlow are an optional extra (``pip install 'audiodiff[eval]'``) imported on first use; the
network is loaded once per process (:func:`load_basic_pitch`: importing TensorFlow and loading take
seconds), then costs about a tenth of real time on 2 CPU cores (0.6 s per 8 s clip; more on a busy
machine), and turning its output into notes a few hundredths of a second more.

- :func:`transcribe`: audio -> notes, with basic-pitch's own defaults (onset threshold 0.5,
  frame threshold 0.3, notes of at least 127.7 ms, the "melodia trick"), as its ``predict`` does.
- :func:`note_f1`: ``mir_eval.transcription.precision_recall_f1_overlap`` with onsets only
  (``offset_ratio=None``) within ``ONSET_TOLERANCE`` (50 ms) and pitch within 50 cents: the
  MIREX note-tracking score "onset only".
- :func:`performance_notes` / :func:`plan_notes`: the reference side, drums left out (a
  transcriber of pitched notes has nothing to say about them).

Notes are float arrays ``[K, 3]`` of (onset seconds, offset seconds, MIDI pitch), sorted by onset.
"""
from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiodiff.music.performance import Performance
from audiodiff.music.plan import Plan

ONSET_TOLERANCE = 0.05  # seconds, MIREX note tracking
MIN_DURATION = 1e-3  # seconds: mir_eval refuses notes that do not last
OVERLAP_FRAMES = 30  # basic-pitch's window overlap, as in its run_inference
FEATURE_LAYER = "re_lu_3"  # the onset branch's 32 feature maps over 88 pitches, straight from the harmonic CQT
FEATURE_BANDS = 8  # pitch bands the feature maps are averaged over (11 semitones each)


def notes_array(notes: Iterable[tuple[float, float, float]]) -> np.ndarray:
    """``[K, 3]`` float64 (onset s, offset s, MIDI pitch) sorted by onset, then pitch."""
    arr = np.array([tuple(n)[:3] for n in notes], dtype=np.float64).reshape(-1, 3)
    return arr[np.lexsort((arr[:, 2], arr[:, 0]))]


def clip_notes(notes: np.ndarray, seconds: float) -> np.ndarray:
    """The notes ``[K, 3]`` that start in ``[0, seconds)``, offsets cut at ``seconds``."""
    keep = notes[(notes[:, 0] >= 0) & (notes[:, 0] < seconds)].copy()
    keep[:, 1] = np.minimum(keep[:, 1], seconds)
    return keep


def performance_notes(performance: Performance, seconds: float | None = None) -> np.ndarray:
    """Notes ``[K, 3]`` of the performance's pitched parts heard in ``[0, seconds)`` (default: its length)."""
    notes = [(n.start, n.end, n.pitch) for t in performance.tracks if not t.is_drum for n in t.notes]
    return clip_notes(notes_array(notes), performance.seconds if seconds is None else seconds)


def plan_notes(plan: Plan, seconds: float) -> np.ndarray:
    """Notes ``[K, 3]`` of the plan's pitched tracks (grid steps -> seconds) heard in ``[0, seconds)``."""
    notes = [(plan.step_to_seconds(n.start), plan.step_to_seconds(n.end), n.pitch)
             for t in plan.tracks if not t.is_drum for n in t.notes]
    return clip_notes(notes_array(notes), seconds)


@dataclass(frozen=True)
class NoteScore:
    """Note-level precision, recall and F1 of a transcription, and the note counts."""

    precision: float
    recall: float
    f1: float
    reference: int
    estimate: int


def note_f1(reference: np.ndarray, estimate: np.ndarray, onset_tolerance: float = ONSET_TOLERANCE) -> NoteScore:
    """Score estimated notes ``[M, 3]`` against reference notes ``[K, 3]``: a pair matches when the
    onsets are within ``onset_tolerance`` seconds and the pitches within 50 cents, each note at most
    once (maximum bipartite matching). An empty side scores 0 (1 when both are empty)."""
    from mir_eval.transcription import precision_recall_f1_overlap

    ref, est = np.asarray(reference, np.float64).reshape(-1, 3), np.asarray(estimate, np.float64).reshape(-1, 3)
    if not len(ref) or not len(est):
        both_empty = float(not len(ref) and not len(est))
        return NoteScore(both_empty, both_empty, both_empty, len(ref), len(est))

    p, r, f, _ = precision_recall_f1_overlap(_intervals(ref), _hertz(ref), _intervals(est), _hertz(est),
                                             onset_tolerance=onset_tolerance, offset_ratio=None)
    return NoteScore(float(p), float(r), float(f), len(ref), len(est))


def onset_errors(reference: np.ndarray, estimate: np.ndarray, onset_tolerance: float = ONSET_TOLERANCE) -> np.ndarray:
    """Estimated minus reference onset (seconds) of every note pair that :func:`note_f1` matches."""
    from mir_eval.transcription import match_notes

    ref, est = np.asarray(reference, np.float64).reshape(-1, 3), np.asarray(estimate, np.float64).reshape(-1, 3)
    if not len(ref) or not len(est):
        return np.zeros(0)
    pairs = match_notes(_intervals(ref), _hertz(ref), _intervals(est), _hertz(est),
                        onset_tolerance=onset_tolerance, offset_ratio=None)
    return np.array([est[j, 0] - ref[i, 0] for i, j in pairs])


def _intervals(notes: np.ndarray) -> np.ndarray:
    """Note intervals ``[K, 2]`` (onset, offset) of notes ``[K, 3]``, at least MIN_DURATION long."""
    return np.stack([notes[:, 0], np.maximum(notes[:, 1], notes[:, 0] + MIN_DURATION)], axis=1)


def _hertz(notes: np.ndarray) -> np.ndarray:
    return 440.0 * 2.0 ** ((notes[:, 2] - 69.0) / 12.0)


class BasicPitch:
    """basic-pitch's network with one more output: its onset branch's feature maps (for
    :mod:`audiodiff.eval.frechet`). Build it with :func:`load_basic_pitch`."""

    def __init__(self, network: Any) -> None:
        from basic_pitch import constants

        self.network = network
        self.sample_rate = constants.AUDIO_SAMPLE_RATE  # 22050 Hz
        self.hop = constants.FFT_HOP  # samples per output frame
        self.window = constants.AUDIO_N_SAMPLES  # samples per network call
        self.frame_rate = self.sample_rate / self.hop  # 86.13 frames/s

    def activations(self, audio: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
        """Run the network on mono ``audio [N]`` (any rate; resampled to 22050 Hz) in overlapping
        windows, as basic-pitch's ``run_inference`` does. Returns frames at ``frame_rate``:
        ``note`` and ``onset`` ``[F, 88]``, ``contour`` ``[F, 264]`` (posteriors in [0, 1]) and
        ``features`` ``[F, 32 * FEATURE_BANDS]`` (non-negative)."""
        import librosa
        from basic_pitch.inference import unwrap_output

        audio = np.asarray(audio, dtype=np.float32)
        if sample_rate != self.sample_rate:
            audio = librosa.resample(audio, orig_sr=sample_rate, target_sr=self.sample_rate, res_type="soxr_hq")
        length, overlap = len(audio), OVERLAP_FRAMES * self.hop
        padded = np.concatenate([np.zeros(overlap // 2, np.float32), audio])
        starts = range(0, len(padded), self.window - overlap)
        windows = np.zeros((len(starts), self.window, 1), dtype=np.float32)
        for i, s in enumerate(starts):
            chunk = padded[s:s + self.window]
            windows[i, :len(chunk), 0] = chunk
        out = {name: value.numpy() for name, value in self.network(windows, training=False).items()}
        feats = out.pop("features")  # [windows, frames, 88, 32]
        bands = np.array_split(np.arange(feats.shape[2]), FEATURE_BANDS)
        out["features"] = np.concatenate([feats[:, :, b, :].mean(axis=2) for b in bands], axis=2)
        return {name: unwrap_output(value, length, OVERLAP_FRAMES) for name, value in out.items()}

    def notes(self, activations: dict[str, np.ndarray]) -> np.ndarray:
        """Notes ``[M, 3]`` from :meth:`activations`, with basic-pitch's ``predict`` defaults."""
        from basic_pitch.note_creation import model_output_to_notes

        min_frames = int(round(127.70 / 1000 * self.frame_rate))  # predict's minimum_note_length, 127.7 ms
        with np.errstate(divide="ignore", invalid="ignore"):  # basic-pitch divides by 0 on silence; finds no notes
            _, events = model_output_to_notes({k: activations[k] for k in ("note", "onset", "contour")},
                                              onset_thresh=0.5, frame_thresh=0.3, min_note_len=min_frames)
        return notes_array((start, end, pitch) for start, end, pitch, *_ in events)

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Notes ``[M, 3]`` that basic-pitch hears in mono ``audio [N]`` at ``sample_rate`` Hz."""
        return self.notes(self.activations(audio, sample_rate))


@functools.cache
def load_basic_pitch() -> BasicPitch:
    """basic-pitch's bundled ICASSP 2022 network, loaded once per process (seconds). TensorFlow
    takes its CPU threads from ``TF_NUM_INTRAOP_THREADS`` when set before this first call.

    Raises ImportError naming the extra to install when basic-pitch or TensorFlow is missing."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ start-up chatter (CUDA, TensorRT); errors raise
    previous = logging.root.manager.disable
    # basic-pitch's import warns about every runtime it does not find, Keras that the saved model has no Keras metadata
    logging.disable(logging.WARNING)
    try:
        import basic_pitch
        import tensorflow as tf

        model = tf.keras.models.load_model(str(basic_pitch.ICASSP_2022_MODEL_PATH), compile=False)
    except ImportError as err:
        raise ImportError(f"note F1 and the Frechet distance need basic-pitch and TensorFlow ({err}): "
                          "pip install 'audiodiff[eval]'") from None
    finally:
        logging.disable(previous)
    outputs = {name: model.get_layer(name).output for name in ("note", "onset", "contour")}
    outputs["features"] = model.get_layer(FEATURE_LAYER).output
    return BasicPitch(tf.keras.Model(model.input, outputs))


def transcribe(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Notes ``[M, 3]`` that basic-pitch hears in mono ``audio [N]`` (the process's one network)."""
    return load_basic_pitch().transcribe(audio, sample_rate)
