"""Random fixed-length audio crops from the corpus windows (codec training data).

The corpus is ``<data_root>/<split>.jsonl``: one JSON row per rendered window with at least
``id``, ``audio`` (a 24 kHz mono FLAC path relative to ``data_root``), ``sample_rate`` and
``num_samples``. A crop's start depends only on ``(seed, epoch, index)``, so a resumed training
run reads exactly the crops an uninterrupted one would have.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from audiodiff.io.manifest import read_manifest


@dataclass(frozen=True)
class AudioWindow:
    """One manifest row, reduced to what cropping needs."""

    id: str
    audio: Path  # absolute path of the FLAC
    sample_rate: int  # Hz
    num_samples: int


def corpus_roots(data_root: str | os.PathLike) -> list[str]:
    """The corpus folders named by ``data_root``: one path, or several separated by commas."""
    return [root for root in str(data_root).split(",") if root]


def read_windows(data_root: str | os.PathLike, split: str) -> list[AudioWindow]:
    """Rows of ``<data_root>/<split>.jsonl``; raises FileNotFoundError/ValueError naming the file and line."""
    root = Path(data_root)
    manifest = root / f"{split}.jsonl"
    windows = []
    for n, row in enumerate(read_manifest(root, split), 1):
        try:
            windows.append(AudioWindow(id=str(row["id"]), audio=root / row["audio"],
                                       sample_rate=int(row["sample_rate"]), num_samples=int(row["num_samples"])))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{manifest}: bad manifest row {n} ({type(err).__name__}: {err})") from None
    if not windows:
        raise ValueError(f"{manifest}: manifest is empty")
    return windows


class AudioWindowDataset(Dataset):
    """Crops of ``seconds`` from each window: item ``i`` -> float32 tensor ``[1, round(seconds * sr)]``.

    ``data_root`` may name several corpora separated by commas (:func:`corpus_roots`).
    Windows shorter than the crop are zero-padded at the end. Call :meth:`set_epoch` before each
    epoch so every epoch sees different crops; the crops are reproducible given (seed, epoch).
    """

    def __init__(self, data_root: str | os.PathLike, split: str = "train", *, seconds: float = 1.0,
                 sample_rate: int = 24000, seed: int = 0) -> None:
        if seconds <= 0:
            raise ValueError(f"crop length must be positive, got {seconds} s")
        self.windows = [w for root in corpus_roots(data_root) for w in read_windows(root, split)]
        wrong = [w for w in self.windows if w.sample_rate != sample_rate]
        if wrong:
            raise ValueError(
                f"{len(wrong)} windows are not at {sample_rate} Hz (e.g. {wrong[0].id} at {wrong[0].sample_rate} Hz)"
            )
        self.sample_rate = sample_rate
        self.crop_samples = round(seconds * sample_rate)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose crop positions :meth:`__getitem__` returns."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.windows)

    def crop_start(self, index: int) -> int:
        """First sample of item ``index``'s crop in this epoch (a pure function of seed, epoch, index)."""
        window = self.windows[index]
        room = window.num_samples - self.crop_samples
        if room <= 0:
            return 0
        return int(np.random.default_rng([self.seed, self.epoch, index]).integers(0, room + 1))

    def __getitem__(self, index: int) -> torch.Tensor:
        import soundfile as sf

        window = self.windows[index]
        try:
            audio, sr = sf.read(window.audio, start=self.crop_start(index), frames=self.crop_samples,
                                dtype="float32", always_2d=True)
        except (RuntimeError, OSError) as err:  # soundfile errors are RuntimeErrors
            raise OSError(f"{window.audio}: cannot read audio of window {window.id} ({err})") from None
        if sr != self.sample_rate:
            raise ValueError(f"{window.audio}: {sr} Hz, the manifest says {self.sample_rate} Hz")
        mono = audio.mean(axis=1)
        out = torch.zeros(1, self.crop_samples)
        out[0, : len(mono)] = torch.from_numpy(mono)
        return out
