"""Build the training corpus: music21 folk tunes + Bach chorales (+ your MIDI), arranged, rendered
with FluidSynth, cut into windows, split by tune.

    python recipes/prepare_data.py --config tiny --out runs/data/tiny
    python recipes/prepare_data.py --config cpu --out runs/data/cpu --workers 2
    python recipes/prepare_data.py --config cpu --out runs/data/cpu --tunes-only   # no rendering
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from audiodiff.corpus.config import DataConfig
from audiodiff.corpus.prepare import prepare


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="tiny", help="tiny, cpu, full or a JSON file (default tiny)")
    parser.add_argument("--out", required=True, help="output directory (rerun the same command to resume)")
    parser.add_argument("--midi-dir", help="also use every MIDI file under this directory")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: all cores)")
    parser.add_argument("--soundfont", help="GM soundfont (default: Debian's FluidR3_GM.sf2)")
    parser.add_argument("--seed", type=int, help="override the config's seed")
    parser.add_argument("--tunes-only", action="store_true",
                        help="stop after tunes_<split>.jsonl (the structure model's data): no rendering")
    args = parser.parse_args()
    try:
        config = DataConfig.load(args.config)
        if args.seed is not None:
            config.seed = args.seed
        print(json.dumps(config.to_dict()), flush=True)
        started = time.time()
        summary = prepare(args.out, config, midi_dir=args.midi_dir, workers=args.workers,
                          soundfont=args.soundfont, progress=True, tunes_only=args.tunes_only)
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=1))
    print(f"done in {time.time() - started:.0f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
