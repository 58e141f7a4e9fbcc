"""Codec round trip of single parts: what the pipeline decodes, since every part is rendered alone.

    python benchmarks/part_codec.py --dev --n 24 [--checkpoint C]     # choosing a decoder
    python benchmarks/part_codec.py --n 200                            # held-out arrangements

For each arrangement (dev: :func:`audiodiff.corpus.arrangements.dev_arrangement`; otherwise the
held-out seed space), its first ``--seconds``: every part is rendered alone by FluidSynth (one gain
for the piece, as the acoustic model's training data), encoded and decoded alone by the codec, and
the decoded parts are summed. Rows: the FluidSynth mix (the ceiling), the sum of the parts' round
trips with continuous latents (what the pipeline's decoder sees), and the same at 6 kbps (RVQ).
Scores: note F1 (basic-pitch vs the notes, mir_eval onsets within 50 ms, drums left out), the
multi-resolution mel distance to the FluidSynth mix (lower is better), and the Fréchet distance on
basic-pitch's features to the FluidSynth mixes (the mix row: the floor, FluidSynth mixes of ``n``
other arrangements): what the codec alone adds to the FD of everything the pipeline decodes. Needs FluidSynth and the
``eval`` extra (basic-pitch).
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys

import numpy as np
import torch
from tqdm import tqdm

from audiodiff.codec.model import Codec, load_codec
from audiodiff.corpus.arrangements import dev_arrangement, heldout_arrangement
from audiodiff.corpus.items import normalize_loudness
from audiodiff.corpus.part_data import fluidsynth_parts
from audiodiff.corpus.render import Renderer
from audiodiff.eval.codec_metrics import mel_distance
from audiodiff.eval.frechet import FrameStats, frechet_distance
from audiodiff.eval.transcription import load_basic_pitch, note_f1, performance_notes
from audiodiff.io.checkpoint import default_checkpoint

LOUDNESS_DB = -20.0
KBPS = 6.0


@torch.no_grad()
def round_trip(codec: Codec, audio: np.ndarray, kbps: float | None) -> np.ndarray:
    """``audio [N]`` encoded and decoded (continuous latents, or RVQ at ``kbps``): ``[N]``."""
    latents = codec.encode(torch.from_numpy(audio.astype(np.float32))[None, None])
    if kbps is not None:
        latents = codec.quantize(latents, kbps)[0]
    return codec.decode(latents)[0, 0, :len(audio)].numpy()


def parts_round_trip(codec: Codec, parts: list[np.ndarray], kbps: float | None) -> np.ndarray:
    """The sum of the parts' round trips ``[N]``."""
    return np.sum([round_trip(codec, p, kbps) for p in parts], axis=0)


def score(audio: np.ndarray, reference: np.ndarray, notes: np.ndarray, sample_rate: int,
          frames: FrameStats) -> tuple[float, float]:
    """(note F1 against ``notes [K, 3]``, mel distance to ``reference``), at the corpus loudness;
    the clip's basic-pitch features are added to ``frames``."""
    net = load_basic_pitch()
    level = normalize_loudness(audio.astype(np.float32), LOUDNESS_DB)
    activations = net.activations(level, sample_rate)
    frames.add(activations["features"])
    f1 = note_f1(notes, net.notes(activations)).f1
    return f1, float(mel_distance(reference, audio, sample_rate))


def mix_features(renderer: Renderer, performance, seconds: float) -> np.ndarray:
    """basic-pitch features of FluidSynth's mix of ``performance`` (first ``seconds``), at the corpus loudness."""
    sr = renderer.sample_rate
    mix = np.sum([p[:int(round(seconds * sr))] for p in fluidsynth_parts(renderer, performance)], axis=0)
    return load_basic_pitch().activations(normalize_loudness(mix.astype(np.float32), LOUDNESS_DB), sr)["features"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="codec checkpoint (default: the shipped one)")
    parser.add_argument("--n", type=int, default=24, help="arrangements (default 24)")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each clip (default 8)")
    parser.add_argument("--dev", action="store_true", help="dev arrangements (choosing decoders), not held-out ones")
    parser.add_argument("--threads", type=int, default=1, help="torch and TensorFlow threads (default 1)")
    args = parser.parse_args()
    if args.n < 1 or not args.seconds > 0:
        parser.error("--n must be >= 1 and --seconds positive")
    print(f"$ {shlex.join([sys.executable, *sys.argv])}\n")
    torch.set_num_threads(args.threads)
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(args.threads))
    try:
        codec = load_codec(args.checkpoint or default_checkpoint("codec")).eval()
        renderer = Renderer(sample_rate=codec.sample_rate)
        load_basic_pitch()
    except (OSError, ValueError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    codec.fold_decoder_weight_norm()
    sr = codec.sample_rate
    arrangement = dev_arrangement if args.dev else heldout_arrangement
    rows: dict[str, list[tuple[float, float]]] = {"mix": [], "continuous": [], "6 kbps": []}
    frames = {name: FrameStats() for name in rows}
    for seed in tqdm(range(args.n), desc="arrangements"):
        performance = arrangement(seed).crop(0.0, args.seconds)
        notes = performance_notes(performance)
        length = int(round(args.seconds * sr))
        parts = [p[:length] for p in fluidsynth_parts(renderer, performance)]
        mix = np.sum(parts, axis=0)
        rows["mix"].append(score(mix, mix, notes, sr, frames["mix"]))
        rows["continuous"].append(score(parts_round_trip(codec, parts, None), mix, notes, sr, frames["continuous"]))
        rows["6 kbps"].append(score(parts_round_trip(codec, parts, KBPS), mix, notes, sr, frames["6 kbps"]))
    floor = FrameStats()
    for seed in tqdm(range(args.n, 2 * args.n), desc="arrangements: floor"):
        floor.add(mix_features(renderer, arrangement(seed).crop(0.0, args.seconds), args.seconds))
    reference = frames["mix"].gaussian()
    fd = {name: frechet_distance((floor if name == "mix" else frames[name]).gaussian(), reference) for name in rows}
    space = "dev" if args.dev else "held-out"
    print(f"codec: {args.checkpoint or 'shipped'}; {args.n} {space} arrangements (seeds 0-{args.n - 1}), first "
          f"{args.seconds:g} s; FD floor: seeds {args.n}-{2 * args.n - 1}\n")
    print("| audio | note F1 | mel distance to the mix | FD to the FluidSynth mixes |\n|---|---|---|---|")
    labels = {"mix": "FluidSynth mix (ceiling; FD: floor)",
              "continuous": "parts decoded alone and summed, continuous latents",
              "6 kbps": f"the same at {KBPS:g} kbps"}
    top = float(np.mean([f for f, _ in rows["mix"]]))
    for name, values in rows.items():
        f1, mel = (float(np.mean(v)) for v in zip(*values))
        share = f" ({f1 / top:.2f} x)" if name != "mix" and top else ""
        print(f"| {labels[name]} | {f1:.3f}{share} | {'-' if name == 'mix' else f'{mel:.4f}'} | {fd[name]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
