import json

import numpy as np
import pytest

from audiodiff.eval.clips import matched_ground_truth, relabelled_plan
from audiodiff.eval.estimators import adherence, estimate_audio_key, estimate_audio_tempo, summarize, tempo_bin
from audiodiff.music.plan import Note, Plan, Track
from audiodiff.music.theory import Key, Meter

SR = 22050


def tone(freq: float, seconds: float, harmonics: int = 6) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return sum(np.sin(2 * np.pi * freq * h * t) / h for h in range(1, harmonics + 1))


def test_key_of_a_harmonic_rich_cadence_is_the_tonic_not_the_dominant():
    # I - IV - V - I in D major with sawtooth-like tones (strong third harmonics)
    chords = [(62, 66, 69), (67, 71, 74), (69, 73, 76), (62, 66, 69)]
    audio = np.concatenate([sum(tone(440 * 2 ** ((p - 69) / 12), 1.0) for p in c) for c in chords])
    assert estimate_audio_key(audio.astype(np.float32), SR) == Key(2, "major")


def test_tempo_of_a_click_track():
    audio = np.zeros(SR * 8, dtype=np.float32)
    for beat in np.arange(0, 8, 60 / 120):
        i = int(beat * SR)
        audio[i:i + 200] = np.hanning(200)
    assert estimate_audio_tempo(audio, SR) == pytest.approx(120, rel=0.04)


def test_adherence_criteria():
    d = Key(2, "minor")
    a = adherence(d, 100.0, d.relative, 103.0)
    assert (a.key_exact, a.key_relative, a.tempo_within, a.tempo_bin) == (False, True, True, True)
    b = adherence(d, 100.0, d, 200.0)
    assert (b.key_exact, b.tempo_within, b.tempo_bin, b.tempo_bin_near) == (True, False, False, False)
    assert summarize([a, b])["key_exact"] == 0.5
    assert [tempo_bin(x) for x in (30, 40, 65, 100, 220)] == [0, 1, 2, 4, 8]


def test_adherence_on_hand_made_cases():
    """Known answers at the documented boundaries: 4 % tempo tolerance, bin edges 40, 60, 70, 90, 110,
    140, 160, 210 (a tempo on an edge belongs to the bin above), the relative key counted only by key_relative."""
    d = Key(2, "minor")
    f_major, d_major = Key(5, "major"), Key(2, "major")
    cases = [  # label bpm, estimate key, estimate bpm -> exact, relative, within 4 %, same bin, near bin
        (100.0, d, 104.0, (True, True, True, True, True)),
        (100.0, d, 96.0, (True, True, True, True, True)),
        (100.0, d, 104.5, (True, True, False, True, True)),
        (100.0, f_major, 95.5, (False, True, False, True, True)),
        (100.0, d_major, 120.0, (False, False, False, False, True)),  # bins 4 and 5
        (100.0, d, 150.0, (True, True, False, False, False)),  # bins 4 and 6
        (61.0, d, 59.0, (True, True, True, False, True)),  # either side of the 60 edge
        (200.0, d, 100.0, (True, True, False, False, False)),  # the octave error
    ]
    for label_bpm, est_key, est_bpm, expected in cases:
        a = adherence(d, label_bpm, est_key, est_bpm)
        got = (a.key_exact, a.key_relative, a.tempo_within, a.tempo_bin, a.tempo_bin_near)
        assert got == expected, (label_bpm, est_key, est_bpm)
    assert [tempo_bin(x) for x in (39.9, 40, 59.9, 60, 69, 70, 90, 109.9, 110, 140, 160, 209, 210)] == [
        0, 1, 1, 2, 2, 3, 4, 4, 5, 6, 7, 7, 8]
    results = [adherence(d, 100, d, 100), adherence(d, 100, f_major, 100), adherence(d, 100, d_major, 200)]
    assert summarize(results) == {"key_exact": pytest.approx(1 / 3), "key_relative": pytest.approx(2 / 3),
                                  "tempo_within": pytest.approx(2 / 3), "tempo_bin": pytest.approx(2 / 3),
                                  "tempo_bin_near": pytest.approx(2 / 3)}
    assert summarize([]) == {}


