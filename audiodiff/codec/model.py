"""Codec: encodec's SEANet encoder/decoder and residual vector quantizer behind one small interface.

- ``encode(wav [B, C, N]) -> latents [B, D, T]``: continuous, pre-quantization, multiplied by
  ``latent_scale`` so they are about unit variance (what the acoustic diffusion model sees).
- ``quantize(latents, bandwidth_kbps) -> (latents, codes [B, K, T])``: optional RVQ round trip.
- ``decode(latents [B, D, T]) -> wav [B, C, T * hop_length]`` (long sequences in chunks).

Frames: ``T = ceil(N / hop_length)`` with ``hop_length = prod(ratios)`` (320 -> 75 Hz at 24 kHz).
A bandwidth of ``b`` kbps uses ``b * 1000 / (frame_rate * log2(bins))`` codebooks, e.g.
1.5 / 3 / 6 kbps = 2 / 4 / 8 codebooks of 1024 at 75 Hz.

The RVQ codebooks start with a k-means over the first training batch; ``kmeans_iters`` sets its
cost (encodec's default of 50 takes ~13 s at dim 64 on 2 cores; the presets use 1-10).
"""
from __future__ import annotations

import contextlib
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import torch
from torch import nn

from audiodiff.codec.chunked import decode_in_chunks
from audiodiff.codec.config import (  # noqa: F401 (re-exported: the codec's public names)
    CHUNK_CONTEXT_FRAMES,
    CHUNK_FADE_FRAMES,
    CODEC_KIND,
    DECODER_TYPES,
    MAX_CALL_FRAMES,
    PRESETS,
    CodecConfig,
)
from audiodiff.codec.vocos import VocosDecoder
from audiodiff.io.checkpoint import CheckpointError, checkpoint_sha256, load_checkpoint, save_checkpoint

WEIGHT_NORM_WARNING = r".*torch\.nn\.utils\.weight_norm. is deprecated"  # what encodec's layers emit


