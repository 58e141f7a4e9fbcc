"""Plans from the structure network by masked diffusion, in numpy over any network callable.

:class:`PlanWriter` runs the sampler of :mod:`audiodiff.diffusion.masked_numpy` with a structure
network given as a callable on numpy arrays (an ONNX Runtime session, or the torch
:class:`audiodiff.structure.net.StructureNet` wrapped by :func:`audiodiff.backends.torch_call`):
``net(melody [B, N, S], chords [B, N], beat_in_bar, bar, bars_to_end [B, N], key [B], meter [B],
bpm [B]) -> [melody logits [B, N, S, V_m], chord logits [B, N, V_c]]`` (int64 ids, float32 bpm).
Each request draws from its own ``numpy.random.default_rng(seed)``, so both backends write the
same plan for a seed (up to the float rounding of their networks).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiodiff.diffusion.masked_numpy import sample
from audiodiff.music.plan import Plan
from audiodiff.music.theory import Key, Meter
from audiodiff.structure.tokens import (
    MASK,
    METER_INDEX,
    NUM_KEYS,
    NUM_METERS,
    PAD,
    STEPS_PER_BEAT,
    PlanTokens,
    beat_positions,
    melody_by_beat,
    melody_by_step,
    plan_to_tokens,
    tokens_to_plan,
)

StructureCall = Callable[..., list[np.ndarray]]
DEFAULT_WINDOW_BARS = 32
MIN_BARS, MAX_BARS_GENERATED = 1, 128
DEFAULT_STEPS, DEFAULT_GUIDANCE, DEFAULT_TEMPERATURE, DEFAULT_ORDER_NOISE = 32, 2.0, 1.0, 3.0
_DROPPED = {"key": NUM_KEYS, "meter": NUM_METERS, "bpm": 0.0}  # what the unconditional branch sees


@dataclass(frozen=True)
class PlanRequest:
    """One plan to write. ``source`` + ``keep_bars``: inpaint (keep those bars of the source, which
    may be shorter than ``num_bars``: the rest is new, i.e. a continuation). ``keep_melody`` and
    ``keep_chords``: bars (0-based) where only that stream of the source is kept, e.g. given chords
    with the melody written to fit them. The source is moved to the request's key first."""

    key: Key
    meter: Meter
    bpm: float
    num_bars: int
    seed: int
    source: Plan | None = None
    keep_bars: frozenset[int] = frozenset()
    keep_melody: frozenset[int] = frozenset()
    keep_chords: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if not MIN_BARS <= self.num_bars <= MAX_BARS_GENERATED:
            raise ValueError(f"bars must be in {MIN_BARS}..{MAX_BARS_GENERATED}, got {self.num_bars}")
        if self.source is not None and self.source.meter != self.meter:
            raise ValueError(f"the source plan is in {self.source.meter}, the request in {self.meter}")


def max_bars(metadata: dict[str, Any]) -> int:
    """The longest crop a structure checkpoint was trained on (its metadata's recipe), in bars."""
    return int(metadata.get("recipe", {}).get("max_bars", DEFAULT_WINDOW_BARS))


