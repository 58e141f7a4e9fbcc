"""How audible are the corpus labels? Key and tempo estimated from the audio of random test
windows, scored against their labels. This is the ceiling later models are judged against.

    python benchmarks/labels.py runs/data/cpu --split test --n 200
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
from ground_truth import window_adherence
from tqdm import tqdm

from audiodiff.eval.estimators import summarize
from audiodiff.io.manifest import read_manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="a corpus directory made by recipes/prepare_data.py")
    parser.add_argument("--split", default="test")
    parser.add_argument("--n", type=int, default=200, help="number of random windows")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rows = read_manifest(args.data, args.split)
    rng = np.random.default_rng(args.seed)
    chosen = [rows[i] for i in sorted(rng.choice(len(rows), min(args.n, len(rows)), replace=False))]
    groups: dict[str, list] = defaultdict(list)
    for row in tqdm(chosen, desc="estimate"):
        result = window_adherence(args.data, row)
        for group in ("all", f"meter {row['meter']}", "drums" if row.get("drums") else "no drums",
                      f"source {row['source']}"):
            groups[group].append(result)
    print(f"{len(chosen)} {args.split} windows of {args.data}")
    header = ["group", "n", "key_exact", "key_relative", "tempo_within", "tempo_bin", "tempo_bin_near"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for group in sorted(groups, key=lambda g: (g != "all", g)):
        stats = summarize(groups[group])
        print(f"| {group} | {len(groups[group])} | " + " | ".join(f"{stats[h]:.2f}" for h in header[2:]) + " |")


if __name__ == "__main__":
    main()
