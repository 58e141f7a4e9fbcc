"""Start-up and a whole 10 s generate on each backend, in fresh processes timed back to back in pairs.

    python benchmarks/backends.py --pairs 5            # shipped checkpoints, 1 thread

Each process imports the pipeline, loads the three shipped models on one backend (the start-up),
generates one 10 s clip (prompt -> audio array: everything `audiodiff generate` does but write the
file) and reports both times and its peak RSS. Processes run in pairs (torch, then onnx; the order
alternates) so that a busy machine slows both alike; the table gives medians and onnx / torch ratios.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

PROMPT = "D minor, 96 bpm, 3/4, violin, 10 s, seed 0"


def worker(backend: str, threads: int) -> dict[str, float]:
    """In this process: start-up, one 10 s generate, peak RSS (MiB)."""
    start = time.perf_counter()
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
    from audiodiff.pipeline import Pipeline

    pipeline = Pipeline.load(backend=backend, threads=threads)
    loaded = time.perf_counter()
    pipeline.generate([PROMPT])
    done = time.perf_counter()
    return {"startup": loaded - start, "generate": done - loaded, "whole": done - start,
            "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5, help="process pairs (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="threads of each backend (default 1)")
    parser.add_argument("--worker", choices=("onnx", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.threads)))
        return 0
    runs: dict[str, list[dict[str, float]]] = {"torch": [], "onnx": []}
    for pair in range(args.pairs):
        for backend in (("torch", "onnx") if pair % 2 == 0 else ("onnx", "torch")):
            out = subprocess.run([sys.executable, __file__, "--worker", backend, "--threads", str(args.threads)],
                                 capture_output=True, text=True, check=True).stdout
            runs[backend].append(json.loads(out.strip().splitlines()[-1]))
    print(f"{args.pairs} pairs of fresh processes, {args.threads} thread(s), medians:\n")
    print("| | torch | onnx | onnx / torch |\n|---|---|---|---|")
    for key, label, unit in (("startup", "start-up: imports + loading the three models", "s"),
                             ("generate", "one 10 s generate after loading", "s"),
                             ("whole", "whole process (start-up + 10 s generate)", "s"),
                             ("rss", "peak RSS", "MiB")):
        t, o = (statistics.median(r[key] for r in runs[b]) for b in ("torch", "onnx"))
        print(f"| {label} | {t:.2f} {unit} | {o:.2f} {unit} | {o / t:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
