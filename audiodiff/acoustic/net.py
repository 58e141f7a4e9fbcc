"""1-D U-Net denoiser over one part's codec latents (architecture only; never samples).

Inputs (B batch of parts, D latent channels, T frames at the codec frame rate):

- ``x [B, D, T]``: noisy latents already scaled by EDM's ``c_in``; ``c_noise [B]``: ``ln(sigma) / 4``
- ``rolls [B, NUM_FEATURES, T]`` and ``programs [B]``: the part's notes and instrument
  (:mod:`audiodiff.acoustic.features`)
- ``sketch [B, D, T]``: codec latents of the part played by the sketch synth
  (:mod:`audiodiff.acoustic.synth`): where the notes are and roughly how they sound
- ``context [B, D, T]`` and ``context_mask [B, 1, T]``: clean latents of the frames that are
  already known (the previous window's tail, prepended in time), 1 in the mask where known.

The sketch and the known context enter the first convolution beside the noisy latents, so the net
refines the sketch into the instrument's sound and continues the context without a seam. The notes
are encoded once per call and added inside each residual block at every level; the noise level and
the program (an embedding) enter every block by FiLM.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from audiodiff.acoustic.config import PRESETS, AcousticNetConfig  # noqa: F401 (re-exported)
from audiodiff.acoustic.features import NULL_PROGRAM, NUM_FEATURES


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(channels, 32), channels)


class NoiseEmbedding(nn.Module):
    """``c_noise [B]`` -> ``[B, dim]``: fixed log-spaced sinusoids (frequencies 1..1000) + MLP."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("freqs", torch.logspace(0, 3, dim // 2), persistent=False)
        self.mlp = nn.Sequential(nn.Linear(2 * (dim // 2), dim), nn.SiLU(), nn.Linear(dim, dim), nn.SiLU())

    def forward(self, c_noise: torch.Tensor) -> torch.Tensor:
        args = c_noise[:, None].float() * self.freqs
        return self.mlp(torch.cat([args.cos(), args.sin()], dim=1))


class NoteEncoder(nn.Module):
    """``rolls [B, NUM_FEATURES, T]`` -> ``[B, plan_dim, T]``."""

    def __init__(self, config: AcousticNetConfig) -> None:
        super().__init__()
        k, pad = config.kernel_size, config.kernel_size // 2
        self.net = nn.Sequential(nn.Conv1d(NUM_FEATURES, config.plan_dim, k, padding=pad), nn.SiLU(),
                                 nn.Conv1d(config.plan_dim, config.plan_dim, k, padding=pad))

    def forward(self, rolls: torch.Tensor) -> torch.Tensor:
        return self.net(rolls)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice; adds the plan after the first conv, FiLMs by the noise level."""

    def __init__(self, c_in: int, c_out: int, config: AcousticNetConfig, dilation: int = 1) -> None:
        super().__init__()
        k = config.kernel_size
        self.norm1 = _norm(c_in)
        self.conv1 = nn.Conv1d(c_in, c_out, k, padding=dilation * (k // 2), dilation=dilation)
        self.plan = nn.Conv1d(config.plan_dim, c_out, 1)
        self.noise = nn.Linear(config.noise_dim, 2 * c_out)
        self.norm2 = _norm(c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, k, padding=k // 2)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, noise: torch.Tensor, plan: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.plan(plan)
        scale, shift = self.noise(noise)[..., None].chunk(2, dim=1)
        h = self.conv2(F.silu(self.norm2(h) * (1 + scale) + shift))
        return (h + self.skip(x)) / math.sqrt(2)


class AcousticNet(nn.Module):
    """The denoiser network ``F``: see the module docstring for inputs; returns ``[B, D, T]``."""

    def __init__(self, config: AcousticNetConfig) -> None:
        super().__init__()
        self.config = config
        widths, k, d = config.widths, config.kernel_size, config.latent_dim
        self.noise_embedding = NoiseEmbedding(config.noise_dim)
        self.program_embedding = nn.Embedding(NULL_PROGRAM + 1, config.noise_dim)
        nn.init.normal_(self.program_embedding.weight, std=0.3)
        self.note_encoder = NoteEncoder(config)
        self.inp = nn.Conv1d(3 * d + 1, widths[0], k, padding=k // 2)
        self.down = nn.ModuleList(
            nn.ModuleList(ResBlock(w, w, config) for _ in range(n)) for w, n in zip(widths, config.blocks))
        self.downsample = nn.ModuleList(
            nn.Conv1d(a, b, 3, stride=2, padding=1) for a, b in zip(widths[:-1], widths[1:]))
        self.mid = nn.ModuleList(ResBlock(widths[-1], widths[-1], config, dil) for dil in config.mid_dilations)
        self.upsample = nn.ModuleList(
            nn.Conv1d(b, a, k, padding=k // 2) for a, b in zip(widths[:-1], widths[1:]))
        self.up = nn.ModuleList(
            nn.ModuleList(ResBlock(2 * w if j == 0 else w, w, config) for j in range(n))
            for w, n in zip(widths, config.blocks))
        self.out = nn.Sequential(_norm(widths[0]), nn.SiLU(), nn.Conv1d(widths[0], d, k, padding=k // 2))

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, rolls: torch.Tensor, programs: torch.Tensor,
                sketch: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor) -> torch.Tensor:
        frames = x.shape[-1]
        extra = -frames % self.config.frame_multiple
        if extra:  # zero frames: no notes, silent sketch, nothing known
            x, rolls, sketch, context, context_mask = (F.pad(t, (0, extra))
                                                       for t in (x, rolls, sketch, context, context_mask))
        noise = self.noise_embedding(c_noise) + self.program_embedding(programs)
        plans = [self.note_encoder(rolls)]
        for _ in self.config.widths[1:]:
            plans.append(F.avg_pool1d(plans[-1], 2))
        h = self.inp(torch.cat([x, sketch, context * context_mask, context_mask], dim=1))
        skips = []
        for level, blocks in enumerate(self.down):
            if level:
                h = self.downsample[level - 1](h)
            for block in blocks:
                h = block(h, noise, plans[level])
            skips.append(h)
        for block in self.mid:
            h = block(h, noise, plans[-1])
        for level in reversed(range(len(self.up))):
            if level < len(self.up) - 1:
                h = self.upsample[level](F.interpolate(h, scale_factor=2.0, mode="nearest"))
            h = torch.cat([h, skips[level]], dim=1)
            for block in self.up[level]:
                h = block(h, noise, plans[level])
        return self.out(h)[..., :frames]
