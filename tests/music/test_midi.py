import re

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


def test_load_midi_as_written_labels_a_file_with_changes_through_its_tempo_map(tmp_path):
    """The plan of a file played as written: first tempo and meter, notes on the grid in quarters."""
    path = write_file(tmp_path / "two.mid", *quarter_notes(8), mido.MetaMessage("set_tempo", tempo=1000000),
                      mido.MetaMessage("time_signature", numerator=3, denominator=4), *quarter_notes(6, 62))
    plan, report = load_midi(path, as_written=True)
    assert plan.bpm == 120 and plan.meter.name == "4/4" and report.num_moved == 0
    notes = plan.tracks[0].notes
    assert [(n.pitch, n.start, n.duration) for n in notes] == [(60, 4 * i, 4) for i in range(8)] + [
        (62, 32 + 4 * i, 4) for i in range(6)]  # 4 s at 120, then 6 s at 60: 14 quarters, not 8 + 12
    assert plan.num_steps == 56
    fast = write_file(tmp_path / "fast.mid", *quarter_notes(4), tempo=mido.bpm2tempo(300))
    with pytest.raises(ValueError, match="outside"):
        load_midi(fast)
    plan, _ = load_midi(fast, as_written=True)
    assert plan.bpm == 300 and [n.start for n in plan.tracks[0].notes] == [0, 4, 8, 12]


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


# ---- the written file's layout, channels, performance (each closes a hole a mutation run found) ----

def test_conductor_track_layout(tmp_path):
    """Tempo, meter and key at tick 0, a chord marker at each chord change (N.C. included), the end at
    the plan's last step. 72.7 bpm: 60e6 / 72.7 = 825309.49 microseconds a quarter, written as 825309."""
    am, c = Chord(9, "min"), Chord(0, "maj")
    plan = Plan(Key(9, "minor"), 72.7, Meter(3, 4), [Track("piano", 0, [Note(57, 0, 4)])],
                [None, am, am, None, c, c], 24)
    save_midi(plan, tmp_path / "a.mid")
    mid = mido.MidiFile(tmp_path / "a.mid")
    assert (mid.type, mid.ticks_per_beat, len(mid.tracks)) == (1, 480, 2)
    def value(msg):
        if msg.type == "time_signature":
            return f"{msg.numerator}/{msg.denominator}"
        return getattr(msg, {"set_tempo": "tempo", "key_signature": "key", "marker": "text"}.get(msg.type, ""), None)

    tick, events = 0, []
    for msg in mid.tracks[0]:
        tick += msg.time
        events.append((tick, msg.type, value(msg)))
    assert events == [(0, "set_tempo", 825309), (0, "time_signature", "3/4"), (0, "key_signature", "Am"),
                      (0, "marker", "chord:N.C."), (480, "marker", "chord:Am"), (1440, "marker", "chord:N.C."),
                      (1920, "marker", "chord:C"), (2880, "end_of_track", None)]


def test_pitched_tracks_get_channels_in_order_skipping_the_drum_channel(tmp_path):
    tracks = [Track(f"t{i}", 10 + i, [Note(60, 0, 4)]) for i in range(7)]
    tracks.insert(3, Track("drums", 0, [Note(36, 0, 4)], True))
    plan = Plan(Key(0, "major"), 120.0, Meter(4, 4), tracks, [None] * 4, 16)
    save_midi(plan, tmp_path / "a.mid")
    parts = mido.MidiFile(tmp_path / "a.mid").tracks[1:]
    assert [{m.channel for m in t if m.type == "note_on"} for t in parts] == [{0}, {1}, {2}, {9}, {3}, {4}, {5}, {6}]
    # each part opens with its name at tick 0, then (pitched parts only) its program on its channel
    assert [(t[0].type, t[0].time, t[0].name) for t in parts] == [("track_name", 0, tr.name) for tr in tracks]
    assert [(t[1].type, t[1].time, t[1].program, t[1].channel) for t in parts if t[1].type == "program_change"] == [
        ("program_change", 0, 10 + i, i) for i in range(7)]
    assert parts[3][1].type == "note_on"
    assert {m.velocity for t in parts for m in t if m.type == "note_off"} == {0}


def test_fifteen_pitched_tracks_fit_sixteen_do_not(tmp_path):
    def plan(n):
        tracks = [Track(f"t{i}", 0, [Note(60, 0, 4)]) for i in range(n)] + [Track("drums", 0, [Note(36, 0, 4)], True)]
        return Plan(Key(0, "major"), 120.0, Meter(4, 4), tracks, [None] * 4, 16)

    save_midi(plan(15), tmp_path / "a.mid")
    channels = [next(m.channel for m in t if m.type == "note_on") for t in mido.MidiFile(tmp_path / "a.mid").tracks[1:]]
    assert channels == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 9]
    with pytest.raises(ValueError, match=r"^a MIDI file holds at most 15 pitched tracks, plan has more$"):
        save_midi(plan(16), tmp_path / "b.mid")