def scale_plan(key: Key, bpm: float = 100.0, meter: str = "4/4", velocity: int = 90) -> Plan:
    melody = [Note(60 + key.tonic + step, 4 * i, 4, velocity) for i, step in enumerate((0, 2, 4, 5, 7, 9, 11, 12))]
    return Plan(key, bpm, Meter.parse(meter), [Track("melody", 0, melody)], [None] * 8, 32)


def test_relabelled_plan_moves_to_the_nearest_transposition_and_the_new_tempo():
    plan = scale_plan(Key(2, "minor"))  # D minor
    moved = relabelled_plan(plan, Key(11, "minor"), 150.0)  # B minor: 3 down, not 9 up
    assert moved.key == Key(11, "minor") and moved.bpm == 150.0 and moved.num_steps == plan.num_steps
    assert [n.pitch for n in moved.tracks[0].notes] == [n.pitch - 3 for n in plan.tracks[0].notes]
    assert relabelled_plan(plan, Key(8, "minor"), 90.0).tracks[0].notes[0].pitch == 62 + 6
    with pytest.raises(ValueError, match="major"):
        relabelled_plan(plan, Key(2, "major"), 100.0)


class RecordingRenderer:
    """Stands in for FluidSynth: a click on every beat of the plan, and a record of what it was given."""

    sample_rate = 22050

    def __init__(self):
        self.plans = []

    def render(self, plan):
        self.plans.append(plan)
        audio = np.zeros(int((plan.seconds + 1.0) * self.sample_rate), dtype=np.float32)
        beat = 60.0 / plan.bpm
        for t in np.arange(0.0, plan.seconds, beat):
            start = int(t * self.sample_rate)
            audio[start:start + 200] += np.hanning(200).astype(np.float32)[: len(audio) - start]
        return audio


@pytest.mark.filterwarnings("ignore:Trying to estimate tuning")  # clicks have no pitch
def test_matched_ground_truth_renders_test_plans_with_the_benchmark_labels(tmp_path):
    rows = []
    for i, (key, meter) in enumerate([(Key(0, "major"), "4/4"), (Key(9, "minor"), "4/4"),
                                      (Key(7, "major"), "4/4"), (Key(7, "major"), "3/4")]):
        (tmp_path / f"w{i}.json").write_text(json.dumps(scale_plan(key, meter=meter, velocity=10 + i).to_dict()))
        rows.append({"plan": f"w{i}.json", "mode": key.mode, "meter": meter})
    labels = [(Key(5, "major"), 120.0, Meter.parse("4/4")), (Key(2, "major"), 90.0, Meter.parse("4/4")),
              (Key(5, "major"), 100.0, Meter.parse("4/4")), (Key(4, "minor"), 60.0, Meter.parse("6/8")),
              (Key(4, "major"), 140.0, Meter.parse("3/4"))]
    renderer = RecordingRenderer()
    scores = matched_ground_truth(tmp_path, rows, labels, renderer)
    assert len(scores) == len(labels) and all(isinstance(s.tempo_within, bool) for s in scores)
    assert [(p.key, p.bpm, p.meter.name) for p in renderer.plans] == [
        (Key(5, "major"), 120.0, "4/4"), (Key(2, "major"), 90.0, "4/4"), (Key(5, "major"), 100.0, "4/4"),
        (Key(4, "minor"), 60.0, "4/4"),  # no 6/8 minor window: a minor one of another meter
        (Key(4, "major"), 140.0, "3/4")]
    assert [p.tracks[0].notes[0].velocity - 10 for p in renderer.plans] == [0, 2, 0, 1, 3]  # windows in turn
    assert all(p.tracks[0].notes[0].pitch % 12 == p.key.tonic for p in renderer.plans)  # melodies transposed
    assert scores[0].tempo_within  # a click track at 120 bpm reads as 120
    fresh = RecordingRenderer()
    with pytest.raises(ValueError, match="no minor window"):  # found before anything is rendered
        matched_ground_truth(tmp_path, rows[:1], [labels[0], (Key(4, "minor"), 60.0, Meter.parse("4/4"))], fresh)
    assert fresh.plans == []
