"""audiodiff.io.stems: stems that sum to the mix, their gains, names, notes and files (no models)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf

from audiodiff.eval.loudness import integrated_loudness
from audiodiff.io.stems import (
    StemSet,
    rest_level,
    slug,
    stem_name,
    stem_set,
    write_slakh_track,
    write_stem_folder,
    yaml_text,
)
from audiodiff.music.midi import read_midi
from audiodiff.music.performance import Part, Performance, TimedNote
from audiodiff.music.plan import Note, Plan, Track
from audiodiff.music.theory import Key, Meter
from audiodiff.pipeline import Result, Stem

SR = 24000
LSB = 1 / 32768  # one 16-bit step


def tone(seconds: float, notes: list[TimedNote], freq: float, amp: float) -> np.ndarray:
    """A sine that sounds only during ``notes`` (silence in the rests)."""
    t = np.arange(int(seconds * SR)) / SR
    gate = np.zeros_like(t)
    for n in notes:
        gate[int(n.start * SR):int(n.end * SR)] = 1.0
    return (amp * gate * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def fake_result(amps=(0.3, 0.3, 0.3), seconds: float = 2.0) -> Result:
    """A plan of melody, bass, an empty counter line and drums, at 120 bpm in 4/4 (a step is 0.125 s),
    with stems that sound exactly during their notes, and their float32 sum as the mix."""
    tracks = [Track("melody", 40, [Note(72, 0, 2, 100), Note(74, 8, 2, 80), Note(76, 20, 8, 90)]),
              Track("bass", 33, [Note(40, 0, 8, 90), Note(43, 16, 24, 70)]),  # the last rings past 2 s
              Track("counter", 73, []),
              Track("drums", 0, [Note(36, 0, 1, 120), Note(38, 4, 1, 100), Note(36, 8, 1, 110)], is_drum=True)]
    plan = Plan(key=Key(0, "major"), bpm=120.0, meter=Meter(4, 4), tracks=tracks, chords=[None] * 8, num_steps=32)
    perf = Performance.from_plan(plan)
    freqs = (523.0, 82.0, 300.0, 60.0)
    stems = []
    for part, freq, amp in zip(perf.tracks, freqs, (*amps[:2], 0.0, amps[2])):
        stems.append(Stem(part, tone(seconds, part.notes, freq, amp)))
    mix = np.sum([s.audio for s in stems], axis=0).astype(np.float32)
    return Result(mix, SR, plan, 7, stems=tuple(stems))


def read(path) -> np.ndarray:
    return sf.read(str(path), dtype="float64")[0]


def test_stems_sum_to_the_mix_and_a_track_without_notes_gets_no_file():
    stems = stem_set(fake_result())
    assert [s.index for s in stems.stems] == [0, 1, 2, 3]
    assert [s.written for s in stems.stems] == [True, True, False, True]
    assert stems.overall_gain == 1.0 and all(s.gain == 1.0 for s in stems.stems)
    total = np.sum([s.audio for s in stems.stems if s.written], axis=0)
    np.testing.assert_array_equal(stems.mix, total)
    np.testing.assert_array_equal(stems.mix, fake_result().audio)


def test_a_mix_that_would_clip_scales_every_stem_alike(tmp_path):
    result = fake_result(amps=(0.9, 0.8, 0.7))  # peaks add up past full scale
    stems = stem_set(result)
    assert 0 < stems.overall_gain < 1
    assert np.abs(stems.mix).max() == pytest.approx(10 ** (-1 / 20), rel=1e-5)
    for s in stems.stems:
        assert s.gain == pytest.approx(stems.overall_gain)
    write_stem_folder(tmp_path, stems)
    index = json.loads((tmp_path / "stems.json").read_text())
    files = [read(tmp_path / s["file"]) for s in index["stems"] if s["file"]]
    assert np.abs(read(tmp_path / "mix.wav") - np.sum(files, axis=0)).max() <= (len(files) + 1) * LSB


def test_normalize_brings_each_stem_to_the_target_loudness_and_caps_the_mix():
    stems = stem_set(fake_result(amps=(0.05, 0.5, 0.9)), normalize=True, target_lufs=-30.0)
    assert stems.normalized
    assert np.abs(stems.mix).max() <= 10 ** (-1 / 20) + 1e-6
    levels = [s.loudness - 20 * math.log10(stems.overall_gain) for s in stems.stems if s.written]
    assert levels == pytest.approx([-30.0] * 3, abs=0.05)  # before the common cap, every stem at -30 LUFS
    total = np.sum([s.audio for s in stems.stems if s.written], axis=0)
    np.testing.assert_array_equal(stems.mix, total)


def test_names_notes_and_index_of_the_folder_layout(tmp_path):
    result = fake_result()
    index = write_stem_folder(tmp_path, stem_set(result), {"prompt": "x", "seed": 7})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "00-melody-violin.mid", "00-melody-violin.wav", "01-bass-electric-bass-finger.mid",
        "01-bass-electric-bass-finger.wav", "03-drums.mid", "03-drums.wav", "mix.wav", "stems.json"]
    assert json.loads((tmp_path / "stems.json").read_text()) == index
    melody, bass, counter, drums = index["stems"]
    assert melody["notes"] == [[72, 0.0, 0.25, 100], [74, 1.0, 1.25, 80], [76, 2.5, 3.5, 90]][:2]  # starts in 2 s
    assert bass["notes"] == [[40, 0.0, 1.0, 90], [43, 2.0, 2.0, 70]][:1]
    assert counter["file"] is None and counter["notes"] == []
    assert drums["is_drum"] and drums["program"] is None and drums["family"] == "drums"
    assert index["prompt"] == "x" and index["sample_rate"] == SR and index["num_samples"] == len(result.audio)
    for record in (melody, bass, drums):  # each stem's MIDI holds exactly its own notes, in seconds
        (part,) = read_midi(tmp_path / record["midi"]).tracks
        assert part.is_drum == record["is_drum"]
        assert record["is_drum"] or part.program == record["program"]
        got = [[n.pitch, round(n.start, 6), round(n.end, 6), n.velocity] for n in part.notes]
        assert got == record["notes"]


def test_stems_are_silent_in_their_rests():
    stems = stem_set(fake_result())
    melody = stems.stems[0]
    assert melody.rest_dbfs == -math.inf  # the fake stems sound only during their notes
    noisy = np.full(SR * 2, 1e-3, np.float32)
    assert rest_level(noisy, melody.part, SR) == pytest.approx(-60.0, abs=0.01)
    busy = Part("pad", 0, [TimedNote(60, 0.0, 2.0)])
    assert rest_level(noisy, busy, SR) is None
    # the rest ends 50 ms before the next note (its attack may begin a frame early) and begins 0.5 s after one
    late = Part("late", 0, [TimedNote(60, 0.0, 0.2), TimedNote(62, 1.5, 2.0)])
    early_attack = np.zeros(SR * 2, np.float32)
    early_attack[int(1.46 * SR):] = 0.5
    assert rest_level(early_attack, late, SR) == -math.inf
    early_attack[int(1.44 * SR):] = 0.5
    assert rest_level(early_attack, late, SR) > -40


def test_a_result_without_stems_is_refused():
    result = fake_result()
    with pytest.raises(ValueError, match="no stems"):
        stem_set(Result(result.audio, SR, result.plan, 7))


def test_stem_names():
    assert slug("Lead Vox #2 (Léa)") == "lead-vox-2-l-a"
    assert slug("***") == "track"
    assert stem_name(3, Part("Piano RH", 0)) == "03-piano-rh-acoustic-grand-piano"
    assert stem_name(12, Part("drums", 0, is_drum=True), width=3) == "012-drums"
    assert stem_name(0, Part("violin", 40)) == "00-violin"


def test_loudness_of_a_full_scale_sine_is_minus_3_lufs():
    t = np.arange(5 * 48000) / 48000
    assert integrated_loudness(np.sin(2 * np.pi * 997 * t), 48000) == pytest.approx(-3.01, abs=0.01)
    t = np.arange(5 * SR) / SR
    assert integrated_loudness(0.1 * np.sin(2 * np.pi * 997 * t), SR) == pytest.approx(-23.0, abs=0.05)
    assert integrated_loudness(np.zeros(SR), SR) is None
    assert integrated_loudness(np.ones(100), SR) is None  # shorter than a 400 ms block


# -- Slakh2100 ------------------------------------------------------------------------------------
def mini_yaml(text: str) -> dict:
    """A reader of the YAML subset yaml_text writes (block mappings; JSON flow values), for when
    PyYAML is not installed; the real check is test_metadata_yaml_reads_back_with_pyyaml."""
    root: dict = {}
    stack = [(-1, root)]
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        key, _, value = line.strip().partition(": ") if ": " in line else (line.strip()[:-1], "", "")
        key = json.loads(key) if key.startswith('"') else key
        while stack[-1][0] >= indent:
            stack.pop()
        if value:
            scalars = {"null": None, "true": True, "false": False, ".inf": math.inf, "-.inf": -math.inf}
            stack[-1][1][key] = scalars[value] if value in scalars else json.loads(value)
        else:
            stack[-1][1][key] = child = {}
            stack.append((indent, child))
    return root


def load_yaml(text: str) -> dict:
    try:
        import yaml
    except ImportError:
        return mini_yaml(text)
    return yaml.safe_load(text)


def test_yaml_text_reads_back():
    data = {"UUID": None, "on": True, "n": 1, "small": 1e-05, "big": 1.5e20, "text": 'a "b": c\n', "stems": {
        "S00": {"audio_rendered": True, "inst_class": "Strings (continued)", "integrated_loudness": -23.5},
        "S01": {"notes": [[60, 0.0, 0.5, 90]], "empty": {}}}}
    assert mini_yaml(yaml_text(data)) == data
    assert "on:" not in yaml_text(data)  # YAML 1.1 would read a plain on as True


def test_metadata_yaml_reads_back_with_pyyaml():
    yaml = pytest.importorskip("yaml")
    data = {"UUID": None, "on": True, "small": 1e-05, "big": 1.5e20, "neg": -2.0, "text": 'é "b": c\n',
            "stems": {"S00": {"audio_rendered": True, "program_num": 128, "chords": [["C", 0.0, 0.5]]}}}
    assert yaml.safe_load(yaml_text(data)) == data


def load_slakh_track(folder) -> dict:
    """Read a track as Slakh2100's public loaders do: metadata.yaml's ``stems`` keys, ``stems/<key>.flac``
    for each stem whose audio was rendered, ``MIDI/<key>.mid`` (one instrument, pretty_midi), mix.flac."""
    pretty_midi = pytest.importorskip("pretty_midi")
    metadata = load_yaml((folder / "metadata.yaml").read_text())
    stems = {}
    for key, info in metadata["stems"].items():
        assert set(info) >= {"inst_class", "is_drum", "program_num", "midi_program_name", "plugin_name",
                             "integrated_loudness", "audio_rendered", "midi_saved"}
        if not info["audio_rendered"]:
            assert not (folder / metadata["audio_dir"] / f"{key}.flac").exists()
            continue
        audio, sr = sf.read(str(folder / metadata["audio_dir"] / f"{key}.flac"))
        midi = pretty_midi.PrettyMIDI(str(folder / metadata["midi_dir"] / f"{key}.mid"))
        assert len(midi.instruments) == 1
        instrument = midi.instruments[0]
        assert instrument.is_drum == info["is_drum"]
        assert info["is_drum"] or instrument.program == info["program_num"]
        stems[key] = {"audio": audio, "sr": sr, "notes": instrument.notes, "info": info}
    mix, sr = sf.read(str(folder / "mix.flac"))
    all_src = pretty_midi.PrettyMIDI(str(folder / "all_src.mid"))
    return {"metadata": metadata, "stems": stems, "mix": mix, "sr": sr, "all_src": all_src}


def check_slakh_track(folder, stems: StemSet) -> dict:
    """A written track loads as Slakh's loaders load it, its mix is the sum of its stems and each
    stem's MIDI holds its notes."""
    track = load_slakh_track(folder)
    written = [s for s in stems.stems if s.written]
    assert sorted(track["stems"]) == [f"S{s.index:02d}" for s in written]
    total = np.sum([t["audio"] for t in track["stems"].values()], axis=0)
    assert np.abs(track["mix"] - total).max() <= (len(written) + 1) * LSB
    for s in written:
        got = track["stems"][f"S{s.index:02d}"]
        assert got["sr"] == stems.sample_rate
        notes = [[n.pitch, n.start, n.end, n.velocity] for n in got["notes"]]
        want = [[n.pitch, n.start, n.end, n.velocity] for n in s.part.notes]
        assert len(notes) == len(want)
        for a, b in zip(notes, want):
            assert a[0] == b[0] and a[3] == b[3] and a[1:3] == pytest.approx(b[1:3], abs=1e-3)
    return track