def test_performance_is_the_files_notes_at_their_times(tmp_path):
    path = write_file(tmp_path / "p.mid", *quarter_notes(3), tempo=1000000)  # 60 quarters a minute
    perf = read_midi(path).performance()
    assert perf.seconds == 3.0 and len(perf.tracks) == 1
    assert perf.tracks[0].notes == [TimedNote(60, float(s), s + 1.0, 80) for s in range(3)]


def test_read_midi_names_programs_key_and_markers(tmp_path):
    """Unnamed parts are 'track<i>' (pitched) or 'drums'; the first name, program and key signature win;
    markers that are no chords are ignored."""
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    mid.tracks.append(mido.MidiTrack([
        mido.MetaMessage("key_signature", key="Eb"), mido.MetaMessage("key_signature", key="F#m"),
        mido.MetaMessage("marker", text="verse"), mido.MetaMessage("marker", text="chord:Gm", time=480)]))
    mid.tracks.append(mido.MidiTrack([
        mido.Message("program_change", channel=2, program=40),
        mido.Message("program_change", channel=2, program=41),
        mido.Message("note_on", channel=2, note=60, velocity=64),
        mido.Message("note_off", channel=2, note=60, time=480),
        mido.Message("note_on", channel=9, note=36, velocity=100),
        mido.Message("note_off", channel=9, note=36, time=240)]))
    mid.tracks.append(mido.MidiTrack([
        mido.MetaMessage("track_name", name="lead"), mido.MetaMessage("track_name", name="other"),
        mido.Message("note_on", channel=0, note=72, velocity=50, time=960),
        mido.Message("note_on", channel=0, note=72, velocity=0, time=480)]))
    mid.save(tmp_path / "named.mid")
    score = read_midi(tmp_path / "named.mid")
    assert [(t.name, t.program, t.is_drum) for t in score.tracks] == [
        ("track0", 40, False), ("drums", 0, True), ("lead", 0, False)]
    assert score.tracks[0].notes == [TimedNote(60, 0.0, 0.5, 64)]
    assert score.tracks[1].notes == [TimedNote(36, 0.5, 0.75, 100)]
    assert score.tracks[2].notes == [TimedNote(72, 1.0, 1.5, 50)]  # a note-on of velocity 0 ends a note
    assert (score.key_signature, score.chord_marks, score.meter_changes) == ("Eb", [(0.5, "Gm")], [])
    assert score.end_seconds == 1.5


def test_read_midi_refuses_type_2_and_a_missing_file_is_an_os_error(tmp_path):
    mid = mido.MidiFile(type=2, ticks_per_beat=480)
    mid.tracks.append(mido.MidiTrack(quarter_notes(1)))
    mid.save(tmp_path / "two.mid")
    with pytest.raises(ValueError, match=r"two\.mid: MIDI type 2 \(independent sequences\) is not supported$"):
        read_midi(tmp_path / "two.mid")
    with pytest.raises(FileNotFoundError):
        read_midi(tmp_path / "missing.mid")
    with pytest.raises(IsADirectoryError):
        read_midi(tmp_path)


def test_load_midi_refuses_a_file_without_notes(tmp_path):
    path = write_file(tmp_path / "empty.mid", mido.MetaMessage("marker", text="chord:C"))
    with pytest.raises(ValueError, match=r"empty\.mid: the MIDI file has no notes$"):
        load_midi(path)


def test_quantization_report_counts_notes_and_averages_errors(tmp_path):
    # two notes, four times: the first onset is 10 ticks (1/12 step) late, the rest on the grid
    path = write_file(tmp_path / "q.mid", mido.Message("note_on", note=60, velocity=80, time=130),
                      mido.Message("note_off", note=60, time=350), *quarter_notes(1, 62))
    _, report = load_midi(path)
    assert (report.num_notes, report.num_moved) == (2, 1)
    assert report.mean_error_steps == pytest.approx(10 / 120 / 4)


