"""Output files of a command: checked before any work, written under temporary names, moved into
place together at the end (an error leaves no half-written file)."""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from audiodiff.cli.messages import CliError
from audiodiff.io.atomic import temp_glob, temp_path


def output_path(path: str, force: bool, suffixes: tuple[str, ...]) -> Path:
    """``path`` as an output file: refused if its suffix is not one of ``suffixes`` (the format written),
    if it exists (unless ``force``; never when it is not a regular file), or cannot be written."""
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise CliError(f"{out}: the file name must end in {' or '.join(suffixes)} (the format written), "
                       f"got {out.suffix or 'no suffix'!r}")
    if out.is_symlink() or (out.exists() and not out.is_file() and not out.is_dir()):
        raise CliError(f"{out} is not a regular file (a link, device or pipe); refusing to replace it")
    if out.is_dir():
        raise CliError(f"{out} is a directory")
    if out.exists() and not force:
        raise CliError(f"{out} exists; pass --force to overwrite")
    if not out.parent.exists():
        raise CliError(f"{out.parent} does not exist")
    _check_writable(out.parent)
    _sweep_stale(out)
    return out


def _sweep_stale(out: Path) -> None:
    """Remove ``out``'s staged files left by runs that were killed (their pid no longer runs)."""
    from audiodiff.batch.lock import pid_alive

    for tmp in out.parent.glob(temp_glob(glob.escape(out.name))):
        pid = tmp.name[len(out.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _check_writable(folder: Path) -> None:
    """Fail before any work if files cannot be created in ``folder`` (a probe file, removed at once)."""
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(prefix=".audiodiff-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise CliError(f"cannot write in {folder} ({err.strerror or err})") from None


def stems_dir(path: str | None) -> Path | None:
    """``path`` as the folder ``--stems`` writes: refused if it is not a directory or not empty, if its
    parent does not exist or cannot be written. It is made (by renaming a staged folder onto it) at the end."""
    if path is None:
        return None
    out = Path(path)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise CliError(f"--stems {out}: not a directory; give a new or empty directory")
    if out.is_dir() and any(out.iterdir()):
        raise CliError(f"--stems {out}: the directory is not empty; give a new or empty directory")
    if not out.parent.exists():
        raise CliError(f"--stems {out}: {out.parent} does not exist")
    _check_writable(out.parent)
    from audiodiff.batch.lock import pid_alive

    for tmp in out.parent.glob(temp_glob(glob.escape(out.name))):  # staged folders of killed runs
        pid = tmp.name[len(out.name) + 2:].split(".", 1)[0]
        if tmp.is_dir() and pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)
    return out


SUFFIXES = {"wav": (".wav",), "json": (".json",), "midi": (".mid", ".midi"), "png": (".png",)}


def outputs(force: bool, *paths: tuple[str | Path | None, str]) -> list[Path | None]:
    """Check every output path, given as (path or None, kind in SUFFIXES), up front (before any work);
    they must be distinct."""
    out = [None if p is None else output_path(str(p), force, SUFFIXES[kind]) for p, kind in paths]
    given = [p.resolve() for p in out if p is not None]
    if len(set(given)) != len(given):
        raise CliError("output files must be distinct (-o, its .json sidecar, --plan-out, --plot, --json)")
    return out


class Staged:
    """Output files written under temporary names, moved onto their final names together."""

    def __init__(self) -> None:
        self.pairs: list[tuple[Path, Path]] = []

    def __call__(self, final: Path) -> Path:
        """The temporary name to write ``final`` under (the next run sweeps it if this one is killed)."""
        tmp = temp_path(final)
        self.pairs.append((tmp, final))
        return tmp

    def directory(self, final: Path) -> Path:
        """A new empty temporary folder to fill and then rename onto ``final`` (a new or empty folder)."""
        tmp = self(final)
        tmp.mkdir()
        return tmp

    def commit(self) -> None:
        """Move every staged file onto its final name (a staged folder replaces an empty one)."""
        for tmp, final in self.pairs:
            os.replace(tmp, final)
        self.pairs = []


@contextlib.contextmanager
def staged() -> Iterator[Staged]:
    """A :class:`Staged` whose files are removed on leaving unless they were committed."""
    stage = Staged()
    try:
        yield stage
    finally:
        for tmp, _ in stage.pairs:  # not committed: an error happened
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
