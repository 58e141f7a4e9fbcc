"""AcousticModel: parts -> codec latents by EDM diffusion, one part per batch item, rendered
window by window. Each part is conditioned on its notes, its program and the codec latents of its
sketch (:mod:`audiodiff.acoustic.synth`); a piece is the sum of its decoded parts.

A part longer than one training window is rendered as a chain of windows of ``window_frames``
frames. The first window starts from nothing; every later window starts ``context_frames``
before the end of what is rendered so far and takes those frames as known context (see
:mod:`audiodiff.acoustic.net`), so it continues the sound instead of starting afresh:

    window 0: [0, W)            all new
    window 1: [W - K, 2W - K)   first K frames known, W - K new
    window 2: ...

During sampling the known frames are held at their values (the denoiser returns them as its
estimate), so the ODE never moves them and the new frames are denoised jointly with them in view.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiodiff.acoustic.features import NULL_PROGRAM, part_program, part_rolls
from audiodiff.acoustic.net import AcousticNet, AcousticNetConfig
from audiodiff.diffusion.gaussian import (
    SAMPLERS,
    SIGMA_MAX,
    SIGMA_MIN,
    Denoiser,
    classifier_free_guidance,
    edm_denoise,
    initial_noise,
    sample,
)
from audiodiff.io.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from audiodiff.io.config import to_json_dict
from audiodiff.music.performance import Part

KIND = "acoustic"
DEFAULT_STEPS, DEFAULT_GUIDANCE, DEFAULT_SAMPLER = 8, 1.0, "dpmpp_2m"
# Sampling starts from the sketch's latents noised to this level (SDEdit), not from pure noise: the
# sketch already holds the notes; the model only has to turn it into the instrument's sound.
DEFAULT_START_SIGMA = 0.5  # chosen on dev arrangements (docs/training.md)


@dataclass
class AcousticConfig:
    """What an acoustic model is: its network, the codec frames it works in, and its window."""

    net: AcousticNetConfig = field(default_factory=AcousticNetConfig)
    frame_rate: float = 75.0  # Hz, the codec's latent frame rate
    window_frames: int = 400  # frames the net sees at once (context + new), in training and sampling
    context_frames: int = 75  # frames of what is rendered so far that a new window continues
    sigma_data: float = 1.0  # standard deviation of the (scaled) codec latents

    def __post_init__(self) -> None:
        if not 0 < self.context_frames < self.window_frames:
            raise ValueError(f"need 0 < context_frames < window_frames, got {self.context_frames}"
                             f" and {self.window_frames}")
        if not self.frame_rate > 0 or not self.sigma_data > 0:
            raise ValueError(f"frame_rate and sigma_data must be positive, got {self.frame_rate}, {self.sigma_data}")

    def for_codec(self, latent_dim: int, frame_rate: float) -> AcousticConfig:
        """This config for a codec's latent channels and frame rate (Hz)."""
        return replace(self, net=replace(self.net, latent_dim=latent_dim), frame_rate=float(frame_rate))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AcousticConfig:
        """Build from ``{"net": {...}, "window_frames": ..., ...}``; unknown keys are errors."""
        allowed = {"net", "frame_rate", "window_frames", "context_frames", "sigma_data"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"unknown acoustic model keys {unknown}; allowed: {', '.join(sorted(allowed))}")
        rest = {k: v for k, v in data.items() if k != "net"}
        return cls(net=AcousticNetConfig.from_dict(data.get("net", {})), **rest)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return to_json_dict(self)


def denoise(net: torch.nn.Module, x: torch.Tensor, sigma: torch.Tensor, rolls: torch.Tensor,
            programs: torch.Tensor, sketch: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor,
            sigma_data: float) -> torch.Tensor:
    """EDM-preconditioned ``x0_hat [B, D, W]`` for noisy latents ``x [B, D, W]`` at ``sigma [B]``,
    conditioned on ``rolls [B, F, W]``, ``programs [B]``, ``sketch [B, D, W]`` and known
    ``context [B, D, W]`` where ``context_mask [B, 1, W]`` is 1 (the same call in training and
    sampling)."""
    return edm_denoise(lambda x_in, c_noise: net(x_in, c_noise, rolls, programs, sketch, context, context_mask),
                       x, sigma, sigma_data)


def window_schedule(total: int, known: int, window: int, context: int) -> list[tuple[int, int]]:
    """Windows ``(start, known_frames)`` that render frames ``[known, total)``: each covers
    ``[start, start + window)`` and its first ``known_frames`` frames are already rendered."""
    spans, pos = [], known
    while pos < total:
        have = min(context, pos)
        spans.append((pos - have, have))
        pos = pos - have + window
    return spans


