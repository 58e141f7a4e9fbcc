import mido
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audiodiff.music.midi import TimedNote, load_midi, read_midi, save_midi
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


@pytest.mark.parametrize("content,message", [
    (b"", "empty file, not a MIDI file"),
    (b"MThd garbage", "truncated MIDI file"),
    (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x10\x00\x90\x3c", "truncated MIDI file"),
    (b"hello, not MIDI at all", r"not a readable MIDI file \(MThd not found"),
])
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


def write_file(path, *messages, tempo=500000, meter=(4, 4)):
    """A one-track file: tempo and meter at tick 0, then ``messages`` (delta times in ticks, 480 a quarter)."""
    mid = mido.MidiFile(ticks_per_beat=480)
    mid.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo),
                                      mido.MetaMessage("time_signature", numerator=meter[0], denominator=meter[1]),
                                      *messages]))
    mid.save(path)
    return path


def quarter_notes(n, pitch=60):
    out = []
    for _ in range(n):
        out += [mido.Message("note_on", note=pitch, velocity=80), mido.Message("note_off", note=pitch, time=480)]
    return out


def test_read_midi_follows_the_tempo_map(tmp_path):
    # 8 beats at 120 bpm (4 s), then 8 beats at 60 bpm (8 s): 12 s in all, not 8
    path = write_file(tmp_path / "two.mid", *quarter_notes(8), mido.MetaMessage("set_tempo", tempo=1000000),
                      *quarter_notes(8, 62))
    score = read_midi(path)
    notes = score.tracks[0].notes
    assert [(c.seconds, c.quarters, c.qpm) for c in score.tempo_changes] == [(0, 0, 120), (4, 8, 60)]
    assert notes[7] == TimedNote(60, 3.5, 4.0, 80) and notes[8] == TimedNote(62, 4.0, 5.0, 80)
    assert notes[-1].end == pytest.approx(12.0) and score.end_seconds == pytest.approx(12.0)
    assert score.quarters(10.0) == pytest.approx(14.0)


def test_load_midi_refuses_a_tempo_change_and_names_it(tmp_path):
    path = write_file(tmp_path / "two.mid", *quarter_notes(8), mido.MetaMessage("set_tempo", tempo=1000000),
                      *quarter_notes(8))
    with pytest.raises(ValueError, match=r"tempo changes at 4 s, after 8 beats \(120 -> 60 bpm\); audiodiff plans "
                       r"have one tempo") as info:
        load_midi(path)
    assert "\n" not in str(info.value)


def test_load_midi_refuses_a_meter_change_and_names_it(tmp_path):
    path = write_file(tmp_path / "meters.mid", *quarter_notes(8),
                      mido.MetaMessage("time_signature", numerator=3, denominator=4), *quarter_notes(6))
    score = read_midi(path)
    assert [(m.quarters, m.name) for m in score.meter_changes] == [(0, "4/4"), (8, "3/4")]
    with pytest.raises(ValueError, match=r"meter changes at 4 s, after 2 bars of 4/4 \(4/4 -> 3/4\)"):
        load_midi(path)


def test_repeated_tempo_and_meter_events_and_changes_after_the_music_are_not_changes(tmp_path):
    path = write_file(tmp_path / "same.mid", mido.MetaMessage("set_tempo", tempo=500000), *quarter_notes(4),
                      mido.MetaMessage("set_tempo", tempo=500000),
                      mido.MetaMessage("time_signature", numerator=4, denominator=4), *quarter_notes(4),
                      mido.MetaMessage("set_tempo", tempo=1000000, time=480))
    plan, _ = load_midi(path)
    assert plan.bpm == 120 and plan.num_steps == 36 and len(read_midi(path).tempo_changes) == 2


def test_overlapping_notes_of_one_pitch_are_both_kept(tmp_path):
    # C4 on at 0, C4 on again at 1 beat, one note-off at 3 beats: two notes, the first closed at the second onset
    path = write_file(tmp_path / "overlap.mid", mido.Message("note_on", note=60, velocity=70),
                      mido.Message("note_on", note=60, velocity=90, time=480),
                      mido.Message("note_off", note=60, time=960))
    assert read_midi(path).tracks[0].notes == [TimedNote(60, 0.0, 0.5, 70), TimedNote(60, 0.5, 1.5, 90)]
    plan, _ = load_midi(path)
    assert [(n.start, n.duration, n.velocity) for n in plan.tracks[0].notes] == [(0, 4, 70), (4, 8, 90)]


def test_a_note_without_note_off_ends_with_its_track(tmp_path):
    path = write_file(tmp_path / "open.mid", mido.Message("note_on", note=60, velocity=70),
                      mido.MetaMessage("end_of_track", time=960))
    assert read_midi(path).tracks[0].notes == [TimedNote(60, 0.0, 1.0, 70)]


@pytest.mark.parametrize("tempo,bpm", [(16759777, "3.58"), (50000, "1200")])
def test_load_midi_refuses_a_tempo_the_models_do_not_know(tmp_path, tempo, bpm):
    path = write_file(tmp_path / "fast.mid", *quarter_notes(2), tempo=tempo)
    with pytest.raises(ValueError, match=f"tempo {bpm} bpm is outside 40..240 bpm"):
        load_midi(path)
