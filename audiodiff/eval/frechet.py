"""Fréchet distance between two sets of clips on basic-pitch's features (a Fréchet Audio Distance).

FAD (Kilgour et al., 2019) fits a Gaussian to the frame embeddings of each set and reports
``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``. The embedding here is basic-pitch's
(:mod:`audiodiff.eval.transcription`; weights in its wheel, offline): the 32 feature maps of its
onset branch, the layer fed straight from the harmonic CQT, averaged over 8 pitch bands of 11
semitones -> 256 values per frame at 86.13 frames/s, every frame of every clip one sample. It is
a pitch-and-onset network, not a general audio tagger, so the distance weighs what a
transcriber hears (harmonic structure, attacks, noise between partials) more than timbre.

Why not another embedding: VGGish, PANNs, CLAP and OpenL3 fetch their weights at run time and
fail offline; musicnn ships its weights but pins ``numpy<1.17`` (no resolvable install beside
torch) and switches TensorFlow to graph mode for the whole process at import. Of basic-pitch's
layers this one moved most with added white noise on FluidSynth renders (SNR 40 / 20 / 10 dB:
0.13 / 1.2 / 2.2 x the distance between two disjoint sets of renders); its contour and note
outputs moved far less.

The distance depends on the set size (a finite-sample bias): compare distances of equal-sized
sets, and report the floor, the distance between two disjoint sets of originals.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Gaussian:
    """Mean ``[D]`` and covariance ``[D, D]`` of a set's frame embeddings, and the frame count."""

    mean: np.ndarray
    cov: np.ndarray
    frames: int


class FrameStats:
    """Running sums of embedding frames: add clips one at a time, then :meth:`gaussian` (keeps
    ``D + D^2`` numbers, not the frames)."""

    def __init__(self) -> None:
        self.count = 0
        self.total: np.ndarray | None = None
        self.outer: np.ndarray | None = None

    def add(self, frames: np.ndarray) -> None:
        """Add one clip's frames ``[F, D]``."""
        x = np.asarray(frames, dtype=np.float64).reshape(-1, np.shape(frames)[-1])
        if self.total is None:
            self.total, self.outer = np.zeros(x.shape[1]), np.zeros((x.shape[1], x.shape[1]))
        self.count += len(x)
        self.total += x.sum(axis=0)
        self.outer += x.T @ x

    def gaussian(self) -> Gaussian:
        """Mean and (unbiased) covariance of every frame added; ValueError below two frames."""
        if self.count < 2 or self.total is None or self.outer is None:
            raise ValueError(f"need at least 2 embedding frames to fit a Gaussian, got {self.count}")
        mean = self.total / self.count
        cov = (self.outer - self.count * np.outer(mean, mean)) / (self.count - 1)
        return Gaussian(mean, (cov + cov.T) / 2, self.count)


def fit_gaussian(embeddings: Iterable[np.ndarray]) -> Gaussian:
    """The Gaussian of all frames of all clips, each clip ``[F_i, D]`` (at least two frames in all)."""
    stats = FrameStats()
    for e in embeddings:
        stats.add(e)
    return stats.gaussian()


def frechet_distance(a: Gaussian, b: Gaussian) -> float:
    """Fréchet distance between two Gaussians (0 for equal ones; never negative)."""
    diff = a.mean - b.mean
    # tr((S_a S_b)^(1/2)) from the symmetric form S_a^(1/2) S_b S_a^(1/2), whose eigenvalues are real and
    # non-negative: steadier than sqrtm of the non-symmetric product when the covariances are near singular.
    w, v = np.linalg.eigh(a.cov)
    root_a = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    eig = np.linalg.eigvalsh(root_a @ b.cov @ root_a)
    trace_root = np.sqrt(np.clip(eig, 0.0, None)).sum()
    return float(max(diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2.0 * trace_root, 0.0))


def clip_embedding(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Frame embeddings ``[F, 256]`` of mono ``audio [N]`` (basic-pitch's features, see the module docstring)."""
    from audiodiff.eval.transcription import load_basic_pitch

    return load_basic_pitch().activations(audio, sample_rate)["features"]


def set_distance(a: Iterable[np.ndarray], b: Iterable[np.ndarray]) -> float:
    """Fréchet distance between two sets of clip embeddings (each ``[F_i, D]``, from :func:`clip_embedding`)."""
    return frechet_distance(fit_gaussian(a), fit_gaussian(b))
