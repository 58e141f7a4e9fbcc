"""Atomic files: data goes to a temporary file next to the target and is renamed into place.

``os.replace`` is atomic within a folder, so a crash or an error never leaves a half-written file
under the final name, and an existing file stays intact until the new one is complete. Temporary
files are named ``.<name>.<pid>.<8 hex>.tmp<suffix>`` (the suffix is kept for writers that pick
the format from it); :func:`temp_glob` matches the ones a killed process left behind.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def temp_path(path: str | os.PathLike) -> Path:
    """A fresh temporary name for ``path``, in the same folder (see the module docstring)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")


def temp_glob(name: str = "*") -> str:
    """Glob pattern of the temporary files :func:`temp_path` makes for a file called ``name``."""
    return f".{name}.*.tmp*"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` for any writer (soundfile, safetensors, torch.save);
    on success move it onto ``path``, on error delete it."""
    tmp = temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new empty temporary folder next to ``path`` to fill; on success it replaces ``path``
    (a folder there is removed first: a killed run's), on error it is deleted. Readers see either
    no folder or a complete one."""
    path = Path(path)
    tmp = temp_path(path)
    tmp.mkdir()
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a UTF-8 text file atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, data: Any, indent: int | None = None) -> None:
    """Write ``data`` as JSON atomically."""
    write_text_atomic(path, json.dumps(data, indent=indent))
