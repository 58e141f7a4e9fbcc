"""Gathering a batch: waiting for every row's files, then writing the manifest and errors.jsonl."""
from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Sequence
from pathlib import Path

from audiodiff.batch import BatchError
from audiodiff.batch.directory import POLL_SECONDS, is_finished, row_paths
from audiodiff.batch.rows import Row
from audiodiff.io.atomic import write_text_atomic

CSV_COLUMNS = ("id", "index", "audio", "midi", "annotations", "prompt", "key", "tonic", "mode", "bpm", "meter",
               "instrument", "program", "programs", "drums", "seconds", "num_samples", "sample_rate", "seed",
               "given_chords", "form", "bars_per_section", "peak_normalized", "steps", "plan_steps", "guidance",
               "structure_sha256", "acoustic_sha256", "codec_sha256")


def wait_for_all(out: Path, rows: Sequence[Row], timeout: float | None = None) -> None:
    """Poll until every row has a record or an error file (rank 0 under torchrun)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    pending = list(rows)
    while True:
        pending = [r for r in pending if not is_finished(out, r) and not row_paths(out, r.id)["error"].exists()]
        if not pending:
            return
        if deadline is not None and time.monotonic() > deadline:
            raise BatchError(f"{len(pending)} rows unfinished after {timeout:g} s; rerun with --resume")
        time.sleep(POLL_SECONDS)


def write_manifest(out: Path, rows: Sequence[Row]) -> tuple[list[dict], list[dict], int]:
    """Gather the row files into manifest.jsonl / manifest.csv / errors.jsonl (atomically, input
    order). Returns (records, errors, number of unfinished rows)."""
    records, errors, missing = [], [], 0
    for row in rows:
        paths = row_paths(out, row.id)
        if paths["record"].exists():
            records.append(json.loads(paths["record"].read_text()))
        elif paths["error"].exists():
            errors.append(json.loads(paths["error"].read_text()))
        else:
            missing += 1
    write_text_atomic(out / "manifest.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in records:
        flat = {**r, "programs": " ".join(map(str, r["programs"]))}
        writer.writerow(["" if flat.get(c) is None else flat[c] for c in CSV_COLUMNS])
    write_text_atomic(out / "manifest.csv", buffer.getvalue())
    write_text_atomic(out / "errors.jsonl", "".join(json.dumps(e) + "\n" for e in errors))
    return records, errors, missing
