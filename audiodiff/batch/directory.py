"""A batch's output directory: where each row's files go, creating it, and checking a resumed one."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from audiodiff.batch import BatchError
from audiodiff.batch.rows import Row, one_line
from audiodiff.io.atomic import write_text_atomic

SUBDIRS = ("audio", "midi", "annotations", "records", "errors")
LAYOUTS = ("folder", "slakh")
POLL_SECONDS = 0.5


def subdirs(stems: bool = False, layout: str = "folder") -> tuple[str, ...]:
    """The folders of a batch directory: with Slakh stems only records/ and errors/ beside the tracks."""
    if stems and layout == "slakh":
        return ("records", "errors")
    return SUBDIRS + (("stems",) if stems else ())


def slakh_track(row_id: str) -> str:
    """The Slakh2100-style folder of a row: ``Track00001`` for row 000000."""
    return f"Track{int(row_id) + 1:05d}"


def row_paths(out: Path, row_id: str, layout: str = "folder") -> dict[str, Path]:
    """The files of row ``row_id`` under ``out``: audio, midi, annotations, record, error and the
    folder its stems go to (with ``--stems``). In the ``slakh`` layout the row's audio (mix.flac),
    plan MIDI (all_src.mid) and annotations live in its track folder, which is its stems folder."""
    if layout == "slakh":
        track = out / slakh_track(row_id)
        files = {"audio": track / "mix.flac", "midi": track / "all_src.mid", "annotations": track / "annotations.json",
                 "stems": track}
    else:
        files = {"audio": out / "audio" / f"{row_id}.wav", "midi": out / "midi" / f"{row_id}.mid",
                 "annotations": out / "annotations" / f"{row_id}.json", "stems": out / "stems" / row_id}
    return {**files, "record": out / "records" / f"{row_id}.json", "error": out / "errors" / f"{row_id}.json"}


def prepare_dir(out: Path, fingerprint: dict, resume: bool, rank: int = 0, folders: tuple[str, ...] = SUBDIRS) -> None:
    """Check (and on rank 0 create) the output directory and its ``folders``; refuse foreign or
    mismatching contents."""
    settings = out / "batch.json"
    if out.exists() and not out.is_dir():
        raise BatchError(f"{out} exists and is not a directory")
    if rank == 0:
        if not out.exists():
            if not out.parent.is_dir():
                raise BatchError(f"{out.parent} does not exist")
            try:
                out.mkdir()
            except OSError as err:
                raise BatchError(f"cannot create {out} ({err.strerror or err})") from None
        if not settings.exists():
            if any(out.iterdir()):
                raise BatchError(f"{out} is not empty and holds no batch; give a new or empty directory")
            write_text_atomic(settings, json.dumps(fingerprint, indent=1) + "\n")
        elif not resume:
            raise BatchError(f"{out} already holds a batch; pass --resume to finish it, or give a new directory")
    else:  # torchrun: rank 0 creates the directory; wait for it
        deadline = time.monotonic() + 600
        while not settings.exists():
            if time.monotonic() > deadline:
                raise BatchError(f"rank {rank}: {settings} did not appear; did rank 0 fail?")
            time.sleep(POLL_SECONDS)
    try:
        previous = json.loads(settings.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise BatchError(f"{settings}: unreadable ({one_line(err)})") from None
    if previous != fingerprint:
        changed = sorted(k for k in set(previous) | set(fingerprint) if previous.get(k) != fingerprint.get(k))
        raise BatchError(f"{out} holds a batch made with other settings ({', '.join(changed)} differ); "
                         "use a new directory")
    if rank == 0:
        for sub in folders:
            (out / sub).mkdir(exist_ok=True)


def is_finished(out: Path, row: Row) -> bool:
    """Whether the row has its record (written last: all its files are in place)."""
    return row_paths(out, row.id)["record"].exists()


def clean_row(out: Path, row: Row, layout: str = "folder") -> None:
    """Remove a row's stale temporary files and folders (a killed run's) and its error file before it
    is (re)done."""
    paths = row_paths(out, row.id, layout)
    for name in ("audio", "midi", "annotations", "record", "stems"):
        if not paths[name].parent.is_dir():
            continue
        for tmp in paths[name].parent.glob(f".{paths[name].name}.*"):
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
    paths["error"].unlink(missing_ok=True)
