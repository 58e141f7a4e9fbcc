"""Structure-model benchmark: key accuracy, validity, range, novelty, diversity and speed of plans.

    python benchmarks/structure.py --data runs/data/cpu [--checkpoint PATH] [--bars 16] [--steps 32]

240 prompts: 24 keys x 10 seeds, tempos drawn from 60-180 bpm, meters cycling 2/4, 3/4, 4/4, 6/8.
Key accuracy uses the key finder (Temperley profiles) on the duration-weighted pitch classes of
every pitched note of the arranged plan. Novelty is the longest run of consecutive melody notes
(tonic-relative pitch and duration) shared with any training tune.
"""
from __future__ import annotations

import argparse
import itertools
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from ground_truth import plan_notes_key

from audiodiff.io.checkpoint import default_checkpoint
from audiodiff.io.manifest import read_jsonl
from audiodiff.music.plan import Plan
from audiodiff.music.prompt import Prompt
from audiodiff.music.theory import ALL_KEYS, SUPPORTED_METERS, Meter
from audiodiff.structure.compose import compose
from audiodiff.structure.model import DEFAULT_GUIDANCE, DEFAULT_ORDER_NOISE, StructureModel
from audiodiff.structure.tokens import tonic_pitch

NGRAM = 6


def melody_symbols(plan: Plan) -> list[tuple[int, int]]:
    """(pitch above the tonic's reference, duration) of each melody note."""
    base = tonic_pitch(plan.key)
    return [(n.pitch - base, n.duration) for n in plan.melody.notes] if plan.melody else []


class CopyIndex:
    """Finds the longest run of notes a plan shares with any training tune (NGRAM-gram seeds)."""

    def __init__(self, tunes: list[list[tuple[int, int]]]):
        self.tunes = tunes
        self.index: dict[tuple, list[tuple[int, int]]] = defaultdict(list)
        for t, seq in enumerate(tunes):
            for i in range(len(seq) - NGRAM + 1):
                self.index[tuple(seq[i:i + NGRAM])].append((t, i))

    def longest_copy(self, seq: list[tuple[int, int]]) -> int:
        best = 0
        for i in range(len(seq) - NGRAM + 1):
            for t, j in self.index.get(tuple(seq[i:i + NGRAM]), ()):
                other, n = self.tunes[t], NGRAM
                while i + n < len(seq) and j + n < len(other) and seq[i + n] == other[j + n]:
                    n += 1
                best = max(best, n)
        return best if best else min(NGRAM - 1, len(seq))


def valid(plan: Plan, prompt: Prompt, bars: int) -> bool:
    meter = plan.meter
    ok = meter == prompt.meter and plan.num_steps == bars * meter.steps_per_bar
    ok &= len(plan.chords) == bars * meter.beats_per_bar
    for track in plan.tracks:
        ok &= all(0 <= n.start < plan.num_steps and n.duration >= 1 and n.end <= plan.num_steps
                  for n in track.notes)
    return bool(ok)


def repeated_bar_share(plan: Plan) -> float:
    """Share of bars whose melody (onsets and pitches) repeats an earlier bar exactly."""
    bar = plan.meter.steps_per_bar
    seen, repeats = set(), 0
    for b in range(plan.num_bars):
        content = tuple((n.start - b * bar, n.pitch) for n in plan.melody.notes if b * bar <= n.start < (b + 1) * bar)
        if content and content in seen:
            repeats += 1
        seen.add(content)
    return repeats / plan.num_bars


def cadences(plan: Plan) -> bool:
    """The piece ends on the tonic chord with the melody's last note on the tonic."""
    notes = plan.melody.notes
    last_chord = next((c for c in reversed(plan.chords) if c), None)
    return bool(notes) and notes[-1].pitch % 12 == plan.key.tonic and last_chord is not None \
        and last_chord.root == plan.key.tonic


