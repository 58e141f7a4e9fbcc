"""generate / render --stems DIR: one file per track with notes, their sum beside them, bad input refused."""
from __future__ import annotations

import errno
import json

import mido
import numpy as np
import pytest
import soundfile as sf

from audiodiff.cli import main
from audiodiff.music.midi import read_midi
from audiodiff.music.plan import Plan

FAST = ["--steps", "2", "--threads", "1", "--seed", "5"]
LSB = 1 / 32768


def models(ckpts: dict, structure: bool = True) -> list[str]:
    names = ("structure", "acoustic", "codec") if structure else ("acoustic", "codec")
    return [a for name in names for a in (f"--{name}", ckpts[name])]


def read(path) -> np.ndarray:
    return sf.read(str(path), dtype="float64")[0]


def write_midi(path, tracks: int, empty: tuple[int, ...] = ()) -> None:
    """A type-1 file at 120 bpm with ``tracks`` one-note tracks (two notes each; those in ``empty`` none)."""
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    mid.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000, time=0)]))
    for i in range(tracks):
        channel = i % 15 + (1 if i % 15 >= 9 else 0)  # never the drum channel
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=f"Part {i}", time=0),
                                mido.Message("program_change", channel=channel, program=i % 8 * 8, time=0)])
        if i not in empty:
            for k in range(2):
                track.append(mido.Message("note_on", channel=channel, note=48 + i % 40, velocity=60 + i % 60,
                                          time=k * 240))
                track.append(mido.Message("note_off", channel=channel, note=48 + i % 40, velocity=0, time=240))
        mid.tracks.append(track)
    mid.save(str(path))


def check_folder(folder, result_wav=None) -> dict:
    """The folder's mix is the sum of its stems (to the 16-bit rounding of each file) and, when given,
    the WAV of -o; returns stems.json."""
    index = json.loads((folder / "stems.json").read_text())
    files = [read(folder / s["file"]) for s in index["stems"] if s["file"]]
    mix = read(folder / "mix.wav")
    assert len(mix) == index["num_samples"] and all(len(f) == len(mix) for f in files)
    assert np.abs(mix - np.sum(files, axis=0)).max() <= (len(files) + 1) * LSB
    if result_wav is not None:
        assert np.abs(mix - read(result_wav)).max() <= LSB
    return index