def test_slakh_track_loads_like_slakh2100(tmp_path):
    stems = stem_set(fake_result(amps=(0.2, 0.9, 0.6)), normalize=True)
    metadata = write_slakh_track(tmp_path, stems, labels={"prompt": "p", "seed": 7, "key": "C major"})
    track = check_slakh_track(tmp_path, stems)
    assert track["metadata"] == load_yaml(yaml_text(metadata))
    s00, s01, s02, s03 = (track["metadata"]["stems"][k] for k in ("S00", "S01", "S02", "S03"))
    assert (s00["inst_class"], s00["program_num"], s00["midi_program_name"]) == ("Strings", 40, "Violin")
    assert (s01["inst_class"], s01["midi_program_name"]) == ("Bass", "Electric Bass (finger)")
    assert s02["audio_rendered"] is False and s02["midi_saved"] is False
    assert (s03["inst_class"], s03["is_drum"], s03["program_num"]) == ("Drums", True, 128)
    assert track["metadata"]["normalized"] is True and track["metadata"]["audiodiff"]["seed"] == 7
    assert len(track["all_src"].instruments) == 3


# -- per-stem scores ------------------------------------------------------------------------------
def test_stem_scores_against_their_own_midi(tmp_path, capsys):
    from audiodiff.eval.stems import family_summary, score_stems
    from audiodiff.eval.transcription import notes_array

    result = fake_result()
    (tmp_path / "a").mkdir()
    write_stem_folder(tmp_path / "a", stem_set(result))
    (tmp_path / "b").mkdir()
    write_slakh_track(tmp_path / "b", stem_set(result, normalize=True))
    melody = [(n.start, n.end, n.pitch) for n in result.stems[0].part.notes if n.start < 2.0]

    def transcriber(audio, sr):  # hears the melody in every stem: right for the melody, wrong for the bass
        return notes_array(melody)

    scores = score_stems(tmp_path, transcriber)
    assert [(s.folder, s.stem) for s in scores] == [
        ("a", "00-melody-violin.wav"), ("a", "01-bass-electric-bass-finger.wav"), ("a", "03-drums.wav"),
        ("b", "S00.flac"), ("b", "S01.flac"), ("b", "S03.flac")]
    assert [s.f1 for s in scores] == [1.0, 0.0, None] * 2
    assert [s.family for s in scores[:3]] == ["strings", "bass", "drums"]
    assert family_summary(scores)["strings"] == {"stems": 2, "note_f1": 1.0, "max_rest_dbfs": -math.inf}
