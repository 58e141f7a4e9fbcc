import mido
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audiodiff.music.midi import load_midi, save_midi
from audiodiff.music.plan import Note, Plan, Track
from audiodiff.music.theory import ALL_KEYS, SUPPORTED_METERS, Chord, Key, Meter

notes_strategy = st.lists(st.tuples(st.integers(21, 108), st.integers(0, 60), st.integers(1, 12),
                                    st.integers(1, 127)), min_size=1, max_size=20)


@settings(max_examples=40, deadline=None)
@given(key=st.sampled_from(ALL_KEYS), meter=st.sampled_from(SUPPORTED_METERS), bpm=st.integers(40, 240),
       melody=notes_strategy, bass=notes_strategy, program=st.integers(0, 127),
       chords=st.lists(st.one_of(st.none(), st.builds(Chord, st.integers(0, 11), st.sampled_from(["maj", "min", "7"]))),
                       min_size=1, max_size=30))
def test_grid_midi_round_trip_is_exact(tmp_path_factory, key, meter, bpm, melody, bass, program, chords):
    meter = Meter(*meter)
    bars = -(-max(s + d for _, s, d, _ in melody + bass) // meter.steps_per_bar) + 1
    steps = bars * meter.steps_per_bar
    beats = steps // meter.steps_per_beat
    chords = (chords * beats)[:beats]
    plan = Plan(key, float(bpm), meter,
                [Track("melody", program, sorted({Note(*n) for n in melody}, key=lambda n: (n.start, n.pitch))),
                 Track("drums", 0, sorted({Note(*n) for n in bass}, key=lambda n: (n.start, n.pitch)), True)],
                chords, steps)
    # overlapping notes of one pitch in one track are not representable in MIDI: drop them
    for track in plan.tracks:
        kept = []
        for n in track.notes:
            if all(not (m.pitch == n.pitch and m.start < n.end and n.start < m.end) for m in kept):
                kept.append(n)
        track.notes = kept
    path = tmp_path_factory.mktemp("midi") / "plan.mid"
    save_midi(plan, path)
    loaded, report = load_midi(path)
    assert loaded == plan
    assert report.max_error_steps == 0 and report.num_moved == 0


def test_six_eight_tempo_is_written_in_quarters(tmp_path):
    plan = Plan(Key(2, "minor"), 60.0, Meter(6, 8), [Track("melody", 40, [Note(62, 0, 6)])], [None] * 2, 12)
    save_midi(plan, tmp_path / "a.mid")
    mid = mido.MidiFile(tmp_path / "a.mid")
    tempo = next(m.tempo for m in mid.tracks[0] if m.type == "set_tempo")
    assert mido.tempo2bpm(tempo) == pytest.approx(90.0)
    assert next(m.key for m in mid.tracks[0] if m.type == "key_signature") == "Dm"
    assert load_midi(tmp_path / "a.mid")[0].bpm == 60.0


def test_off_grid_notes_are_quantized_with_reported_error(tmp_path):
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.Message("note_on", note=60, velocity=80, time=130))  # 16th = 120 ticks
    track.append(mido.Message("note_off", note=60, velocity=0, time=350))  # ends at 480
    track.append(mido.Message("note_on", note=62, velocity=80, time=0))
    track.append(mido.Message("note_off", note=62, velocity=0, time=480))
    mid.save(tmp_path / "off.mid")
    plan, report = load_midi(tmp_path / "off.mid")
    assert [(n.pitch, n.start, n.duration) for n in plan.tracks[0].notes] == [(60, 1, 3), (62, 4, 4)]
    assert report.num_moved == 1
    assert report.max_error_steps == pytest.approx(10 / 120)
    assert report.max_error_seconds == pytest.approx(10 / 480 * 0.5)  # 120 qpm default


def test_key_is_estimated_when_the_file_has_none(tmp_path):
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    for pitch in [62, 64, 65, 67, 69, 70, 72, 74, 62, 69, 62]:  # D natural minor, tonic-heavy
        track.append(mido.Message("note_on", note=pitch, velocity=80, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=480))
    mid.save(tmp_path / "nokey.mid")
    assert load_midi(tmp_path / "nokey.mid")[0].key == Key(2, "minor")


@pytest.mark.parametrize("content,message", [(b"", "not a readable MIDI"), (b"MThd garbage", "not a readable MIDI")])
def test_bad_midi_gives_one_line_error(tmp_path, content, message):
    path = tmp_path / "bad.mid"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as info:
        load_midi(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_unsupported_meter_is_refused(tmp_path):
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=5, denominator=4),
                            mido.Message("note_on", note=60, velocity=80), mido.Message("note_off", note=60, time=480)])
    mid.tracks.append(track)
    mid.save(tmp_path / "five.mid")
    with pytest.raises(ValueError, match="unsupported meter 5/4"):
        load_midi(tmp_path / "five.mid")


def test_the_plans_tempo_is_the_files_first_tempo(tmp_path):
    """A file that starts at 120 qpm and slows to 60 in bar 2: the plan's tempo is the opening one."""
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0))
    track.append(mido.Message("note_on", note=60, velocity=80, time=0))
    track.append(mido.Message("note_off", note=60, velocity=0, time=1920))
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(60), time=0))
    track.append(mido.Message("note_on", note=62, velocity=80, time=0))
    track.append(mido.Message("note_off", note=62, velocity=0, time=1920))
    mid.save(tmp_path / "rit.mid")
    plan, _ = load_midi(tmp_path / "rit.mid")
    assert plan.bpm == pytest.approx(120.0)
    assert [(n.pitch, n.start, n.duration) for n in plan.melody.notes] == [(60, 0, 16), (62, 16, 16)]
