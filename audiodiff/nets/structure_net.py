"""Transformer denoiser over melody-step and chord-beat tokens (architecture only; never samples)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from audiodiff.structure.tokens import CHORD_VOCAB, MELODY_VOCAB

NUM_KEYS, NUM_METERS, NUM_TEMPO_BINS = 24, 4, 16
MAX_BARS = 128
TEMPO_RANGE = (40.0, 240.0)


@dataclass
class StructureNetConfig:
    """Size of the structure transformer."""

    dim: int = 192
    layers: int = 6
    heads: int = 6
    ff_mult: int = 4
    dropout: float = 0.1

    @classmethod
    def preset(cls, name: str) -> "StructureNetConfig":
        if name == "tiny":
            return cls(dim=32, layers=2, heads=2, dropout=0.0)
        if name == "cpu":
            return cls()
        if name == "gpu":
            return cls(dim=384, layers=10, heads=8)
        raise ValueError(f"unknown structure preset {name!r}; allowed: tiny, cpu, gpu")

    def to_dict(self) -> dict:
        return asdict(self)


def tempo_bin(bpm: torch.Tensor) -> torch.Tensor:
    """Log-spaced tempo bins over TEMPO_RANGE: [B] float bpm -> [B] long in 0..NUM_TEMPO_BINS-1."""
    lo, hi = math.log(TEMPO_RANGE[0]), math.log(TEMPO_RANGE[1])
    frac = (torch.log(bpm.clamp(*TEMPO_RANGE)) - lo) / (hi - lo)
    return (frac * (NUM_TEMPO_BINS - 1)).round().long()


class StructureNet(nn.Module):
    """Predicts the clean melody and chord tokens from partly masked ones.

    Inputs (B batch, S steps, N beats): melody [B, S] and chords [B, N] token ids; step_beat [B, S]
    (beat index of each step), step_in_bar, bar, bars_to_end [B, S] (MAX_BARS = unknown end);
    key [B] (NUM_KEYS = dropped), meter [B] (NUM_METERS = dropped), bpm [B] float (<= 0 = dropped).
    Returns melody logits [B, S, MELODY_VOCAB] and chord logits [B, N, CHORD_VOCAB].
    """

    def __init__(self, config: StructureNetConfig):
        super().__init__()
        self.config = config
        d = config.dim
        self.melody_emb = nn.Embedding(MELODY_VOCAB, d)
        self.chord_emb = nn.Embedding(CHORD_VOCAB, d)
        self.step_in_bar_emb = nn.Embedding(16, d)
        self.bar_emb = nn.Embedding(MAX_BARS, d)
        self.bars_to_end_emb = nn.Embedding(MAX_BARS + 1, d)
        self.key_emb = nn.Embedding(NUM_KEYS + 1, d)
        self.meter_emb = nn.Embedding(NUM_METERS + 1, d)
        self.tempo_emb = nn.Embedding(NUM_TEMPO_BINS + 1, d)
        layer = nn.TransformerEncoderLayer(d, config.heads, d * config.ff_mult, config.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.melody_head = nn.Linear(d, MELODY_VOCAB)
        self.chord_head = nn.Linear(d, CHORD_VOCAB)

    def forward(self, melody, chords, step_beat, step_in_bar, bar, bars_to_end, key, meter, bpm,
                padding: torch.Tensor | None = None):
        tempo = torch.where(bpm > 0, tempo_bin(bpm.clamp(min=1.0)), torch.full_like(key, NUM_TEMPO_BINS))
        cond = self.key_emb(key) + self.meter_emb(meter) + self.tempo_emb(tempo)
        chord_per_step = torch.gather(chords, 1, step_beat)
        x = (self.melody_emb(melody) + self.chord_emb(chord_per_step) + self.step_in_bar_emb(step_in_bar)
             + self.bar_emb(bar.clamp(max=MAX_BARS - 1)) + self.bars_to_end_emb(bars_to_end.clamp(max=MAX_BARS))
             + cond[:, None, :])
        h = self.norm(self.encoder(x, src_key_padding_mask=padding))
        # chord logits: mean of the hidden states of each beat's steps
        n_beats = chords.shape[1]
        sums = torch.zeros(h.shape[0], n_beats, h.shape[2], dtype=h.dtype, device=h.device)
        sums.scatter_add_(1, step_beat[..., None].expand_as(h), h)
        counts = torch.zeros(h.shape[0], n_beats, 1, dtype=h.dtype, device=h.device)
        counts.scatter_add_(1, step_beat[..., None], torch.ones_like(h[..., :1]))
        return self.melody_head(h), self.chord_head(sums / counts.clamp(min=1))
