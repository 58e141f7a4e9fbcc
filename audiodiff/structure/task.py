"""Structure-model training task for :func:`audiodiff.train.loop.train`."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiodiff.diffusion.masked import corrupt, masked_cross_entropy
from audiodiff.io.config import check_keys, from_preset_dict, to_json_dict
from audiodiff.structure.data import TuneTokens, trim_batch
from audiodiff.structure.model import StructureModel
from audiodiff.structure.net import NUM_KEYS, NUM_METERS, StructureNet, StructureNetConfig
from audiodiff.structure.tokens import PAD
from audiodiff.train.loop import TrainConfig

EXPORT_NAME = "structure.safetensors"


def _cpu_train() -> TrainConfig:
    """The optimisation settings of the cpu config, the default."""
    return TrainConfig(batch_size=16, lr=5e-4, warmup_steps=200, weight_decay=0.01, max_steps=20_000)


@dataclass
class StructureTrainingConfig:
    """What ``recipes/train_structure.py`` resolves: network, data crops, condition dropout, optimisation."""

    net: StructureNetConfig = field(default_factory=StructureNetConfig)
    train: TrainConfig = field(default_factory=_cpu_train)
    max_bars: int = 32  # longest training crop
    cond_dropout: float = 0.1  # share of examples trained without key/meter/tempo (for CFG)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "StructureTrainingConfig":
        """Build from the JSON layout of ``audiodiff/configs/structure/*.json``; unknown keys are errors."""
        check_keys(cls, data, "config")
        net = from_preset_dict(StructureNetConfig, data.get("net", {}), "structure net")
        rest = {k: v for k, v in data.items() if k not in ("net", "train")}
        return cls(net=net, train=_cpu_train().updated(data.get("train", {})), **rest)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the resolved config a run saves next to its outputs)."""
        return to_json_dict(self)


class StructureTask:
    """Masked-diffusion training of the StructureNet on corpus tunes."""

    def __init__(self, config: StructureTrainingConfig, data_root: str | Path):
        """Read the training tunes, ``<data_root>/tunes_train.jsonl``."""
        root = Path(data_root)
        self.config = config
        self.dataset = TuneTokens([root / "tunes_train.jsonl"], max_bars=config.max_bars, seed=config.train.seed)

    def build_model(self) -> nn.Module:
        """A fresh :class:`StructureNet` of the configured size."""
        return StructureNet(self.config.net)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor],
             step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """Masked cross-entropy on melody and chord tokens masked at one random rate per example
        (the masked-diffusion objective), with key, meter and tempo dropped for ``cond_dropout`` of
        the examples (classifier-free guidance). Returns the loss and its parts for the log."""
        b = trim_batch(batch)
        n = b["melody"].shape[0]
        target_melody = b["melody"].flatten(1)  # [B, N * STEPS_PER_BEAT]
        real_slots = ((b["melody"] != PAD) & b["valid"][..., None]).flatten(1)
        rate = torch.rand(n, device=target_melody.device)
        melody, m_masked = corrupt(target_melody, rate, real_slots)
        chords, c_masked = corrupt(b["chords"], rate, b["valid"])
        drop = torch.rand(n, device=melody.device) < self.config.cond_dropout
        key = torch.where(drop, torch.full_like(b["key"], NUM_KEYS), b["key"])
        meter = torch.where(drop, torch.full_like(b["meter"], NUM_METERS), b["meter"])
        bpm = torch.where(drop, torch.zeros_like(b["bpm"]), b["bpm"])
        mel_logits, chord_logits = model(melody.view_as(b["melody"]), chords, b["beat_in_bar"], b["bar"],
                                         b["bars_to_end"], key, meter, bpm, padding=~b["valid"])
        mel_loss = masked_cross_entropy(mel_logits.flatten(1, 2), target_melody, m_masked)
        chord_loss = masked_cross_entropy(chord_logits, b["chords"], c_masked)
        loss = mel_loss + chord_loss
        return loss, {"loss": loss.item(), "melody": mel_loss.item(), "chords": chord_loss.item()}

    def export(self, ema_model: nn.Module, out_dir: Path, metadata: dict[str, Any]) -> Path:
        """Write the EMA weights as ``<out_dir>/structure.safetensors`` with the resolved config."""
        model = StructureModel(ema_model)
        return model.save(Path(out_dir) / EXPORT_NAME, {**metadata, "recipe": self.config.to_dict()})

    def load_weights(self, model: nn.Module, path: Path) -> None:
        """Load an exported structure checkpoint's weights into ``model`` (``--init-from``)."""
        model.load_state_dict(StructureModel.load(path).net.state_dict())
