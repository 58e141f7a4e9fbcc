"""Plan faithfulness: onset F1 and chroma agreement on hand-made cases whose answers are known, and a
performance (notes in seconds) scored like its plan."""
from __future__ import annotations

import numpy as np
import pytest

from audiodiff.eval.faithfulness import (
    chroma_agreement,
    onset_f1,
    performance_chroma,
    plan_chroma,
    plan_faithfulness,
    plan_onsets,
)
from audiodiff.music.performance import Part, Performance, TimedNote
from audiodiff.music.plan import Note, Plan, Track
from audiodiff.music.theory import Chord, Key, Meter

SR = 24000


def test_onset_matching_is_one_to_one_within_tolerance():
    ref = np.array([0.0, 0.5, 1.0, 1.5])
    assert onset_f1(ref, np.array([0.02, 0.04, 0.56, 1.02, 3.0])) == pytest.approx(2 * 2 / 9)  # 0.56 is 60 ms off
    assert onset_f1(ref, ref + 0.049) == 1.0 and onset_f1(ref, np.array([])) == 0.0 and onset_f1([], []) == 1.0
    assert onset_f1(ref, np.array([0.0, 0.5])) == pytest.approx(2 * 2 / 6)
    # closest pair first would match 0.07-0.04 and leave both others unmatched; the best matching pairs both
    assert onset_f1(np.array([0.0, 0.07]), np.array([0.04, 0.11])) == 1.0


def tone_plan() -> Plan:
    """C major triad tones one beat each at 120 bpm (0.5 s), melody on top, drums on the beat."""
    melody = Track("melody", 0, [Note(72, 0, 4), Note(76, 4, 4), Note(79, 8, 4), Note(72, 12, 4)])
    drums = Track("drums", 0, [Note(36, 2 * i, 1) for i in range(8)], is_drum=True)
    return Plan(Key(0, "major"), 120.0, Meter(4, 4), [melody, drums], [Chord(0, "maj")] * 4, 16)