class PlanWriter:
    """The structure network (a numpy callable, see the module docstring) and the sampler around it."""

    def __init__(self, net: StructureCall, metadata: dict[str, Any] | None = None) -> None:
        self.net = net
        self.metadata = metadata or {}
        self.max_bars = max_bars(self.metadata)  # longer pieces are written window by window

    def denoiser(self, cond: dict[str, np.ndarray]) -> Callable[[list[np.ndarray], np.ndarray], list[np.ndarray]]:
        """The callable the sampler wants: ([flat melody slots, chords], guided [B]) -> their logits;
        items whose ``guided`` is False see no key, meter or tempo (the unconditional branch).
        ``cond`` holds one row per item of the sampler's batch; a doubled batch repeats it."""
        def denoise(tokens: list[np.ndarray], guided: np.ndarray) -> list[np.ndarray]:
            melody, chords = tokens
            reps = melody.shape[0] // cond["key"].shape[0]
            c = {k: np.concatenate([v] * reps) for k, v in cond.items()}
            for name, blank in _DROPPED.items():
                c[name] = np.where(guided.reshape(-1, *([1] * (c[name].ndim - 1))), c[name],
                                   np.asarray(blank, c[name].dtype))
            mel, ch = self.net(melody.reshape(melody.shape[0], -1, STEPS_PER_BEAT), chords, c["beat_in_bar"],
                               c["bar"], c["bars_to_end"], c["key"], c["meter"], c["bpm"])
            return [mel.reshape(mel.shape[0], -1, mel.shape[-1]), ch]
        return denoise

    def generate(self, requests: list[PlanRequest], *, steps: int = DEFAULT_STEPS,
                 guidance: float = DEFAULT_GUIDANCE, temperature: float = DEFAULT_TEMPERATURE,
                 order_noise: float = DEFAULT_ORDER_NOISE) -> list[Plan]:
        """Melody-and-chord plans, one per request, in order. Requests of the same meter and length
        share a network call; each keeps its own random generator."""
        out: list[Plan | None] = [None] * len(requests)
        groups: dict[tuple[Meter, int], list[int]] = defaultdict(list)
        for i, r in enumerate(requests):
            groups[(r.meter, r.num_bars)].append(i)
        for (meter, bars), indices in groups.items():
            plans = self._generate_group([requests[i] for i in indices], meter, bars, steps, guidance, temperature,
                                         order_noise)
            for i, plan in zip(indices, plans):
                out[i] = plan
        return out  # type: ignore[return-value]

    def _generate_group(self, batch: list[PlanRequest], meter: Meter, bars: int, steps: int,
                        guidance: float, temperature: float, order_noise: float) -> list[Plan]:
        """Plans of one meter and length. Pieces longer than the longest training crop are written
        window by window: each window keeps the second half of the previous one and adds new bars,
        with bar positions counted from the window (as in the training crops)."""
        n = len(batch)
        melody, chords, keep_m, keep_c = initial_tokens(batch, meter, bars)
        generators = [np.random.default_rng(int(r.seed)) for r in batch]
        window = min(bars, self.max_bars)
        start = 0
        while True:
            end = min(start + window, bars)
            start = end - window
            beats = slice(start * meter.beats_per_bar, end * meter.beats_per_bar)
            pos = beat_positions(meter, window, end_known=end == bars)
            cond = {**{k: np.repeat(v.astype(np.int64)[None], n, axis=0) for k, v in pos.items()},
                    "key": np.array([r.key.index for r in batch], np.int64),
                    "meter": np.full(n, METER_INDEX[meter], np.int64),
                    "bpm": np.array([float(r.bpm) for r in batch], np.float32)}
            shape = melody[:, beats].shape
            mel, ch = sample(self.denoiser(cond), [melody[:, beats].reshape(n, -1), chords[:, beats]],
                             [keep_m[:, beats].reshape(n, -1), keep_c[:, beats]], steps=steps, guidance=guidance,
                             temperature=temperature, generators=generators, forbid=[(PAD, MASK), (PAD, MASK)],
                             order_noise=order_noise)
            melody[:, beats], chords[:, beats] = mel.reshape(shape), ch
            keep_m[:, beats], keep_c[:, beats] = True, True
            if end == bars:
                break
            start = end - window // 2
        return [tokens_to_plan(PlanTokens(melody_by_step(melody[b], meter), chords[b], r.key, meter), r.bpm)
                for b, r in enumerate(batch)]


def initial_tokens(batch: list[PlanRequest], meter: Meter,
                   bars: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MASK everywhere except unused slots (PAD) and the bars a request keeps from its source.

    Returns int64 melody [B, N, STEPS_PER_BEAT], chords [B, N] and their bool keep masks."""
    n, n_beats = len(batch), bars * meter.beats_per_bar
    unused_slot = np.arange(STEPS_PER_BEAT) >= meter.steps_per_beat
    melody = np.broadcast_to(np.where(unused_slot, PAD, MASK).astype(np.int64), (n, n_beats, STEPS_PER_BEAT)).copy()
    keep_m = np.broadcast_to(unused_slot, (n, n_beats, STEPS_PER_BEAT)).copy()
    chords = np.full((n, n_beats), MASK, np.int64)
    keep_c = np.zeros((n, n_beats), bool)
    for b, r in enumerate(batch):
        if r.source is None:
            continue
        src = plan_to_tokens(r.source.transpose((r.key.tonic - r.source.key.tonic) % 12))
        slots = melody_by_beat(src.melody, meter)
        for bar in sorted(r.keep_bars | r.keep_melody | r.keep_chords):
            if bar >= bars or bar >= r.source.num_bars:
                raise ValueError(f"cannot keep bar {bar + 1}: the source has {r.source.num_bars} bars")
            beats = slice(bar * meter.beats_per_bar, (bar + 1) * meter.beats_per_bar)
            if bar in r.keep_bars or bar in r.keep_melody:
                melody[b, beats] = slots[beats]
                keep_m[b, beats] = True
            if bar in r.keep_bars or bar in r.keep_chords:
                chords[b, beats] = src.chords[beats]
                keep_c[b, beats] = True
    return melody, chords, keep_m, keep_c
