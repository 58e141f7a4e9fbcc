"""Control benchmark: chords, melody and form given, extend and repaint (issue 13, item 6).

    python benchmarks/control.py --n-prompts 8              # shipped checkpoints, a small run
    python benchmarks/control.py --structure S --acoustic A --codec C --n-prompts 24

Prompts: random keys (all 24), tempos 70-150 bpm, the four meters in turn, seeds 5000 + i (never
used for tuning anything). Each prompt is generated four ways: plain (today's `generate`), with
chords (a common progression of its key, four bars, the last split in two), with a melody (the
melody of the structure model's plan for the same labels at seed 6000 + i: a tune that is not
this piece's), and in AABA form (4 bars per section). Measures:

- chords: plan chord accuracy (beats whose plan chord is the requested one; must be 1.0) and audio
  chord accuracy: each beat's mean chroma-CQT (hop 512) against templates of the plan's 48
  chords (12 roots x major, minor, diminished, dominant 7th; cosine, best wins), the fraction of
  beats whose root and quality match the request; also chord IoU (per frame, per chord class:
  frames both call that chord / frames either does, averaged over the requested classes, as in
  JASCO's chord metric). Both also on FluidSynth renders (FluidR3_GM) of the same plans; target:
  generated >= 0.8 x FluidSynth.
- melody: the plan's melody equals the input on the grid (exact); melody onset F1 (mir_eval,
  50 ms) of librosa's onsets in the audio against the input's onsets; the same on FluidSynth
  renders; target >= 0.9 x FluidSynth.
- form: the notes of repeated sections equal in the plan except the allowed cadence bar (exact);
  audio: mean chroma-CQT correlation of A with A sections vs A with B sections.
- key and tempo: `benchmarks/generate.py`'s table (estimators of `audiodiff evaluate`) for each way, on the
  generated clips and on FluidSynth renders of the same plans, with the key of the plans' notes (no audio).
- extend (10 s + 5 s) and repaint (bars 3-4): untouched samples identical, seam score (spectral
  flux at the seam over its 99th percentile elsewhere, :mod:`audiodiff.eval.seams`).
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import astuple, replace

import numpy as np
import torch
from ground_truth import plan_notes_key

from audiodiff.continuation import CROSS_FADE_SECONDS, extend, repaint
from audiodiff.corpus.render import Renderer
from audiodiff.eval.estimators import audio_adherence, summarize
from audiodiff.eval.faithfulness import audio_onsets
from audiodiff.eval.seams import seam_ratio
from audiodiff.music.chords import progression_beats
from audiodiff.music.plan import Plan
from audiodiff.music.prompt import Prompt
from audiodiff.music.theory import ALL_KEYS, CHORD_QUALITIES, SUPPORTED_METERS, Chord, Key, Meter
from audiodiff.pipeline import Pipeline
from audiodiff.structure.compose import compose
from audiodiff.structure.guide import Guide, melody_bars

warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=UserWarning, module="librosa")

SEED0, MELODY_SEED0 = 5000, 6000
PROGRAMS = (40, 73, 0, 71, 24, 56)  # violin, flute, piano, clarinet, guitar, trumpet
# (semitones above the tonic, quality) per bar; the last bar holds two chords
PROGRESSIONS = {"major": (((0, "maj"),), ((5, "maj"),), ((9, "min"),), ((7, "7"), (0, "maj"))),
                "minor": (((0, "min"),), ((8, "maj"),), ((5, "min"),), ((7, "7"), (0, "min")))}
SECTION_BARS = 4
CHROMA_HOP = 512
MIN_CHORD_SHARE, MIN_MELODY_SHARE = 0.8, 0.9


def prompts(n: int, seconds: float, seed0: int = SEED0) -> list[Prompt]:
    """``n`` prompts: keys and tempos drawn from ``seed0``, the four meters and six instruments in
    turn, seeds ``seed0 + i``."""
    rng = np.random.default_rng(seed0)
    return [Prompt(key=ALL_KEYS[int(rng.integers(24))], bpm=float(rng.integers(70, 151)),
                   meter=Meter(*SUPPORTED_METERS[i % 4]), program=PROGRAMS[i % len(PROGRAMS)], seconds=seconds,
                   seed=seed0 + i) for i in range(n)]


def in_key(bars, key: Key) -> list[list[Chord]]:
    """Bars of (semitones above the tonic, quality) as bars of chords in ``key``."""
    return [[Chord((key.tonic + r) % 12, q) for r, q in bar] for bar in bars]


def progression(prompt: Prompt) -> list[list[Chord]]:
    """The four-bar progression the chords way asks for in the prompt's key."""
    return in_key(PROGRESSIONS[prompt.key.mode], prompt.key)


