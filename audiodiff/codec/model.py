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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch
from torch import nn

from audiodiff.codec.chunked import decode_in_chunks
from audiodiff.codec.vocos import VocosDecoder
from audiodiff.io.checkpoint import CheckpointError, checkpoint_sha256, load_checkpoint, save_checkpoint
from audiodiff.io.config import from_preset_dict, to_json_dict

CODEC_KIND = "codec"
# Frames (batch x time) per encoder or decoder call: larger calls are slower per second of audio
# on a CPU (their activations fall out of cache; 2-2.5x at batch 8 x 8 s on 2 cores). Long items
# are decoded in chunks of this many frames with context each side and a cross-fade (see
# Codec.decode); the codecs train on 1 s segments, so half a second of context covers what the
# decoder remembers.
MAX_CALL_FRAMES, CHUNK_CONTEXT_FRAMES, CHUNK_FADE_FRAMES = 750, 38, 8
PRESETS = ("tiny", "cpu", "cpu_fast", "cpu_vocos", "gpu", "encodec_24khz")
_DECODER_FIELDS = ("decoder_n_filters", "decoder_residual_layers", "decoder_lstm_layers", "decoder_type",
                   "vocos_dim", "vocos_intermediate", "vocos_layers")
DECODER_TYPES = ("seanet", "vocos")

WEIGHT_NORM_WARNING = r".*torch\.nn\.utils\.weight_norm. is deprecated"  # what encodec's layers emit


@dataclass
class CodecConfig:
    """Architecture of a :class:`Codec` (field names follow encodec's SEANet arguments)."""

    sample_rate: int = 24000  # Hz
    channels: int = 1
    n_filters: int = 32  # base width of the SEANet convolutions
    dimension: int = 128  # latent channels D
    ratios: tuple[int, ...] = (8, 5, 4, 2)  # decoder upsampling ratios; hop = product
    n_residual_layers: int = 1
    lstm_layers: int = 2
    causal: bool = False
    norm: str = "weight_norm"
    n_q: int = 8  # codebooks in the RVQ
    bins: int = 1024  # entries per codebook (power of two)
    kmeans_iters: int = 10  # k-means iterations of the codebook init on the first batch
    bandwidths: tuple[float, ...] = (1.5, 3.0, 6.0)  # kbps the quantizer may be asked for
    # a decoder lighter than the encoder decodes faster from the same latents; None: as above
    decoder_n_filters: int | None = None
    decoder_residual_layers: int | None = None
    decoder_lstm_layers: int | None = None
    # "vocos": a decoder at the frame rate ending in an inverse STFT (codec.vocos) instead of SEANet
    decoder_type: str = "seanet"
    vocos_dim: int = 256
    vocos_intermediate: int = 768
    vocos_layers: int = 6

    def __post_init__(self) -> None:
        self.ratios = tuple(int(r) for r in self.ratios)
        self.bandwidths = tuple(float(b) for b in self.bandwidths)
        if self.decoder_type not in DECODER_TYPES:
            raise ValueError(f"decoder_type must be one of {', '.join(DECODER_TYPES)}, got {self.decoder_type!r}")
        if self.kmeans_iters < 1:  # encodec's kmeans fails with 0 iterations
            raise ValueError(f"kmeans_iters must be >= 1, got {self.kmeans_iters}")
        if self.bins < 2 or self.bins & (self.bins - 1):
            raise ValueError(f"bins must be a power of two, got {self.bins}")
        if self.sample_rate % self.hop_length:
            raise ValueError(f"sample_rate {self.sample_rate} is not a multiple of the hop {self.hop_length}")
        for bandwidth in self.bandwidths:
            count = bandwidth * 1000 / (self.frame_rate * math.log2(self.bins))
            if abs(count - round(count)) > 1e-6 or not 1 <= round(count) <= self.n_q:
                raise ValueError(
                    f"bandwidth {bandwidth} kbps needs {count:g} codebooks; it must be a whole number "
                    f"in 1..n_q={self.n_q} ({self.frame_rate:g} Hz x {int(math.log2(self.bins))} bits each)"
                )

    def latent_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` without the decoder's own shape fields: what fixes the latents (two
        codecs that differ only in their decoders' shapes share it)."""
        return {k: v for k, v in self.to_dict().items() if k not in _DECODER_FIELDS}

    def decoder_dict(self) -> dict[str, Any]:
        """The fields that shape the decoder alone (two codecs with equal ones share decoders)."""
        return {k: v for k, v in self.to_dict().items() if k in _DECODER_FIELDS}

    @property
    def decoder_shape(self) -> tuple[int, int, int]:
        """The SEANet decoder's (n_filters, residual layers per stage, LSTM layers)."""
        def own(value: int | None, default: int) -> int:
            return default if value is None else value

        return (own(self.decoder_n_filters, self.n_filters), own(self.decoder_residual_layers, self.n_residual_layers),
                own(self.decoder_lstm_layers, self.lstm_layers))

    @property
    def hop_length(self) -> int:
        """Samples per latent frame."""
        return math.prod(self.ratios)

    @property
    def frame_rate(self) -> float:
        """Latent frames per second (Hz)."""
        return self.sample_rate / self.hop_length

    @classmethod
    def preset(cls, name: str) -> CodecConfig:
        """Named architectures: tiny (tests), cpu (fits 30 MB), cpu_fast (cpu's encoder, a decoder
        without residual blocks at half the width: ~2.5x faster decoding), gpu, encodec_24khz."""
        if name == "tiny":
            return cls(n_filters=4, dimension=16, lstm_layers=1, n_q=8, kmeans_iters=1)
        elif name == "cpu":
            return cls(n_filters=16, dimension=64, lstm_layers=2, n_q=8, kmeans_iters=4)
        elif name == "cpu_fast":
            return replace(cls.preset("cpu"), decoder_n_filters=8, decoder_residual_layers=0, decoder_lstm_layers=1)
        elif name == "cpu_vocos":
            return replace(cls.preset("cpu"), decoder_type="vocos")
        elif name == "gpu":
            return cls(n_filters=32, dimension=128, lstm_layers=2, n_q=8, kmeans_iters=10)
        elif name == "encodec_24khz":
            # Meta's released 24 kHz model: causal, 32 codebooks, 1.5..24 kbps.
            return cls(n_filters=32, dimension=128, lstm_layers=2, causal=True, n_q=32,
                       kmeans_iters=50, bandwidths=(1.5, 3.0, 6.0, 12.0, 24.0))
        else:
            raise ValueError(f"unknown codec preset {name!r}; choose one of {', '.join(PRESETS)}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CodecConfig:
        """Build from a dict, optionally ``{"preset": name, **overrides}``; unknown keys are errors."""
        return from_preset_dict(cls, data, "codec config")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return to_json_dict(self)


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
        return torch.cat([decode_in_chunks(self.decoder, item[None], self.hop_length, chunk=chunk_frames,
                                           margin=CHUNK_CONTEXT_FRAMES, fade=CHUNK_FADE_FRAMES)
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
