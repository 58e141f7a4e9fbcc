"""benchmarks/ground_truth.py: corpus plans moved to a benchmark's labels and rendered."""
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from audiodiff.music.plan import Note, Plan, Track
from audiodiff.music.theory import Key, Meter

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from ground_truth import matched_ground_truth, plan_notes_key, relabelled_plan  # noqa: E402


def scale_plan(key: Key, bpm: float = 100.0, meter: str = "4/4", velocity: int = 90) -> Plan:
    melody = [Note(60 + key.tonic + step, 4 * i, 4, velocity) for i, step in enumerate((0, 2, 4, 5, 7, 9, 11, 12))]
    return Plan(key, bpm, Meter.parse(meter), [Track("melody", 0, melody)], [None] * 8, 32)


def test_plan_notes_key_reads_the_pitched_notes_and_not_the_drums():
    # A minor triad held long, its scale passing by: A minor; the label on the plan plays no part
    triad = [Note(p, 0, 32) for p in (57, 60, 64)] + [Note(69 + s, 4 * i, 1) for i, s in enumerate((2, 3, 5, 7))]
    plan = Plan(Key(0, "major"), 100.0, Meter.parse("4/4"), [Track("chords", 0, triad)], [None] * 8, 32)
    assert plan_notes_key(plan) == Key(9, "minor")
    # eight long F# drum notes (pitch 42, the closed hi-hat) would pull a pitched reading away from A minor
    hats = Track("drums", 0, [Note(42, 4 * i, 8) for i in range(8)], True)
    assert plan_notes_key(replace(plan, tracks=[plan.tracks[0], hats])) == Key(9, "minor")
    assert plan_notes_key(replace(plan, tracks=[plan.tracks[0], replace(hats, is_drum=False)])) != Key(9, "minor")


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
