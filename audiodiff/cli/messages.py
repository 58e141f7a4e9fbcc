"""What the command line tells the user besides its results: one-line errors and warnings, exit codes.

Exit status: 0 success, 1 a runtime failure (a model produced NaN, the disk filled up, some batch
rows failed), 2 a usage error (bad arguments, prompt, input file or checkpoint), 130 interrupted.
"""
from __future__ import annotations

import contextlib
import contextvars
import sys
from collections.abc import Iterator

EXIT_FAILURE = 1
EXIT_USAGE = 2
_collected: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("collected_warnings", default=None)


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
    """Print ``warning: message`` on stderr, or add it to the list of :func:`collect_warnings` around the call."""
    collected = _collected.get()
    if collected is None:
        print(f"warning: {message}", file=sys.stderr)
    else:
        collected.append(message)


@contextlib.contextmanager
def collect_warnings() -> Iterator[list[str]]:
    """The warnings given inside the block (in this thread or task), instead of printing them (the web server
    shows them on the page)."""
    collected: list[str] = []
    token = _collected.set(collected)
    try:
        yield collected
    finally:
        _collected.reset(token)


def warn_mapped(changes: list[tuple[str, int, int]]) -> None:
    """One warning line per program the model was not trained on."""
    from audiodiff.music.instruments import substitution_warnings

    for line in substitution_warnings(changes):
        warn(line)
