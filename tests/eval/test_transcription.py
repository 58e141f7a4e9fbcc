"""Note F1 (mir_eval) and the reference notes; one test runs the basic-pitch transcriber itself."""
import numpy as np
import pytest

from audiodiff.eval.transcription import note_f1, notes_array, onset_errors, performance_notes, plan_notes
from audiodiff.music.performance import Part, Performance, TimedNote
from audiodiff.music.plan import Note, Plan, Track
from audiodiff.music.theory import Key, Meter

SR = 22050


def test_note_f1_matches_onsets_within_50_ms_and_pitch_within_a_quarter_tone():
    ref = notes_array([(0.0, 0.5, 60), (0.5, 1.0, 64), (1.0, 1.5, 67)])
    assert note_f1(ref, ref).f1 == 1.0
    assert note_f1(ref, ref + [0.049, 0.0, 0.0]).f1 == 1.0  # offsets are not scored
    late = note_f1(ref, ref + [0.06, 0.06, 0.0])
    assert late.f1 == 0.0 and (late.reference, late.estimate) == (3, 3)
    wrong_pitch = note_f1(ref, ref + [0.0, 0.0, 1.0])
    assert wrong_pitch.f1 == 0.0
    half = note_f1(ref, notes_array([(0.0, 0.5, 60), (0.52, 1.0, 64), (1.0, 1.5, 66), (2.0, 2.5, 70)]))
    assert (half.precision, half.recall) == (0.5, pytest.approx(2 / 3))
    assert note_f1(ref, np.zeros((0, 3))).f1 == 0.0 and note_f1(np.zeros((0, 3)), np.zeros((0, 3))).f1 == 1.0


def test_onset_errors_are_signed_and_only_of_matched_notes():
    ref = notes_array([(0.0, 0.5, 60), (0.5, 1.0, 64), (1.0, 1.5, 67)])
    est = notes_array([(0.01, 0.5, 60), (0.48, 1.0, 64), (1.2, 1.5, 67), (2.0, 2.5, 72)])
    assert sorted(onset_errors(ref, est).round(6).tolist()) == [-0.02, 0.01]  # 67 is 200 ms late: unmatched
    assert onset_errors(ref, np.zeros((0, 3))).shape == (0,)


def test_one_estimate_matches_one_reference_note():
    ref = notes_array([(0.0, 0.5, 60), (0.03, 0.5, 60)])
    score = note_f1(ref, notes_array([(0.01, 0.5, 60)]))
    assert (score.precision, score.recall) == (1.0, 0.5)


def test_performance_notes_leave_out_drums_and_what_the_audio_does_not_cover():
    perf = Performance([Part("lead", 0, [TimedNote(67, 1.0, 1.5), TimedNote(60, 0.0, 3.0)]),
                        Part("drums", 0, [TimedNote(36, 0.0, 0.1)], is_drum=True),
                        Part("pad", 48, [TimedNote(72, 2.5, 2.6), TimedNote(62, -0.5, 0.5)])], seconds=2.0)
    assert performance_notes(perf).tolist() == [[0.0, 2.0, 60.0], [1.0, 1.5, 67.0]]
    assert len(performance_notes(perf, seconds=3.0)) == 3


def test_plan_notes_are_in_seconds():
    plan = Plan(Key(0, "major"), 120.0, Meter(4, 4),
                [Track("melody", 0, [Note(60, 0, 4), Note(64, 8, 2)]),
                 Track("drums", 0, [Note(36, 0, 1)], is_drum=True)], [None] * 4, 16)
    assert plan_notes(plan, 2.0).tolist() == [[0.0, 0.5, 60.0], [1.0, 1.25, 64.0]]


def tone(pitch: int, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    freq = 440.0 * 2 ** ((pitch - 69) / 12)
    wave = sum(np.sin(2 * np.pi * freq * h * t) / h for h in range(1, 5))
    return (0.3 * wave * np.exp(-2.0 * t)).astype(np.float32)


@pytest.mark.transcriber
def test_basic_pitch_hears_tones_and_not_silence():
    pytest.importorskip("basic_pitch")
    from audiodiff.eval.frechet import fit_gaussian, frechet_distance
    from audiodiff.eval.transcription import load_basic_pitch

    pitches, step = [60, 64, 67, 72, 69, 65], 0.5
    audio = np.zeros(int(len(pitches) * step * SR) + SR // 2, dtype=np.float32)
    for i, p in enumerate(pitches):
        start = int(i * step * SR)
        audio[start:start + int(step * SR)] += tone(p, step)
    ref = notes_array([(i * step, (i + 1) * step, p) for i, p in enumerate(pitches)])
    net = load_basic_pitch()
    act = net.activations(audio, SR)
    assert act["features"].shape[1] == 256 and len(act["note"]) == pytest.approx(len(audio) / 256, abs=2)
    assert note_f1(ref, net.notes(act)).f1 >= 0.9
    assert note_f1(ref, net.transcribe(np.zeros(SR * 2, np.float32), SR)).f1 == 0.0

    rng = np.random.default_rng(0)
    clean = fit_gaussian([act["features"]])
    distances = [frechet_distance(clean, fit_gaussian([net.activations(
        audio + level * rng.standard_normal(len(audio)).astype(np.float32), SR)["features"]]))
        for level in (0.0, 0.01, 0.1)]
    assert distances[0] == pytest.approx(0.0, abs=1e-6) and distances[0] < distances[1] < distances[2]
