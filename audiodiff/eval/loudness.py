"""Integrated loudness (ITU-R BS.1770-4, LUFS) of mono audio: K-weighting, 400 ms blocks, gating.

The measure Slakh2100 records per stem (``integrated_loudness``) and normalises stems with. Mono:
one channel of weight 1, so a full-scale 997 Hz sine reads -3.01 LUFS.
"""
from __future__ import annotations

import math

import numpy as np

ABSOLUTE_GATE = -70.0  # LUFS
RELATIVE_GATE = -10.0  # LU below the absolutely gated loudness
BLOCK_SECONDS, OVERLAP = 0.4, 0.75
SHELF_HZ, SHELF_Q, SHELF_DB = 1681.974450955533, 0.7071752369554196, 3.999843853973347
HIGH_PASS_HZ, HIGH_PASS_Q = 38.13547087602444, 0.5003270373238773


def _shelf(sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(b, a) of BS.1770's +4 dB high shelf at ``sample_rate`` (B. De Man's derivation of the
    standard's 48 kHz coefficients)."""
    k = math.tan(math.pi * SHELF_HZ / sample_rate)
    vh = 10 ** (SHELF_DB / 20.0)
    vb = vh ** 0.4996667741545416
    a0 = 1 + k / SHELF_Q + k * k
    b = [(vh + vb * k / SHELF_Q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / SHELF_Q + k * k) / a0]
    return np.array(b), np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / SHELF_Q + k * k) / a0])


def _high_pass(sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(b, a) of BS.1770's 38 Hz high pass at ``sample_rate``."""
    k = math.tan(math.pi * HIGH_PASS_HZ / sample_rate)
    a0 = 1 + k / HIGH_PASS_Q + k * k
    return np.array([1.0, -2.0, 1.0]), np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / HIGH_PASS_Q + k * k) / a0])


def k_weighted(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``audio`` through BS.1770's K-weighting (a high shelf of +4 dB, then a 38 Hz high pass)."""
    from scipy.signal import lfilter

    y = lfilter(*_shelf(sample_rate), np.asarray(audio, dtype=np.float64))
    return lfilter(*_high_pass(sample_rate), y)


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float | None:
    """Gated integrated loudness of mono ``audio [N]`` in LUFS; None for audio shorter than one
    400 ms block or with no block above the -70 LUFS gate (silence)."""
    y = k_weighted(audio, sample_rate)
    block = int(round(BLOCK_SECONDS * sample_rate))
    hop = int(round(block * (1 - OVERLAP)))
    if len(y) < block:
        return None
    starts = range(0, len(y) - block + 1, hop)
    power = np.array([np.mean(y[s:s + block] ** 2) for s in starts])
    with np.errstate(divide="ignore"):
        level = -0.691 + 10 * np.log10(power)
    kept = power[level > ABSOLUTE_GATE]
    if not len(kept):
        return None
    relative = -0.691 + 10 * np.log10(kept.mean()) + RELATIVE_GATE
    kept = power[(level > ABSOLUTE_GATE) & (level > relative)]
    return float(-0.691 + 10 * np.log10(kept.mean()))
