"""Does a join stand out? Spectral flux at the seams against the flux elsewhere in the clip.

The measure of the seam test in tests/test_pipeline.py: half-wave rectified log-magnitude flux,
one value per codec frame (hop 320 at 24 kHz); a seam's score is the largest flux within one
frame of it over the 99th percentile of the flux at the other frames (the first 3 and last 6
frames left out: the start, and the fade-out at the end). Below about 1 a seam is as smooth as
any frame-to-frame change in the clip; a decoder restarting at a boundary scores about 3.7.
"""
from __future__ import annotations

import numpy as np

HOP = 320


def spectral_flux(audio: np.ndarray, hop: int = HOP) -> np.ndarray:
    """Flux per frame of mono ``audio [N]`` (index j: frame j-1 -> j), STFT of 1024 samples."""
    import torch

    spec = torch.stft(torch.from_numpy(np.asarray(audio, dtype=np.float32)), 1024, hop_length=hop,
                      window=torch.hann_window(1024), center=True, return_complex=True).abs()
    log = torch.log1p(100 * spec)
    return np.concatenate([[0.0], (log[:, 1:] - log[:, :-1]).clamp_min(0).sum(0).numpy()])


def seam_ratio(audio: np.ndarray, seams: list[int], hop: int = HOP) -> float:
    """Largest flux within one frame of the ``seams`` (sample positions) over the 99th percentile elsewhere."""
    flux = spectral_flux(audio, hop)
    near = sorted({j for s in seams for j in (s // hop - 1, s // hop, s // hop + 1) if 0 <= j < len(flux)})
    elsewhere = np.ones(len(flux), dtype=bool)
    elsewhere[near] = False
    elsewhere[:3] = elsewhere[-6:] = False
    return float(flux[near].max() / max(np.quantile(flux[elsewhere], 0.99), 1e-12))
