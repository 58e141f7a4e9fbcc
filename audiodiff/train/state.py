"""The resumable training-state file (``train_state.pt``) and the RNG states it carries.

The file is a ``torch.save`` dict with a ``version`` key, written atomically and read with
``weights_only=True``; the RNG states are stored as tensors and plain values so that reading works.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiodiff.io.atomic import atomic_path

STATE_NAME = "train_state.pt"
STATE_VERSION = 1


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Save ``state`` (plus its version) to ``path`` atomically: a reader sees the old file or the new one."""
    with atomic_path(path) as tmp:
        torch.save({"version": STATE_VERSION, **state}, tmp)


def read_state(path: Path) -> dict[str, Any]:
    """The state saved by :func:`write_state`; ValueError if unreadable or of another version."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # zip/pickle errors of many types: all mean "unusable file"
        raise ValueError(f"{path}: unreadable training state ({type(err).__name__}: {err});"
                         " delete it to start over") from None
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"{path}: training state version {state.get('version')!r}, expected {STATE_VERSION}")
    return state


def seed_everything(seed: int) -> None:
    """Seed the python, numpy and torch global RNGs."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """RNG states in a form ``torch.load(weights_only=True)`` accepts (no numpy arrays)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore RNG states captured by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
