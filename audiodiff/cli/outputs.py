"""Output files of a command: checked before any work, written under temporary names, moved into
place together at the end (an error leaves no half-written file)."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from audiodiff.cli.messages import CliError
from audiodiff.io.atomic import temp_path


def output_path(path: str, force: bool) -> Path:
    """``path`` as an output file: refused if it exists (unless ``force``), or cannot be written."""
    out = Path(path)
    if out.exists() and not force:
        raise CliError(f"{out} exists; pass --force to overwrite")
    if not out.parent.exists():
        raise CliError(f"{out.parent} does not exist")
    if out.is_dir():
        raise CliError(f"{out} is a directory")
    _check_writable(out.parent)
    return out


def _check_writable(folder: Path) -> None:
    """Fail before any work if files cannot be created in ``folder`` (a probe file, removed at once)."""
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(prefix=".audiodiff-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise CliError(f"cannot write in {folder} ({err.strerror or err})") from None


def outputs(force: bool, *paths: str | Path | None) -> list[Path | None]:
    """Check every output path up front (before any work); they must be distinct."""
    out = [None if p is None else output_path(str(p), force) for p in paths]
    given = [p.resolve() for p in out if p is not None]
    if len(set(given)) != len(given):
        raise CliError("output files must be distinct (-o, its .json sidecar, --plan-out, --plot, --json)")
    return out


class Staged:
    """Output files written under temporary names, moved onto their final names together."""

    def __init__(self) -> None:
        self.pairs: list[tuple[Path, Path]] = []

    def __call__(self, final: Path) -> Path:
        tmp = temp_path(final)
        self.pairs.append((tmp, final))
        return tmp

    def commit(self) -> None:
        """Move every staged file onto its final name."""
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
            tmp.unlink(missing_ok=True)
