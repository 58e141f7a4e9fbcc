"""Corpus items made of random arrangements (:mod:`audiodiff.corpus.arrangements`).

An item is one arrangement (a seed), rendered whole and cut into back-to-back windows; each window
keeps its notes as a :class:`Performance` (times in seconds) under ``performances/<split>/``, so
the acoustic model learns off-grid timing as played. Seeds are split-disjoint by construction:
item ``i`` of a split uses seed ``base + i`` with a base per split.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from audiodiff.corpus.arrangements import TRAIN_STREAM, random_arrangement
from audiodiff.corpus.config import DataConfig
from audiodiff.corpus.items import normalize_loudness, write_flac
from audiodiff.io.atomic import write_json_atomic
from audiodiff.music.plan import TAIL_SECONDS

SPLIT_SEED_BASE = {"train": 0, "val": 10_000_000, "test": 20_000_000}


@dataclass(frozen=True)
class ArrangementSpec:
    """One arrangement item: its id, split and seed (everything else follows from the seed)."""

    item_id: str
    split: str
    seed: int
    source: str = "arrangement"


def arrangement_specs(config: DataConfig) -> list[ArrangementSpec]:
    """``config.arrangements`` items, divided between the splits by the config's fractions."""
    n = config.arrangements
    counts = {"test": int(round(n * config.test_fraction)), "val": int(round(n * config.val_fraction))}
    counts["train"] = n - counts["test"] - counts["val"]
    return [ArrangementSpec(f"arr-{split}-{i:06d}", split, SPLIT_SEED_BASE[split] + config.seed * 100_000 + i)
            for split, count in counts.items() for i in range(count)]


def window_starts(seconds: float, window_seconds: float, max_windows: int) -> list[float]:
    """Back-to-back window starts (seconds) that fit inside the rendered audio (piece + tail)."""
    starts: list[float] = []
    while len(starts) < max_windows and (len(starts) + 1) * window_seconds <= seconds + TAIL_SECONDS:
        starts.append(len(starts) * window_seconds)
    return starts


def render_arrangement_item(renderer, spec: ArrangementSpec, out: Path, config: DataConfig) -> dict:
    """Render an arrangement item and write its windows; returns the item record."""
    performance = random_arrangement(spec.seed, TRAIN_STREAM)
    starts = window_starts(performance.seconds, config.window_seconds, config.max_windows_per_item)
    record = {"item_id": spec.item_id, "split": spec.split, "tune_id": spec.item_id, "spec": asdict(spec),
              "windows": [], "skip": None if starts else "no full window"}
    if not starts:
        return record
    audio = normalize_loudness(renderer.render_performance(performance), config.loudness_rms_db)
    sr = config.sample_rate
    length = int(round(config.window_seconds * sr))
    for w, start in enumerate(starts):
        name = f"{spec.item_id}_w{w:02d}"
        first = int(round(start * sr))
        audio_path = Path("audio") / spec.split / f"{name}.flac"
        notes_path = Path("performances") / spec.split / f"{name}.json"
        write_flac(out / audio_path, audio[first:first + length], sr)
        window = performance.crop(first / sr, config.window_seconds)
        (out / notes_path).parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / notes_path, window.to_dict())
        record["windows"].append({
            "id": name, "audio": str(audio_path), "performance": str(notes_path), "sample_rate": sr,
            "num_samples": length, "seconds": config.window_seconds, "start_seconds": round(first / sr, 6),
            "key": performance.key.name if performance.key else None,
            "mode": performance.key.mode if performance.key else None,
            "programs": performance.programs, "drums": any(t.is_drum for t in performance.tracks),
            "tune_id": spec.item_id, "source": spec.source, "item_id": spec.item_id, "split": spec.split,
        })
    return record
