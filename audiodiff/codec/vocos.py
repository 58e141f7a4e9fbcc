"""A decoder that works at the latent frame rate and ends in an inverse STFT (the Vocos design).

All of its layers run at the codec frame rate (75 Hz): an input convolution, ConvNeXt blocks
(depthwise temporal convolution, LayerNorm, pointwise MLP, layer scale), and a linear head that
predicts, per frame, the log magnitude and the phase of one STFT frame (``n_fft = 4 * hop``,
Hann window). An inverse STFT turns them into ``hop`` new samples per frame. Nothing runs at the
audio rate but the FFTs, so a network many times larger than an upsampling (SEANet) decoder
decodes at the same speed on a CPU.

The design follows Siuzdak (2023), "Vocos": the phase is predicted as an angle, so it wraps
freely; the mel, complex-STFT and adversarial losses of :mod:`audiodiff.codec.task` train it like
any other decoder.
"""
from __future__ import annotations

import torch
from torch import nn


class ConvNeXtBlock(nn.Module):
    """``x [B, C, T] -> [B, C, T]``: depthwise conv (kernel 7), LayerNorm, MLP, layer scale, residual."""

    def __init__(self, dim: int, intermediate: int, layer_scale: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.up = nn.Linear(dim, intermediate)
        self.down = nn.Linear(intermediate, dim)
        self.scale = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dwconv(x).transpose(1, 2)  # [B, T, C]
        h = self.down(nn.functional.gelu(self.up(self.norm(h)))) * self.scale
        return x + h.transpose(1, 2)


class VocosDecoder(nn.Module):
    """Latents ``[B, D, T]`` -> waveform ``[B, 1, T * hop]`` (see the module docstring)."""

    def __init__(self, dimension: int, hop: int, dim: int = 256, intermediate: int = 768, layers: int = 6) -> None:
        super().__init__()
        self.hop, self.n_fft = hop, 4 * hop
        self.embed = nn.Conv1d(dimension, dim, 7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.blocks = nn.ModuleList(ConvNeXtBlock(dim, intermediate, 1.0 / layers) for _ in range(layers))
        self.final_norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, self.n_fft + 2)  # log magnitude and phase of n_fft // 2 + 1 bins
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def spectrum(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents ``[B, D, T]`` -> magnitude and phase ``[B, n_fft // 2 + 1, T]`` of the STFT frames
        that the inverse STFT turns into audio (all of the decoder that ONNX can express)."""
        h = self.norm(self.embed(latents).transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            h = block(h)
        log_mag, phase = self.head(self.final_norm(h.transpose(1, 2))).transpose(1, 2).chunk(2, dim=1)
        return torch.exp(log_mag).clamp(max=1e2), phase

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        spec = torch.polar(*self.spectrum(latents))
        wav = torch.istft(spec, self.n_fft, hop_length=self.hop, win_length=self.n_fft, window=self.window,
                          center=True, length=latents.shape[-1] * self.hop)
        return wav[:, None]