@contextlib.contextmanager
def quiet_weight_norm() -> Iterator[None]:
    """Build encodec modules without their one FutureWarning per layer (they use torch's deprecated
    ``weight_norm``); every other warning still shows."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=WEIGHT_NORM_WARNING, category=FutureWarning)
        yield


class Codec(nn.Module):
    """Waveform <-> continuous latents <-> RVQ codes (encodec modules, same state-dict layout)."""

    def __init__(self, config: CodecConfig) -> None:
        super().__init__()
        from encodec.modules import SEANetDecoder, SEANetEncoder
        from encodec.quantization import ResidualVectorQuantizer

        self.config = config
        common = dict(
            channels=config.channels, dimension=config.dimension, n_filters=config.n_filters,
            n_residual_layers=config.n_residual_layers, ratios=list(config.ratios),
            norm=config.norm, causal=config.causal, lstm=config.lstm_layers,
        )
        self.decoder: nn.Module
        with quiet_weight_norm():
            self.encoder = SEANetEncoder(**common)
            if config.decoder_type == "vocos":
                self.decoder = VocosDecoder(config.dimension, config.hop_length, config.vocos_dim,
                                            config.vocos_intermediate, config.vocos_layers)
            else:
                n_filters, residual_layers, lstm_layers = config.decoder_shape
                self.decoder = SEANetDecoder(**{**common, "n_filters": n_filters,
                                                "n_residual_layers": residual_layers, "lstm": lstm_layers})
        self.quantizer = ResidualVectorQuantizer(
            dimension=config.dimension, n_q=config.n_q, bins=config.bins,
            kmeans_init=True, kmeans_iters=config.kmeans_iters,
        )
        # latents = encoder output * latent_scale; set from data statistics after training.
        self.register_buffer("latent_scale", torch.ones(()))

    @property
    def sample_rate(self) -> int:
        """Audio sample rate (Hz)."""
        return self.config.sample_rate

    @property
    def hop_length(self) -> int:
        """Audio samples per latent frame."""
        return self.config.hop_length

    @property
    def frame_rate(self) -> float:
        """Latent frames per second (Hz)."""
        return self.config.frame_rate

    @property
    def latent_dim(self) -> int:
        """Latent channels D."""
        return self.config.dimension

    @property
    def bandwidths(self) -> tuple[float, ...]:
        """Bandwidths (kbps) accepted by :meth:`quantize`."""
        return self.config.bandwidths

    def num_codebooks(self, bandwidth_kbps: float) -> int:
        """Codebooks used at ``bandwidth_kbps``; raises ValueError naming the allowed bandwidths."""
        if not any(math.isclose(bandwidth_kbps, b) for b in self.bandwidths):
            allowed = ", ".join(f"{b:g}" for b in self.bandwidths)
            raise ValueError(f"unsupported bandwidth {bandwidth_kbps!r} kbps; choose one of {allowed} kbps")
        return round(bandwidth_kbps * 1000 / (self.frame_rate * math.log2(self.config.bins)))

    def pad(self, wav: torch.Tensor) -> torch.Tensor:
        """Zero-pad ``wav [B, C, N]`` at the end to a multiple of the hop length."""
        if wav.dim() != 3 or wav.shape[1] != self.config.channels:
            raise ValueError(f"expected audio [B, {self.config.channels}, N], got {list(wav.shape)}")
        extra = -wav.shape[-1] % self.hop_length
        return nn.functional.pad(wav, (0, extra)) if extra else wav

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """``wav [B, C, N]`` in [-1, 1] -> scaled continuous latents ``[B, D, ceil(N / hop)]``
        (a batch of more than MAX_CALL_FRAMES frames in all is encoded item by item)."""
        padded = self.pad(wav)
        if padded.shape[0] > 1 and padded.shape[0] * padded.shape[-1] // self.hop_length > MAX_CALL_FRAMES:
            return torch.cat([self.encoder(item[None]) for item in padded]) * self.latent_scale
        return self.encoder(padded) * self.latent_scale

    def decode(self, latents: torch.Tensor, chunk_frames: int | None = MAX_CALL_FRAMES) -> torch.Tensor:
        """Scaled latents ``[B, D, T]`` -> ``wav [B, C, T * hop]``; trim to the length you need.

        At most ``chunk_frames`` frames (batch x time) go through the decoder at once: a larger
        batch is decoded item by item, and an item longer than that in cross-faded chunks with
        context (:func:`audiodiff.codec.chunked.decode_in_chunks`; within the decoder's memory of
        the one-call result). Large calls are slower per second of audio on a CPU (their
        activations fall out of cache). None decodes everything in one call."""
        unscaled = latents / self.latent_scale
        if chunk_frames is None or latents.shape[0] * latents.shape[-1] <= chunk_frames:
            return self.decoder(unscaled)
        device = unscaled.device

        def decode(chunk: np.ndarray) -> np.ndarray:
            return self.decoder(torch.from_numpy(chunk).to(device)).detach().cpu().numpy()
        return torch.cat([torch.from_numpy(decode_in_chunks(decode, item[None].cpu().numpy(), self.hop_length,
                                                            chunk=chunk_frames, margin=CHUNK_CONTEXT_FRAMES,
                                                            fade=CHUNK_FADE_FRAMES)).to(device)
                          for item in unscaled])

    def quantize(self, latents: torch.Tensor, bandwidth_kbps: float) -> tuple[torch.Tensor, torch.Tensor]:
        """RVQ round trip: scaled latents ``[B, D, T]`` -> (quantized scaled latents, codes ``[B, K, T]``).

        ``K = num_codebooks(bandwidth_kbps)``; codes are int64 in ``[0, bins)``.
        """
        n_q = self.num_codebooks(bandwidth_kbps)
        codes = self.quantizer.vq.encode(latents / self.latent_scale, n_q=n_q).transpose(0, 1)
        return self.dequantize(codes), codes

    def dequantize(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[B, K, T]`` -> scaled latents ``[B, D, T]`` (sum of the first K codebooks)."""
        return self.quantizer.vq.decode(codes.transpose(0, 1)) * self.latent_scale

    def forward(self, wav: torch.Tensor,
                bandwidth_kbps: float | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training pass: ``wav [B, C, N]`` -> (reconstruction ``[B, C, N]``, commitment loss scalar,
        the unscaled latents ``[B, D, T]`` the decoder decoded).

        ``bandwidth_kbps=None`` skips the quantizer: the decoder then learns to decode the
        continuous latents that the diffusion model predicts. Works in unscaled latent space.
        """
        emb = self.encoder(self.pad(wav))
        if bandwidth_kbps is None:
            quantized, commit = emb, emb.new_zeros(())
        else:
            quantized, _, losses = self.quantizer.vq(emb, n_q=self.num_codebooks(bandwidth_kbps))
            commit = losses.mean()
        return self.decoder(quantized)[..., : wav.shape[-1]], commit, quantized

    def fold_decoder_weight_norm(self) -> None:
        """Fold the decoder's weight norm into plain weights, for inference: the same output,
        ~10 % faster decoding. The folded state dict no longer fits :class:`Codec`: do not save it."""
        for module in self.decoder.modules():
            if hasattr(module, "weight_g"):
                nn.utils.remove_weight_norm(module)

    def set_latent_scale(self, scale: float) -> None:
        """Set the factor applied to encoder outputs (``1 / std`` of the raw latents)."""
        if not math.isfinite(scale) or scale <= 0:
            raise ValueError(f"latent scale must be a positive finite number, got {scale}")
        self.latent_scale.fill_(scale)


@torch.no_grad()
def measure_latent_scale(codec: Codec, batches: Iterable[torch.Tensor]) -> float:
    """``1 / std`` of the codec's raw (unscaled) latents over audio batches ``[B, C, N]``."""
    total, total_sq, count = 0.0, 0.0, 0
    device = codec.latent_scale.device
    for wav in batches:
        emb = codec.encoder(codec.pad(wav.to(device))).double()
        total += emb.sum().item()
        total_sq += emb.pow(2).sum().item()
        count += emb.numel()
    if count == 0:
        raise ValueError("no audio given to measure the latent scale")
    var = total_sq / count - (total / count) ** 2
    return 1.0 / math.sqrt(max(var, 1e-12))


def save_codec(codec: Codec, path: str | os.PathLike, *, metadata: dict[str, Any] | None = None,
               dtype: torch.dtype = torch.float32, decoder_only: bool = False) -> Path:
    """Write the codec as an audiodiff checkpoint; ``dtype=torch.float16`` halves the file size.
    ``decoder_only``: only the decoder is stored in ``dtype``, the rest as it is, so the latents
    (and the fingerprint acoustic models were trained on) stay exactly the source codec's."""
    state = {k: v.to(dtype) if v.is_floating_point() and (not decoder_only or k.startswith("decoder.")) else v
             for k, v in codec.state_dict().items()}
    return save_checkpoint(path, state, kind=CODEC_KIND, config=codec.config.to_dict(), metadata=metadata)


def load_codec(path: str | os.PathLike, device: str | torch.device = "cpu") -> Codec:
    """Load a codec written by :func:`save_codec` (float16 storage comes back as float32), in eval mode."""
    state, config, _ = load_checkpoint(path, kind=CODEC_KIND)
    try:
        codec = Codec(CodecConfig.from_dict(config))
    except (TypeError, ValueError) as err:
        raise CheckpointError(path, f"invalid codec config ({err})") from None
    _load_state(codec, state, path)
    return codec.to(device).eval()


def load_pretrained_encodec(path: str | os.PathLike, config: CodecConfig | None = None) -> Codec:
    """Meta's EnCodec weights from a local file, as a :class:`Codec` (nothing is downloaded).

    ``path`` is the ``encodec_24khz-d7cc33bc.th`` state dict or a folder holding it. When the name
    carries a checksum (``name-<hex>.th``) the file's SHA-256 must start with it. ``config``
    defaults to the ``encodec_24khz`` preset; pass another for other encodec-format files.
    The latent scale is 1; set it with :func:`measure_latent_scale` before training diffusion.
    """
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("encodec_24khz*.th"))
        if not found:
            raise CheckpointError(path, "folder holds no encodec_24khz-*.th file")
        path = found[0]
    if not path.is_file():
        raise CheckpointError(path, "no such checkpoint file")
    named = re.fullmatch(r".+-([0-9a-f]{8,64})\.th", path.name)
    if named:
        expected = named.group(1)
        actual = checkpoint_sha256(path, length=len(expected))
        if actual != expected:
            raise CheckpointError(path, f"checksum mismatch: name says {expected}, content hashes to {actual}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle/zip errors of many types: all mean "not a usable state dict"
        raise CheckpointError(path, f"not a readable torch state dict ({type(err).__name__}: {err})") from None
    if not isinstance(state, dict):
        raise CheckpointError(path, f"expected a state dict, found {type(state).__name__}")
    codec = Codec(config or CodecConfig.preset("encodec_24khz"))
    state = {**state, "latent_scale": torch.ones(())}
    _load_state(codec, state, path)
    return codec.eval()


def _load_state(codec: Codec, state: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    """Strict load with a one-line error naming the first mismatches."""
    own = codec.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                parts.append(f"{len(keys)} {label} (e.g. {', '.join(keys[:3])})")
        raise CheckpointError(path, f"weights do not fit the codec architecture: {'; '.join(parts)}")
    codec.load_state_dict(state, strict=True)