def synth(plan: Plan, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    out = np.zeros_like(t)
    for note in plan.melody.notes:
        a, b = plan.step_to_seconds(note.start), plan.step_to_seconds(note.end)
        on = (t >= a) & (t < b)
        out[on] += 0.3 * np.sin(2 * np.pi * 440 * 2 ** ((note.pitch - 69) / 12) * t[on]) * np.exp(-4 * (t[on] - a))
    return out.astype(np.float32)


@pytest.mark.filterwarnings("ignore::UserWarning")  # librosa: a 2 s clip is short for the lowest CQT octave
def test_plan_onsets_and_chroma_of_a_synthetic_clip():
    plan = tone_plan()
    assert plan_onsets(plan, 2.0, melody_only=True).tolist() == [0.0, 0.5, 1.0, 1.5]
    assert plan_onsets(plan, 1.0).tolist() == [0.0, 0.25, 0.5, 0.75]  # drums too, only in the span
    roll = plan_chroma(plan, 10.0, 20)
    assert roll.shape == (12, 20) and roll[0, 0] > 0 and roll[4, 6] > 0 and roll[7].sum() > 0 and roll[1].sum() == 0
    audio = synth(plan, 2.0)
    right = chroma_agreement(audio, SR, plan)
    wrong = chroma_agreement(audio, SR, plan.transpose(6))
    assert right > 0.8 and right > wrong + 0.3


def test_onset_f1_counts_by_hand():
    ref = np.array([0.0, 1.0, 2.0])
    # 1 match of 3 references and 2 estimates: F1 = 2 * 1 / (3 + 2)
    assert onset_f1(ref, np.array([1.03, 5.0])) == pytest.approx(0.4)
    assert onset_f1(ref, np.array([0.96, 1.04])) == pytest.approx(2 / 5)  # one reference takes one estimate
    assert onset_f1(ref, np.array([0.0501])) == 0.0 and onset_f1(ref, np.array([0.0499])) == pytest.approx(0.5)
    assert onset_f1(np.array([]), np.array([0.5])) == 0.0


@pytest.mark.filterwarnings("ignore::UserWarning")  # librosa: a short clip for the lowest CQT octave
def test_plan_faithfulness_of_the_plans_own_tones_and_of_tones_a_quarter_second_late():
    """Decaying tones exactly on the melody's onsets (0.5, 1, 1.5, 2 s; the last rings to the end, so
    no cut-off reads as an onset): melody onset F1 1. The same tones 0.25 s late (five times the 50 ms
    tolerance): no onset matches, F1 0. Silence: no onsets, F1 0."""
    melody = Track("melody", 0, [Note(72, 4, 4), Note(76, 8, 4), Note(79, 12, 4), Note(72, 16, 4)])
    drums = Track("drums", 0, [Note(36, 2 * i, 1) for i in range(12)], is_drum=True)
    plan = Plan(Key(0, "major"), 120.0, Meter(4, 4), [melody, drums], [None] * 6, 24)
    audio = synth(plan, 2.5)
    on_time = plan_faithfulness(audio, SR, plan)
    assert on_time.melody_onset_f1 == pytest.approx(1.0)
    # every track: the 4 tones match 4 of the 10 distinct onsets (drums every 0.25 s): F1 = 8 / (10 + 4)
    assert on_time.onset_f1 == pytest.approx(4 / 7)
    late = np.concatenate([np.zeros(SR // 4, dtype=np.float32), audio])[: len(audio)]
    assert plan_faithfulness(late, SR, plan).melody_onset_f1 == 0.0
    silent = plan_faithfulness(np.zeros(len(audio), dtype=np.float32), SR, plan)
    assert silent.melody_onset_f1 == silent.onset_f1 == 0.0


def test_chroma_agreement_is_the_mean_cosine_over_the_plans_frames(monkeypatch):
    """With the audio's chroma replaced by known vectors: flat chroma against a one-note plan gives
    1/sqrt(12); the note's own pitch class gives 1; frames without plan notes do not count."""
    import librosa

    melody = Track("melody", 0, [Note(69, 0, 8)])  # an A for the first 8 of 16 steps (2 of 4 s at 60 bpm)
    plan = Plan(Key(9, "minor"), 60.0, Meter(4, 4), [melody], [None] * 4, 16)
    frames = 4 * SR // 512 + 1
    chroma = np.ones((12, frames))
    monkeypatch.setattr(librosa.feature, "chroma_cqt", lambda **kwargs: chroma)
    audio = np.zeros(4 * SR, dtype=np.float32)
    assert chroma_agreement(audio, SR, plan) == pytest.approx(1 / np.sqrt(12))
    chroma[:] = 0.0
    chroma[9] = 1.0  # all A
    chroma[:, frames // 2 + 2:] = np.eye(12)[:, [0]]  # C after the note ends: outside the plan's frames
    assert chroma_agreement(audio, SR, plan) == pytest.approx(1.0)
    chord = Track("comping", 0, [Note(p, 0, 8) for p in (57, 60, 64)])  # A C E, melody A on top
    triad = Plan(Key(9, "minor"), 60.0, Meter(4, 4), [melody, chord], [None] * 4, 16)
    # roll weights per frame: A twice (melody and chord), C and E once: cos = 2 / sqrt(4 + 1 + 1)
    assert chroma_agreement(audio, SR, triad) == pytest.approx(2 / np.sqrt(6), rel=1e-3)
    empty = Plan(Key(9, "minor"), 60.0, Meter(4, 4), [Track("melody", 0, [])], [None] * 4, 16)
    assert chroma_agreement(audio, SR, empty) is None


def test_performance_chroma_equals_its_plans_and_leaves_out_drums_and_notes_outside():
    plan = Plan(Key(0, "major"), 120.0, Meter(4, 4),
                [Track("melody", 0, [Note(72, 0, 4, 127), Note(76, 4, 4, 64), Note(79, 8, 4)]),
                 Track("bass", 33, [Note(36, 0, 16, 100)]),
                 Track("drums", 0, [Note(42, 2 * i, 1) for i in range(8)], is_drum=True)], [None] * 4, 16)
    perf = Performance.from_plan(plan)
    assert np.allclose(performance_chroma(perf, 10.0, 20), plan_chroma(plan, 10.0, 20))
    early = Performance([Part("x", 0, [TimedNote(61, -1.0, -0.5), TimedNote(62, 5.0, 6.0)])], 2.0)
    assert performance_chroma(early, 10.0, 20).sum() == 0
