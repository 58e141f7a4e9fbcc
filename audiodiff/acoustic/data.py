"""Acoustic-model training data: codec latents of the corpus windows (encoded once, cached) and
crops of (plan features, latents) with a known-context prefix.

Latent cache: ``<cache>.npy`` holds float16 ``[total_frames, D]`` (time-major, so a window is one
contiguous block, memory-mapped when read); ``<cache>.json`` indexes it: codec fingerprint,
latent_dim, frame_rate, and per window its id and frame count, in manifest order. Both are written
under temporary names and renamed, the index last, so a cache with an index is complete. Processes
that want the same cache at once (the ranks of a torchrun launch) take turns on a lock file beside
it: the first encodes, the others find its cache and reuse it.

Context: a training crop of ``window_frames`` frames is cut from *inside* one corpus window and its
first ``k`` frames (``k`` uniform in 1..context_frames, or 0 with ``context_dropout``) are given
as known context. Consecutive corpus windows of an item are not contiguous (the next one starts
at the first bar line after the previous ends), so the audio just before a crop is the context
that matches what generation sees: the exact frames that precede the new ones.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from audiodiff.acoustic.features import plan_features
from audiodiff.codec.data import AudioWindow, AudioWindowDataset, read_windows
from audiodiff.codec.model import Codec
from audiodiff.io.atomic import atomic_path, temp_glob, write_json_atomic
from audiodiff.io.manifest import read_manifest
from audiodiff.music.plan import Plan


def codec_fingerprint(codec: Codec) -> str:
    """16 hex digits of a SHA-256 over the codec's config, encoder weights and latent scale.

    It names the latents a codec makes (what a cache holds and an acoustic model learned): the
    decoder, its config fields and the quantizer are left out, so a codec whose decoder alone was
    fine-tuned or replaced keeps it.
    """
    digest = hashlib.sha256(json.dumps(codec.config.latent_dict(), sort_keys=True).encode())
    for name, tensor in sorted(codec.state_dict().items()):
        if not (name.startswith("encoder.") or name == "latent_scale"):
            continue
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _index_path(cache_path: Path) -> Path:
    return cache_path.with_suffix(".json")


def read_latent_index(cache_path: str | os.PathLike) -> dict | None:
    """The index of a complete cache at ``cache_path`` (.npy), or None when there is none."""
    index = _index_path(Path(cache_path))
    if not (index.is_file() and Path(cache_path).is_file()):
        return None
    return json.loads(index.read_text())


@torch.no_grad()
def encode_corpus_latents(codec: Codec, data_root: str | os.PathLike, split: str,
                          cache_path: str | os.PathLike, *, batch_size: int = 8, progress: bool = False) -> Path:
    """Encode every window of ``<data_root>/<split>.jsonl`` with ``codec`` into ``cache_path``.

    A cache whose index names the same codec (fingerprint) and the same windows is reused as it
    is; otherwise it is rebuilt. Windows have ``ceil(num_samples / hop)`` frames each. Returns
    the cache path. ``progress`` shows a progress bar on stderr.
    """
    cache_path = Path(cache_path)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    windows = read_windows(data_root, split)
    fingerprint = codec_fingerprint(codec)
    ids = [w.id for w in windows]
    with _exclusive(cache_path.with_name(f".{cache_path.stem}.lock")):  # one encoder at a time (ranks wait)
        previous = read_latent_index(cache_path)
        if previous is not None and previous["codec"] == fingerprint and previous["ids"] == ids:
            return cache_path
        for stale in cache_path.parent.glob(temp_glob(cache_path.name)):  # left by a killed encoder
            stale.unlink(missing_ok=True)
        frames = _encode_windows(codec, data_root, split, windows, cache_path, batch_size, progress)
        write_json_atomic(_index_path(cache_path), {
            "codec": fingerprint, "latent_dim": codec.latent_dim, "frame_rate": codec.frame_rate,
            "ids": ids, "frames": frames})
    return cache_path


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (created if missing): other processes block here."""
    with open(lock_path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _encode_windows(codec: Codec, data_root: str | os.PathLike, split: str, windows: list[AudioWindow],
                    cache_path: Path, batch_size: int, progress: bool) -> list[int]:
    """Write the latents of ``windows`` to ``cache_path`` (temp file + rename) and return each
    window's frame count; the index is the caller's to write."""
    longest = max(w.num_samples for w in windows)
    # crops as long as the longest window start at 0: each item is its whole window, zero-padded
    audio = AudioWindowDataset(data_root, split, seconds=longest / codec.sample_rate, sample_rate=codec.sample_rate)
    frames = [math.ceil(w.num_samples / codec.hop_length) for w in windows]
    offsets = np.concatenate([[0], np.cumsum(frames)])
    with atomic_path(cache_path) as tmp:
        store = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16,
                                          shape=(int(offsets[-1]), codec.latent_dim))
        device = codec.latent_scale.device
        from tqdm import tqdm

        for first in tqdm(range(0, len(windows), batch_size), desc=f"encode {split} latents", unit="batch",
                          disable=not progress):
            indices = range(first, min(first + batch_size, len(windows)))
            wav = torch.stack([audio[i] for i in indices]).to(device)  # [B, 1, longest]
            latents = codec.encode(wav).float().cpu().numpy()  # [B, D, T]
            for row, i in enumerate(indices):
                store[offsets[i]: offsets[i] + frames[i]] = latents[row, :, : frames[i]].T
        store.flush()
        del store
        _index_path(cache_path).unlink(missing_ok=True)  # an old index must not vouch for new latents
    return frames