def test_back_to_back_notes_of_one_pitch_survive_in_any_order(tmp_path):
    """At a tick where one note ends and the next of its pitch starts, the note-off is written first,
    even when the track lists the later note first."""
    plan = Plan(Key(0, "major"), 120.0, Meter(4, 4), [Track("piano", 0, [Note(60, 4, 4, 70), Note(60, 0, 4, 90)])],
                [None] * 4, 16)
    save_midi(plan, tmp_path / "b.mid")
    assert read_midi(tmp_path / "b.mid").tracks[0].notes == [TimedNote(60, 0.0, 0.5, 90), TimedNote(60, 0.5, 1.0, 70)]


@pytest.mark.parametrize("tempo, bpm", [(617761, 97.12), (250000, 240.0), (1500000, 40.0)])
def test_load_midi_reads_the_tempo_to_two_decimals_and_takes_both_ends_of_the_range(tmp_path, tempo, bpm):
    """60e6 / 617761 = 97.1249... quarters a minute: 97.12 bpm; 240 and 40 bpm are allowed."""
    assert load_midi(write_file(tmp_path / "t.mid", *quarter_notes(2), tempo=tempo))[0].bpm == bpm


def test_a_tempo_or_meter_event_right_at_the_end_of_the_music_is_no_change(tmp_path):
    path = write_file(tmp_path / "end.mid", *quarter_notes(4), mido.MetaMessage("set_tempo", tempo=1000000),
                      mido.MetaMessage("time_signature", numerator=3, denominator=4))
    score = read_midi(path)
    assert len(score.tempo_changes) == 2 and len(score.meter_changes) == 2  # both at 2 s, where the last note ends
    plan, _ = load_midi(path)
    assert (plan.bpm, plan.meter, plan.num_steps) == (120.0, Meter(4, 4), 16)


def test_a_tempo_change_in_six_eight_is_named_in_dotted_quarter_beats(tmp_path):
    # 6 quarters at 120 quarters a minute (3 s) = 4 beats of 6/8 at 80 bpm, then 60 quarters a minute (40 bpm)
    path = write_file(tmp_path / "six.mid", *quarter_notes(6), mido.MetaMessage("set_tempo", tempo=1000000),
                      *quarter_notes(3), meter=(6, 8))
    message = f"{path}: tempo changes at 3 s, after 4 beats (80 -> 40 bpm); audiodiff plans have one tempo"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_midi(path)


def test_a_meter_change_counts_the_bars_from_where_the_earlier_meter_began(tmp_path):
    # no meter until quarter 2; 4/4 from there, 3/4 from quarter 6: one bar of 4/4, then the music goes on
    mid = mido.MidiFile(ticks_per_beat=480)
    mid.tracks.append(mido.MidiTrack([*quarter_notes(2), mido.MetaMessage("time_signature", numerator=4, denominator=4),
                                      *quarter_notes(4), mido.MetaMessage("time_signature", numerator=3, denominator=4),
                                      *quarter_notes(3)]))
    mid.save(tmp_path / "late.mid")
    message = f"{tmp_path / 'late.mid'}: meter changes at 3 s, after 1 bars of 4/4 (4/4 -> 3/4); audiodiff plans " \
              "have one meter"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_midi(tmp_path / "late.mid")


def test_a_note_shorter_than_half_a_step_lasts_one_step(tmp_path):
    path = write_file(tmp_path / "short.mid", mido.Message("note_on", note=60, velocity=80, time=480),
                      mido.Message("note_off", note=60, time=10))  # 10 ticks: 1/12 of a 16th
    plan, _ = load_midi(path)
    assert [(n.pitch, n.start, n.duration) for n in plan.tracks[0].notes] == [(60, 4, 1)]


def test_a_track_ending_inside_a_step_gives_the_plan_that_whole_step(tmp_path):
    # one quarter note (4 steps), then the track ends 150 ticks later: 5.25 steps -> 6
    path = write_file(tmp_path / "tail.mid", *quarter_notes(1), mido.MetaMessage("end_of_track", time=150))
    assert load_midi(path)[0].num_steps == 6


def test_notes_after_two_tempo_changes_are_timed_through_the_whole_map(tmp_path):
    """120 qpm for two quarters (1 s), 60 qpm for two (2 s), then 120 again: a note one quarter after
    the second change starts at 1 + 2 + 0.5 = 3.5 s (each segment timed from where it begins)."""
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    mid.tracks.append(mido.MidiTrack([
        mido.MetaMessage("set_tempo", tempo=500000),
        mido.MetaMessage("set_tempo", tempo=1000000, time=960),
        mido.MetaMessage("set_tempo", tempo=500000, time=960)]))
    mid.tracks.append(mido.MidiTrack([
        mido.Message("note_on", channel=0, note=64, velocity=70, time=2400),
        mido.Message("note_off", channel=0, note=64, time=480)]))
    mid.save(tmp_path / "tempi.mid")
    notes = read_midi(tmp_path / "tempi.mid").performance().tracks[0].notes
    assert notes == [TimedNote(64, 3.5, 4.0, 70)]


