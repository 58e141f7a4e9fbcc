"""benchmarks/control.py's measures on hand-made cases: the expected numbers are worked out by hand."""
import importlib.util
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from audiodiff.music.plan import Note, Plan, Track
from audiodiff.music.prompt import Prompt
from audiodiff.music.theory import Chord, Key, Meter

ROOT = Path(__file__).resolve().parents[2]
SR = 24000


def load_control_benchmark():
    sys.path.insert(0, str(ROOT / "benchmarks"))  # the scripts import their sibling modules
    spec = importlib.util.spec_from_file_location("control_benchmark", ROOT / "benchmarks" / "control.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return load_control_benchmark()


C, D, E, F, G, A, B = 0, 2, 4, 5, 7, 9, 11


def sines(chords: list[Chord | None], bpm: float, sr: int = SR) -> np.ndarray:
    """One beat per chord: its pitch classes as sines in octaves 4 and 5 (no other sound)."""
    t = np.arange(int(round(60.0 / bpm * sr))) / sr
    beats = [sum((np.sin(2 * np.pi * 440.0 * 2 ** ((octave + pc - 69) / 12) * t)
                  for pc in (c.pitch_classes if c else ()) for octave in (60, 72)), np.zeros_like(t))
             for c in chords]
    return (np.concatenate(beats) / 8).astype(np.float32)


FOUR_FOUR = Meter(4, 4)


def chord_plan(chords: list[Chord | None], bpm: float = 120.0, meter: Meter = FOUR_FOUR,
               notes: list[Note] | None = None) -> Plan:
    steps = len(chords) * meter.steps_per_beat
    return Plan(Key(C, "major"), bpm, meter, [Track("melody", 0, notes or [])], chords, steps)


# -- chords: the requested progression and the plan's accuracy ------------------------------------
def test_progressions_are_the_usual_cadences_of_the_key(bench):
    # D minor: i | VI | iv | V7 i; A major: I | IV | vi | V7 I
    assert bench.progression(Prompt(key=Key(D, "minor"))) == [
        [Chord(D, "min")], [Chord(10, "maj")], [Chord(G, "min")], [Chord(A, "7"), Chord(D, "min")]]
    assert bench.progression(Prompt(key=Key(A, "major"))) == [
        [Chord(A, "maj")], [Chord(D, "maj")], [Chord(6, "min")], [Chord(E, "7"), Chord(A, "maj")]]


def test_plan_chord_accuracy_counts_the_beats_with_the_requested_chord(bench):
    prompt = Prompt(key=Key(D, "minor"), meter=Meter(3, 4))
    dm, bb, gm, a7 = Chord(D, "min"), Chord(10, "maj"), Chord(G, "min"), Chord(A, "7")
    beats = [dm] * 3 + [bb] * 3 + [gm] * 3 + [a7] * 2 + [dm]  # the last bar: 2 + 1 beats
    assert bench.plan_chord_accuracy(chord_plan(beats, meter=Meter(3, 4)), prompt) == 1.0
    assert bench.plan_chord_accuracy(chord_plan(beats * 2, meter=Meter(3, 4)), prompt) == 1.0  # repeats
    wrong = beats[:10] + [dm, dm]  # beat 11 should be A7
    assert bench.plan_chord_accuracy(chord_plan(wrong, meter=Meter(3, 4)), prompt) == 11 / 12


def test_a_plan_written_to_given_chords_scores_exactly_one(bench, structure_ckpt):
    """The benchmark's symbolic check end to end on the tiny (untrained) structure model."""
    from audiodiff.structure.compose import compose
    from audiodiff.structure.guide import Guide
    from audiodiff.structure.model import StructureModel

    model = StructureModel.load(structure_ckpt)
    prompt = Prompt(key=Key(F, "major"), bpm=100.0, meter=Meter(4, 4), seconds=4.0, seed=5000)
    guided, plain = (compose(model, [prompt], steps=4, guides=[g])[0]
                     for g in (Guide(chords=bench.progression(prompt)), None))
    assert bench.plan_chord_accuracy(guided, prompt) == 1.0
    assert bench.plan_chord_accuracy(plain, prompt) < 1.0  # an untrained model does not write them by chance


# -- chords from audio ------------------------------------------------------------------------------
def test_hand_made_chroma_frames_name_their_chords(bench):
    wanted = [Chord(C, "maj"), Chord(A, "min"), Chord(G, "7"), Chord(B, "dim"), Chord(6, "maj")]
    frames = np.zeros((12, len(wanted)))
    for i, chord in enumerate(wanted):
        frames[list(chord.pitch_classes), i] = 1.0 + i  # the loudness does not matter
    frames[D, 0] = 0.2  # a quiet passing D does not turn C major into anything else
    assert [bench.TEMPLATES[i] for i in bench.frame_chords(frames)] == wanted


def test_chord_iou_on_a_hand_worked_example(bench):
    ref = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    est = np.array([0, 0, 0, 1, 1, 1, 1, 2])
    # class 0: both on frames 0-2 (3), either on 0-3 (4); class 1: both on 4-6 (3), either on 3-7 (5)
    assert bench.chord_iou(ref, est) == pytest.approx((3 / 4 + 3 / 5) / 2)
    assert bench.chord_iou(ref, ref) == 1.0 and bench.chord_iou(ref, 1 - ref) == 0.0


def test_the_audio_chord_estimator_reads_a_synthetic_signal(bench):
    """Sines of C, Am, G7, Bdim (two beats each, 120 bpm): every beat is right; the same audio judged
    against chords a semitone higher gets no beat right."""
    chords = [c for c in (Chord(C, "maj"), Chord(A, "min"), Chord(G, "7"), Chord(B, "dim")) for _ in (0, 1)]
    audio = sines(chords, 120.0)
    accuracy, iou = bench.chord_scores(audio, SR, chord_plan(chords))
    assert accuracy == 1.0 and iou > 0.9  # frames at the chord changes may smear
    higher = [Chord((c.root + 1) % 12, c.quality) for c in chords]
    accuracy, iou = bench.chord_scores(audio, SR, chord_plan(higher))
    assert accuracy == 0.0 and iou < 0.1


# -- melody and form --------------------------------------------------------------------------------
def test_melody_kept_compares_the_bars_where_the_input_sounds(bench):
    given = [Note(60, 0, 4, 90), Note(64, 4, 8, 90), Note(67, 32, 4, 90)]  # bars 1 and 3 of 4/4
    filled = given[:2] + [Note(72, 16, 4, 80)] + given[2:]  # the model filled bar 2
    assert bench.melody_kept(chord_plan([None] * 16, notes=filled), given)
    moved = given[:1] + [Note(65, 4, 8, 90)] + given[2:]
    assert not bench.melody_kept(chord_plan([None] * 16, notes=moved), given)
    softer = given[:2] + [Note(67, 32, 4, 60)]
    assert not bench.melody_kept(chord_plan([None] * 16, notes=softer), given)


def test_melody_onset_f1_of_plucked_notes(bench):
    """Decaying sines at the note onsets: all found within 50 ms (F1 1); judged against onsets one
    16th (125 ms at 120 bpm) later, none is (F1 0)."""
    notes = [Note(60 + 2 * i, 4 * i + (2 if i % 3 == 0 else 0), 2, 90) for i in range(8)]
    plan = chord_plan([None] * 8, notes=notes)
    audio = np.zeros(int(4.2 * SR), np.float32)
    t = np.arange(int(0.5 * SR)) / SR
    for n in notes:
        start = int(round(plan.step_to_seconds(n.start) * SR))
        pluck = np.sin(2 * np.pi * 440.0 * 2 ** ((n.pitch - 69) / 12) * t) * np.exp(-20 * t)
        audio[start:start + len(t)] += 0.5 * pluck
    assert bench.melody_onset_f1(audio, SR, plan, notes) == 1.0
    late = [Note(n.pitch, n.start + 1, n.duration, n.velocity) for n in notes]
    assert bench.melody_onset_f1(audio, SR, plan, late) == 0.0


def aaba_plan(change: tuple[str, int] | None = None) -> Plan:
    """AABA, two 4/4 bars per section; the last bar of the second and fourth A differs from the first
    A's (allowed: a repeat may lead on, the piece cadences). ``change``: ('note' | 'chord', section)
    alters the first bar of that section."""
    a = [Note(60, 0, 4, 90), Note(64, 4, 4, 90), Note(67, 8, 8, 90)]
    b = [Note(69, 0, 16, 90)]
    cadences = {1: Note(62, 16, 16, 90), 3: Note(60, 16, 16, 90), 0: Note(67, 16, 16, 90), 2: Note(71, 16, 16, 90)}
    notes, chords = [], []
    for i, section in enumerate("AABA"):
        first = a if section == "A" else b
        if change == ("note", i):
            first = [replace(first[0], pitch=first[0].pitch + 1)] + first[1:]
        notes += [Note(n.pitch, n.start + 32 * i, n.duration, n.velocity) for n in first + [cadences[i]]]
        bar1 = [Chord(C, "maj")] * 4 if section == "A" else [Chord(F, "maj")] * 4
        if change == ("chord", i):
            bar1 = [Chord(A, "min")] + bar1[1:]
        chords += bar1 + [Chord((2 * i) % 12, "7")] * 4  # a different last bar in every section
    return chord_plan(chords, notes=notes)


def test_form_plan_exact_allows_only_the_cadence_bars_to_differ(bench):
    assert bench.form_plan_exact(aaba_plan(), section_bars=2)
    assert bench.form_plan_exact(aaba_plan(("note", 2)), section_bars=2)  # B is new material
    assert not bench.form_plan_exact(aaba_plan(("note", 1)), section_bars=2)
    assert not bench.form_plan_exact(aaba_plan(("note", 3)), section_bars=2)
    assert not bench.form_plan_exact(aaba_plan(("chord", 3)), section_bars=2)


def test_repeated_sections_sound_more_alike_than_new_ones(bench):
    """AABA in 2/4 (one bar per section, 120 bpm): A is C then F major, B is F# then B major (no
    pitch class in common). A-A correlate almost perfectly, A-B not at all."""
    a, b = [Chord(C, "maj"), Chord(F, "maj")], [Chord(6, "maj"), Chord(B, "maj")]
    chords = a + a + b + a
    same, other = bench.section_similarity(sines(chords, 120.0), SR, chord_plan(chords, meter=Meter(2, 4)),
                                           section_bars=1)
    assert same > 0.95 and other < 0.0