def _read_plan_paths(data_root: Path, split: str) -> dict[str, Path]:
    """Window id -> absolute path of its window plan JSON, from ``<split>.jsonl``."""
    try:
        return {str(row["id"]): data_root / row["plan"] for row in read_manifest(data_root, split)}
    except (KeyError, TypeError) as err:
        raise ValueError(f"{data_root / split}.jsonl: bad manifest row ({type(err).__name__}: {err})") from None


class LatentWindows(Dataset):
    """Training crops: item ``i`` is a dict of

    - ``latents`` float32 ``[D, W]``: a crop of window i's cached latents (W = window_frames)
    - ``rolls`` float32 ``[NUM_FEATURES, W]`` and ``programs`` int64 ``[NUM_SLOTS]``: its plan
    - ``context_frames`` int64 scalar: how many leading frames are given as known context.

    Crop position and context length are pure functions of (seed, epoch, index).
    """

    def __init__(self, data_root: str | os.PathLike, split: str, cache_path: str | os.PathLike, *,
                 window_frames: int, context_frames: int, context_dropout: float, seed: int = 0) -> None:
        root = Path(data_root)
        index = read_latent_index(cache_path)
        if index is None:
            raise FileNotFoundError(f"{cache_path}: no latent cache (make it with encode_corpus_latents)")
        plan_paths = _read_plan_paths(root, split)
        if sorted(plan_paths) != sorted(index["ids"]):
            raise ValueError(f"{cache_path}: the cache holds other windows than {root / split}.jsonl; re-encode it")
        short = [(i, n) for i, n in zip(index["ids"], index["frames"]) if n < window_frames]
        if short:
            raise ValueError(f"{len(short)} windows are shorter than window_frames={window_frames}"
                             f" (e.g. {short[0][0]}: {short[0][1]} frames)")
        if not 0.0 <= context_dropout <= 1.0:
            raise ValueError(f"context_dropout must be in [0, 1], got {context_dropout}")
        self.cache_path = Path(cache_path)
        self.ids, self.frames = list(index["ids"]), list(index["frames"])
        self.offsets = np.concatenate([[0], np.cumsum(self.frames)])
        self.plans = [plan_paths[i] for i in self.ids]
        self.fps = float(index["frame_rate"])
        self.window_frames, self.context_frames = window_frames, context_frames
        self.context_dropout, self.seed, self.epoch = context_dropout, seed, 0
        self._latents: np.ndarray | None = None  # opened on first use, in each worker

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose crops :meth:`__getitem__` returns."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self._latents is None:
            self._latents = np.load(self.cache_path, mmap_mode="r")
        rng = np.random.default_rng([self.seed, self.epoch, index])
        w, frames = self.window_frames, self.frames[index]
        start = int(rng.integers(0, frames - w + 1))
        have = 0 if rng.random() < self.context_dropout else int(rng.integers(1, self.context_frames + 1))
        at = int(self.offsets[index]) + start
        latents = torch.from_numpy(np.ascontiguousarray(self._latents[at: at + w].T, dtype=np.float32))
        plan = Plan.from_dict(json.loads(self.plans[index].read_text()))
        feats = plan_features(plan, self.fps, frames)
        return {"latents": latents, "rolls": torch.from_numpy(feats.rolls[:, start: start + w].copy()),
                "programs": torch.from_numpy(feats.programs), "context_frames": torch.tensor(have)}
