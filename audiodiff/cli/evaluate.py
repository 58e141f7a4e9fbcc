"""``audiodiff evaluate``: score WAVs against their prompts (key, tempo, plan) and print a table."""
from __future__ import annotations

import argparse
import sys
import warnings

from audiodiff.cli.messages import warn
from audiodiff.cli.outputs import outputs

PROGRESS_FROM = 10  # clips: shorter sets finish before a bar would help


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score the clips of ``args.source``; print the table and optionally write it all as JSON. Returns 1 when
    some clips could not be scored (each is a FAILED row), else 0."""
    import json

    from audiodiff.eval.clips import format_table, read_clips, score_clip, summary

    (json_out,) = outputs(args.force, (args.json, "json"))
    if args.stems:
        return _evaluate_stems(args, json_out)
    # librosa warns about short or quiet clips (tuning from no peaks, FFT longer than a CQT octave);
    # the estimates are still made, and the table is what the user asked for
    warnings.filterwarnings("ignore", category=UserWarning, module="librosa")
    clips, notes = read_clips(args.source)
    for note in notes:
        warn(note)
    from tqdm import tqdm

    scores = [score_clip(c) for c in tqdm(clips, desc="evaluate", unit="clip", file=sys.stderr, dynamic_ncols=True,
                                          disable=args.no_progress or len(clips) < PROGRESS_FROM)]
    totals = summary(scores)
    if json_out is not None:
        from audiodiff.io.atomic import write_text_atomic

        write_text_atomic(json_out, json.dumps({"source": str(args.source), "summary": totals,
                                                "clips": [s.to_dict() for s in scores]}, indent=1) + "\n")
    print(format_table(scores, totals))
    return 1 if totals["clips_failed"] else 0


def _evaluate_stems(args: argparse.Namespace, json_out) -> int:
    """Note F1 of every stem under ``args.source`` against its own MIDI (:mod:`audiodiff.eval.stems`)."""
    import json

    from audiodiff.cli.messages import CliError
    from audiodiff.eval.stems import family_summary, format_stem_table, score_stems

    try:
        scores = score_stems(args.source)
    except ImportError as err:
        raise CliError(str(err), 1) from None
    if json_out is not None:
        from audiodiff.io.atomic import write_text_atomic

        write_text_atomic(json_out, json.dumps({"source": str(args.source), "families": family_summary(scores),
                                                "stems": [s.to_dict() for s in scores]}, indent=1) + "\n")
    print(format_stem_table(scores))
    return 0
