"""Acoustic-model training task for :func:`audiodiff.train.loop.train`: EDM loss with condition
dropout for classifier-free guidance, over crops of the per-part latent shards
(:mod:`audiodiff.corpus.part_data`)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiodiff.acoustic.data import PartWindows, codec_fingerprint
from audiodiff.acoustic.features import NULL_PROGRAM
from audiodiff.acoustic.model import AcousticConfig, AcousticModel, denoise
from audiodiff.acoustic.net import AcousticNet
from audiodiff.acoustic.synth import SKETCH_VERSION
from audiodiff.codec.model import load_codec
from audiodiff.diffusion.gaussian import loss_weight, training_sigmas
from audiodiff.io.checkpoint import default_checkpoint
from audiodiff.io.config import check_keys, to_json_dict
from audiodiff.train.loop import TrainConfig

EXPORT_NAME = "acoustic.safetensors"


def _cpu_train() -> TrainConfig:
    """The optimisation settings of the cpu config, the default."""
    return TrainConfig(batch_size=16, lr=5e-4, warmup_steps=300, max_steps=100_000)


@dataclass
class AcousticTrainingConfig:
    """What ``recipes/train_acoustic.py`` resolves: model, codec, condition dropout, noise levels,
    optimisation. ``model.net.latent_dim`` and ``model.frame_rate`` are taken from the codec."""

    model: AcousticConfig = field(default_factory=AcousticConfig)
    train: TrainConfig = field(default_factory=_cpu_train)
    codec: str | None = None  # codec checkpoint whose latents the model learns (None: the shipped one)
    cond_dropout: float = 0.1  # share of crops trained without the part (notes, program, sketch), for CFG
    context_dropout: float = 0.15  # share of crops trained without known context (first windows)
    p_mean: float = -0.6  # training noise levels: ln(sigma) ~ N(p_mean, p_std^2); EDM's -1.2
    p_std: float = 1.2  # shifted by ln 2 because the latents have sigma_data 1 instead of 0.5

    def __post_init__(self) -> None:
        for name in ("cond_dropout", "context_dropout"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AcousticTrainingConfig:
        """Build from the JSON layout of ``audiodiff/configs/acoustic/*.json``; unknown keys are errors."""
        check_keys(cls, data, "config")
        rest = {k: v for k, v in data.items() if k not in ("model", "train")}
        return cls(model=AcousticConfig.from_dict(data.get("model", {})),
                   train=_cpu_train().updated(data.get("train", {})), **rest)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the resolved config a run saves next to its outputs)."""
        return to_json_dict(self)


class AcousticTask:
    """:class:`audiodiff.train.loop.Task` that trains an :class:`AcousticNet` on per-part shards.

    ``data``: one folder of shards or several, comma-separated ("runs/parts,runs/parts_mine"); every
    shard must hold latents of the recipe's codec.
    """

    def __init__(self, config: AcousticTrainingConfig, data: str | os.PathLike) -> None:
        codec = load_codec(config.codec or default_checkpoint("codec"))
        self.codec_sha = codec_fingerprint(codec)
        model = replace(config.model.for_codec(codec.latent_dim, codec.frame_rate), sketch_version=SKETCH_VERSION)
        self.config = replace(config, model=model)  # the data is sketched by today's synth (PartWindows checks)
        roots = [r for r in str(data).split(",") if r]
        self.dataset = PartWindows(roots, self.codec_sha, window_frames=model.window_frames,
                                   context_frames=model.context_frames,
                                   context_dropout=config.context_dropout, seed=config.train.seed)

    def build_model(self) -> AcousticNet:
        return AcousticNet(self.config.model.net)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor],
             step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """EDM loss on the frames after the known context, with part dropout for CFG."""
        config = self.config
        x0 = batch["latents"]
        n, d, w = x0.shape
        known = (torch.arange(w, device=x0.device) < batch["context_frames"][:, None]).to(x0.dtype)[:, None]
        sigma = training_sigmas(n, config.p_mean, config.p_std, device=x0.device)
        x = x0 + sigma[:, None, None] * torch.randn_like(x0)
        keep = torch.rand(n, device=x0.device) >= config.cond_dropout
        rolls = batch["rolls"] * keep[:, None, None].to(x0.dtype)
        sketch = batch["sketch"] * keep[:, None, None].to(x0.dtype)
        programs = torch.where(keep, batch["programs"], torch.full_like(batch["programs"], NULL_PROGRAM))
        x0_hat = denoise(model, x, sigma, rolls, programs, sketch, x0 * known, known, config.model.sigma_data)
        new = 1 - known
        mse = ((x0_hat - x0) ** 2 * new).sum(dim=(1, 2)) / (new.sum(dim=(1, 2)) * d)
        loss = (loss_weight(sigma, config.model.sigma_data) * mse).mean()
        return loss, {"mse": mse.mean().item()}

    def export(self, ema_model: nn.Module, out_dir: Path, metadata: dict[str, Any]) -> Path:
        """Write ``<out_dir>/acoustic.safetensors`` with the codec's fingerprint in its metadata."""
        model = AcousticModel(ema_model, self.config.model)
        return model.save(Path(out_dir) / EXPORT_NAME, {**metadata, "codec_sha": self.codec_sha,
                                                         "programs": self.dataset.programs(),
                                                         "codec": self.config.codec or "shipped",
                                                         "recipe": self.config.to_dict()})

    def load_weights(self, model: nn.Module, path: Path) -> None:
        """Start from an exported acoustic model; its architecture must match this recipe's (a model
        that learned an older sketch synth may be fine-tuned on today's sketches)."""
        source = AcousticModel.load(path)
        if replace(source.config, sketch_version=self.config.model.sketch_version) != self.config.model:
            raise ValueError(f"{path}: acoustic model config {source.config.to_dict()} differs from the"
                             f" recipe's {self.config.model.to_dict()}")
        model.load_state_dict(source.net.state_dict())