def plan_chord_accuracy(plan: Plan, prompt: Prompt) -> float:
    """The fraction of the plan's beats whose chord is the one :func:`progression` asks for there."""
    wanted = progression_beats(progression(prompt), plan.meter, plan.num_bars)
    return float(np.mean([c == want for c, want in zip(plan.chords, wanted)]))


# -- chords from audio ---------------------------------------------------------------------------
TEMPLATES = [Chord(root, q) for root in range(12) for q in CHORD_QUALITIES]


def _template_matrix() -> np.ndarray:
    m = np.zeros((len(TEMPLATES), 12))
    for i, c in enumerate(TEMPLATES):
        m[i, list(c.pitch_classes)] = 1.0
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def chroma(audio: np.ndarray, sr: int) -> np.ndarray:
    import librosa

    return librosa.feature.chroma_cqt(y=audio.astype(np.float32), sr=sr, hop_length=CHROMA_HOP)


def frame_chords(ch: np.ndarray) -> np.ndarray:
    """Index into TEMPLATES of the best chord per chroma frame [12, F] -> [F]."""
    norm = ch / np.maximum(np.linalg.norm(ch, axis=0, keepdims=True), 1e-9)
    return np.argmax(_template_matrix() @ norm, axis=0)


def chord_scores(audio: np.ndarray, sr: int, plan: Plan) -> tuple[float, float]:
    """(per-beat chord accuracy, chord IoU) of the audio against the plan's chords."""
    ch = chroma(audio, sr)
    fps, beat_s = sr / CHROMA_HOP, 60.0 / plan.bpm
    hits, ref_frames, est_frames = [], [], []
    best = _template_matrix()
    for beat, chord in enumerate(plan.chords):
        a, b = int(round(beat * beat_s * fps)), int(round((beat + 1) * beat_s * fps))
        if chord is None or b > ch.shape[1] or b <= a:
            continue
        mean = ch[:, a:b].mean(axis=1)
        hits.append(TEMPLATES[int(np.argmax(best @ (mean / max(np.linalg.norm(mean), 1e-9))))] == chord)
        ref_frames += [TEMPLATES.index(chord)] * (b - a)
        est_frames += list(frame_chords(ch[:, a:b]))
    return float(np.mean(hits)), chord_iou(np.array(ref_frames), np.array(est_frames))


def chord_iou(ref: np.ndarray, est: np.ndarray) -> float:
    """Per-frame chord labels: for each chord class in ``ref``, frames both call it / frames either
    calls it, averaged over those classes."""
    return float(np.mean([np.sum((ref == c) & (est == c)) / np.sum((ref == c) | (est == c)) for c in np.unique(ref)]))


def melody_onset_f1(audio: np.ndarray, sr: int, plan: Plan, notes) -> float:
    import mir_eval

    seconds = len(audio) / sr
    ref = np.array(sorted({plan.step_to_seconds(n.start) for n in notes if plan.step_to_seconds(n.start) < seconds}))
    return float(mir_eval.onset.f_measure(ref, audio_onsets(audio, sr), window=0.05)[0])


