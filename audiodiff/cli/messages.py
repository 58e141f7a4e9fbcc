"""What the command line tells the user besides its results: one-line errors and warnings."""
from __future__ import annotations

import sys

EXIT_USAGE = 2


class CliError(Exception):
    """A user-facing problem: printed as one line, exit code 2."""


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
