"""Throughput of ``audiodiff batch``: seconds of audio per wall-clock second, against batch size and workers.

    .venv/bin/python benchmarks/batch.py                       # shipped checkpoints, CPU, 1/4/8 x 1/2 workers
    .venv/bin/python benchmarks/batch.py --structure S --acoustic A --codec C --rows 16 --seconds 4
    .venv/bin/python benchmarks/batch.py --device cuda --workers 1 --batch-sizes 1,4,8,16
    .venv/bin/python benchmarks/batch.py --tiny                # untrained tiny models: plumbing only

Each cell runs the real command (``python -m audiodiff batch rows.jsonl --out TMP ...``) in a fresh
process on the same rows (a grid of keys and tempos, fixed seeds) and times it from start to exit,
so model loading and process start are included, as a user would see them; use enough --rows that
they do not dominate. Prints a markdown table and the exact command of every cell.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEYS = ["C major", "A minor", "G major", "E minor", "D major", "B minor", "F major", "D minor"]


def write_rows(path: Path, rows: int, seconds: float) -> float:
    lines = [json.dumps({"prompt": f"{KEYS[i % len(KEYS)]}, {80 + 10 * (i % 8)} bpm", "seed": i, "seconds": seconds})
             for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return rows * seconds


def tiny_checkpoints(root: Path) -> dict[str, str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import (
        build_tiny_checkpoints,  # the test suite's untrained tiny models
    )

    return build_tiny_checkpoints(root)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("structure", "acoustic", "codec"):
        parser.add_argument(f"--{name}", help=f"{name} checkpoint (default: the shipped one)")
    parser.add_argument("--tiny", action="store_true", help="untrained tiny models (measures the plumbing only)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--batch-sizes", default="1,4,8")
    parser.add_argument("--workers", default="1,2", help="worker processes to try (default 1,2; CPU)")
    parser.add_argument("--rows", type=int, default=8, help="rows per run (default 8)")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds of audio per row (default 4)")
    parser.add_argument("--steps", type=int, help="acoustic steps (default: the model's)")
    parser.add_argument("--plan-steps", type=int, help="structure steps (default: the model's)")
    parser.add_argument("--threads", type=int, help="torch threads per process (default: all cores for 1 "
                        "worker, 1 per worker otherwise)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="audiodiff-bench-"))
    try:
        return run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> int:
    models: list[str] = []
    if args.tiny:
        ckpts = tiny_checkpoints(work)
        models = [a for name in ("structure", "acoustic", "codec") for a in (f"--{name}", ckpts[name])]
    else:
        models = [a for name in ("structure", "acoustic", "codec") if getattr(args, name)
                  for a in (f"--{name}", getattr(args, name))]
    rows = work / "rows.jsonl"
    audio_seconds = write_rows(rows, args.rows, args.seconds)
    extra = ["--device", args.device, "--no-progress"]
    for flag, value in (("--steps", args.steps), ("--plan-steps", args.plan_steps), ("--threads", args.threads)):
        if value:
            extra += [flag, str(value)]

    table, commands = [], []
    for workers in [int(w) for w in args.workers.split(",")]:
        for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
            out = work / f"out_w{workers}_b{batch_size}"
            cmd = [sys.executable, "-m", "audiodiff", "batch", str(rows), "--out", str(out),
                   "--batch-size", str(batch_size), "--workers", str(workers), *extra, *models]
            start = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - start
            if done.returncode != 0:
                lines = done.stderr.strip().splitlines() or ["(no output)"]
                print(f"failed (exit {done.returncode}): {shlex.join(cmd)}\n{lines[-1]}", file=sys.stderr)
                return 1
            table.append((batch_size, workers, wall, audio_seconds / wall))
            commands.append(shlex.join(cmd))

    device = args.device
    if device.startswith("cuda"):
        import torch

        device += f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else " (not available!)"
    print(f"\n{args.rows} rows x {args.seconds:g} s = {audio_seconds:g} s of audio per run; device {device}; "
          f"{os.cpu_count()} CPU cores; models: {'untrained tiny' if args.tiny else ' '.join(models) or 'shipped'}\n")
    print("| batch size | workers | wall s | audio s / wall s |")
    print("|---|---|---|---|")
    for batch_size, workers, wall, speed in table:
        print(f"| {batch_size} | {workers} | {wall:.1f} | {speed:.2f} |")
    print(f"\nthis table: {shlex.join([sys.executable, *sys.argv])}")
    print("cells:")
    for cmd in commands:
        print(f"  {cmd}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