# -- the checks ----------------------------------------------------------------------------------
def melody_kept(plan: Plan, melody) -> bool:
    """The plan's melody notes in the bars where the input sounds are the input's notes there."""
    bar = plan.meter.steps_per_bar
    bars = melody_bars(melody, plan.meter) & set(range(plan.num_bars))
    return ([astuple(n) for n in plan.melody.notes if n.start // bar in bars]
            == [astuple(n) for n in melody if n.start // bar in bars])


def form_plan_exact(plan: Plan, section_bars: int = SECTION_BARS) -> bool:
    """AABA: sections 1, 2, 4 hold the same melody notes and chords, except the last bar of each."""
    bar = plan.meter.steps_per_bar
    sec = section_bars * bar

    def notes(i: int) -> list[tuple[int, int, int]]:
        return [(n.pitch, n.start - i * sec, n.duration) for n in plan.melody.notes
                if i * sec <= n.start < (i + 1) * sec - bar]
    beats = section_bars * plan.meter.beats_per_bar - plan.meter.beats_per_bar
    same_chords = all(plan.chords[i * (beats + plan.meter.beats_per_bar):][:beats] == plan.chords[:beats]
                      for i in (1, 3))
    return notes(0) == notes(1) == notes(3) and same_chords


def section_similarity(audio: np.ndarray, sr: int, plan: Plan, section_bars: int = SECTION_BARS
                       ) -> tuple[float, float]:
    """Mean chroma correlation A-A and A-B over AABA sections (frames aligned within a section)."""
    ch = chroma(audio, sr)
    sec = int(round(section_bars * plan.meter.steps_per_bar * plan.seconds_per_step * sr / CHROMA_HOP))
    parts = [ch[:, i * sec:(i + 1) * sec].ravel() for i in range(4) if (i + 1) * sec <= ch.shape[1]]
    corr = lambda a, b: float(np.corrcoef(a, b)[0, 1])  # noqa: E731
    same = [corr(parts[i], parts[j]) for i, j in ((0, 1), (0, 3), (1, 3)) if j < len(parts)]
    other = [corr(parts[i], parts[2]) for i in (0, 1, 3) if len(parts) > 2 and i < len(parts)]
    return float(np.mean(same)), float(np.mean(other))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("structure", "acoustic", "codec"):
        parser.add_argument(f"--{name}", help=f"{name} checkpoint (default: the shipped one)")
    parser.add_argument("--n-prompts", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.time()
    pipeline = Pipeline.load(args.structure, args.acoustic, args.codec)
    renderer = Renderer(sample_rate=pipeline.sample_rate)
    sr = pipeline.sample_rate
    items = prompts(args.n_prompts, args.seconds)
    melodies = [compose(pipeline.structure, [replace(p, seed=MELODY_SEED0 + i)])[0].melody.notes
                for i, p in enumerate(items)]
    ways = {"plain": [None] * len(items),
            "chords": [Guide(chords=progression(p)) for p in items],
            "melody": [Guide(melody=m) for m in melodies],
            "form AABA": [Guide(form="AABA", bars_per_section=SECTION_BARS) for _ in items]}
    results = {way: [pipeline.generate([p], guides=[g])[0] for p, g in zip(items, guides)]
               for way, guides in ways.items()}
    truth = {way: [renderer.render(r.plan)[:len(r.audio)] for r in rs] for way, rs in results.items()}

    used = ", ".join(f"{n} {getattr(args, n) or 'shipped'}" for n in ("structure", "acoustic", "codec"))
    print(f"control: {len(items)} prompts (seeds {SEED0}-{SEED0 + len(items) - 1}), {args.seconds:g} s, default "
          f"sampler settings; checkpoints: {used}")
    rows = []
    chord_plan = np.mean([plan_chord_accuracy(r.plan, p) for r, p in zip(results["chords"], items)])
    gen = [chord_scores(r.audio, sr, r.plan) for r in results["chords"]]
    fs = [chord_scores(t, sr, r.plan) for r, t in zip(results["chords"], truth["chords"])]
    g_acc, g_iou, f_acc, f_iou = (float(np.mean([x[k] for x in s])) for s in (gen, fs) for k in (0, 1))
    rows.append(("chords: plan chord accuracy", f"{chord_plan:.3f}", "", "= 1", chord_plan == 1.0))
    rows.append(("chords: audio chord accuracy (per beat)", f"{g_acc:.3f}", f"{f_acc:.3f}",
                 f">= {MIN_CHORD_SHARE} x FluidSynth", g_acc >= MIN_CHORD_SHARE * f_acc))
    rows.append(("chords: chord IoU", f"{g_iou:.3f}", f"{f_iou:.3f}", "(JASCO: 0.69 on MusicCaps)", None))
    exact = np.mean([melody_kept(r.plan, mel) for r, mel in zip(results["melody"], melodies)])
    g_f1 = np.mean([melody_onset_f1(r.audio, sr, r.plan, mel) for r, mel in zip(results["melody"], melodies)])
    f_f1 = np.mean([melody_onset_f1(t, sr, r.plan, mel)
                    for r, t, mel in zip(results["melody"], truth["melody"], melodies)])
    rows.append(("melody: plan melody = input on the grid", f"{exact:.3f}", "", "= 1", exact == 1.0))
    rows.append(("melody: melody onset F1 (mir_eval, 50 ms)", f"{g_f1:.3f}", f"{f_f1:.3f}",
                 f">= {MIN_MELODY_SHARE} x FluidSynth", g_f1 >= MIN_MELODY_SHARE * f_f1))
    form_exact = np.mean([form_plan_exact(r.plan) for r in results["form AABA"]])
    sims = [section_similarity(r.audio, sr, r.plan) for r in results["form AABA"]]
    fsims = [section_similarity(t, sr, r.plan) for r, t in zip(results["form AABA"], truth["form AABA"])]
    tonic = np.mean([r.plan.chords[-1] is not None and r.plan.chords[-1].root == r.plan.key.tonic
                     and r.plan.melody.notes[-1].pitch % 12 == r.plan.key.tonic for r in results["form AABA"]])
    rows.append(("form: repeats equal in the plan (but cadence bar)", f"{form_exact:.3f}", "", "= 1",
                 form_exact == 1))
    rows.append(("form: ends on the tonic (chord and melody)", f"{tonic:.3f}", "", "= 1", tonic == 1))
    a_a, a_b = np.mean([s[0] for s in sims]), np.mean([s[1] for s in sims])
    fa_a, fa_b = np.mean([s[0] for s in fsims]), np.mean([s[1] for s in fsims])
    rows.append(("form: chroma correlation A-A / A-B", f"{a_a:.3f} / {a_b:.3f}", f"{fa_a:.3f} / {fa_b:.3f}",
                 "A-A > A-B", a_a > a_b))
    print("| measure | generated | FluidSynth render of the same plans | target | result |\n|---|---|---|---|---|")
    for name, value, ref, target, ok in rows:
        print(f"| {name} | {value} | {ref} | {target} | {'' if ok is None else 'pass' if ok else 'FAIL'} |")

    print("\nkey and tempo (estimators of `audiodiff evaluate`) of the audio, and the key of the plans' notes:")
    print("| way | audio | key exact | key exact or relative | tempo within 4 % | tempo bin | plans' notes: key exact |"
          "\n|---|---|---|---|---|---|---|")
    for way, rs in results.items():
        notes_key = np.mean([plan_notes_key(r.plan) == p.key for r, p in zip(rs, items)])
        for audio_name, clips in (("generated", [r.audio for r in rs]), ("FluidSynth of the same plans", truth[way])):
            s = summarize([audio_adherence(a, sr, p.key, p.bpm) for a, p in zip(clips, items)])
            cells = " | ".join(f"{s[k]:.3f}" for k in ("key_exact", "key_relative", "tempo_within", "tempo_bin"))
            print(f"| {way} | {audio_name} | {cells} | {notes_key:.3f} |")

    print("\nextend (+5 s) and repaint (bars 3-4) of the plain clips:")
    fade = int(round(CROSS_FADE_SECONDS * sr))
    ext_same, ext_seam, rep_same, rep_seam = [], [], [], []
    for r in results["plain"]:
        audio = np.round(r.audio / max(1.0, np.abs(r.audio).max()) * 32767).astype(np.int16) / np.float32(32768)
        clip = replace(r, audio=audio.astype(np.float32))
        longer = extend(pipeline, clip, 5.0)
        seam = (len(audio) - 2 * fade) // 320 * 320
        ext_same.append(np.array_equal(longer.audio[:seam], audio[:seam]))
        ext_seam.append(seam_ratio(longer.audio, [seam]))
        painted = repaint(pipeline, clip, 2, 3)
        bar = r.plan.meter.steps_per_bar
        start = r.plan.step_to_frame(2 * bar, 75.0) * 320
        stop = min(r.plan.step_to_frame(4 * bar, 75.0) * 320, len(audio))
        outside = np.ones(len(audio), bool)
        outside[max(start - fade, 0):stop + fade] = False
        rep_same.append(np.array_equal(painted.audio[outside], audio[outside]))
        rep_seam.append(seam_ratio(painted.audio, [start] + ([stop] if stop < len(audio) - 6 * 320 else [])))
    print("| edit | untouched samples identical | seam score median (max) | target |\n|---|---|---|---|")
    print(f"| extend | {np.mean(ext_same):.3f} | {np.median(ext_seam):.2f} ({max(ext_seam):.2f}) | < 1.5 |")
    print(f"| repaint | {np.mean(rep_same):.3f} | {np.median(rep_seam):.2f} ({max(rep_seam):.2f}) | < 1.5 |")
    print(f"\n{time.time() - started:.0f} s; this run: {' '.join([sys.executable, *sys.argv])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
