"""End-to-end generation benchmark: speed and peak memory on CPU, and adherence to the prompt.

    python benchmarks/generate.py --data runs/data/cpu                # shipped checkpoints
    python benchmarks/generate.py --structure S --acoustic A --codec C --data runs/data/tiny --n-prompts 24

Speed: for 10 s and 60 s clips, each in a fresh process (so one length's peak RSS does not hold
the other's): load the models, generate once (warm-up; the peak RSS is read after it), then time
--repeats more runs of prompt -> audio array (plan, acoustic sampling, decoding: everything
`audiodiff generate` does but write the file) and report the median.

Adherence: 24 keys x 10 tempos evenly from 60 to 180 bpm = 240 prompts; prompt (key k, tempo t)
has meter (k + t) mod 4 of 2/4, 3/4, 4/4, 6/8 (every key and every tempo gets all four) and seed
10 k + t, its grid index. --n-prompts N takes a fixed random N of them. Key and tempo are
estimated from each clip with the estimators of `audiodiff evaluate`, beside the same estimators'
scores on two ground truths from the corpus's test split (--data; FluidSynth renders with real
instrument samples):

- the test windows as rendered, with their own keys and tempos (spread over 60-180 bpm);
- matched: for each prompt, a test window's plan in the prompt's mode and meter, moved to the
  prompt's key and tempo and rendered (:func:`ground_truth.matched_ground_truth`).

The tempo targets are relative to the matched ground truth, which has the prompts' own labels:
how any audio scores depends on where its labels are. 60 bpm is a tempo-bin edge and librosa's
estimate there comes in steps of about 2 % (59.8 or 61.1 bpm), so it lands in the bin below; at
180 bpm the estimator prefers the half tempo. A table per grid tempo shows it.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from ground_truth import matched_ground_truth, window_adherence
from tqdm import tqdm

from audiodiff.acoustic.model import DEFAULT_GUIDANCE, DEFAULT_STEPS
from audiodiff.corpus.render import Renderer
from audiodiff.eval.estimators import Adherence, audio_adherence, summarize
from audiodiff.io.atomic import write_text_atomic
from audiodiff.io.audio import write_wav
from audiodiff.io.manifest import read_manifest
from audiodiff.music.prompt import Prompt, parse
from audiodiff.music.theory import ALL_KEYS, SUPPORTED_METERS, Meter
from audiodiff.pipeline import DEFAULT_PLAN_GUIDANCE, Pipeline

# librosa on quiet clips: the estimates are still made
warnings.filterwarnings("ignore", category=UserWarning, module="librosa")

SPEED_PROMPT = "D minor, 96 bpm, 3/4, violin, seed 0"
SPEED_SECONDS = (10.0, 60.0)
TEMPOS = tuple(round(float(b), 1) for b in np.linspace(60, 180, 10))
MAX_10S_SECONDS, MAX_60S_RATIO, MAX_RSS_GB = 1.0, 6.5, 1.5
MIN_KEY_EXACT, MIN_TEMPO_SHARE = 0.90, 0.95  # tempo: share of the ground truth's score
METRICS = (("key_exact", "key exact"), ("key_weighted", "key MIREX weighted score"),
           ("key_relative", "key exact or relative"), ("tempo_within", "tempo within 4 %"), ("tempo_bin", "tempo bin"))
TEMPO_METRICS = ("tempo_within", "tempo_bin")


def measure(checkpoints: dict[str, str | None], seconds: float, steps: int, guidance: float, threads: int,
            repeats: int) -> tuple[float, list[float], float]:
    """Run in a fresh process: (load s, times of the timed runs, peak RSS in GB after one generation)."""
    torch.set_num_threads(threads)
    start = time.perf_counter()
    pipeline = Pipeline.load(**checkpoints)
    load = time.perf_counter() - start
    prompt = replace(parse(SPEED_PROMPT), seconds=seconds)
    pipeline.generate([prompt], steps=steps, guidance=guidance)  # warm-up
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # ru_maxrss is in KiB on Linux
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        pipeline.generate([prompt], steps=steps, guidance=guidance)
        times.append(time.perf_counter() - start)
    return load, times, peak_gb


def measure_fresh(*args) -> tuple[float, list[float], float]:
    """:func:`measure` in a freshly spawned Python process."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(measure, *args).result()


def verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def speed(args: argparse.Namespace, checkpoints: dict[str, str | None]) -> None:
    """Measure and print speed and peak RSS for each clip length, then the three targets."""
    rows = {s: measure_fresh(checkpoints, s, args.steps, args.guidance, args.threads, args.repeats)
            for s in SPEED_SECONDS}
    median = {s: statistics.median(times) for s, (_, times, _) in rows.items()}
    print(f"\nspeed: CPU, torch threads {args.threads}, '{SPEED_PROMPT}', {args.steps} acoustic steps, "
          f"guidance {args.guidance:g}, median of {args.repeats} runs after a warm-up, each length in a fresh process")
    print("| clip | load s | generate s (median) | runs s | peak RSS GB |\n|---|---|---|---|---|")
    for s, (load, times, rss) in rows.items():
        print(f"| {s:g} s | {load:.2f} | {median[s]:.2f} | {', '.join(f'{t:.2f}' for t in times)} | {rss:.2f} |")
    ratio = median[60.0] / median[10.0]
    rss = max(r[2] for r in rows.values())
    print("| target | value | result |\n|---|---|---|")
    ten = median[10.0]
    print(f"| 10 s clip in <= {MAX_10S_SECONDS:g} s | {ten:.2f} s | {verdict(ten <= MAX_10S_SECONDS)} |")
    print(f"| 60 s / 10 s time <= {MAX_60S_RATIO:g} | {ratio:.2f} | {verdict(ratio <= MAX_60S_RATIO)} |")
    print(f"| peak RSS <= {MAX_RSS_GB:g} GB | {rss:.2f} GB | {verdict(rss <= MAX_RSS_GB)} |")


def adherence_prompts(n: int, seconds: float, seed_offset: int = 0) -> list[Prompt]:
    """A fixed random ``n`` of the 24 keys x 10 tempos grid (see the module docstring), in grid
    order; ``seed_offset`` is added to every seed."""
    grid = [Prompt(key=key, bpm=bpm, meter=Meter(*SUPPORTED_METERS[(k + t) % len(SUPPORTED_METERS)]),
                   seconds=seconds, seed=seed_offset + len(TEMPOS) * k + t)
            for k, key in enumerate(ALL_KEYS) for t, bpm in enumerate(TEMPOS)]
    return [grid[i] for i in sorted(np.random.default_rng(0).permutation(len(grid))[:n])]


def generate_and_score(pipeline: Pipeline, prompts: list[Prompt], args: argparse.Namespace) -> list[Adherence]:
    """Generate the prompts in batches, estimate key and tempo of each clip; write them to --out if given."""
    scores = []
    with tqdm(total=len(prompts), desc="generate") as bar:
        for i in range(0, len(prompts), args.batch_size):
            for result in pipeline.generate(prompts[i:i + args.batch_size], steps=args.steps,
                                            guidance=args.guidance, plan_guidance=args.plan_guidance,
                                            batch_size=args.batch_size):
                p = result.prompt
                scores.append(audio_adherence(result.audio, result.sample_rate, p.key, p.bpm))
                if args.out:
                    write_wav(args.out / f"{p.seed:03d}.wav", result.audio, result.sample_rate)
                    sidecar = {"prompt": p.to_text(), "key": p.key.name, "bpm": p.bpm, "meter": p.meter.name,
                               "seed": p.seed, "plan_data": result.plan.to_dict()}
                    write_text_atomic(args.out / f"{p.seed:03d}.json", json.dumps(sidecar) + "\n")
            bar.update(len(prompts[i:i + args.batch_size]))
    return scores


