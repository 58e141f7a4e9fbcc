"""Stems benchmark (issue 23): each stem's note F1 per instrument family beside FluidSynth's, and the cost of --stems.

    python benchmarks/stems.py --acoustic A [--codec C] --n 50 [--seconds 10] [--dev] [--json out.json]
    python benchmarks/stems.py --cost --acoustic A [--structure S] [--codec C] [--cost-seconds 10,60]

1. **Per family** (default): ``--n`` arrangements from the held-out seed space
   (:func:`audiodiff.corpus.arrangements.heldout_arrangement`, seeds 0..n-1; ``--dev``: the dev set
   :func:`audiodiff.corpus.arrangements.dev_arrangement`, on which models are chosen), their first
   ``--seconds``, rendered by ``Pipeline.render`` with their notes at their real times (seed = piece
   index). Every pitched track's stem is transcribed alone (basic-pitch) and scored against the
   track's notes (note F1: mir_eval onsets within 50 ms); beside it, FluidSynth's render of the same
   track alone (the same program: the one the model rendered) is scored the same way. A single
   instrument transcribes far more reliably than a mix, so this is the cleanest measure of the
   acoustic model per instrument. Table per GM family: stems, mean F1 of audiodiff's stems and of
   FluidSynth's, their ratio (target >= 0.9; none where FluidSynth's track transcribes to nothing),
   and the loudest level in a stem's rests (what a stem plays where its track is silent,
   :func:`audiodiff.io.stems.rest_level`; drums included) beside that of FluidSynth's track alone
   brought to the stem's RMS level (an instrument's own ring past the 0.5 s the measure allows).
2. **Cost** (``--cost``): wall time of ``audiodiff generate`` (plan + render + the WAV) against
   ``generate --stems`` (the same, plus the stem folder) for each of ``--cost-seconds``. The design
   renders every track alone anyway, so the difference is only the writing of the files.

Prints Markdown tables (for docs/benchmarks.md). Needs the ``eval`` extra (basic-pitch) and FluidSynth
for part 1.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiodiff.music.performance import Performance

MIN_SHARE = 0.9  # target: a family's stem F1 >= 0.9 x FluidSynth's
Transcribe = Callable[[np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class StemRow:
    """One track of one piece: its family, notes, note F1 of audiodiff's stem and FluidSynth's, rest level."""

    seed: int
    track: str
    family: str
    notes: int
    f1: float | None
    fluidsynth_f1: float | None
    rest_dbfs: float | None
    fluidsynth_rest_dbfs: float | None


def file_plan(performance: Performance, folder: Path):
    """The plan that labels the performance (its MIDI file read as ``audiodiff render`` reads it)."""
    from audiodiff.music.midi import load_midi

    path = folder / "piece.mid"
    performance.to_midi(path)
    return load_midi(path)[0]


def piece_rows(pipeline, renderer, performance: Performance, seed: int, transcribe: Transcribe, steps: int,
               guidance: float, folder: Path) -> list[StemRow]:
    """Render one piece (every track alone) and score each stem and FluidSynth's render of its track."""
    from audiodiff.eval.transcription import clip_notes, note_f1, notes_array
    from audiodiff.io.stems import rest_level
    from audiodiff.music.instruments import family_of

    sr, seconds = pipeline.sample_rate, performance.seconds
    result = pipeline.render([file_plan(performance, folder)], [seed], steps=steps, guidance=guidance,
                             seconds=[seconds], performances=[performance])[0]
    rows = []
    for stem in result.stems:
        part = stem.part
        if not part.notes:
            continue
        ref = clip_notes(notes_array((n.start, n.end, n.pitch) for n in part.notes), seconds)
        f1 = fluid = None
        alone = renderer.render_performance(Performance([part], seconds), tail_seconds=0.0)[:len(stem.audio)]
        alone = alone * (rms(stem.audio) / max(rms(alone), 1e-9))  # the stem's level: rests compare in dBFS
        if not part.is_drum:
            f1 = note_f1(ref, transcribe(stem.audio, sr)).f1
            fluid = note_f1(ref, transcribe(alone, sr)).f1
        rows.append(StemRow(seed, part.name, "drums" if part.is_drum else family_of(part.program), len(ref), f1,
                            fluid, rest_level(stem.audio, part, sr), rest_level(alone, part, sr)))
    return rows


