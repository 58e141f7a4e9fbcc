"""Training examples for the structure model: corpus tune plans as padded beat-token tensors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from audiodiff.io.manifest import read_jsonl
from audiodiff.music.plan import Plan
from audiodiff.music.theory import Key
from audiodiff.structure.tokens import (  # noqa: F401 (re-exported: positions and slots)
    MAX_BARS,
    MAX_BEATS_PER_BAR,
    METER_INDEX,
    PAD,
    STEPS_PER_BEAT,
    PlanTokens,
    beat_positions,
    melody_by_beat,
    melody_by_step,
    plan_to_tokens,
)


def example(tokens: PlanTokens, first_bar: int, num_bars: int, end_known: bool, key_index: int,
            bpm: float, max_bars: int) -> dict[str, torch.Tensor]:
    """One padded training example: bars [first_bar, first_bar + num_bars) of the token streams."""
    meter = tokens.meter
    bpb = meter.beats_per_bar
    slots = melody_by_beat(tokens.melody, meter)[first_bar * bpb:(first_bar + num_bars) * bpb]
    chords = tokens.chords[first_bar * bpb:(first_bar + num_bars) * bpb]
    n, max_beats = len(chords), max_bars * MAX_BEATS_PER_BAR
    out = {"melody": np.full((max_beats, STEPS_PER_BEAT), PAD), "chords": np.full(max_beats, PAD),
           "valid": np.zeros(max_beats, bool)}
    out["melody"][:n] = slots
    out["chords"][:n] = chords
    out["valid"][:n] = True
    for name, values in beat_positions(meter, num_bars, end_known).items():
        out[name] = np.zeros(max_beats, dtype=np.int64)
        out[name][:n] = values
    result = {k: torch.from_numpy(np.asarray(v)) for k, v in out.items()}
    result["key"] = torch.tensor(key_index)
    result["meter"] = torch.tensor(METER_INDEX[meter])
    result["bpm"] = torch.tensor(float(bpm))
    return result


def trim_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Cut a collated batch to its longest real sequence."""
    beats = int(batch["valid"].sum(dim=1).max())
    return {k: (v[:, :beats] if v.dim() >= 2 else v) for k, v in batch.items()}


class TuneTokens(Dataset):
    """Corpus tunes (``tunes_<split>.jsonl`` of a prepared corpus) as structure-model examples.

    Each example draws, from (seed, epoch, index): a key with the tune's mode and a random tonic
    (tokens are tonic-relative, so any tonic is valid), a tempo, and a crop of at most ``max_bars``
    bars: the opening (end unknown), the ending, or a short ending of 4..16 bars (so short pieces
    learn to cadence).
    """

    def __init__(self, tune_files: list[Path], max_bars: int = 32, seed: int = 0,
                 bpm_range: tuple[float, float] = (60.0, 180.0)):
        self.tunes: list[PlanTokens] = []
        for path in tune_files:
            for row in read_jsonl(path):
                plan = Plan.from_dict(row["plan"])
                if plan.num_bars >= 2:
                    self.tunes.append(plan_to_tokens(plan))
        if not self.tunes:
            raise ValueError(f"no tunes in {[str(p) for p in tune_files]}")
        self.max_bars, self.seed, self.bpm_range, self.epoch = max_bars, seed, bpm_range, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.tunes)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        tokens = self.tunes[index]
        n = len(tokens.melody) // tokens.meter.steps_per_bar
        key = Key(int(rng.integers(12)), tokens.key.mode)
        bpm = float(rng.uniform(*self.bpm_range))
        choice = rng.random()
        if choice < 0.25 and n >= 4:
            length = int(rng.integers(4, min(16, n, self.max_bars) + 1))
            first, end_known = n - length, True
        elif n <= self.max_bars or choice < 0.6:
            length = min(n, self.max_bars)
            first, end_known = n - length, True
        else:
            length, first, end_known = self.max_bars, 0, False
        return example(tokens, first, length, end_known, key.index, bpm, self.max_bars)
