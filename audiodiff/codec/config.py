"""The codec's config (:class:`CodecConfig`) and the fingerprint of the latents it makes (no torch).

:mod:`audiodiff.codec.model` builds the torch codec from it; the ONNX backend reads it from a
checkpoint's header without torch.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

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


def latents_fingerprint(config: CodecConfig, tensors: Mapping[str, np.ndarray]) -> str:
    """16 hex digits of a SHA-256 over the codec's latent config and its ``encoder.*`` and
    ``latent_scale`` tensors (float32): it names the latents a codec makes (what a cache holds and an
    acoustic model learned); the decoder and the quantizer are left out."""
    digest = hashlib.sha256(json.dumps(config.latent_dict(), sort_keys=True).encode())
    for name in sorted(tensors):
        if name.startswith("encoder.") or name == "latent_scale":
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(tensors[name], dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]

