import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audiodiff.music.plan import Note, Plan, Track
from audiodiff.music.theory import SUPPORTED_METERS, Chord, Key, Meter


def make_plan(meter=(4, 4), bpm=120.0, notes=None, bars=2) -> Plan:
    meter = Meter(*meter)
    steps = bars * meter.steps_per_bar
    notes = notes if notes is not None else [Note(60, 0, 4), Note(64, 4, 4), Note(67, 8, 8)]
    return Plan(Key(0, "major"), bpm, meter, [Track("melody", 73, notes)],
                [Chord(0, "maj")] * (steps // meter.steps_per_beat), steps)


@settings(max_examples=60, deadline=None)
@given(meter=st.sampled_from(SUPPORTED_METERS), bpm=st.floats(40, 240), fps=st.sampled_from([21.5, 50, 75, 100]),
       start=st.integers(0, 40), duration=st.integers(1, 8))
def test_piano_roll_onset_frame_follows_tempo(meter, bpm, fps, start, duration):
    plan = make_plan(meter, bpm, [Note(62, start, duration, 127)], bars=6)
    active, onset = plan.piano_roll(fps)
    beat = start / plan.meter.steps_per_beat
    expected = round(beat * 60 / bpm * fps)
    assert np.flatnonzero(onset[0, 62]).tolist() == [expected]
    assert active[0, 62, expected] == 1.0
    assert active[0].sum(axis=0)[:expected].sum() == 0


def test_six_eight_beat_is_dotted_quarter():
    plan = make_plan((6, 8), 60.0, [Note(60, 6, 6)], bars=1)
    assert plan.step_to_seconds(6) == pytest.approx(1.0)  # one beat at 60 bpm lasts a second
    assert plan.seconds == pytest.approx(2.0)


def test_crop_keeps_sounding_notes_with_negative_start():
    plan = make_plan(notes=[Note(60, 0, 12), Note(62, 12, 4), Note(64, 20, 4)])
    window = plan.crop(8, 8)
    assert [(n.pitch, n.start, n.duration) for n in window.tracks[0].notes] == [(60, -8, 12), (62, 4, 4)]
    assert window.num_steps == 8 and len(window.chords) == 2


def test_crop_must_start_on_a_beat():
    with pytest.raises(ValueError, match="beat"):
        make_plan().crop(3, 8)


def test_transpose_moves_notes_chords_and_key_but_not_drums():
    plan = make_plan()
    plan.tracks.append(Track("drums", 0, [Note(36, 0, 1)], is_drum=True))
    up = plan.transpose(3)
    assert up.key == Key(3, "major")
    assert [n.pitch for n in up.tracks[0].notes] == [63, 67, 70]
    assert up.tracks[1].notes[0].pitch == 36
    assert up.chords[0] == Chord(3, "maj")


def test_dict_round_trip():
    plan = make_plan((3, 4))
    plan.chords[1] = None
    assert Plan.from_dict(plan.to_dict()) == plan


def test_bpm_must_be_positive():
    with pytest.raises(ValueError, match="bpm"):
        make_plan(bpm=0)