def print_adherence(generated: dict[str, float], split: dict[str, float] | None,
                    matched: dict[str, float] | None) -> None:
    """The adherence table: generated, the two ground truths, generated / matched ground truth
    (tempo rows), target and result. Tempo targets are judged against the matched ground truth."""
    refs = [("ground truth: test windows", split), ("ground truth: test plans at the prompts' labels", matched)]
    refs = [(name, ref) for name, ref in refs if ref is not None]
    head = ["metric", "generated", *[name for name, _ in refs]]
    head += ["generated / matched ground truth"] if matched is not None else []
    head += ["target", "result"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for field, label in METRICS:
        cells = [label, f"{generated[field]:.3f}", *[f"{ref[field]:.3f}" for _, ref in refs]]
        if matched is not None:
            ratio = generated[field] / matched[field] if matched[field] else float("nan")
            cells.append(f"{ratio:.3f}" if field in TEMPO_METRICS else "")
        if field == "key_exact":
            cells += [f">= {MIN_KEY_EXACT:g}", verdict(generated[field] >= MIN_KEY_EXACT)]
        elif field in TEMPO_METRICS:
            ok = "needs --data" if matched is None else verdict(generated[field] >= MIN_TEMPO_SHARE * matched[field])
            cells += [f">= {MIN_TEMPO_SHARE:g} x matched ground truth", ok]
        else:
            cells += ["", ""]
        print("| " + " | ".join(cells) + " |")


def print_by_tempo(prompts: list[Prompt], generated: list[Adherence], matched: list[Adherence] | None) -> None:
    """Tempo within 4 % and tempo bin per grid tempo, generated (and matched ground truth)."""
    head = ["bpm", "prompts", "generated: within 4 % / bin"] + (["matched ground truth"] if matched else [])
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for bpm in TEMPOS:
        idx = [i for i, p in enumerate(prompts) if p.bpm == bpm]
        if not idx:
            continue
        cells = [f"{bpm:g}", str(len(idx))]
        for scores in [generated] + ([matched] if matched else []):
            within = np.mean([scores[i].tempo_within for i in idx])
            cells.append(f"{within:.2f} / {np.mean([scores[i].tempo_bin for i in idx]):.2f}")
        print("| " + " | ".join(cells) + " |")


def adherence(args: argparse.Namespace, pipeline: Pipeline) -> None:
    """Generate the prompt grid, score it and the ground truths, print the tables."""
    prompts = adherence_prompts(args.n_prompts, args.seconds, args.seed_offset)
    rows = read_manifest(args.data, "test") if args.data else []
    matched_scores = None
    if rows:  # first: a corpus that cannot give the matched ground truth fails before the long part
        labels = [(p.key, p.bpm, p.meter) for p in prompts]
        matched_scores = matched_ground_truth(args.data, rows, labels, Renderer(sample_rate=pipeline.sample_rate),
                                              progress=True)
    split = summarize([window_adherence(args.data, row) for row in tqdm(rows, desc="ground truth")]) if rows else None
    scores = generate_and_score(pipeline, prompts, args)
    print(f"\nadherence: {len(prompts)} prompts of the 24 keys x {len(TEMPOS)} tempos ({TEMPOS[0]:g}-{TEMPOS[-1]:g} "
          f"bpm) grid, meters {', '.join(Meter(*m).name for m in SUPPORTED_METERS)}, {args.seconds:g} s each, "
          f"{args.steps} acoustic steps, guidance {args.guidance:g}, plan guidance {args.plan_guidance:g}, "
          f"batch size {args.batch_size}")
    print("seeds: " + ", ".join(str(p.seed) for p in prompts))
    if rows:
        print(f"ground truth: the {len(rows)} test windows of {args.data} as rendered (their own keys and tempos), "
              f"and test plans moved to each prompt's key and tempo (same mode and meter), rendered with FluidSynth")
    else:
        print("ground truth: the columns need --data (a corpus folder with test.jsonl) and FluidSynth")
    print_adherence(summarize(scores), split, summarize(matched_scores) if matched_scores is not None else None)
    print()
    print_by_tempo(prompts, scores, matched_scores)
    if args.out:
        print(f"clips and sidecars in {args.out} (score them again: audiodiff evaluate {args.out})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("structure", "acoustic", "codec"):
        parser.add_argument(f"--{name}", help=f"{name} checkpoint (default: the shipped one)")
    parser.add_argument("--data", type=Path, help="corpus folder with test.jsonl (ground-truth columns; FluidSynth)")
    parser.add_argument("--n-prompts", type=int, default=240, help="prompts of the 240-prompt grid (default all)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each adherence clip (default 10)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"acoustic steps (default {DEFAULT_STEPS})")
    parser.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE,
                        help=f"acoustic guidance scale (default {DEFAULT_GUIDANCE:g})")
    parser.add_argument("--plan-guidance", type=float, default=DEFAULT_PLAN_GUIDANCE,
                        help=f"structure guidance scale of the adherence clips (default {DEFAULT_PLAN_GUIDANCE:g})")
    parser.add_argument("--seed-offset", type=int, default=0,
                        help="added to every adherence seed: choose settings on other seeds than you report")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--batch-size", type=int, default=8, help="adherence prompts per forward pass (default 8)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per clip length (default 3)")
    parser.add_argument("--out", type=Path, help="also write the adherence clips (WAV + sidecar JSON) here")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--speed-only", action="store_true")
    only.add_argument("--adherence-only", action="store_true")
    args = parser.parse_args()
    if min(args.steps, args.threads, args.batch_size, args.repeats) < 1:
        parser.error("--steps, --threads, --batch-size and --repeats must be >= 1")
    if not 1 <= args.n_prompts <= len(ALL_KEYS) * len(TEMPOS):
        parser.error(f"--n-prompts must be 1..{len(ALL_KEYS) * len(TEMPOS)}")
    if args.data and not (args.data / "test.jsonl").is_file():
        parser.error(f"{args.data / 'test.jsonl'}: no such file (--data wants a corpus folder)")

    torch.set_num_threads(args.threads)
    checkpoints = {name: getattr(args, name) for name in ("structure", "acoustic", "codec")}
    try:  # here first, so that bad or missing checkpoints fail in one line before anything runs
        pipeline = Pipeline.load(**checkpoints)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for warning in pipeline.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print("checkpoints: " + ", ".join(f"{name} {path or 'shipped'}" for name, path in checkpoints.items()))
    if not args.adherence_only:
        speed(args, checkpoints)
    if not args.speed_only:
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
        try:
            adherence(args, pipeline)
        except (OSError, ValueError) as err:  # e.g. no test window in a mode the prompts ask for
            print(f"error: {err}", file=sys.stderr)
            return 2
    print(f"\nthis run: {' '.join([sys.executable, *sys.argv])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
