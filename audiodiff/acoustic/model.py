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

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from audiodiff.acoustic.config import AcousticConfig, AcousticNetConfig  # noqa: F401 (re-exported)
from audiodiff.acoustic.net import AcousticNet
from audiodiff.acoustic.sampling import (  # noqa: F401 (re-exported: the acoustic model's public names)
    DEFAULT_GUIDANCE,
    DEFAULT_SAMPLER,
    DEFAULT_START_SIGMA,
    DEFAULT_STEPS,
    LatentWriter,
    window_schedule,
)
from audiodiff.diffusion.gaussian import edm_denoise
from audiodiff.io.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from audiodiff.music.performance import Part

KIND = "acoustic"


def denoise(net: torch.nn.Module, x: torch.Tensor, sigma: torch.Tensor, rolls: torch.Tensor,
            programs: torch.Tensor, sketch: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor,
            sigma_data: float) -> torch.Tensor:
    """EDM-preconditioned ``x0_hat [B, D, W]`` for noisy latents ``x [B, D, W]`` at ``sigma [B]``,
    conditioned on ``rolls [B, F, W]``, ``programs [B]``, ``sketch [B, D, W]`` and known
    ``context [B, D, W]`` where ``context_mask [B, 1, W]`` is 1 (the same call in training and
    sampling)."""
    return edm_denoise(lambda x_in, c_noise: net(x_in, c_noise, rolls, programs, sketch, context, context_mask),
                       x, sigma, sigma_data)


class AcousticModel:
    """A trained :class:`AcousticNet` plus its :class:`AcousticConfig`; ``generate`` makes latents."""

    def __init__(self, net: AcousticNet, config: AcousticConfig, metadata: dict[str, Any] | None = None) -> None:
        if net.config != config.net:
            raise ValueError("the network's config differs from the model config's net")
        self.net = net.eval()
        self.config = config
        self.metadata = metadata or {}

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

    def writer(self) -> LatentWriter:
        """The window-by-window sampler over this network on torch (numpy in and out, as the ONNX
        backend's; :mod:`audiodiff.acoustic.sampling`)."""
        from audiodiff.backends import torch_call

        return LatentWriter(torch_call(self.net), self.config, self.metadata)

    def generate(self, parts: Sequence[Part], sketches: torch.Tensor, seeds: Sequence[int], *,
                 steps: int = DEFAULT_STEPS, guidance: float = DEFAULT_GUIDANCE, sampler: str = DEFAULT_SAMPLER,
                 start_sigma: float = DEFAULT_START_SIGMA, prefix: torch.Tensor | None = None) -> torch.Tensor:
        """Latents ``[B, D, T]`` of ``parts`` given their sketch latents ``[B, D, T]`` (on the CPU):
        :meth:`LatentWriter.generate` on torch tensors."""
        out = self.writer().generate(parts, sketches.float().cpu().numpy(), seeds, steps=steps, guidance=guidance,
                                     sampler=sampler, start_sigma=start_sigma,
                                     prefix=None if prefix is None else prefix.float().cpu().numpy())
        return torch.from_numpy(out)
