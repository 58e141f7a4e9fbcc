"""Training examples for the structure model: corpus tune plans as padded token tensors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from audiodiff.music import SUPPORTED_METERS, Key, Meter
from audiodiff.nets.structure_net import MAX_BARS
from audiodiff.plan import Plan
from audiodiff.structure.tokens import PAD, PlanTokens, plan_to_tokens

METER_INDEX = {Meter(*m): i for i, m in enumerate(SUPPORTED_METERS)}
MAX_STEPS_PER_BAR = 16


def positions(meter: Meter, num_bars: int, end_known: bool = True) -> dict[str, np.ndarray]:
    """Per-step position features of a piece of ``num_bars`` bars: [S] int64 arrays."""
    steps = np.arange(num_bars * meter.steps_per_bar)
    bar = steps // meter.steps_per_bar
    return {
        "step_beat": steps // meter.steps_per_beat,
        "step_in_bar": steps % meter.steps_per_bar,
        "bar": bar,
        "bars_to_end": (num_bars - 1 - bar) if end_known else np.full_like(bar, MAX_BARS),
    }


def example(tokens: PlanTokens, first_bar: int, num_bars: int, end_known: bool, key_index: int,
            bpm: float, max_bars: int) -> dict[str, torch.Tensor]:
    """One padded training example: bars [first_bar, first_bar + num_bars) of the token streams."""
    meter = tokens.meter
    spb, bpb = meter.steps_per_bar, meter.beats_per_bar
    melody = tokens.melody[first_bar * spb:(first_bar + num_bars) * spb]
    chords = tokens.chords[first_bar * bpb:(first_bar + num_bars) * bpb]
    pos = positions(meter, num_bars, end_known)
    max_steps, max_beats = max_bars * MAX_STEPS_PER_BAR, max_bars * 4
    out = {"melody": np.full(max_steps, PAD), "chords": np.full(max_beats + 1, PAD),
           "valid_steps": np.zeros(max_steps, bool), "valid_beats": np.zeros(max_beats + 1, bool)}
    out["melody"][: len(melody)] = melody
    out["chords"][: len(chords)] = chords
    out["valid_steps"][: len(melody)] = True
    out["valid_beats"][: len(chords)] = True
    for name, values in pos.items():
        padded = np.full(max_steps, max_beats if name == "step_beat" else 0)
        padded[: len(values)] = values
        out[name] = padded
    result = {k: torch.from_numpy(np.asarray(v)) for k, v in out.items()}
    result["key"] = torch.tensor(key_index)
    result["meter"] = torch.tensor(METER_INDEX[meter])
    result["bpm"] = torch.tensor(float(bpm))
    return result


def trim_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Cut a collated batch to its longest real sequence; padded steps point at one pad beat."""
    steps = int(batch["valid_steps"].sum(dim=1).max())
    beats = int(batch["valid_beats"].sum(dim=1).max())
    out = dict(batch)
    for name in ("melody", "valid_steps", "step_in_bar", "bar", "bars_to_end", "step_beat"):
        out[name] = batch[name][:, :steps]
    out["step_beat"] = torch.where(out["valid_steps"], out["step_beat"], torch.full_like(out["step_beat"], beats))
    out["chords"] = batch["chords"][:, : beats + 1]
    out["valid_beats"] = batch["valid_beats"][:, : beats + 1]
    return out


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
            for line in Path(path).read_text().splitlines():
                plan = Plan.from_dict(json.loads(line)["plan"])
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