def family_table(rows: list[StemRow]) -> tuple[str, bool]:
    """Markdown table per family and whether every pitched family meets the target."""
    lines = ["| family | stems | note F1 (audiodiff stem) | note F1 (FluidSynth, track alone) | ratio | "
             "max rest level, dBFS: stem / FluidSynth | target >= 0.9 x |", "|---|---|---|---|---|---|---|"]
    ok = True
    for family in sorted({r.family for r in rows}):
        group = [r for r in rows if r.family == family]
        ours = [r.f1 for r in group if r.f1 is not None]
        theirs = [r.fluidsynth_f1 for r in group if r.fluidsynth_f1 is not None]
        rest = " / ".join(_loudest([getattr(r, name) for r in group]) for name in ("rest_dbfs", "fluidsynth_rest_dbfs"))
        if not ours:
            lines.append(f"| {family} | {len(group)} | - | - | - | {rest} | n/a |")
            continue
        f1, fluid = float(np.mean(ours)), float(np.mean(theirs))
        if fluid == 0:  # FluidSynth's track is not transcribed at all (sound effects): no ratio to meet
            lines.append(f"| {family} | {len(group)} | {f1:.3f} | {fluid:.3f} | - | {rest} | n/a |")
            continue
        ratio = f1 / fluid
        met = ratio >= MIN_SHARE
        ok &= met
        lines.append(f"| {family} | {len(group)} | {f1:.3f} | {fluid:.3f} | {ratio:.2f} | {rest} | "
                     f"{'yes' if met else 'NO'} |")
    return "\n".join(lines), ok


def _loudest(levels: list[float | None]) -> str:
    known = [x for x in levels if x is not None]
    return f"{max(known):.1f}" if known else "-"


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


def cost(pipeline, seconds: float, folder: Path, steps: int, guidance: float) -> dict[str, float]:
    """Seconds spent by generate (plan, render, WAV) and by the stem folder on top, for one clip."""
    from audiodiff.io.audio import write_wav
    from audiodiff.io.stems import piece_labels, stem_set, write_stem_folder
    from audiodiff.music.prompt import parse

    prompt = parse(f"C major, 100 bpm, 4/4, piano, {seconds:g} s, seed 1")
    start = time.perf_counter()
    result = pipeline.generate([prompt], steps=steps, guidance=guidance)[0]
    write_wav(folder / "out.wav", result.audio, result.sample_rate)
    generate = time.perf_counter() - start
    start = time.perf_counter()
    stems = folder / f"stems-{seconds:g}"
    stems.mkdir()
    write_stem_folder(stems, stem_set(result), piece_labels(result))
    return {"seconds": seconds, "generate": generate, "stems_extra": time.perf_counter() - start,
            "tracks": len(result.stems)}


def cost_table(costs: list[dict[str, float]]) -> str:
    lines = ["| clip | tracks | generate (s) | generate --stems (s) | extra |", "|---|---|---|---|---|"]
    for c in costs:
        total = c["generate"] + c["stems_extra"]
        lines.append(f"| {c['seconds']:g} s | {c['tracks']:g} | {c['generate']:.2f} | {total:.2f} | "
                     f"+{100 * c['stems_extra'] / c['generate']:.1f} % |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from audiodiff.acoustic.model import DEFAULT_GUIDANCE, DEFAULT_STEPS

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--structure"), p.add_argument("--acoustic"), p.add_argument("--codec")
    p.add_argument("--n", type=int, default=50, help="pieces (default 50)")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds of each piece (default 10)")
    p.add_argument("--dev", action="store_true", help="the dev arrangements instead of the held-out ones")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    p.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int)
    p.add_argument("--cost", action="store_true", help="time generate against generate --stems instead")
    p.add_argument("--cost-seconds", default="10,60", help="clip lengths for --cost (default 10,60)")
    p.add_argument("--json", help="also write every row as JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None, transcribe: Transcribe | None = None) -> int:
    import torch

    from audiodiff.pipeline import Pipeline

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    pipeline = Pipeline.load(args.structure, args.acoustic, args.codec, device=args.device, with_structure=args.cost)
    with tempfile.TemporaryDirectory(prefix="stems_bench_") as tmp:
        if args.cost:
            costs = [cost(pipeline, float(s), Path(tmp), args.steps, args.guidance)
                     for s in args.cost_seconds.split(",")]
            print(cost_table(costs))
            if args.json:
                Path(args.json).write_text(json.dumps(costs, indent=1) + "\n")
            return 0
        from audiodiff.corpus.arrangements import dev_arrangement, heldout_arrangement
        from audiodiff.corpus.render import Renderer

        if transcribe is None:
            from audiodiff.eval.transcription import transcribe as basic_pitch

            transcribe = basic_pitch
        renderer = Renderer(sample_rate=pipeline.sample_rate)
        arrangement = dev_arrangement if args.dev else heldout_arrangement
        rows: list[StemRow] = []
        for seed in range(args.n):
            performance = arrangement(seed).crop(0.0, args.seconds)
            rows += piece_rows(pipeline, renderer, performance, seed, transcribe, args.steps, args.guidance, Path(tmp))
            print(f"piece {seed + 1}/{args.n}", file=sys.stderr)
    table, ok = family_table(rows)
    print(f"{'dev' if args.dev else 'held-out'} arrangements: {args.n} pieces x {args.seconds:g} s, "
          f"{args.steps} steps, guidance {args.guidance:g}\n\n{table}\n\nevery family >= {MIN_SHARE} x FluidSynth: "
          f"{'yes' if ok else 'NO'}")
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in rows], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