def ngrams(seq: list, n: int = 4) -> set:
    return {tuple(seq[i:i + n]) for i in range(len(seq) - n + 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="corpus with tunes_train.jsonl (novelty reference)")
    parser.add_argument("--checkpoint", default=str(default_checkpoint("structure")))
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    parser.add_argument("--order-noise", type=float, default=DEFAULT_ORDER_NOISE)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = StructureModel.load(args.checkpoint)
    rng = np.random.default_rng(0)
    meters = itertools.cycle(SUPPORTED_METERS)
    prompts = [Prompt(key=key, bpm=float(rng.integers(60, 181)), meter=Meter(*next(meters)), seed=seed)
               for key in ALL_KEYS for seed in range(args.seeds)]

    start = time.perf_counter()
    settings = dict(bars=args.bars, steps=args.steps, guidance=args.guidance, order_noise=args.order_noise)
    plans = compose(model, prompts, **settings)
    batch_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for p in prompts[:8]:
        compose(model, [p], **settings)
    single_seconds = (time.perf_counter() - start) / 8

    exact = relative = 0
    for plan, prompt in zip(plans, prompts):
        found = plan_notes_key(plan)
        exact += found == prompt.key
        relative += found in (prompt.key, prompt.key.relative)
    validity = np.mean([valid(p, q, args.bars) for p, q in zip(plans, prompts)])
    pitches = [n.pitch for p in plans for n in p.melody.notes]
    ranges = [max(n.pitch for n in p.melody.notes) - min(n.pitch for n in p.melody.notes)
              for p in plans if p.melody.notes]

    train_plans = [Plan.from_dict(row["plan"]) for row in read_jsonl(args.data / "tunes_train.jsonl")]
    tunes = [melody_symbols(p) for p in train_plans]
    n_ref = min(240, len(train_plans))
    reference = [train_plans[i] for i in rng.choice(len(train_plans), n_ref, replace=False)]
    index = CopyIndex(tunes)
    copies = [index.longest_copy(melody_symbols(p)) for p in plans]
    lengths = [len(p.melody.notes) for p in plans]
    diversity = []
    for k in range(len(ALL_KEYS)):
        group = [ngrams(melody_symbols(p)) for p in plans[k * args.seeds:(k + 1) * args.seeds]]
        for a, b in itertools.combinations(group, 2):
            if a | b:
                diversity.append(1 - len(a & b) / len(a | b))

    n = len(plans)
    print(f"structure benchmark: {n} prompts, {args.bars} bars, {args.steps} steps, guidance {args.guidance}, "
          f"order noise {args.order_noise}, {Path(args.checkpoint).name}")
    print("| metric | value |\n|---|---|")
    print(f"| key exact (key finder on the plan's notes) | {exact / n:.3f} |")
    print(f"| key exact or relative | {relative / n:.3f} |")
    print(f"| grid and meter validity | {validity:.3f} |")
    print(f"| melody pitch range (MIDI) | {min(pitches)}-{max(pitches)}, "
          f"median span {np.median(ranges):.0f} semitones |")
    print(f"| melody notes per plan (median) | {np.median(lengths):.0f} |")
    print(f"| longest run copied from a training tune (notes): median / max | "
          f"{np.median(copies):.0f} / {max(copies)} |")
    half_copied = np.mean([c >= n / 2 for c, n in zip(copies, lengths)])
    print(f"| plans whose copied run is >= half their notes | {half_copied:.3f} |")
    print(f"| diversity across seeds (1 - Jaccard of melody 4-grams) | {np.mean(diversity):.3f} |")
    print(f"| ends on the tonic (chord and melody) | {np.mean([cadences(p) for p in plans]):.3f} "
          f"(training tunes: {np.mean([cadences(p) for p in reference]):.3f}) |")
    print(f"| bars repeating an earlier bar exactly | {np.mean([repeated_bar_share(p) for p in plans]):.3f} "
          f"(training tunes: {np.mean([repeated_bar_share(p) for p in reference]):.3f}, n={n_ref}) |")
    print(f"| speed, batch of {n} | {n / batch_seconds:.1f} plans/s |")
    print(f"| speed, one at a time | {1 / single_seconds:.1f} plans/s |")


if __name__ == "__main__":
    main()
