"""How often the audio key finder of `audiodiff evaluate` names the right key, on FluidSynth
renders whose keys are known:

- (a) corpus windows of one split (``--data``, at most ``--n-windows``, a fixed random choice);
- (b) plans the structure model writes for ``--n-prompts`` prompts drawn as in
  ``benchmarks/control.py`` (keys, tempos, meters, instruments), seeds ``--seed0`` + i;
- (c) the same prompts, each given a four-bar progression of its key: one of the eight in
  :data:`PROGRESSIONS` in turn, the control benchmark's first.

Each clip's mean chroma is computed once; ``--leak`` scores the finder with other shares of the
fifth-leak correction (:func:`audiodiff.eval.estimators.key_from_chroma`) beside the shipped one.
The defaults are the dev sets of the key finder's selection rule in docs/training.md:

    python benchmarks/key_finder.py --data runs/data/cpu --split val --leak 0.2 0.0
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from control import PROGRESSIONS as CONTROL_PROGRESSIONS
from control import in_key, prompts
from tqdm import tqdm

from audiodiff.corpus.render import Renderer
from audiodiff.eval.clips import load_plan
from audiodiff.eval.estimators import FIFTH_LEAK, key_from_chroma, mean_chroma
from audiodiff.io.audio import read_audio
from audiodiff.io.manifest import read_manifest
from audiodiff.music.prompt import Prompt
from audiodiff.music.theory import Chord, Key
from audiodiff.pipeline import Pipeline
from audiodiff.structure.compose import compose
from audiodiff.structure.guide import Guide
from audiodiff.structure.model import StructureModel

warnings.filterwarnings("ignore", category=UserWarning, module="librosa")

# (semitones above the tonic, quality) per bar; the first of each is benchmarks/control.py's
PROGRESSIONS = {
    "major": (
        CONTROL_PROGRESSIONS["major"],  # I IV vi V7-I
        (((0, "maj"),), ((7, "maj"),), ((9, "min"),), ((5, "maj"),)),  # I V vi IV
        (((0, "maj"),), ((9, "min"),), ((5, "maj"),), ((7, "7"),)),  # I vi IV V7
        (((2, "min"),), ((7, "7"),), ((0, "maj"),), ((0, "maj"),)),  # ii V7 I I
        (((0, "maj"),), ((5, "maj"),), ((7, "7"),), ((0, "maj"),)),  # I IV V7 I
        (((9, "min"),), ((5, "maj"),), ((0, "maj"),), ((7, "maj"),)),  # vi IV I V
        (((0, "maj"),), ((4, "min"),), ((5, "maj"),), ((7, "7"),)),  # I iii IV V7
        (((0, "maj"),), ((5, "maj"),), ((0, "maj"),), ((7, "7"),)),  # I IV I V7
    ),
    "minor": (
        CONTROL_PROGRESSIONS["minor"],  # i VI iv V7-i
        (((0, "min"),), ((10, "maj"),), ((8, "maj"),), ((7, "7"),)),  # i VII VI V7
        (((0, "min"),), ((5, "min"),), ((7, "7"),), ((0, "min"),)),  # i iv V7 i
        (((0, "min"),), ((8, "maj"),), ((3, "maj"),), ((10, "maj"),)),  # i VI III VII
        (((5, "min"),), ((7, "7"),), ((0, "min"),), ((0, "min"),)),  # iv V7 i i
        (((0, "min"),), ((5, "min"),), ((10, "maj"),), ((3, "maj"),)),  # i iv VII III
        (((0, "min"),), ((8, "maj"),), ((10, "maj"),), ((0, "min"),)),  # i VI VII i
        (((0, "min"),), ((7, "min"),), ((8, "maj"),), ((5, "min"),)),  # i v VI iv
    ),
}


def progression(key: Key, index: int) -> list[list[Chord]]:
    """Progression ``index`` (mod 8) of :data:`PROGRESSIONS` in ``key``, as bars of chords."""
    return in_key(PROGRESSIONS[key.mode][index % len(PROGRESSIONS[key.mode])], key)


def corpus_set(data: Path, split: str, n: int) -> list[tuple[Key, np.ndarray]]:
    """(key label, mean chroma [12]) of a fixed random ``n`` windows of a corpus split."""
    rows = read_manifest(data, split)
    chosen = [rows[i] for i in sorted(np.random.default_rng(0).choice(len(rows), min(n, len(rows)), replace=False))]
    out = []
    for row in tqdm(chosen, desc=f"{split} windows"):
        audio, rate = read_audio(data / row["audio"])
        out.append((load_plan(data / row["plan"]).key, mean_chroma(audio, rate)))
    return out


def plan_sets(items: list[Prompt], structure: StructureModel, seconds: float) -> tuple[list, list]:
    """Sets (b) and (c): (key, mean chroma) of FluidSynth renders of each prompt's plan, without and
    with a given progression."""
    renderer = Renderer()
    plain, given = [], []
    for i, prompt in enumerate(tqdm(items, desc="plans")):
        for out, guide in ((plain, None), (given, Guide(chords=progression(prompt.key, i)))):
            plan = compose(structure, [prompt], guides=[guide])[0]
            audio = renderer.render(plan)[: int(round(seconds * renderer.sample_rate))]
            out.append((prompt.key, mean_chroma(audio, renderer.sample_rate)))
    return plain, given


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="corpus directory (recipes/prepare_data.py) for set (a)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--n-windows", type=int, default=200)
    parser.add_argument("--n-prompts", type=int, default=48)
    parser.add_argument("--seed0", type=int, default=8000, help="seed of prompt 0 (the control benchmark uses 5000)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--structure", help="structure checkpoint (default: the shipped one)")
    parser.add_argument("--leak", type=float, nargs="*", default=[], help="other fifth-leak shares to score")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.time()
    sets = {}
    if args.data:
        sets[f"(a) corpus {args.split}"] = corpus_set(args.data, args.split, args.n_windows)
    items = prompts(args.n_prompts, args.seconds, args.seed0)
    structure = Pipeline.load(args.structure, None, None).structure
    sets["(b) plans"], sets["(c) plans with a progression"] = plan_sets(items, structure, args.seconds)

    print(f"key exact of the audio key finder on FluidSynth renders; prompts: seeds {args.seed0}-"
          f"{args.seed0 + args.n_prompts - 1}, {args.seconds:g} s")
    print("| fifth leak | " + " | ".join(f"{name} (n={len(rows)})" for name, rows in sets.items()) + " |")
    print("|---|" + "---|" * len(sets))
    for leak in [FIFTH_LEAK, *args.leak]:
        cells = [f"{np.mean([key_from_chroma(c, leak) == key for key, c in rows]):.3f}" for rows in sets.values()]
        shipped = " (shipped)" if leak == FIFTH_LEAK else ""
        print(f"| {leak:g}{shipped} | " + " | ".join(cells) + " |")
    print(f"\n{time.time() - started:.0f} s; this run: {' '.join([sys.executable, *sys.argv])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
