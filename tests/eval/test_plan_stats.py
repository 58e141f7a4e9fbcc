"""Per-plan melody, chord and form statistics on a hand-written four-bar tune."""
import numpy as np
import pytest

from audiodiff.eval import plan_stats as ps
from audiodiff.music.plan import Note, Plan, Track
from audiodiff.music.theory import Chord, Key, Meter

G, C, D = Chord(7, "maj"), Chord(0, "maj"), Chord(2, "min")


C_MAJOR = Key(0, "major")


def tune(pitches_per_bar: list[list[int]], chords: list[Chord | None], key: Key = C_MAJOR) -> Plan:
    """2/4 bars of equal eighth notes (2 steps each) with one chord per beat."""
    notes = [Note(p, bar * 8 + 2 * i, 2) for bar, pitches in enumerate(pitches_per_bar) for i, p in enumerate(pitches)]
    return Plan(key, 100.0, Meter(2, 4), [Track("melody", 0, notes)], chords, 8 * len(pitches_per_bar))


@pytest.fixture
def plan() -> Plan:
    bars = [[60, 62, 64, 64], [67, 60, 59, 60], [60, 62, 64, 64], [72, 71, 67, 60]]
    return tune(bars, [C, C, G, G, C, C, D, C])


def test_melody_features(plan):
    assert ps.note_count(plan) == 16
    assert ps.pitch_count(plan) == 7  # 59 60 62 64 67 71 72
    assert ps.pitch_range(plan) == 13
    hist = ps.pitch_class_histogram(plan)
    assert hist.sum() == pytest.approx(1) and hist[0] == pytest.approx(6 / 16) and hist[11] == pytest.approx(2 / 16)
    transitions = ps.pitch_class_transitions(plan)
    assert transitions.sum() == pytest.approx(1) and transitions[4, 4] == pytest.approx(2 / 15)
    assert ps.average_interval(plan) == pytest.approx(np.mean(ps.intervals(plan)))
    assert ps.ioi_histogram(plan)[1] == 1.0  # every onset 2 steps after the last
    assert ps.note_length_histogram(plan)[1] == 1.0


def test_interval_rates_count_repeats_steps_skips_and_leaps(plan):
    rates = ps.interval_rates([plan])
    # intervals: 2 2 0 3 7 1 1 0 2 2 0 8 1 4 7
    assert rates["repeated"] == pytest.approx(3 / 15)
    assert rates["step"] == pytest.approx(7 / 15)
    assert rates["skip"] == pytest.approx(2 / 15)
    assert rates["leap"] == pytest.approx(3 / 15)
    assert rates["notes per bar"] == 4


def test_pitch_classes_count_from_the_tonic():
    in_c = tune([[60, 64]], [C, C])
    in_d = in_c.transpose(2)
    assert np.array_equal(ps.pitch_class_histogram(in_c), ps.pitch_class_histogram(in_d))
    assert np.array_equal(ps.chord_histogram(in_c), ps.chord_histogram(in_d))


def test_chord_features(plan):
    assert ps.chord_count(plan) == 3
    assert ps.chord_changes_per_bar(plan) == pytest.approx(4 / 4)  # C-G, G-C, C-Dm, Dm-C
    assert ps.chord_histogram(plan).sum() == pytest.approx(1)
    assert ps.ends_on_tonic_chord(plan) and not ps.authentic_cadence(plan)  # Dm -> C is not V -> I
    assert ps.authentic_cadence(tune([[60], [60]], [C, C, G, C]))
    assert not ps.ends_on_tonic_chord(tune([[60]], [C, G]))


def test_form_features_find_the_returning_bar_and_phrase(plan):
    assert ps.repeated_bars(plan) == pytest.approx(1 / 4)  # bar 3 = bar 1
    lags = ps.similarity_by_lag(plan)
    assert lags[1] == pytest.approx(np.mean([1.0, 1 / 7]))  # bar 3 vs 1; bar 4 vs 2 share the last note
    assert ps.phrase_returns(plan) == 0.0  # bars 3-4 differ from 1-2 in bar 4
    aaaa = tune([[60, 62, 64, 65]] * 4, [C] * 8)
    assert ps.phrase_returns(aaaa) == 1.0 and ps.repeated_bars(aaaa) == pytest.approx(3 / 4)
    assert np.allclose(ps.similarity_by_lag(aaaa)[:2], 1.0)


def test_model_view_keeps_the_top_note_and_crops_bars():
    chordal = Plan(Key(0, "major"), 100.0, Meter(2, 4),
                   [Track("melody", 0, [Note(60, 0, 8), Note(64, 0, 8), Note(67, 8, 8), Note(65, 16, 8)])],
                   [C] * 6, 24)
    view = ps.model_view(chordal, bars=2)
    assert [(n.pitch, n.start, n.duration) for n in view.melody.notes] == [(64, 0, 8), (67, 8, 8)]
    assert view.num_bars == 2 and len(view.chords) == 4
