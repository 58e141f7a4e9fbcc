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


def test_crop_drops_notes_that_end_at_its_start_or_start_at_its_end():
    """Boundaries by hand: a note ending exactly at the crop's start does not sound in it; one
    starting exactly at its end neither; one step inside either side does."""
    notes = [Note(60, 0, 8), Note(61, 0, 9), Note(62, 15, 1), Note(63, 16, 2), Note(64, 7, 1)]
    window = make_plan(notes=notes).crop(8, 8)
    assert [(n.pitch, n.start, n.duration) for n in window.tracks[0].notes] == [(61, -8, 9), (62, 7, 1)]


def test_crop_takes_the_chords_of_its_beats():
    plan = make_plan((3, 4), bars=2)
    plan.chords = [Chord(pc, "maj") for pc in range(6)]  # one per beat
    window = plan.crop(4, 6)  # beats 1, 2 and half of 3
    assert window.chords == [Chord(1, "maj"), Chord(2, "maj")]
    assert plan.crop(4, 5).chords == [Chord(1, "maj"), Chord(2, "maj")]  # a started beat counts
    assert plan.crop(8, 8).chords == [Chord(2, "maj"), Chord(3, "maj")]
    with pytest.raises(ValueError) as info:
        make_plan((6, 8)).crop(4, 6)
    assert str(info.value) == "crop must start on a beat (multiple of 6 steps), got 4"


def test_time_arithmetic_by_hand():
    plan = make_plan((4, 4), 120.0, bars=2)
    plan.num_steps = 17  # a bar and a 16th over: the partial bar and beat count
    assert plan.seconds_per_step == pytest.approx(0.125) and plan.seconds == pytest.approx(2.125)
    assert (plan.num_bars, plan.num_beats) == (2, 5)
    plan.num_steps = 16
    assert (plan.num_bars, plan.num_beats) == (1, 4)
    assert plan.step_to_seconds(6) == pytest.approx(0.75)
    assert plan.step_to_frame(6, 75) == 56  # 1.5 beats * 0.5 s * 75 fps = 56.25
    assert plan.step_to_frame(7, 10) == 9  # 0.875 s * 10 = 8.75
    six = make_plan((6, 8), 90.0, bars=1)  # the dotted quarter at 90 bpm: 6 steps per 2/3 s
    assert six.seconds_per_step == pytest.approx(1 / 9) and six.num_beats == 2 and six.num_bars == 1


def test_melody_and_programs():
    plan = make_plan()
    drums = Track("drums", 0, [Note(36, 0, 1)], is_drum=True)
    bass = Track("bass", 33, [Note(36, 0, 4)])
    plan.tracks = [drums, plan.tracks[0], bass]
    assert plan.melody is plan.tracks[1] and plan.programs == [73, 33]
    plan.tracks = [drums]
    assert plan.melody is None and plan.programs == []


def test_piano_roll_by_hand():
    """120 bpm 4/4, 8 fps: a step lasts 1/8 s = one frame."""
    notes = [Note(60, -2, 4, 127), Note(62, 3, 2, 100), Note(64, 14, 4, 64)]
    plan = make_plan(notes=notes, bars=1)
    plan.tracks.append(Track("drums", 0, [Note(36, 4, 0, 127)], is_drum=True))
    active, onset = plan.piano_roll(8.0)
    assert active.shape == onset.shape == (2, 128, 16) and active.dtype == np.float32
    assert np.flatnonzero(active[0, 60]).tolist() == [0, 1] and active[0, 60, 0] == 1.0
    assert onset[0, 60].sum() == 0  # began before the plan: sounding, no onset
    assert np.flatnonzero(active[0, 62]).tolist() == [3, 4] and active[0, 62, 3] == pytest.approx(100 / 127)
    assert np.flatnonzero(onset[0, 62]).tolist() == [3]
    assert np.flatnonzero(active[0, 64]).tolist() == [14, 15]  # clipped at the end
    assert np.flatnonzero(active[1, 36]).tolist() == [4] and np.flatnonzero(onset[1, 36]).tolist() == [4]
    assert active.sum() == pytest.approx(2 + 2 * 100 / 127 + 2 * 64 / 127 + 1)
    short, _ = plan.piano_roll(8.0, num_frames=4)
    assert short.shape == (2, 128, 4) and np.flatnonzero(short[0, 62]).tolist() == [3]
    late = make_plan(notes=[Note(60, 20, 4)], bars=1)
    assert late.piano_roll(8.0, num_frames=16)[1].sum() == 0  # after the end: nothing


def test_to_dict_by_hand_and_back():
    plan = Plan(Key(6, "minor"), 96.5, Meter(3, 4), [Track("melody", 40, [Note(66, 0, 4, 80)]),
                                                     Track("drums", 0, [Note(36, 0, 1, 100)], is_drum=True)],
                [Chord(6, "min"), None, Chord(1, "7")], 12)
    data = plan.to_dict()
    assert data == {"key": "F# minor", "bpm": 96.5, "meter": "3/4", "num_steps": 12, "chords": ["F#m", None, "C#7"],
                    "tracks": [{"name": "melody", "program": 40, "is_drum": False, "notes": [[66, 0, 4, 80]]},
                               {"name": "drums", "program": 0, "is_drum": True, "notes": [[36, 0, 1, 100]]}]}
    assert Plan.from_dict(data) == plan
    assert Plan.from_dict({**data, "bpm": "96.5", "num_steps": "12"}) == plan


@pytest.mark.parametrize("bpm", [0, -10, float("nan")])
def test_bpm_must_be_a_positive_number(bpm):
    with pytest.raises(ValueError) as info:
        make_plan(bpm=bpm)
    assert str(info.value) == f"bpm must be positive, got {bpm}"


def test_slow_tempos_onset_values_and_transposing_chordless_beats():
    assert make_plan(bpm=0.5).bpm == 0.5  # any positive tempo is a tempo
    _, onset = make_plan(notes=[Note(60, 4, 4)], bars=1).piano_roll(8.0)
    assert onset.max() == 1.0 and onset.sum() == 1.0
    plan = make_plan()
    plan.chords[1] = None
    up = plan.transpose(2)
    assert up.chords[0] == Chord(2, "maj") and up.chords[1] is None
