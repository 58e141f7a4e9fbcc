"""Transformer denoiser over beat tokens (architecture only; never samples).

One sequence position per beat: its embedding sums the beat's melody symbols (one per 16th
step, up to STEPS_PER_BEAT slots, each slot with its own table), its chord and its position.
Attention runs over beats, not steps, so 64 bars of 4/4 are 256 positions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from audiodiff.io.config import to_json_dict
from audiodiff.structure.tokens import (  # noqa: F401 (re-exported: the network's input sizes)
    CHORD_VOCAB,
    MAX_BARS,
    MAX_BEATS_PER_BAR,
    MELODY_VOCAB,
    NUM_KEYS,
    NUM_METERS,
    NUM_TEMPO_BINS,
    STEPS_PER_BEAT,
    TEMPO_RANGE,
)


@dataclass
class StructureNetConfig:
    """Size of the structure transformer."""

    dim: int = 256
    layers: int = 6
    heads: int = 8
    ff_mult: int = 4
    dropout: float = 0.1

    @classmethod
    def preset(cls, name: str) -> "StructureNetConfig":
        if name == "tiny":
            return cls(dim=32, layers=2, heads=2, dropout=0.0)
        if name == "cpu":
            return cls()
        if name == "gpu":
            return cls(dim=512, layers=12, heads=8)
        raise ValueError(f"unknown structure preset {name!r}; allowed: tiny, cpu, gpu")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return to_json_dict(self)


def tempo_bin(bpm: torch.Tensor) -> torch.Tensor:
    """Log-spaced tempo bins over TEMPO_RANGE: [B] float bpm -> [B] long in 0..NUM_TEMPO_BINS-1."""
    lo, hi = math.log(TEMPO_RANGE[0]), math.log(TEMPO_RANGE[1])
    frac = (torch.log(bpm.clamp(*TEMPO_RANGE)) - lo) / (hi - lo)
    return (frac * (NUM_TEMPO_BINS - 1)).round().long()


class StructureNet(nn.Module):
    """Predicts clean melody and chord tokens from partly masked ones.

    Inputs (B batch, N beats): melody [B, N, STEPS_PER_BEAT] and chords [B, N] token ids;
    beat_in_bar, bar, bars_to_end [B, N] (bars_to_end = MAX_BARS: end unknown); key [B]
    (NUM_KEYS = dropped), meter [B] (NUM_METERS = dropped), bpm [B] float (<= 0 = dropped);
    padding [B, N] True at padded beats. Returns melody logits [B, N, STEPS_PER_BEAT, MELODY_VOCAB]
    and chord logits [B, N, CHORD_VOCAB].
    """

    def __init__(self, config: StructureNetConfig):
        super().__init__()
        self.config = config
        d = config.dim
        self.melody_emb = nn.Embedding(STEPS_PER_BEAT * MELODY_VOCAB, d)
        self.chord_emb = nn.Embedding(CHORD_VOCAB, d)
        self.beat_emb = nn.Embedding(MAX_BEATS_PER_BAR, d)
        self.bar_emb = nn.Embedding(MAX_BARS, d)
        self.bars_to_end_emb = nn.Embedding(MAX_BARS + 1, d)
        self.key_emb = nn.Embedding(NUM_KEYS + 1, d)
        self.meter_emb = nn.Embedding(NUM_METERS + 1, d)
        self.tempo_emb = nn.Embedding(NUM_TEMPO_BINS + 1, d)
        layer = nn.TransformerEncoderLayer(d, config.heads, d * config.ff_mult, config.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.melody_head = nn.Linear(d, STEPS_PER_BEAT * MELODY_VOCAB)
        self.chord_head = nn.Linear(d, CHORD_VOCAB)
        self.register_buffer("slot_offset", torch.arange(STEPS_PER_BEAT) * MELODY_VOCAB, persistent=False)

    def forward(self, melody: torch.Tensor, chords: torch.Tensor, beat_in_bar: torch.Tensor, bar: torch.Tensor,
                bars_to_end: torch.Tensor, key: torch.Tensor, meter: torch.Tensor, bpm: torch.Tensor,
                padding: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Melody and chord logits for the inputs described in the class docstring."""
        tempo = torch.where(bpm > 0, tempo_bin(bpm.clamp(min=1.0)), torch.full_like(key, NUM_TEMPO_BINS))
        cond = self.key_emb(key) + self.meter_emb(meter) + self.tempo_emb(tempo)
        x = (self.melody_emb(melody + self.slot_offset).sum(dim=2) + self.chord_emb(chords)
             + self.beat_emb(beat_in_bar) + self.bar_emb(bar.clamp(max=MAX_BARS - 1))
             + self.bars_to_end_emb(bars_to_end.clamp(max=MAX_BARS)) + cond[:, None, :])
        h = self.norm(self.encoder(x, src_key_padding_mask=padding))
        b, n, _ = h.shape
        return self.melody_head(h).view(b, n, STEPS_PER_BEAT, -1), self.chord_head(h)
