"""StructureModel: writes melody-and-chord plans from key/tempo/meter/length by masked diffusion."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch

from audiodiff.diffusion.masked import sample
from audiodiff.io.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from audiodiff.music.plan import Plan
from audiodiff.music.theory import Key, Meter
from audiodiff.structure.data import METER_INDEX, beat_positions, melody_by_beat, melody_by_step
from audiodiff.structure.net import NUM_KEYS, NUM_METERS, STEPS_PER_BEAT, StructureNet, StructureNetConfig
from audiodiff.structure.tokens import MASK, PAD, PlanTokens, plan_to_tokens, tokens_to_plan

KIND = "structure"
DEFAULT_WINDOW_BARS = 32
MIN_BARS, MAX_BARS_GENERATED = 1, 128
DEFAULT_STEPS, DEFAULT_GUIDANCE, DEFAULT_TEMPERATURE, DEFAULT_ORDER_NOISE = 32, 2.0, 1.0, 3.0


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


class StructureModel:
    """A trained StructureNet plus the sampler settings; ``generate`` returns melody+chord plans."""

    def __init__(self, net: StructureNet, metadata: dict | None = None):
        self.net = net.eval()
        self.metadata = metadata or {}
        # the longest crop it was trained on: longer pieces are written window by window
        self.max_bars = int(self.metadata.get("recipe", {}).get("max_bars", DEFAULT_WINDOW_BARS))

    @classmethod
    def load(cls, path: str | Path) -> "StructureModel":
        """Load an exported structure checkpoint (CheckpointError on any problem)."""
        state, config, metadata = load_checkpoint(path, kind=KIND)
        try:
            net = StructureNet(StructureNetConfig(**config["net"]))
            net.load_state_dict({k: v.float() for k, v in state.items()})
        except (KeyError, TypeError, RuntimeError) as exc:
            raise CheckpointError(path, "config and weights do not match this audiodiff "
                                        f"({type(exc).__name__})") from None
        return cls(net, metadata)

    def save(self, path: str | Path, metadata: dict | None = None) -> Path:
        state = {k: v.detach().to(torch.float16) for k, v in self.net.state_dict().items()}
        return save_checkpoint(path, state, kind=KIND, config={"net": self.net.config.to_dict()},
                               metadata=metadata or self.metadata)

    def denoiser(self, cond: dict[str, torch.Tensor]):
        """The callable the sampler wants: ([flat melody slots, chords], guided [B]) -> their logits;
        items whose ``guided`` is False see no key, meter or tempo (the unconditional branch).
        ``cond`` holds one row per item of the sampler's batch; a doubled batch repeats it."""
        dropped = {"key": NUM_KEYS, "meter": NUM_METERS, "bpm": 0.0}

        def denoise(tokens: list[torch.Tensor], guided: torch.Tensor) -> list[torch.Tensor]:
            melody, chords = tokens
            reps = melody.shape[0] // cond["key"].shape[0]
            c = {k: v.repeat(reps, *([1] * (v.dim() - 1))) for k, v in cond.items()}
            for name, blank in dropped.items():
                c[name] = torch.where(guided.view(-1, *([1] * (c[name].dim() - 1))), c[name],
                                      torch.full_like(c[name], blank))
            mel, ch = self.net(melody.view(melody.shape[0], -1, STEPS_PER_BEAT), chords, c["beat_in_bar"],
                               c["bar"], c["bars_to_end"], c["key"], c["meter"], c["bpm"])
            return [mel.flatten(1, 2), ch]
        return denoise

    @torch.no_grad()
    def generate(self, requests: list[PlanRequest], *, steps: int = DEFAULT_STEPS,
                 guidance: float = DEFAULT_GUIDANCE, temperature: float = DEFAULT_TEMPERATURE,
                 order_noise: float = DEFAULT_ORDER_NOISE) -> list[Plan]:
        """Melody-and-chord plans, one per request, in order. Requests of the same meter and length
        share a forward pass; each keeps its own random generator."""
        out: list[Plan | None] = [None] * len(requests)
        groups: dict[tuple[Meter, int], list[int]] = defaultdict(list)
        for i, r in enumerate(requests):
            groups[(r.meter, r.num_bars)].append(i)
        for (meter, bars), indices in groups.items():
            batch = [requests[i] for i in indices]
            plans = self._generate_group(batch, meter, bars, steps, guidance, temperature, order_noise)
            for i, plan in zip(indices, plans):
                out[i] = plan
        return out  # type: ignore[return-value]

    def _generate_group(self, batch: list[PlanRequest], meter: Meter, bars: int, steps: int,
                        guidance: float, temperature: float, order_noise: float) -> list[Plan]:
        """Plans of one meter and length. Pieces longer than the longest training crop are written
        window by window: each window keeps the second half of the previous one and adds new bars,
        with bar positions counted from the window (as in the training crops)."""
        n = len(batch)
        melody, chords, keep_m, keep_c = self._initial_tokens(batch, meter, bars)
        generators = [torch.Generator().manual_seed(int(r.seed)) for r in batch]
        window = min(bars, self.max_bars)
        start = 0
        while True:
            end = min(start + window, bars)
            start = end - window
            beats = slice(start * meter.beats_per_bar, end * meter.beats_per_bar)
            pos = beat_positions(meter, window, end_known=end == bars)
            cond = {**{k: torch.from_numpy(v)[None].expand(n, -1) for k, v in pos.items()},
                    "key": torch.tensor([r.key.index for r in batch]),
                    "meter": torch.tensor([METER_INDEX[meter]] * n),
                    "bpm": torch.tensor([float(r.bpm) for r in batch])}
            shape = melody[:, beats].shape
            mel, ch = sample(self.denoiser(cond), [melody[:, beats].flatten(1), chords[:, beats]],
                             [keep_m[:, beats].flatten(1), keep_c[:, beats]], steps=steps, guidance=guidance,
                             temperature=temperature, generators=generators, forbid=[(PAD, MASK), (PAD, MASK)],
                             order_noise=order_noise)
            melody[:, beats], chords[:, beats] = mel.view(shape), ch
            keep_m[:, beats], keep_c[:, beats] = True, True
            if end == bars:
                break
            start = end - window // 2
        mel_np = melody.numpy()
        return [tokens_to_plan(PlanTokens(melody_by_step(mel_np[b], meter), chords[b].numpy(), r.key, meter), r.bpm)
                for b, r in enumerate(batch)]

    def _initial_tokens(self, batch: list[PlanRequest], meter: Meter, bars: int):
        """MASK everywhere except unused slots (PAD) and the bars a request keeps from its source.

        Returns melody [B, N, STEPS_PER_BEAT], chords [B, N] and their keep masks."""
        n, n_beats = len(batch), bars * meter.beats_per_bar
        unused_slot = torch.arange(STEPS_PER_BEAT) >= meter.steps_per_beat
        melody = torch.where(unused_slot, PAD, MASK).expand(n, n_beats, -1).clone()
        keep_m = unused_slot.expand(n, n_beats, -1).clone()
        chords = torch.full((n, n_beats), MASK)
        keep_c = torch.zeros_like(chords, dtype=torch.bool)
        for b, r in enumerate(batch):
            if r.source is None:
                continue
            src = plan_to_tokens(r.source.transpose((r.key.tonic - r.source.key.tonic) % 12))
            slots = torch.from_numpy(melody_by_beat(src.melody, meter))
            for bar in sorted(r.keep_bars | r.keep_melody | r.keep_chords):
                if bar >= bars or bar >= r.source.num_bars:
                    raise ValueError(f"cannot keep bar {bar + 1}: the source has {r.source.num_bars} bars")
                beats = slice(bar * meter.beats_per_bar, (bar + 1) * meter.beats_per_bar)
                if bar in r.keep_bars or bar in r.keep_melody:
                    melody[b, beats] = slots[beats]
                    keep_m[b, beats] = True
                if bar in r.keep_bars or bar in r.keep_chords:
                    chords[b, beats] = torch.from_numpy(src.chords[beats])
                    keep_c[b, beats] = True
        return melody, chords, keep_m, keep_c
