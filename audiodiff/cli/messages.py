"""What the command line tells the user besides its results: one-line errors and warnings, exit codes.

Exit status: 0 success, 1 a runtime failure (a model produced NaN, the disk filled up, some batch
rows failed), 2 a usage error (bad arguments, prompt, input file or checkpoint), 130 interrupted.
"""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

EXIT_FAILURE = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A user-facing problem, printed as one line; ``code`` is the exit status (usage error by default)."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


@contextlib.contextmanager
def running() -> Iterator[None]:
    """The work phase of a command, after its inputs were checked: a ValueError, OSError or RuntimeError
    raised here (NaN from a model, a full disk) is a runtime failure, exit status 1."""
    try:
        yield
    except (ValueError, OSError, RuntimeError) as exc:
        from audiodiff.batch.rows import one_line

        raise CliError(one_line(exc) or type(exc).__name__, EXIT_FAILURE) from exc


def warn(message: str) -> None:
    """Print ``warning: message`` on stderr."""
    print(f"warning: {message}", file=sys.stderr)


def warn_mapped(changes: list[tuple[str, int, int]]) -> None:
    """One warning line per program the model was not trained on."""
    from audiodiff.music.instruments import program_name

    seen: dict[int, tuple[int, list[str]]] = {}
    for track, old, new in changes:
        seen.setdefault(old, (new, []))[1].append(track)
    for old, (new, tracks) in seen.items():
        warn(f"program {old + 1} ({program_name(old)}) is not among the instruments the acoustic model was "
             f"trained on; {', '.join(tracks)} rendered as program {new + 1} ({program_name(new)})")