def test_a_note_on_of_velocity_zero_ends_the_note_and_starts_none(tmp_path):
    mid = mido.MidiFile(type=1, ticks_per_beat=480)  # 120 qpm (the default tempo): a quarter is 0.5 s
    mid.tracks.append(mido.MidiTrack([
        mido.Message("note_on", channel=0, note=60, velocity=80),
        mido.Message("note_on", channel=0, note=60, velocity=0, time=480),
        mido.Message("note_on", channel=0, note=62, velocity=90, time=480),
        mido.Message("note_off", channel=0, note=62, time=480)]))
    mid.save(tmp_path / "zero.mid")
    notes = read_midi(tmp_path / "zero.mid").tracks[0].notes
    assert notes == [TimedNote(60, 0.0, 0.5, 80), TimedNote(62, 1.0, 1.5, 90)]


def test_the_first_key_signature_in_time_wins_across_tracks(tmp_path):
    # track 0 names D at beat 1, track 1 names F at tick 0: F comes first in time, though in a later track
    mid = mido.MidiFile(ticks_per_beat=480)
    mid.tracks.append(mido.MidiTrack([mido.MetaMessage("key_signature", key="D", time=480), *quarter_notes(2)]))
    mid.tracks.append(mido.MidiTrack([mido.MetaMessage("key_signature", key="F"), *quarter_notes(2, 65)]))
    mid.save(tmp_path / "keys.mid")
    assert read_midi(tmp_path / "keys.mid").key_signature == "F"


def test_an_exception_without_a_message_is_named_by_its_type(tmp_path, monkeypatch):
    def unreadable(path):
        raise IndexError()

    monkeypatch.setattr(mido, "MidiFile", unreadable)
    with pytest.raises(ValueError) as info:
        read_midi(tmp_path / "x.mid")
    assert str(info.value) == f"{tmp_path / 'x.mid'}: not a readable MIDI file (IndexError)"


@pytest.mark.parametrize("first, second", [(596990, 597005), (597005, 596990)])
def test_tempos_equal_to_two_decimals_are_one_tempo(tmp_path, first, second):
    # 596990 and 597005 microseconds a quarter are 100.5042 and 100.5017 qpm: 100.50 both, to two decimals
    path = write_file(tmp_path / "near.mid", *quarter_notes(2), mido.MetaMessage("set_tempo", tempo=second),
                      *quarter_notes(2), tempo=first)
    changes = read_midi(path).tempo_changes
    assert len(changes) == 1 and changes[0].qpm == pytest.approx(60e6 / first)
    # one hundredth apart is a change: 597015 microseconds is 100.49997 qpm
    path = write_file(tmp_path / "apart.mid", *quarter_notes(2), mido.MetaMessage("set_tempo", tempo=597100),
                      *quarter_notes(2), tempo=first)
    assert len(read_midi(path).tempo_changes) == 2


def test_a_note_left_on_ends_with_its_own_track_not_another(tmp_path):
    # track 0 (conductor) ends at tick 0; track 1 holds C4 on channel 0 from tick 0 to its end at 2 beats
    mid = mido.MidiFile(ticks_per_beat=480)
    mid.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000)]))
    mid.tracks.append(mido.MidiTrack([mido.Message("note_on", note=60, velocity=70),
                                      mido.MetaMessage("end_of_track", time=960)]))
    mid.save(tmp_path / "held.mid")
    score = read_midi(tmp_path / "held.mid")
    assert [t.notes for t in score.tracks] == [[TimedNote(60, 0.0, 1.0, 70)]]


def test_a_file_without_tracks_reads_as_nothing_that_ends_at_zero(tmp_path):
    mido.MidiFile(type=1, ticks_per_beat=480).save(tmp_path / "none.mid")
    score = read_midi(tmp_path / "none.mid")
    assert score.tracks == [] and score.end_seconds == 0.0


def test_a_note_off_at_its_own_onset_is_no_note(tmp_path):
    path = write_file(tmp_path / "zero.mid", mido.Message("note_on", note=64, velocity=80),
                      mido.Message("note_off", note=64), *quarter_notes(1))
    assert read_midi(path).tracks[0].notes == [TimedNote(60, 0.0, 0.5, 80)]


def test_the_quantization_report_counts_notes_as_a_whole_number(tmp_path):
    path = write_file(tmp_path / "three.mid", *quarter_notes(3))
    _, report = load_midi(path)
    assert report.num_notes == 3 and type(report.num_notes) is int
