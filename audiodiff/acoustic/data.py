"""Acoustic-model training data: crops of the per-part latent shards that
:mod:`audiodiff.corpus.part_data` builds (FluidSynth part latents, sketch latents, notes).

Context: a training crop of ``window_frames`` frames is cut from inside one part and its first
``k`` frames (``k`` uniform in 1..context_frames, or 0 with ``context_dropout``) are given as
known context, which is what generation sees when it continues a piece window by window.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from audiodiff.acoustic.features import part_program, part_rolls
from audiodiff.acoustic.synth import SKETCH_VERSION
from audiodiff.codec.config import latents_fingerprint
from audiodiff.codec.model import Codec
from audiodiff.music.performance import Part, TimedNote


def codec_fingerprint(codec: Codec) -> str:
    """:func:`audiodiff.codec.config.latents_fingerprint` of a torch codec: 16 hex digits that name the
    latents it makes (a codec whose decoder alone was fine-tuned or replaced keeps them)."""
    return latents_fingerprint(codec.config, {name: tensor.detach().float().cpu().numpy()
                                              for name, tensor in codec.state_dict().items()})


def complete_shards(root: str | os.PathLike) -> list[Path]:
    """The finished shard folders under ``root`` (those with parts.json), in name order; a shard
    still being written (``shard-NNNNN.tmp``, which holds parts.json just before its rename) is not one."""
    return sorted(p.parent for p in Path(root).glob("shard-*/parts.json") if p.parent.name[6:].isdigit())


def shard_part(row: dict) -> Part:
    """The part that a row of a shard's parts.json describes."""
    return Part(row["name"], int(row["program"]), [TimedNote(int(p), float(s), float(e), int(v))
                                                   for p, s, e, v in row["notes"]], bool(row["is_drum"]))


class PartWindows(Dataset):
    """Training crops: item ``i`` (one part of one arrangement) is a dict of

    - ``latents`` and ``sketch`` float32 ``[D, W]``: a crop of the part's FluidSynth and sketch
      latents (W = window_frames)
    - ``rolls`` float32 ``[NUM_FEATURES, W]`` and ``programs`` int64 scalar: its notes and program
    - ``context_frames`` int64 scalar: how many leading frames are given as known context.

    Crop position and context length are pure functions of (seed, epoch, index); shards completed
    after the start are taken in at the next epoch, their parts appended to the items.
    """

    def __init__(self, roots: str | os.PathLike | list[str | os.PathLike], codec_sha: str, *, window_frames: int,
                 context_frames: int, context_dropout: float, seed: int = 0) -> None:
        self.roots = [roots] if isinstance(roots, (str, os.PathLike)) else list(roots)
        if not 0.0 <= context_dropout <= 1.0:
            raise ValueError(f"context_dropout must be in [0, 1], got {context_dropout}")
        self.codec_sha = codec_sha
        self.window_frames, self.context_frames = window_frames, context_frames
        self.context_dropout, self.seed, self.epoch = context_dropout, seed, 0
        self.shards: list[Path] = []
        self.items: list[tuple[int, dict]] = []
        self.fps = 0.0
        self._arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # opened on first use, in each worker
        self._scan()
        if not self.shards:
            raise FileNotFoundError(f"no part-data shards in {', '.join(map(str, self.roots))} "
                                    "(make them with recipes/prepare_part_data.py)")
        if not self.items:
            raise ValueError(f"no part is as long as window_frames={window_frames}")

    def _scan(self) -> None:
        """Add the shards completed since the last scan (their parts go after the known ones)."""
        known = set(self.shards)
        for shard in (s for root in self.roots for s in complete_shards(root) if s not in known):
            meta = json.loads((shard / "parts.json").read_text())
            if meta["codec"] != self.codec_sha:
                raise ValueError(f"{shard} holds latents of another codec ({meta['codec']}, not {self.codec_sha}); "
                                 "rebuild it with this codec")
            if meta.get("sketch", 1) != SKETCH_VERSION:
                raise ValueError(f"{shard} holds sketches of sketch synth version {meta.get('sketch', 1)}, not "
                                 f"{SKETCH_VERSION}: rewrite them with recipes/prepare_part_data.py --resketch")
            self.fps = float(meta["frame_rate"])
            self.shards.append(shard)
            self.items += [(len(self.shards) - 1, row) for row in meta["parts"] if row["frames"] >= self.window_frames]

    def programs(self) -> list[int]:
        """The GM programs of the pitched parts in the data (what a model trained on it has heard)."""
        return sorted({int(row["program"]) for _, row in self.items if not row["is_drum"]})

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose crops :meth:`__getitem__` returns, taking in shards completed
        meanwhile (a run can start while the data is still being built)."""
        self.epoch = epoch
        self._scan()

    def __len__(self) -> int:
        return len(self.items)

    def _open(self, shard: int) -> tuple[np.ndarray, np.ndarray]:
        if shard not in self._arrays:
            folder = self.shards[shard]
            self._arrays[shard] = (np.load(folder / "target.npy", mmap_mode="r"),
                                   np.load(folder / "sketch.npy", mmap_mode="r"))
        return self._arrays[shard]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        shard, row = self.items[index]
        target, sketch = self._open(shard)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        w = self.window_frames
        start = int(rng.integers(0, row["frames"] - w + 1))
        have = 0 if rng.random() < self.context_dropout else int(rng.integers(1, self.context_frames + 1))
        at = int(row["offset"]) + start
        part = shard_part(row)

        def crop(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array[at: at + w].T, dtype=np.float32))
        return {"latents": crop(target), "sketch": crop(sketch),
                "rolls": torch.from_numpy(part_rolls(part, self.fps, w, start / self.fps)),
                "programs": torch.tensor(part_program(part)), "context_frames": torch.tensor(have)}
