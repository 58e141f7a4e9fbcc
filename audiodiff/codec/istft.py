"""The inverse STFT of the Vocos decoder in numpy (what ``torch.istft`` computes there, without torch).

ONNX has no inverse STFT, so the exported Vocos decoder ends at the spectrum and this finishes it:
each frame's inverse real FFT, Hann-windowed, overlap-added at ``hop`` and divided by the summed
squared window (``center=True``: the first ``n_fft // 2`` samples are dropped), as
:meth:`audiodiff.codec.vocos.VocosDecoder.forward` does with ``torch.istft``.
"""
from __future__ import annotations

import numpy as np


def hann_window(n: int) -> np.ndarray:
    """The periodic Hann window of ``n`` samples (``torch.hann_window``'s default), float64."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    """``frames [B, n, T]`` (``n`` a multiple of ``hop``) summed at offsets ``t * hop``:
    ``[B, (T - 1) * hop + n]``."""
    batch, n, count = frames.shape
    out = np.zeros((batch, (count + n // hop - 1) * hop), frames.dtype)
    for k in range(n // hop):  # the k-th hop-long slice of every frame lands on one contiguous run
        out[:, k * hop: (k + count) * hop] += frames[:, k * hop: (k + 1) * hop].transpose(0, 2, 1).reshape(batch, -1)
    return out


def inverse_stft(magnitude: np.ndarray, phase: np.ndarray, hop: int, length: int) -> np.ndarray:
    """Float32 waveform ``[B, length]`` of the one-sided spectrum ``magnitude, phase [B, n_fft // 2 + 1, T]``
    (``n_fft = 2 * (bins - 1)``, a multiple of ``hop``; Hann window of ``n_fft``; centred frames)."""
    n_fft = 2 * (magnitude.shape[1] - 1)
    if n_fft % hop:
        raise ValueError(f"n_fft {n_fft} is not a multiple of the hop {hop}")
    window = hann_window(n_fft)
    spectrum = magnitude.astype(np.float64) * np.exp(1j * phase.astype(np.float64))
    frames = np.fft.irfft(spectrum, n=n_fft, axis=1)
    wav = overlap_add(frames * window[:, None], hop)
    envelope = overlap_add(np.broadcast_to((window ** 2)[None, :, None], (1, n_fft, magnitude.shape[2])), hop)
    start = n_fft // 2
    wav, envelope = wav[:, start: start + length], envelope[:, start: start + length]
    return (wav / np.where(envelope > 1e-11, envelope, 1.0)).astype(np.float32)
