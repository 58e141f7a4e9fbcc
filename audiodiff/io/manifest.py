"""JSON Lines files: corpus manifests (``<split>.jsonl``, ``tunes_<split>.jsonl``) and batch manifests."""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def jsonl_text(rows: Iterable[dict[str, Any]]) -> str:
    """Rows as JSON Lines text: one JSON object and a newline per row."""
    return "".join(json.dumps(row) + "\n" for row in rows)


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a JSON Lines file (blank lines skipped).

    Raises FileNotFoundError for a missing file and ValueError naming ``file:line`` for a line that
    is not a JSON object.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    rows = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{line_no}: not a JSON line ({err})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{line_no}: not a JSON object")
            rows.append(row)
    return rows


def read_manifest(data_root: str | os.PathLike, split: str) -> list[dict[str, Any]]:
    """The rows of a corpus split, ``<data_root>/<split>.jsonl`` (one per window: ``id``, ``audio``
    and ``plan`` paths relative to ``data_root``, ``sample_rate``, ``num_samples``, labels).

    A missing manifest raises FileNotFoundError naming the splits that are there.
    """
    root = Path(data_root)
    manifest = root / f"{split}.jsonl"
    if not manifest.is_file():
        splits = sorted(p.stem for p in root.glob("*.jsonl")) if root.is_dir() else []
        found = f"splits found: {', '.join(splits)}" if splits else "no *.jsonl manifests there"
        raise FileNotFoundError(f"{manifest}: no such manifest ({found})")
    return read_jsonl(manifest)
