"""Decode long latent sequences in overlapping chunks, cross-faded, to keep the decoder fast.

A convolutional decoder's activations grow with the sequence: 60 s of audio at 24 kHz makes
tensors of hundreds of MB per layer, which fall out of cache and cost page faults, so one long
call is slower per second of audio than several short ones. :func:`decode_in_chunks` splits the
frames ``[0, T)`` into ``n`` near-equal chunks; chunk k is decoded with ``margin`` extra frames of
context on each side (so its audio near the cut is what the whole sequence would give, up to the
decoder's memory beyond the margin), and neighbouring chunks are cross-faded with raised-cosine
ramps over ``fade`` frames centred on each cut (the ramps sum to 1).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def chunk_bounds(frames: int, chunk: int) -> list[int]:
    """Cut points ``0 = b_0 < ... < b_n = frames`` of ``n = ceil(frames / chunk)`` near-equal chunks."""
    n = max(1, math.ceil(frames / chunk))
    return [round(k * frames / n) for k in range(n + 1)]


def decode_in_chunks(decode: Callable[[np.ndarray], np.ndarray], latents: np.ndarray, hop: int, *,
                     chunk: int, margin: int, fade: int) -> np.ndarray:
    """``decode(latents [B, D, t]) -> [B, C, t * hop]`` applied chunk by chunk to ``latents [B, D, T]``
    (numpy arrays: the torch codec and the ONNX one share it).

    Returns ``[B, C, T * hop]``. Needs ``fade`` even, ``margin >= fade // 2`` and ``chunk >= 2 * fade``
    (ValueError otherwise); a sequence of at most ``chunk`` frames is decoded in one call.
    """
    if fade < 0 or fade % 2 or margin < fade // 2 or chunk < max(1, 2 * fade):
        raise ValueError(f"need an even fade >= 0, margin >= fade / 2 and chunk >= 2 * fade, got chunk {chunk}, "
                         f"margin {margin}, fade {fade}")
    frames = latents.shape[-1]
    bounds = chunk_bounds(frames, chunk)
    if len(bounds) == 2:
        return decode(latents)
    half, width = fade // 2 * hop, fade * hop
    ramp = 0.5 - 0.5 * np.cos(math.pi * (np.arange(width, dtype=np.float64) + 0.5) / width)
    out: np.ndarray | None = None
    for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        lo, hi = max(0, a - margin), min(frames, b + margin)
        wav = decode(latents[..., lo:hi])
        first, last = (a * hop - half if k else 0), (b * hop + half if b < frames else frames * hop)
        piece = wav[..., first - lo * hop: last - lo * hop].copy()
        if out is None:
            out = np.zeros((*wav.shape[:-1], frames * hop), wav.dtype)
        if k and width:
            piece[..., :width] *= ramp.astype(piece.dtype)
        if b < frames and width:
            piece[..., -width:] *= (1 - ramp).astype(piece.dtype)
        out[..., first:last] += piece
    assert out is not None
    return out
