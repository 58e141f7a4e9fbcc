"""Codec training task for :func:`audiodiff.train.loop.train`: losses, quantizer dropout, export.

Losses (weights in :class:`CodecLossConfig`): L1 on the waveform, multi-scale mel (L1 on linear and
log magnitudes), a relative complex-STFT loss that sees phase, RVQ commitment and, when
``adversarial``, encodec's multi-scale STFT discriminator with hinge + relative feature-matching
losses. Each step picks one bandwidth for the whole batch (1.5 / 3 / 6 kbps) or, with probability
``unquantized_prob``, no quantizer, because at inference the decoder also decodes the continuous
latents the diffusion model predicts.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from audiodiff.codec.data import AudioWindowDataset
from audiodiff.codec.model import Codec, CodecConfig, load_codec, measure_latent_scale, quiet_weight_norm, save_codec
from audiodiff.io.config import check_keys, to_json_dict
from audiodiff.train.loop import TrainConfig

EXPORT_NAME = "codec.safetensors"
_EXPORT_DTYPES = {"float32": torch.float32, "float16": torch.float16}


@dataclass
class CodecLossConfig:
    """Loss weights and the quantizer-dropout / discriminator settings."""

    l1_weight: float = 1.0
    mel_weight: float = 1.0
    commit_weight: float = 1.0
    mel_n_ffts: tuple[int, ...] = (512, 1024, 2048)  # hop = n_fft / 4
    n_mels: int = 64
    stft_weight: float = 3.0  # relative complex-STFT loss (phase-aware), see ComplexSTFTLoss
    stft_n_ffts: tuple[int, ...] = (128, 256, 512, 1024)  # hop = n_fft / 4
    unquantized_prob: float = 0.25  # share of steps that decode continuous latents
    adversarial: bool = False
    disc_filters: int = 32
    adv_weight: float = 3.0
    feat_weight: float = 3.0

    def __post_init__(self) -> None:
        self.mel_n_ffts = tuple(int(n) for n in self.mel_n_ffts)
        self.stft_n_ffts = tuple(int(n) for n in self.stft_n_ffts)
        if not 0.0 <= self.unquantized_prob <= 1.0:
            raise ValueError(f"unquantized_prob must be in [0, 1], got {self.unquantized_prob}")


def _cpu_train() -> TrainConfig:
    """The optimisation settings of the cpu config, the default."""
    return TrainConfig(max_steps=20_000)


@dataclass
class CodecTrainingConfig:
    """Everything ``recipes/train_codec.py`` resolves: architecture, losses, data and optimisation."""

    codec: CodecConfig = field(default_factory=lambda: CodecConfig.preset("cpu"))
    loss: CodecLossConfig = field(default_factory=CodecLossConfig)
    train: TrainConfig = field(default_factory=_cpu_train)
    segment_seconds: float = 1.0  # training crop length
    stats_items: int = 256  # crops encoded to measure the exported latent scale
    export_dtype: str = "float32"  # storage dtype of the exported weights
    # train the decoder (and codebooks) only: the encoder, its latent scale and so its latents stay
    # those of --init-from, and acoustic models trained on them stay valid
    decoder_only: bool = False
    # (decoder_only) every loss compares with what --init-from's own decoder makes of the same
    # latents instead of the audio: a new, lighter decoder learns to reproduce the trained one
    distill: bool = False

    def __post_init__(self) -> None:
        if self.export_dtype not in _EXPORT_DTYPES:
            raise ValueError(f"export_dtype must be one of {', '.join(_EXPORT_DTYPES)}, got {self.export_dtype!r}")
        if self.decoder_only and not self.train.init_from:
            raise ValueError("decoder_only fine-tunes a trained codec: give it --init-from")
        if self.distill and not self.decoder_only:
            raise ValueError("distill trains a decoder from --init-from's: it needs decoder_only")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CodecTrainingConfig:
        """Build from the JSON layout of ``audiodiff/configs/codec/*.json``; unknown keys are errors."""
        check_keys(cls, data, "config")
        loss = dict(data.get("loss", {}))
        check_keys(CodecLossConfig, loss, "loss")
        rest = {k: v for k, v in data.items() if k not in ("codec", "loss", "train")}
        return cls(codec=CodecConfig.from_dict(data.get("codec", {"preset": "cpu"})),
                   loss=CodecLossConfig(**loss), train=_cpu_train().updated(data.get("train", {})), **rest)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the resolved config a run saves next to its outputs)."""
        return to_json_dict(self)


class MultiScaleMelLoss(nn.Module):
    """Mean over STFT sizes of L1(mel) + L1(log mel), magnitudes, for audio ``[B, C, N]``."""

    def __init__(self, sample_rate: int, n_ffts: tuple[int, ...], n_mels: int) -> None:
        super().__init__()
        from torchaudio.transforms import MelSpectrogram

        self.specs = nn.ModuleList(
            MelSpectrogram(sample_rate=sample_rate, n_fft=n, hop_length=n // 4, n_mels=n_mels, power=1.0)
            for n in n_ffts
        )

    def forward(self, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = recon.new_zeros(())
        for spec in self.specs:
            a, b = spec(recon), spec(target)
            total = total + (a - b).abs().mean() + (a.clamp_min(1e-5).log() - b.clamp_min(1e-5).log()).abs().mean()
        return total / len(self.specs)


class ComplexSTFTLoss(nn.Module):
    """Mean over STFT sizes of ``sum |S(recon) - S(target)| / sum |S(target)|`` on complex STFTs.

    Unlike magnitude losses it sees phase, at the short time scales where a waveform L1 gives
    almost no gradient once the phase is wrong; being relative, its size does not grow with n_fft.
    """

    def __init__(self, n_ffts: tuple[int, ...]) -> None:
        super().__init__()
        self.n_ffts = tuple(n_ffts)
        for n in self.n_ffts:
            self.register_buffer(f"window_{n}", torch.hann_window(n), persistent=False)

    def forward(self, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = recon.new_zeros(())
        for n in self.n_ffts:
            window = getattr(self, f"window_{n}")
            a, b = (torch.stft(x.flatten(0, 1), n, hop_length=n // 4, window=window, return_complex=True)
                    for x in (recon, target))
            total = total + (a - b).abs().sum() / b.abs().sum().clamp_min(1e-8)
        return total / len(self.n_ffts)


class CodecTrainModel(nn.Module):
    """The codec plus, for adversarial training, the discriminator (one module so DDP syncs both).

    Generator and discriminator are updated together in one backward: the generator's adversarial
    terms see the discriminator with gradients switched off, the discriminator's hinge loss sees
    the reconstruction detached, so neither loss pushes the other network.
    """

    def __init__(self, codec_config: CodecConfig, loss_config: CodecLossConfig) -> None:
        super().__init__()
        self.codec = Codec(codec_config)
        self.disc: nn.Module | None = None
        if loss_config.adversarial:
            from encodec.msstftd import MultiScaleSTFTDiscriminator

            with quiet_weight_norm():
                self.disc = MultiScaleSTFTDiscriminator(filters=loss_config.disc_filters,
                                                        in_channels=codec_config.channels)

    def forward(self, wav: torch.Tensor, bandwidth_kbps: float | None) -> dict[str, Any]:
        """``wav [B, C, N]`` -> dict with ``recon``, ``commit``, ``latents`` (what the decoder
        decoded, unscaled) and, with a discriminator,
        ``fake_logits``/``fake_feats`` (for the generator), ``real_logits``/``real_feats`` and
        ``detached_logits`` (for the discriminator); logits/feats are lists over STFT scales."""
        recon, commit, latents = self.codec(wav, bandwidth_kbps)
        out: dict[str, Any] = {"recon": recon, "commit": commit, "latents": latents}
        if self.disc is not None:
            self.disc.requires_grad_(False)
            out["fake_logits"], out["fake_feats"] = self.disc(recon)
            self.disc.requires_grad_(True)
            out["real_logits"], out["real_feats"] = self.disc(wav)
            out["detached_logits"], _ = self.disc(recon.detach())
        return out


class CodecTask:
    """:class:`audiodiff.train.loop.Task` that trains a :class:`Codec` on corpus windows."""

    def __init__(self, config: CodecTrainingConfig, data_root: str | os.PathLike) -> None:
        self.config = config
        self.dataset = AudioWindowDataset(data_root, "train", seconds=config.segment_seconds,
                                          sample_rate=config.codec.sample_rate, seed=config.train.seed)
        self.mel = MultiScaleMelLoss(config.codec.sample_rate, config.loss.mel_n_ffts, config.loss.n_mels)
        self.stft = ComplexSTFTLoss(config.loss.stft_n_ffts)
        self._teacher: Codec | None = None

    def build_model(self) -> CodecTrainModel:
        model = CodecTrainModel(self.config.codec, self.config.loss)
        if self.config.decoder_only:
            model.codec.encoder.requires_grad_(False)
        return model

    def bandwidth_for(self, step: int) -> float | None:
        """Quantizer dropout: this step's bandwidth (kbps) or None; the same on every rank."""
        rng = np.random.default_rng([self.config.train.seed, step])
        if rng.random() < self.config.loss.unquantized_prob:
            return None
        return float(rng.choice(self.config.codec.bandwidths))

    def loss(self, model: nn.Module, batch: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """Weighted sum of the codec losses for a batch ``[B, C, N]``."""
        weights = self.config.loss
        out = model(batch, self.bandwidth_for(step))
        recon = out["recon"]
        if self.config.distill:
            batch = self._teacher_decode(out["latents"], batch.shape[-1])
        l1 = (recon - batch).abs().mean()
        mel = self.mel.to(batch.device)(recon, batch)
        total = weights.l1_weight * l1 + weights.mel_weight * mel + weights.commit_weight * out["commit"]
        logs = {"l1": l1.item(), "mel": mel.item(), "commit": out["commit"].item()}
        if weights.stft_weight:
            stft = self.stft.to(batch.device)(recon, batch)
            total = total + weights.stft_weight * stft
            logs["stft"] = stft.item()
        if "fake_logits" in out:
            adv = sum(torch.relu(1 - logit).mean() for logit in out["fake_logits"]) / len(out["fake_logits"])
            feat = _feature_matching(out["fake_feats"], out["real_feats"])
            disc = sum(torch.relu(1 - real).mean() + torch.relu(1 + fake).mean()
                       for real, fake in zip(out["real_logits"], out["detached_logits"])) / len(out["real_logits"])
            total = total + weights.adv_weight * adv + weights.feat_weight * feat + disc
            logs.update(adv=adv.item(), feat=feat.item(), disc=disc.item())
        return total, logs

    @torch.no_grad()
    def _teacher_decode(self, latents: torch.Tensor, length: int) -> torch.Tensor:
        """What --init-from's decoder makes of unscaled ``latents``: the target when distilling."""
        if self._teacher is None:
            self._teacher = load_codec(self.config.train.init_from, device=latents.device)
            self._teacher.fold_decoder_weight_norm()
        return self._teacher.decoder(latents.detach())[..., :length]

    @torch.no_grad()
    def export(self, ema_model: nn.Module, out_dir: Path, metadata: dict[str, Any]) -> Path:
        """Write ``<out_dir>/codec.safetensors``; unless ``decoder_only``, measure the latent scale
        on training crops first."""
        codec = ema_model.codec.eval()
        if not self.config.decoder_only:
            self.dataset.set_epoch(0)
            items = [self.dataset[i] for i in range(min(self.config.stats_items, len(self.dataset)))]
            size = self.config.train.batch_size
            batches = [torch.stack(items[i: i + size]) for i in range(0, len(items), size)]
            codec.set_latent_scale(measure_latent_scale(codec, batches))
        metadata = {**metadata, "latent_scale": float(codec.latent_scale), "recipe": self.config.to_dict()}
        return save_codec(codec, Path(out_dir) / EXPORT_NAME, metadata=metadata,
                          dtype=_EXPORT_DTYPES[self.config.export_dtype], decoder_only=self.config.decoder_only)

    def load_weights(self, model: nn.Module, path: Path) -> None:
        """Start from an exported codec; its architecture must match this recipe's, except that a
        decoder_only recipe may give a decoder of another shape (it then starts from scratch)."""
        source = load_codec(path)
        if self.config.decoder_only:
            ours, theirs = self.config.codec.latent_dict(), source.config.latent_dict()
        else:
            ours, theirs = self.config.codec.to_dict(), source.config.to_dict()
        differ = [k for k in ours if k != "kmeans_iters" and ours[k] != theirs[k]]
        if differ:
            details = ", ".join(f"{k}={theirs[k]} (recipe: {ours[k]})" for k in differ)
            raise ValueError(f"{path}: codec architecture differs from the recipe's: {details}")
        state = source.state_dict()
        if self.config.codec.decoder_dict() == source.config.decoder_dict():
            model.codec.load_state_dict(state)
        else:  # a new decoder: all but the decoder comes from the source
            model.codec.load_state_dict({k: v for k, v in state.items() if not k.startswith("decoder.")}, strict=False)


def _feature_matching(fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]]) -> torch.Tensor:
    """Mean over scales and layers of L1(fake, real) relative to mean |real| (EnCodec's L_feat)."""
    terms = [(f - r.detach()).abs().mean() / (r.detach().abs().mean() + 1e-8)
             for fake_scale, real_scale in zip(fake, real) for f, r in zip(fake_scale, real_scale)]
    return torch.stack(terms).mean()
