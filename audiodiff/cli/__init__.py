"""The audiodiff command line: the only place that prints or exits.

    audiodiff plan "D minor, 96 bpm, 3/4" -o plan.mid --bars 16 --seed 7
    audiodiff generate "D minor, 96 bpm, 3/4, violin" -o out.wav --seconds 30 --seed 7 --plan-out out.mid --plot out.png
    audiodiff render plan.mid -o out.wav --seed 7
    audiodiff evaluate outputs/ --json scores.json
    audiodiff batch prompts.csv --out dataset/ --workers 2      (or --grid --bpm 60:180:20 --seeds 2)
    audiodiff serve --port 8000 --out takes/                    (a local web page; the serve extra)

Heavy modules (torch, librosa, matplotlib) are imported inside the commands, so ``--help`` is instant.
Outputs are written under temporary names and moved into place together at the end: an error
leaves no half-written file, and existing files are kept unless ``--force`` is given.

:mod:`.parser` builds the argument parser; each command lives in its own module (:mod:`.plan`,
:mod:`.generate_render`, :mod:`.continuation`, :mod:`.evaluate`, :mod:`.batch`, :mod:`.serve`), sharing :mod:`.outputs`
(checked, staged output files) and :mod:`.messages` (errors and warnings).
"""
from __future__ import annotations

import signal
import sys
import threading

from audiodiff.cli.messages import EXIT_USAGE, CliError
from audiodiff.cli.parser import build_parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same cleanup runs (staged files removed, workers stopped)."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    """Run the command in ``argv`` (default: the process's arguments); returns the exit status
    (0 done, 1 runtime failure, 2 usage error, 130 interrupted, 143 terminated)."""
    args = build_parser().parse_args(argv)
    main_thread = threading.current_thread() is threading.main_thread()  # only it may set a handler
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        code = args.run(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except (ValueError, OSError) as exc:  # raised while checking the inputs: a usage error
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE
    except Terminated:
        print("terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    return code or 0