class AcousticModel:
    """A trained :class:`AcousticNet` plus its :class:`AcousticConfig`; ``generate`` makes latents."""

    def __init__(self, net: AcousticNet, config: AcousticConfig, metadata: dict[str, Any] | None = None) -> None:
        if net.config != config.net:
            raise ValueError("the network's config differs from the model config's net")
        self.net = net.eval()
        self.config = config
        self.metadata = metadata or {}

    @property
    def latent_dim(self) -> int:
        """Latent channels D of the codec the model was trained for."""
        return self.config.net.latent_dim

    @property
    def frame_rate(self) -> float:
        """Latent frames per second (Hz) of the codec the model was trained for."""
        return self.config.frame_rate

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> AcousticModel:
        """Load an exported acoustic checkpoint (CheckpointError on any problem), in eval mode."""
        state, config, metadata = load_checkpoint(path, kind=KIND)
        try:
            acoustic = AcousticConfig.from_dict(config)
            net = AcousticNet(acoustic.net)
        except (TypeError, ValueError) as err:
            raise CheckpointError(path, f"invalid acoustic config ({err})") from None
        try:
            net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
        except RuntimeError as err:
            raise CheckpointError(path, f"weights do not fit the acoustic architecture ({err})") from None
        return cls(net.to(device), acoustic, metadata)

    def save(self, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
        """Write the model (16-bit weights, upcast at load; config, metadata) as an audiodiff checkpoint."""
        weights = {k: v.half() if v.is_floating_point() else v for k, v in self.net.state_dict().items()}
        return save_checkpoint(path, weights, kind=KIND, config=self.config.to_dict(),
                               metadata=self.metadata if metadata is None else metadata)

    def check_codec(self, latent_dim: int, frame_rate: float) -> None:
        """Raise ValueError unless a codec's latent channels and frame rate (Hz) are this model's."""
        if latent_dim != self.latent_dim or not math.isclose(frame_rate, self.frame_rate):
            raise ValueError(f"the acoustic model works in {self.latent_dim}-channel latents at {self.frame_rate:g} Hz;"
                             f" the codec makes {latent_dim} channels at {frame_rate:g} Hz")

    def window_denoiser(self, rolls: torch.Tensor, programs: torch.Tensor, sketch: torch.Tensor,
                        context: torch.Tensor, context_mask: torch.Tensor, guidance: float) -> Denoiser:
        """The guided denoiser of one window batch: the unconditional branch sees no part (zero
        rolls and sketch, NULL_PROGRAM) but the same context, and runs in the same network call as
        the conditional one; known frames are returned as they are."""
        sd = self.config.sigma_data

        def branch(r: torch.Tensor, p: torch.Tensor, s: torch.Tensor, ctx: torch.Tensor,
                   mask: torch.Tensor) -> Denoiser:
            def d(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
                x0 = denoise(self.net, x, sigma, r, p, s, ctx, mask, sd)
                return mask * ctx + (1 - mask) * x0
            return d
        conditional = branch(rolls, programs, sketch, context, context_mask)
        if guidance == 1.0:
            return conditional
        paired = branch(torch.cat([rolls, torch.zeros_like(rolls)]),
                        torch.cat([programs, torch.full_like(programs, NULL_PROGRAM)]),
                        torch.cat([sketch, torch.zeros_like(sketch)]),
                        torch.cat([context, context]), torch.cat([context_mask, context_mask]))
        return classifier_free_guidance(conditional, paired, guidance)

    @torch.no_grad()
    def generate(self, parts: Sequence[Part], sketches: torch.Tensor, seeds: Sequence[int], *,
                 steps: int = DEFAULT_STEPS, guidance: float = DEFAULT_GUIDANCE, sampler: str = DEFAULT_SAMPLER,
                 start_sigma: float = DEFAULT_START_SIGMA, prefix: torch.Tensor | None = None) -> torch.Tensor:
        """Latents ``[B, D, T]`` of ``parts`` (one part per item, notes in seconds from frame 0),
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
        config, device = self.config, next(self.net.parameters()).device
        d, w = self.latent_dim, config.window_frames
        if sketches.dim() != 3 or sketches.shape[1] != d:
            raise ValueError(f"sketches must be [{len(parts)}, {d}, T], got {list(sketches.shape)}")
        total = sketches.shape[-1]
        known = 0 if prefix is None else prefix.shape[-1]
        if prefix is not None and (prefix.dim() != 3 or tuple(prefix.shape[:2]) != (len(parts), d)):
            raise ValueError(f"prefix must be [{len(parts)}, {d}, P], got {list(prefix.shape)}")
        spans = window_schedule(total, known, w, config.context_frames)
        padded = max([total, known] + [start + w for start, _ in spans])
        rolls = torch.from_numpy(np.stack([part_rolls(p, config.frame_rate, padded) for p in parts])).to(device)
        programs = torch.tensor([part_program(p) for p in parts], device=device)
        sketch = torch.zeros(len(parts), d, padded, device=device)
        sketch[..., :total] = sketches.to(device=device, dtype=sketch.dtype)
        out = torch.zeros(len(parts), d, padded, device=device)
        if prefix is not None:
            out[..., :known] = prefix.to(device=device, dtype=out.dtype)
        generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        for start, have in spans:
            mask = torch.zeros(len(parts), 1, w, device=device)
            mask[..., :have] = 1.0
            window = slice(start, start + w)
            denoiser = self.window_denoiser(rolls[..., window], programs, sketch[..., window],
                                            out[..., window] * mask, mask, guidance)
            noise = initial_noise((d, w), generators, start_sigma, device=device)
            if start_sigma < SIGMA_MAX:
                noise = noise + sketch[..., window]
            out[..., start + have: start + w] = sample(denoiser, noise, steps=steps, sampler=sampler,
                                                       sigma_max=start_sigma)[..., have:]
        return out[..., :total]
