"""Latents from the acoustic network by EDM diffusion, window by window, in numpy over any network callable.

:class:`LatentWriter` runs the samplers of :mod:`audiodiff.diffusion.gaussian_numpy` with the
acoustic network given as a callable on numpy arrays (an ONNX Runtime session, or the torch
:class:`audiodiff.acoustic.net.AcousticNet` wrapped by :func:`audiodiff.backends.torch_call`):
``net(x [B, D, W], c_noise [B], rolls [B, F, W], programs [B], sketch, context [B, D, W],
context_mask [B, 1, W]) -> [out [B, D, W]]`` (float32, int64 programs). The window scheme is the one
:mod:`audiodiff.acoustic.model` describes; noise comes from ``numpy.random.default_rng(seed)`` per
part, so both backends draw the same noise.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from audiodiff.acoustic.features import NULL_PROGRAM, part_program, part_rolls
from audiodiff.diffusion.gaussian_numpy import (
    SAMPLERS,
    SIGMA_MAX,
    SIGMA_MIN,
    Denoiser,
    classifier_free_guidance,
    edm_denoise,
    initial_noise,
    item_generators,
    sample,
)
from audiodiff.music.performance import Part

if TYPE_CHECKING:
    from audiodiff.acoustic.config import AcousticConfig

AcousticCall = Callable[..., list[np.ndarray]]
DEFAULT_STEPS, DEFAULT_GUIDANCE, DEFAULT_SAMPLER = 8, 1.0, "dpmpp_2m"
# Sampling starts from the sketch's latents noised to this level (SDEdit), not from pure noise: the
# sketch already holds the notes; the model only has to turn it into the instrument's sound.
DEFAULT_START_SIGMA = 0.5  # chosen on dev arrangements (docs/training.md)


def window_schedule(total: int, known: int, window: int, context: int) -> list[tuple[int, int]]:
    """Windows ``(start, known_frames)`` that render frames ``[known, total)``: each covers
    ``[start, start + window)`` and its first ``known_frames`` frames are already rendered."""
    spans, pos = [], known
    while pos < total:
        have = min(context, pos)
        spans.append((pos - have, have))
        pos = pos - have + window
    return spans


class LatentWriter:
    """The acoustic network (a numpy callable, see the module docstring), its config and metadata,
    and the window-by-window sampler around it."""

    def __init__(self, net: AcousticCall, config: AcousticConfig, metadata: dict[str, Any] | None = None) -> None:
        self.net, self.config, self.metadata = net, config, metadata or {}

    @property
    def latent_dim(self) -> int:
        """Latent channels D of the codec the model was trained for."""
        return self.config.net.latent_dim

    @property
    def frame_rate(self) -> float:
        """Latent frames per second (Hz) of the codec the model was trained for."""
        return self.config.frame_rate

    def check_codec(self, latent_dim: int, frame_rate: float) -> None:
        """Raise ValueError unless a codec's latent channels and frame rate (Hz) are this model's."""
        if latent_dim != self.latent_dim or not math.isclose(frame_rate, self.frame_rate):
            raise ValueError(f"the acoustic model works in {self.latent_dim}-channel latents at {self.frame_rate:g} Hz;"
                             f" the codec makes {latent_dim} channels at {frame_rate:g} Hz")

    def window_denoiser(self, rolls: np.ndarray, programs: np.ndarray, sketch: np.ndarray, context: np.ndarray,
                        context_mask: np.ndarray, guidance: float) -> Denoiser:
        """The guided denoiser of one window batch: the unconditional branch sees no part (zero
        rolls and sketch, NULL_PROGRAM) but the same context, and runs in the same network call as
        the conditional one; known frames are returned as they are."""
        sd = self.config.sigma_data

        def branch(r: np.ndarray, p: np.ndarray, s: np.ndarray, ctx: np.ndarray, mask: np.ndarray) -> Denoiser:
            def d(x: np.ndarray, sigma: np.ndarray) -> np.ndarray:
                x0 = edm_denoise(lambda x_in, c_noise: self.net(x_in, c_noise, r, p, s, ctx, mask)[0], x, sigma, sd)
                return mask * ctx + (1 - mask) * x0
            return d
        conditional = branch(rolls, programs, sketch, context, context_mask)
        if guidance == 1.0:
            return conditional
        paired = branch(np.concatenate([rolls, np.zeros_like(rolls)]),
                        np.concatenate([programs, np.full_like(programs, NULL_PROGRAM)]),
                        np.concatenate([sketch, np.zeros_like(sketch)]),
                        np.concatenate([context, context]), np.concatenate([context_mask, context_mask]))
        return classifier_free_guidance(conditional, paired, guidance)

    def generate(self, parts: Sequence[Part], sketches: np.ndarray, seeds: Sequence[int], *,
                 steps: int = DEFAULT_STEPS, guidance: float = DEFAULT_GUIDANCE, sampler: str = DEFAULT_SAMPLER,
                 start_sigma: float = DEFAULT_START_SIGMA, prefix: np.ndarray | None = None) -> np.ndarray:
        """Float32 latents ``[B, D, T]`` of ``parts`` (one part per item, notes in seconds from frame 0),
        given their sketch latents ``sketches [B, D, T]``: T frames are rendered for every item.

        Each window's sampling starts from the sketch's latents plus noise of level
        ``start_sigma`` (SDEdit; ``start_sigma`` >= SIGMA_MAX starts from pure noise).
        Item b is deterministic for ``seeds[b]`` and independent of its batch mates.
        ``prefix [B, D, P]``: latents of the first P frames, already rendered (e.g. the piece so
        far); generation continues from them. ``steps``: sampler steps per window
        (DPM-Solver++(2M): one net call each, on a doubled batch with guidance); ``guidance``:
        the classifier-free guidance scale (1 = off).
        """
        if not parts or len(parts) != len(seeds) or sketches.shape[0] != len(parts):
            raise ValueError(f"need one seed and one sketch per part and at least one part, "
                             f"got {len(parts)} parts, {len(seeds)} seeds, {sketches.shape[0]} sketches")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
        if not SIGMA_MIN < start_sigma:
            raise ValueError(f"start_sigma must be above {SIGMA_MIN:g}, got {start_sigma:g}")
        start_sigma = min(start_sigma, SIGMA_MAX)
        config, d, w = self.config, self.latent_dim, self.config.window_frames
        if sketches.ndim != 3 or sketches.shape[1] != d:
            raise ValueError(f"sketches must be [{len(parts)}, {d}, T], got {list(sketches.shape)}")
        total = sketches.shape[-1]
        known = 0 if prefix is None else prefix.shape[-1]
        if prefix is not None and (prefix.ndim != 3 or tuple(prefix.shape[:2]) != (len(parts), d)):
            raise ValueError(f"prefix must be [{len(parts)}, {d}, P], got {list(prefix.shape)}")
        spans = window_schedule(total, known, w, config.context_frames)
        padded = max([total, known] + [start + w for start, _ in spans])
        rolls = np.stack([part_rolls(p, config.frame_rate, padded) for p in parts]).astype(np.float32)
        programs = np.array([part_program(p) for p in parts], np.int64)
        sketch = np.zeros((len(parts), d, padded), np.float32)
        sketch[..., :total] = sketches
        out = np.zeros((len(parts), d, padded), np.float32)
        if prefix is not None:
            out[..., :known] = prefix
        generators = item_generators(seeds)
        for start, have in spans:
            mask = np.zeros((len(parts), 1, w), np.float32)
            mask[..., :have] = 1.0
            window = slice(start, start + w)
            denoiser = self.window_denoiser(rolls[..., window], programs, sketch[..., window],
                                            out[..., window] * mask, mask, guidance)
            noise = initial_noise((d, w), generators, start_sigma)
            if start_sigma < SIGMA_MAX:
                noise = noise + sketch[..., window]
            out[..., start + have: start + w] = sample(denoiser, noise, steps=steps, sampler=sampler,
                                                       sigma_max=start_sigma)[..., have:]
        return out[..., :total]