def test_generate_stems_writes_each_track_alone_and_their_sum(tiny_ckpts, tmp_path, capsys):
    out, stems = tmp_path / "song.wav", tmp_path / "stems"
    assert main(["generate", "C major, 120 bpm, piano", "-o", str(out), "--seconds", "3", "--stems", str(stems),
                 *FAST, *models(tiny_ckpts)]) == 0
    index = check_folder(stems, out)
    plan = Plan.from_dict(json.loads(out.with_suffix(".json").read_text())["plan_data"])
    assert [s["track"] for s in index["stems"]] == [t.name for t in plan.tracks]
    assert index["seed"] == 5 and index["key"] == "C major" and index["bpm"] == 120.0 and index["prompt"]
    for s, track in zip(index["stems"], plan.tracks):  # each stem's notes: exactly its track's, in seconds
        want = [[n.pitch, round(plan.step_to_seconds(n.start), 6), round(min(plan.step_to_seconds(n.end), 3.0), 6),
                 n.velocity] for n in track.notes if plan.step_to_seconds(n.start) < 3.0]
        assert s["notes"] == want
        assert s["is_drum"] == track.is_drum and (track.is_drum or s["program"] == track.program)
        assert (s["file"] is None) == (not want)
        if s["file"]:
            assert s["file"].startswith(f"{s['index']:02d}-") and s["file"].endswith(".wav")
    assert any(s["is_drum"] for s in index["stems"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staged leftovers


def test_render_stems_of_a_40_track_file_names_every_track(tiny_ckpts, tmp_path):
    song, stems = tmp_path / "song.mid", tmp_path / "stems"
    write_midi(song, 40, empty=(7,))
    stems.mkdir()  # an empty directory is fine
    assert main(["render", str(song), "-o", str(tmp_path / "song.wav"), "--stems", str(stems), *FAST,
                 *models(tiny_ckpts, structure=False)]) == 0
    index = check_folder(stems)
    names = [s["file"] for s in index["stems"]]
    assert len(names) == 39  # the track without notes is no part of the file's music: no stem
    # named by index, track name and the program rendered (celesta, which the model does not know: vibraphone)
    assert names[0] == "00-part-0-acoustic-grand-piano.wav" and names[8] == "08-part-9-vibraphone.wav"
    by_name = {t.name: t for t in read_midi(song).tracks}
    for s in index["stems"]:
        assert s["notes"] and [n[0] for n in s["notes"]] == [n.pitch for n in by_name[s["track"]].notes]
        assert [n[3] for n in s["notes"]] == [n.velocity for n in by_name[s["track"]].notes]


@pytest.mark.parametrize("make", ["file", "full"])
def test_stems_into_a_file_or_a_full_directory_is_refused_before_any_work(tmp_path, capsys, make):
    target = tmp_path / "stems"
    if make == "file":
        target.write_text("x")
    else:
        target.mkdir()
        (target / "old.wav").write_bytes(b"")
    code = main(["generate", "C major", "-o", str(tmp_path / "a.wav"), "--stems", str(target),
                 "--acoustic", str(tmp_path / "missing.safetensors")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: --stems")
    assert ("not a directory" if make == "file" else "not empty") in err
    assert not (tmp_path / "a.wav").exists()


def test_render_refuses_more_tracks_than_stems_allow(tmp_path, capsys):
    song = tmp_path / "big.mid"
    write_midi(song, 101)
    code = main(["render", str(song), "-o", str(tmp_path / "a.wav"), "--stems", str(tmp_path / "s"),
                 "--acoustic", str(tmp_path / "missing.safetensors")])
    err = capsys.readouterr().err
    assert code == 2 and err == f"error: {song}: 101 tracks with notes; --stems writes at most 100\n"


def test_disk_full_while_writing_stems_leaves_nothing(tiny_ckpts, tmp_path, capsys, monkeypatch):
    import audiodiff.io.audio as audio_io

    song, stems = tmp_path / "song.mid", tmp_path / "stems"
    write_midi(song, 3)
    real, calls = audio_io.write_wav, []

    def full_disk(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(audio_io, "write_wav", full_disk)
    code = main(["render", str(song), "-o", str(tmp_path / "song.wav"), "--stems", str(stems), *FAST,
                 *models(tiny_ckpts, structure=False)])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if not line.startswith("warning: ")]
    assert code == 1 and len(errors) == 1 and errors[0].startswith("error: ") and "No space left" in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.mid"]  # no stems, no WAV, no staged leftovers


def test_evaluate_stems_prints_each_stem_and_each_family(tmp_path, capsys, monkeypatch):
    import sys
    from pathlib import Path

    import audiodiff.eval.transcription as transcription
    from audiodiff.io.stems import stem_set, write_stem_folder

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
    from test_stem_files import fake_result

    folder = tmp_path / "song"
    folder.mkdir()
    write_stem_folder(folder, stem_set(fake_result()))
    monkeypatch.setattr(transcription, "transcribe", lambda audio, sr: np.zeros((0, 3)))  # hears nothing
    assert main(["evaluate", str(tmp_path), "--stems", "--json", str(tmp_path / "scores.json")]) == 0
    out = capsys.readouterr().out
    assert "00-melody-violin.wav" in out and "03-drums.wav" in out
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert [s["f1"] for s in scores["stems"]] == [0.0, 0.0, None]
    assert scores["families"]["drums"]["note_f1"] is None and scores["families"]["strings"]["stems"] == 1
