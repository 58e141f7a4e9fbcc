"""Bad input of every kind gives one line ``error: ...`` on stderr, a non-zero exit (2 for usage errors,
1 for runtime failures) and no partial file; NaN from a model is an error, not noise; nothing is silently
wrong (issue 14). Killed batches are in tests/batch/test_kill_and_resume.py.

The CLI runs in-process (audiodiff.cli.main) except where a process must be signalled.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import mido
import pytest
import soundfile as sf
import torch

from audiodiff.cli import main

SR = 24000
FAST = ["--steps", "2", "--plan-steps", "2"]


def model_args(ckpts: dict, **override: str) -> list[str]:
    paths = {**ckpts, **override}
    return [a for name in ("structure", "acoustic", "codec") for a in (f"--{name}", str(paths[name]))]


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    return code, capsys.readouterr().err


def error_lines(err: str) -> list[str]:
    """stderr without progress-bar redraws."""
    lines = [line for chunk in err.splitlines() for line in chunk.split("\r")]
    return [line for line in lines if line.strip() and not line.startswith("batch:")]


def assert_fails_cleanly(argv: list[str], capsys, root: Path, code: int = 2) -> str:
    before = snapshot(root)
    got, err = run(argv, capsys)
    lines = error_lines(err)
    assert got == code, (got, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert snapshot(root) == before  # no partial (or any) file left behind
    return lines[0]


# -- prompts and arguments (generate / render / batch) ---------------------------------------
BAD_PROMPTS = ["H minor", "C major, 500 bpm", "C major, 3/8", "violin, program 200", "C major, 0 s",
               "C major, seed -1", "C major, C minor", "C major, 700 s", "C major, kazoo", "C major, 100 bpm, 600 s"]


@pytest.mark.parametrize("prompt", BAD_PROMPTS)
def test_bad_prompt(prompt, tiny_ckpts, tmp_path, capsys):
    assert_fails_cleanly(["generate", prompt, "-o", str(tmp_path / "x.wav"), *FAST, *model_args(tiny_ckpts)],
                         capsys, tmp_path)


BAD_ARGUMENTS = {
    "seconds zero": ["generate", "C major", "-o", "{d}/x.wav", "--seconds", "0"],
    "negative seed": ["generate", "C major", "-o", "{d}/x.wav", "--seed", "-5"],
    "zero steps": ["generate", "C major", "-o", "{d}/x.wav", "--steps", "0"],
    "no output": ["generate", "C major"],
    "unknown command": ["sing", "C major"],
    "render negative seconds": ["render", "{d}/in.mid", "-o", "{d}/x.wav", "--seconds", "-1"],
    "batch neither file nor grid": ["batch", "--out", "{d}/o"],
    "batch file and grid": ["batch", "{d}/in.csv", "--grid", "--out", "{d}/o"],
    "batch bpm backwards": ["batch", "--grid", "--bpm", "180:60:20", "--out", "{d}/o"],
    "batch bpm out of range": ["batch", "--grid", "--bpm", "20:60:10", "--out", "{d}/o"],
    "batch bpm not numbers": ["batch", "--grid", "--bpm", "slow:fast", "--out", "{d}/o"],
    "batch zero workers": ["batch", "{d}/in.csv", "--out", "{d}/o", "--workers", "0"],
    "batch zero batch size": ["batch", "{d}/in.csv", "--out", "{d}/o", "--batch-size", "0"],
    "batch grid option without grid": ["batch", "{d}/in.csv", "--bpm", "60", "--out", "{d}/o"],
    "batch grid bad meter": ["batch", "--grid", "--meters", "5/4", "--out", "{d}/o"],
    "batch grid unknown instrument": ["batch", "--grid", "--instruments", "kazoo", "--out", "{d}/o"],
}


@pytest.mark.parametrize("name", BAD_ARGUMENTS)
def test_bad_arguments(name, tiny_ckpts, tmp_path, capsys):
    (tmp_path / "in.csv").write_text("prompt\nC major\n")
    write_midi(tmp_path / "in.mid")
    argv = [a.format(d=tmp_path) for a in BAD_ARGUMENTS[name]]
    if argv[0] in ("generate", "batch"):
        argv += model_args(tiny_ckpts)
    elif argv[0] == "render":
        argv += model_args(tiny_ckpts)[2:]
    assert_fails_cleanly(argv, capsys, tmp_path)


def test_torchrun_environment_is_checked(tiny_ckpts, tmp_path, capsys, monkeypatch):
    (tmp_path / "in.csv").write_text("prompt\nC major\n")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "2")
    line = assert_fails_cleanly(["batch", str(tmp_path / "in.csv"), "--out", str(tmp_path / "o"),
                                 *model_args(tiny_ckpts)], capsys, tmp_path)
    assert "RANK=3" in line


# -- prompt files: file-level problems are usage errors -----------------------------------------
BAD_FILES = {
    "empty.csv": b"",
    "empty.jsonl": b"",
    "blank.jsonl": b"\n  \n",
    "prompts.txt": b"prompt\nC major\n",
    "noext": b"prompt\nC major\n",
    "unknown_columns.csv": b"foo,bar\n1,2\n",
    "header_only.csv": b"prompt,seed\n",
    "twice.csv": b"prompt,prompt\nC,D\n",
    "seed_only.csv": b"seed\n3\n",
    "latin1.csv": "prompt\nC major, caf\xe9\n".encode("latin-1"),
    "nul.jsonl": b'{"prompt": "C"}\x00\n',
}


@pytest.mark.parametrize("name", [*BAD_FILES, "missing.csv", "folder.csv"])
def test_bad_prompt_file(name, tiny_ckpts, tmp_path, capsys):
    path = tmp_path / name
    if name in BAD_FILES:
        path.write_bytes(BAD_FILES[name])
    elif name == "folder.csv":
        path.mkdir()
    assert_fails_cleanly(["batch", str(path), "--out", str(tmp_path / "o"), *model_args(tiny_ckpts)],
                         capsys, tmp_path)


# -- prompt files: bad rows go to errors.jsonl, the others are written --------------------------
BAD_ROWS = {
    "not json": "{prompt: C major}",
    "json array": "[1, 2]",
    "json string": '"C major"',
    "unknown column": '{"prompt": "C major", "tempo": 90}',
    "empty object": "{}",
    "bad prompt": '{"prompt": "H minor"}',
    "prompt not text": '{"prompt": 7}',
    "bpm not a number": '{"key": "C", "bpm": "fast"}',
    "bpm out of range": '{"key": "C", "bpm": 500}',
    "bpm nan": '{"key": "C", "bpm": "nan"}',
    "seed fraction": '{"prompt": "C major", "seed": 1.5}',
    "seed negative": '{"prompt": "C major", "seed": -3}',
    "seed too big": '{"prompt": "C major", "seed": 4294967296}',
    "unknown instrument": '{"key": "C", "instrument": "kazoo"}',
    "program out of range": '{"key": "C", "instrument": 200}',
    "unknown key": '{"key": "H"}',
    "instrument as key": '{"key": "violin"}',
    "bad meter": '{"key": "C", "meter": "5/4"}',
    "seconds zero": '{"prompt": "C major", "seconds": 0}',
    "seconds too long": '{"prompt": "C major", "seconds": 900}',
    "prompt and fields": '{"prompt": "C major", "key": "D"}',
    "too many bars": '{"prompt": "C major, 100 bpm", "seconds": 600}',
    "unknown chord symbol": '{"prompt": "C major", "chords": "C | H7"}',
    "chords that do not fit the form": '{"prompt": "C major", "chords": "C | F | G", "form": "AABA", '
                                       '"bars_per_section": 2}',
    "form too long": '{"prompt": "C major", "form": "AABA", "bars_per_section": 40}',
    "bars_per_section without form": '{"prompt": "C major", "bars_per_section": 4}',
}


@pytest.mark.parametrize("name", BAD_ROWS)
def test_bad_row_goes_to_errors_and_the_rest_go_on(name, tiny_ckpts, tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"prompt": "G major, 1 s", "seed": 1}\n' + BAD_ROWS[name] + "\n")
    out = tmp_path / "out"
    code, err = run(["batch", str(rows), "--out", str(out), *FAST, "--no-progress", *model_args(tiny_ckpts)], capsys)
    lines = error_lines(err)
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error: row 000001 (line 2): "), err
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert len(errors) == 1 and errors[0]["id"] == "000001" and "\n" not in errors[0]["error"]
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [r["id"] for r in manifest] == ["000000"]
    assert sorted(p.name for p in (out / "audio").iterdir()) == ["000000.wav"]  # nothing of the bad row
    assert not [p for p in out.rglob(".*")]  # no temporary files


def test_csv_row_with_extra_cells(tiny_ckpts, tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    rows.write_text('prompt,seed\n"C major, 1 s",1\n"D major, 1 s",2,extra\n')
    out = tmp_path / "out"
    code, err = run(["batch", str(rows), "--out", str(out), *FAST, "--no-progress", *model_args(tiny_ckpts)], capsys)
    assert code == 1 and "3 cells, the header has 2" in err
    assert (out / "audio" / "000000.wav").exists() and not (out / "audio" / "000001.wav").exists()


# -- MIDI files given to render --------------------------------------------------------------
def write_midi(path: Path, kind: str = "ok") -> None:
    if kind == "corrupt":
        path.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff\xff")
        return
    if kind == "empty":
        path.write_bytes(b"")
        return
    mid = mido.MidiFile(type=2 if kind == "type2" else 1, ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000)])
    if kind == "five_four":
        track.append(mido.MetaMessage("time_signature", numerator=5, denominator=4))
    if kind != "no_notes":
        for pitch in (60, 64, 67, 72):
            track.append(mido.Message("note_on", note=pitch, velocity=90, time=0))
            track.append(mido.Message("note_off", note=pitch, velocity=0, time=480))
    mid.tracks.append(track)
    mid.save(str(path))


@pytest.mark.parametrize("kind", ["corrupt", "empty", "type2", "no_notes", "five_four", "missing", "folder", "text"])
def test_bad_midi(kind, tiny_ckpts, tmp_path, capsys):
    src = tmp_path / "in.mid"
    if kind == "folder":
        src.mkdir()
    elif kind == "text":
        src.write_text("prompt\nC major\n")
    elif kind != "missing":
        write_midi(src, kind)
    assert_fails_cleanly(["render", str(src), "-o", str(tmp_path / "x.wav"), "--steps", "2",
                          *model_args(tiny_ckpts)[2:]], capsys, tmp_path)


# -- checkpoints -----------------------------------------------------------------------------
def bad_checkpoint(kind: str, ckpts: dict, folder: Path) -> tuple[str, Path]:
    """(which model it replaces, path) of a broken checkpoint."""
    from safetensors.torch import save_file

    path = folder / f"{kind}.safetensors"
    if kind == "missing":
        return "acoustic", path
    if kind == "folder":
        path.mkdir()
        return "codec", path
    if kind == "truncated":
        data = Path(ckpts["codec"]).read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return "codec", path
    if kind == "garbage":
        path.write_bytes(os.urandom(4096))
        return "structure", path
    if kind == "empty":
        path.write_bytes(b"")
        return "acoustic", path
    if kind == "foreign":
        save_file({"weight": torch.zeros(4)}, str(path))
        return "codec", path
    if kind == "future_version":
        save_file({"weight": torch.zeros(4)}, str(path), metadata={
            "format": "audiodiff", "format_version": "99", "kind": "codec", "config": "{}", "metadata": "{}"})
        return "codec", path
    if kind == "wrong_kind":
        return "codec", Path(ckpts["acoustic"])
    if kind == "wrong_kind_structure":
        return "structure", Path(ckpts["codec"])
    raise AssertionError(kind)


CHECKPOINT_KINDS = ["missing", "folder", "truncated", "garbage", "empty", "foreign", "future_version", "wrong_kind",
                    "wrong_kind_structure"]


@pytest.mark.parametrize("kind", CHECKPOINT_KINDS)
def test_bad_checkpoint_for_generate(kind, tiny_ckpts, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    name, path = bad_checkpoint(kind, tiny_ckpts, bad)
    line = assert_fails_cleanly(["generate", "C major, 1 s", "-o", str(tmp_path / "x.wav"), *FAST,
                                 *model_args(tiny_ckpts, **{name: str(path)})], capsys, tmp_path)
    assert path.name in line


@pytest.mark.parametrize("kind", ["truncated", "foreign", "wrong_kind"])
def test_bad_checkpoint_for_batch(kind, tiny_ckpts, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    name, path = bad_checkpoint(kind, tiny_ckpts, bad)
    (tmp_path / "in.csv").write_text("prompt\nC major\n")
    assert_fails_cleanly(["batch", str(tmp_path / "in.csv"), "--out", str(tmp_path / "o"),
                          *model_args(tiny_ckpts, **{name: str(path)})], capsys, tmp_path)


# -- output paths ----------------------------------------------------------------------------
OUTPUTS = ["unwritable", "exists", "is_dir", "no_parent", "sidecar_exists", "plan_out_is_dir"]


@pytest.mark.parametrize("case", OUTPUTS)
def test_bad_output_path_for_generate(case, tiny_ckpts, tmp_path, capsys):
    out, extra = tmp_path / "x.wav", []
    if case == "unwritable":
        out = Path("/proc/audiodiff-reliability.wav")  # no one, not even root, may create files here
    elif case == "exists":
        out.write_bytes(b"keep me")
    elif case == "is_dir":
        out.mkdir()
    elif case == "no_parent":
        out = tmp_path / "nowhere" / "x.wav"
    elif case == "sidecar_exists":
        (tmp_path / "x.json").write_text("{}")
    elif case == "plan_out_is_dir":
        (tmp_path / "p.mid").mkdir()
        extra = ["--plan-out", str(tmp_path / "p.mid"), "--force"]
    assert_fails_cleanly(["generate", "C major, 1 s", "-o", str(out), *FAST, *extra, *model_args(tiny_ckpts)],
                         capsys, tmp_path)
    if case == "exists":
        assert out.read_bytes() == b"keep me"


@pytest.mark.parametrize("case", ["unwritable", "is_file", "foreign_dir", "no_resume", "no_parent", "other_settings"])
def test_bad_output_dir_for_batch(case, tiny_ckpts, tmp_path, capsys):
    rows = tmp_path / "in.csv"
    rows.write_text('prompt\n"C major, 1 s"\n')
    out = tmp_path / "o"
    base = ["batch", str(rows), *FAST, "--no-progress", *model_args(tiny_ckpts)]
    if case == "unwritable":
        out = Path("/proc/audiodiff-reliability")
    elif case == "is_file":
        out.write_text("x")
    elif case == "foreign_dir":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    elif case == "no_parent":
        out = tmp_path / "nowhere" / "o"
    elif case in ("no_resume", "other_settings"):
        assert main([*base, "--out", str(out)]) == 0
        capsys.readouterr()
    argv = [*base, "--out", str(out)]
    if case == "other_settings":
        argv = [*argv, "--resume", "--guidance", "1.5"]
    line = assert_fails_cleanly(argv, capsys, tmp_path)
    if case == "other_settings":
        assert "guidance" in line


# -- NaN / inf from a model ------------------------------------------------------------------
def test_nan_rows_go_to_errors_not_to_wavs(tiny_ckpts, tmp_path, capsys, monkeypatch):
    from audiodiff.acoustic.net import AcousticNet

    monkeypatch.setattr(AcousticNet, "forward", lambda self, x, *args: torch.full_like(x, float("nan")))
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"prompt": "C major, 1 s"}\n{"prompt": "D minor, 1 s"}\n')
    out = tmp_path / "out"
    code, err = run(["batch", str(rows), "--out", str(out), *FAST, "--batch-size", "2", "--no-progress",
                     *model_args(tiny_ckpts)], capsys)
    assert code == 1
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert [e["id"] for e in errors] == ["000000", "000001"]
    assert all("NaN" in e["error"] for e in errors) and "NaN" in err
    assert list((out / "audio").iterdir()) == [] and (out / "manifest.jsonl").read_text() == ""


# -- issue 14: never silently wrong ------------------------------------------------------------
def write_two_part_midi(path: Path, change: str) -> None:
    """8 quarter notes, then a tempo change (120 -> 60 bpm) or a meter change (4/4 -> 3/4), then 6 more."""
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000),
                            mido.MetaMessage("time_signature", numerator=4, denominator=4)])
    for i in range(14):
        if i == 8:
            track.append(mido.MetaMessage("set_tempo", tempo=1000000) if change == "tempo" else
                         mido.MetaMessage("time_signature", numerator=3, denominator=4))
        track += [mido.Message("note_on", note=60 + i, velocity=90), mido.Message("note_off", note=60 + i, time=480)]
    mid = mido.MidiFile(ticks_per_beat=480)
    mid.tracks.append(track)
    mid.save(str(path))


MIDI_REFUSED = {  # kind -> what the one-line error must say
    "tempo_change": "tempo changes at 4 s, after 8 beats (120 -> 60 bpm)",
    "meter_change": "meter changes at 4 s, after 2 bars of 4/4 (4/4 -> 3/4)",
    "too_slow": "tempo 3.58 bpm is outside 40..240 bpm",
    "too_fast": "tempo 1200 bpm is outside 40..240 bpm",
    "empty": "empty file, not a MIDI file",
    "truncated": "truncated MIDI file",
}


def write_refused_midi(path: Path, kind: str) -> None:
    if kind in ("tempo_change", "meter_change"):
        write_two_part_midi(path, kind.split("_")[0])
    elif kind in ("too_slow", "too_fast"):
        write_midi(path)
        mid = mido.MidiFile(str(path))
        mid.tracks[0][0] = mido.MetaMessage("set_tempo", tempo=16759777 if kind == "too_slow" else 50000)
        mid.save(str(path))
    elif kind == "truncated":
        write_midi(path)
        path.write_bytes(path.read_bytes()[:30])
    else:
        write_midi(path, kind)


PLAYED_AS_WRITTEN = ("tempo_change", "meter_change", "too_slow", "too_fast")  # render plays these (below)


@pytest.mark.parametrize("command, kind", [("plan", kind) for kind in MIDI_REFUSED] +
                         [("render", kind) for kind in MIDI_REFUSED if kind not in PLAYED_AS_WRITTEN])
def test_midi_a_plan_cannot_hold_is_refused_in_one_line(command, kind, tiny_ckpts, tmp_path, capsys):
    src = tmp_path / "in.mid"
    write_refused_midi(src, kind)
    if command == "render":
        argv = ["render", str(src), "-o", str(tmp_path / "x.wav"), "--steps", "2", *model_args(tiny_ckpts)[2:]]
    else:
        argv = ["plan", "", "--from", str(src), "-o", str(tmp_path / "x.mid"), "--structure", tiny_ckpts["structure"]]
    assert MIDI_REFUSED[kind] in assert_fails_cleanly(argv, capsys, tmp_path)


@pytest.mark.parametrize("kind, seconds", [("tempo_change", 8 * 0.5 + 6 * 1.0), ("meter_change", 14 * 0.5),
                                           ("300_bpm", 4 * 0.2)])
def test_render_plays_a_midi_file_as_written(kind, seconds, tiny_ckpts, tmp_path, capsys):
    """Tempo and meter changes and a tempo outside the prompts' range: the notes sound at their real
    times (the audio lasts the file plus the release tail); the sidecar's plan labels the file with its
    first tempo and meter."""
    src, out = tmp_path / "in.mid", tmp_path / "out.wav"
    if kind == "300_bpm":
        write_midi(src)  # 4 quarter notes
        mid = mido.MidiFile(str(src))
        mid.tracks[0][0] = mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(300))
        mid.save(str(src))
    else:
        write_two_part_midi(src, kind.split("_")[0])
    code, err = run(["render", str(src), "-o", str(out), "--steps", "2", "--seed", "4",
                     *model_args(tiny_ckpts)[2:]], capsys)
    assert code == 0, err
    assert not [line for line in error_lines(err) if line.startswith("error")]
    audio, rate = sf.read(out, dtype="float32")
    assert rate == SR and len(audio) == pytest.approx((seconds + 1.0) * SR, abs=320)
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["seed"] == 4 and side["plan"] == "in.mid" and side["source"] == str(src)
    assert side["bpm"] == pytest.approx(300.0 if kind == "300_bpm" else 120.0)
    assert side["meter"] == "4/4"


def plan_from(source: Path, prompt: str, tiny_ckpts: dict, tmp_path: Path, *extra: str) -> list[str]:
    return ["plan", prompt, "--from", str(source), "-o", str(tmp_path / "x.mid"), "--plan-steps", "2",
            "--seed", "1", "--structure", tiny_ckpts["structure"], *extra]


def source_plan(tmp_path: Path, tiny_ckpts: dict) -> Path:
    """A 4-bar D minor, 96 bpm, 3/4 plan made by the tiny model."""
    path = tmp_path / "base.mid"
    assert main(["plan", "D minor, 96 bpm, 3/4, violin", "-o", str(path), "--bars", "4", "--plan-steps", "2",
                 "--seed", "3", "--structure", tiny_ckpts["structure"]]) == 0
    return path


@pytest.mark.parametrize("prompt,message", [
    ("E major, flute", "the prompt's key E major contradicts"),
    ("D minor, 6/8", "the prompt's meter 6/8 contradicts"),
    ("D minor, 30 s", "leave the length out of the prompt"),
])
def test_plan_from_refuses_a_prompt_that_contradicts_the_source(prompt, message, tiny_ckpts, tmp_path, capsys):
    source = source_plan(tmp_path, tiny_ckpts)
    capsys.readouterr()
    assert message in assert_fails_cleanly(plan_from(source, prompt, tiny_ckpts, tmp_path), capsys, tmp_path)


def test_plan_from_applies_the_prompts_key_tempo_and_instrument(tiny_ckpts, tmp_path, capsys):
    from audiodiff.music.midi import load_midi

    source = source_plan(tmp_path, tiny_ckpts)
    assert main(plan_from(source, "E minor, 140 bpm, flute", tiny_ckpts, tmp_path, "--extend", "1")) == 0
    plan, _ = load_midi(tmp_path / "x.mid")
    base, _ = load_midi(source)
    assert (plan.key.name, plan.bpm, plan.meter.name, plan.num_bars) == ("E minor", 140, "3/4", 5)
    assert plan.tracks[0].program == 73  # flute
    kept = [n for n in plan.tracks[0].notes if n.start < 4 * 12]
    assert [n.pitch for n in kept] == [n.pitch + 2 for n in base.tracks[0].notes if n.start < 4 * 12]
    # no instrument in the prompt: the source's melody keeps its program
    assert main(plan_from(source, "", tiny_ckpts, tmp_path, "--force")) == 0
    assert load_midi(tmp_path / "x.mid")[0].tracks[0].program == 40


BAD_PLAN_ARGUMENTS = {
    "keep bars backwards": (["--keep-bars", "4-1"], "'4-1' runs backwards; write 1-4"),
    "keep bar zero": (["--keep-bars", "0-2"], "bar numbers start at 1"),
    "keep bar past the end": (["--keep-bars", "1-9"], "bar 9 is past the end"),
    "extend negative": (["--extend", "-1"], "argument --extend: want a whole number"),
    "bars zero": (["--bars", "0"], "argument --bars: want a whole number"),
    "bars shorter than kept": (["--bars", "3"], "--bars 3 is shorter than the 4 bars kept"),
    "bars and extend": (["--bars", "8", "--extend", "2"], "give --bars or --extend, not both"),
    "too many bars": (["--extend", "200"], "204 bars (382.5 s at 96 bpm in 3/4) is too long: the structure model "
                                           "writes at most 128 bars (240 s at this tempo and meter)"),
}


@pytest.mark.parametrize("name", BAD_PLAN_ARGUMENTS)
def test_plan_from_bar_arguments_are_checked_with_clear_messages(name, tiny_ckpts, tmp_path, capsys):
    source = source_plan(tmp_path, tiny_ckpts)
    capsys.readouterr()
    extra, message = BAD_PLAN_ARGUMENTS[name]
    assert message in assert_fails_cleanly(plan_from(source, "", tiny_ckpts, tmp_path, *extra), capsys, tmp_path)


MORE_BAD_PROMPTS = {  # issue 14 items 3, 11, 13: prompt -> what the error says
    "a violin": "'a violin' is ambiguous",
    "Gm, gm 96": "key given twice",
    "violin " * 200: "at most 1000 are allowed",
    "x " * 600: "at most 1000 are allowed",
    "C major, 240.0001 bpm": "tempo 240.0001 bpm out of range",
    "C major, 120 bpm, 600 s": "300 bars (600 s at 120 bpm in 4/4) is too long: the structure model writes at most "
                               "128 bars (256 s at this tempo and meter)",
}


@pytest.mark.parametrize("prompt", MORE_BAD_PROMPTS)
def test_misread_or_hostile_prompt_is_refused(prompt, tiny_ckpts, tmp_path, capsys):
    start = time.monotonic()
    line = assert_fails_cleanly(["generate", prompt, "-o", str(tmp_path / "x.wav"), *FAST, *model_args(tiny_ckpts)],
                                capsys, tmp_path)
    assert MORE_BAD_PROMPTS[prompt] in line and time.monotonic() - start < 5


def test_a_batch_file_of_long_prompts_does_not_stall(tiny_ckpts, tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"prompt": "foo " * 250}) + "\n" for _ in range(200)))
    start = time.monotonic()
    code, err = run(["batch", str(rows), "--out", str(tmp_path / "o"), "--no-progress", *FAST,
                     *model_args(tiny_ckpts)], capsys)
    assert code == 1 and err.count("unknown word(s)") == 200 and time.monotonic() - start < 30


RANGE_ARGUMENTS = {  # issue 14 item 12: every sampler and thread setting has a range named in its error
    "steps too many": (["--steps", "100000"], "argument --steps: want a whole number in 1..1000"),
    "plan steps too many": (["--plan-steps", "5000"], "argument --plan-steps"),
    "threads too many": (["--threads", "1000"], "argument --threads: want a whole number in 1.."),
    "guidance nan": (["--guidance", "nan"], "argument --guidance: want a number in 0..20"),
    "guidance huge": (["--guidance", "1e30"], "argument --guidance"),
    "guidance negative": (["--guidance", "-3"], "argument --guidance"),
    "plan guidance inf": (["--plan-guidance", "inf"], "argument --plan-guidance"),
}


@pytest.mark.parametrize("name", RANGE_ARGUMENTS)
def test_sampler_arguments_out_of_range(name, tiny_ckpts, tmp_path, capsys):
    extra, message = RANGE_ARGUMENTS[name]
    line = assert_fails_cleanly(["generate", "C major, 1 s", "-o", str(tmp_path / "x.wav"), *extra,
                                 *model_args(tiny_ckpts)], capsys, tmp_path)
    assert message in line


@pytest.mark.parametrize("argv,message", [
    (["-o", "{d}/x.mp3"], "must end in .wav"),
    (["-o", "{d}/x.wav", "--plot", "{d}/x.jpg"], "must end in .png"),
    (["-o", "{d}/x.wav", "--plan-out", "{d}/x.txt"], "must end in .mid or .midi"),
])
def test_output_formats_are_named_by_their_suffix(argv, message, tiny_ckpts, tmp_path, capsys):
    argv = ["generate", "C major, 1 s", *[a.format(d=tmp_path) for a in argv], *FAST, *model_args(tiny_ckpts)]
    assert message in assert_fails_cleanly(argv, capsys, tmp_path)


@pytest.mark.parametrize("target", ["symlink", "device"])
def test_force_never_replaces_what_is_not_a_regular_file(target, tiny_ckpts, tmp_path, capsys):
    if target == "symlink":
        (tmp_path / "real.wav").write_bytes(b"keep me")
        out = tmp_path / "x.wav"
        out.symlink_to(tmp_path / "real.wav")
    else:
        out = tmp_path / "x.wav"
        os.mkfifo(out)  # a pipe: like /dev/null, not a regular file
    line = assert_fails_cleanly(["generate", "C major, 1 s", "-o", str(out), "--force", *FAST,
                                 *model_args(tiny_ckpts)], capsys, tmp_path)
    assert "not a regular file" in line
    assert target == "device" or (out.is_symlink() and (tmp_path / "real.wav").read_bytes() == b"keep me")


def test_nan_structure_checkpoint_is_a_runtime_error_not_a_traceback(tiny_ckpts, tmp_path, capsys):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    bad = tmp_path / "bad"
    bad.mkdir()
    path = bad / "structure.safetensors"
    with safe_open(tiny_ckpts["structure"], "pt") as f:
        metadata = f.metadata()
    save_file({k: torch.full_like(v, float("nan")) for k, v in load_file(tiny_ckpts["structure"]).items()},
              str(path), metadata=metadata)
    line = assert_fails_cleanly(["generate", "C major, 1 s", "-o", str(tmp_path / "x.wav"), *FAST,
                                 *model_args(tiny_ckpts, structure=str(path))], capsys, tmp_path, code=1)
    assert "structure model produced NaN" in line
    line = assert_fails_cleanly(["plan", "C major", "-o", str(tmp_path / "x.mid"), "--plan-steps", "2",
                                 "--structure", str(path)], capsys, tmp_path, code=1)
    assert "structure model produced NaN" in line


def test_runtime_failures_exit_1_and_usage_errors_2(tiny_ckpts, tmp_path, capsys, monkeypatch):
    from audiodiff.acoustic.net import AcousticNet

    argv = ["generate", "C major, 1 s", "-o", str(tmp_path / "x.wav"), *FAST, *model_args(tiny_ckpts)]
    assert_fails_cleanly([*argv, "--seed", "-1"], capsys, tmp_path, code=2)
    monkeypatch.setattr(AcousticNet, "forward", lambda self, x, *args: torch.full_like(x, float("nan")))
    assert "NaN" in assert_fails_cleanly(argv, capsys, tmp_path, code=1)


def test_version(capsys):
    from audiodiff import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"audiodiff {__version__}"


def test_old_option_names_still_work(tiny_ckpts, tmp_path, capsys):
    """plan --steps (now --plan-steps) and batch --out (now also -o) are still accepted."""
    assert main(["plan", "C major", "-o", str(tmp_path / "a.mid"), "--bars", "4", "--steps", "2", "--seed", "1",
                 "--structure", tiny_ckpts["structure"]]) == 0
    assert main(["plan", "C major", "-o", str(tmp_path / "b.mid"), "--bars", "4", "--plan-steps", "2", "--seed", "1",
                 "--structure", tiny_ckpts["structure"]]) == 0
    assert (tmp_path / "a.mid").read_bytes() == (tmp_path / "b.mid").read_bytes()
    rows = tmp_path / "rows.csv"
    rows.write_text('prompt\n"C major, 1 s"\n')
    for flag, name in (("-o", "o1"), ("--out", "o2")):
        assert main(["batch", str(rows), flag, str(tmp_path / name), "--no-progress", *FAST, "--plan-guidance", "1.5",
                     *model_args(tiny_ckpts)]) == 0
    a, b = (tmp_path / name / "audio" / "000000.wav" for name in ("o1", "o2"))
    assert a.read_bytes() == b.read_bytes()
    assert json.loads((tmp_path / "o1" / "batch.json").read_text())["plan_guidance"] == 1.5


def test_same_seed_same_threads_same_bytes_and_the_help_says_what_is_promised(tiny_ckpts, tmp_path, capsys):
    for name in ("a", "b"):
        assert main(["generate", "A minor, 2 s", "-o", str(tmp_path / f"{name}.wav"), "--seed", "5", "--threads", "1",
                     *FAST, *model_args(tiny_ckpts)]) == 0
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    assert json.loads((tmp_path / "a.json").read_text())["threads"] == 1
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "same seed gives the same bytes with the same --backend and --threads on the same machine" in text


SIGTERM_DURING_WRITE = """
import os, signal, sys
import audiodiff.io.audio as audio
from audiodiff.cli import main
write_wav = audio.write_wav
def killed_while_writing(path, *args):
    result = write_wav(path, *args)
    os.kill(os.getpid(), signal.SIGTERM)  # as if terminated in the middle of the write phase
    return result
audio.write_wav = killed_while_writing
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_during_the_write_phase_leaves_nothing_and_stale_partials_are_swept(tiny_ckpts, tmp_path):
    out = tmp_path / "x.wav"
    stale = tmp_path / ".x.wav.999999999.0123abcd.tmp.wav"  # from a run killed long ago (no such pid)
    stale.write_bytes(b"junk")
    done = subprocess.run([sys.executable, "-c", SIGTERM_DURING_WRITE, "generate", "C major, 1 s", "-o", str(out),
                           "--plan-out", str(tmp_path / "x.mid"), *FAST, *model_args(tiny_ckpts)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}, check=False)
    assert done.returncode == 143 and done.stderr.strip().splitlines()[-1] == "terminated", done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # the stale partial swept, nothing new left


def wav(path: Path, audio, rate: int = SR) -> None:
    sf.write(str(path), audio, rate, subtype="FLOAT")


def test_evaluate_flags_bad_audio_per_row_and_counts_it_as_failing(tmp_path, capsys):
    import numpy as np

    rng = np.random.default_rng(0)
    t = np.arange(2 * SR) / SR
    good = (0.3 * np.sin(2 * np.pi * 261.63 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
    clips = {"good": good, "empty": np.zeros(0, np.float32), "silent": np.zeros(2 * SR, np.float32),
             "short": good[: SR // 10], "nan": np.where(rng.random(2 * SR) < 0.01, np.nan, good).astype(np.float32)}
    for name, audio in clips.items():
        wav(tmp_path / f"{name}.wav", audio)
        (tmp_path / f"{name}.json").write_text(json.dumps({"key": "C major", "bpm": 120, "seconds": 2.0}))
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVE")  # unreadable
    (tmp_path / "broken.json").write_text(json.dumps({"key": "C major", "bpm": 120}))
    code, err = run(["evaluate", str(tmp_path), "--json", str(tmp_path / "scores.json")], capsys)
    assert code == 1, err
    scores = json.loads((tmp_path / "scores.json").read_text())
    problems = {c["name"]: c["problem"] for c in scores["clips"]}
    assert problems["good"] is None
    assert "empty audio" in problems["empty"] and "silent" in problems["silent"]
    assert "0.1 s long, its label says 2 s" in problems["short"] and "NaN" in problems["nan"]
    assert "not a readable audio file" in problems["broken"]
    summary = scores["summary"]
    assert summary["clips"] == 6 and summary["clips_failed"] == 5
    assert summary["key_exact"] <= 1 / 6 and summary["tempo_bin_near"] <= 1 / 6  # failures never count as right


def test_evaluate_reads_what_batch_writes_and_sidecars_without_their_mid(tiny_ckpts, tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    rows.write_text('prompt,seed\n"C major, 2 s",1\n')
    out = tmp_path / "o"
    assert main(["batch", str(rows), "-o", str(out), "--no-progress", *FAST, *model_args(tiny_ckpts)]) == 0
    run(["evaluate", str(out / "manifest.jsonl"), "--json", str(tmp_path / "s.json")], capsys)
    clip = json.loads((tmp_path / "s.json").read_text())["clips"][0]
    assert clip["problem"] is None and clip["onset_f1"] is not None  # the plan was found through 'midi'
    gen = tmp_path / "gen"
    gen.mkdir()
    assert main(["generate", "C major, 2 s", "-o", str(gen / "x.wav"), "--plan-out", str(gen / "x.mid"), "--seed", "1",
                 *FAST, *model_args(tiny_ckpts)]) == 0
    (gen / "x.mid").unlink()  # the plan is embedded in the sidecar too
    (gen / "y.wav").write_bytes((gen / "x.wav").read_bytes())
    (gen / "y.json").write_text("{not json")
    code, err = run(["evaluate", str(gen), "--json", str(tmp_path / "g.json")], capsys)
    assert code == 1, err  # an unusable sidecar fails its clip
    clip, failed = json.loads((tmp_path / "g.json").read_text())["clips"]
    assert clip["name"] == "x" and clip["onset_f1"] is not None
    assert failed["name"] == "y" and "y.json: unusable sidecar" in failed["problem"]


def test_pipeline_takes_what_a_user_would_pass(tiny_ckpts):
    import warnings

    from audiodiff.music.prompt import parse
    from audiodiff.pipeline import Pipeline

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipeline = Pipeline.load(tiny_ckpts["structure"], tiny_ckpts["acoustic"], tiny_ckpts["codec"])
    assert not [w for w in caught if issubclass(w.category, FutureWarning)]
    kwargs = dict(steps=2, plan_steps=2)
    by_text = pipeline.generate("D minor, 1 s, seed 3", **kwargs)
    by_prompt = pipeline.generate(parse("D minor, 1 s, seed 3"), **kwargs)
    by_list = pipeline.generate(["D minor, 1 s, seed 3", parse("E minor, 1 s, seed 4")], **kwargs)
    assert len(by_text) == len(by_prompt) == 1 and len(by_list) == 2
    assert (by_text[0].audio == by_prompt[0].audio).all() and (by_list[0].audio == by_text[0].audio).all()
    with pytest.raises(TypeError, match="a prompt is a text"):
        pipeline.generate([7], **kwargs)


# -- issue 26: never silently wrong, round two ------------------------------------------------------
def write_tune(path: Path, pitches: list[int], key: str | None = None, pickup: bool = False) -> Path:
    """A 4/4 tune of quarter notes at 120 quarters per minute (with a key signature, or a 1/4 pickup bar)."""
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000)])
    track.append(mido.MetaMessage("time_signature", numerator=1 if pickup else 4, denominator=4))
    if key:
        track.append(mido.MetaMessage("key_signature", key=key))
    for i, pitch in enumerate(pitches):
        if pickup and i == 1:
            track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4))
        track.append(mido.Message("note_on", note=pitch, velocity=90, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=480))
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    mid.tracks.append(track)
    mid.save(str(path))
    return path


def plan_argv(tiny_ckpts: dict, out: Path, prompt: str, *extra: str) -> list[str]:
    return ["plan", prompt, "-o", str(out), "--plan-steps", "2", "--seed", "1", "--structure", tiny_ckpts["structure"],
            *extra]


def test_given_chords_and_melody_set_the_length_in_plan_generate_and_batch(tiny_ckpts, tmp_path, capsys):
    """Item 1: material longer than the prompt's seconds is never cut, and plan, generate and batch agree."""
    from audiodiff.music.midi import load_midi
    from audiodiff.music.prompt import parse

    chords = "C | F | G7 | C"  # 4 bars at 120 bpm: 8 s
    assert main(plan_argv(tiny_ckpts, tmp_path / "p.mid", "C major, 120 bpm, 2 s", "--chords", chords)) == 0
    assert load_midi(tmp_path / "p.mid")[0].num_bars == 4
    assert "the chords set the length: 4 bars, 8 s at 120 bpm in 4/4" in capsys.readouterr().err
    assert main(["generate", "C major, 120 bpm, 2 s", "--chords", chords, "-o", str(tmp_path / "g.wav"),
                 "--plan-out", str(tmp_path / "g.mid"), "--seed", "1", *FAST, *model_args(tiny_ckpts)]) == 0
    err = capsys.readouterr().err
    assert "the chords set the length: 4 bars, 8 s" in err and "not the prompt's 2 s" in err
    assert sf.info(str(tmp_path / "g.wav")).duration >= 8.0 and load_midi(tmp_path / "g.mid")[0].num_bars == 4
    side = json.loads((tmp_path / "g.json").read_text())
    assert abs(parse(side["prompt"]).seconds - side["seconds"]) < 0.05  # the length the material set (item 12)
    assert main(["generate", side["prompt"], "--chords", chords, "-o", str(tmp_path / "again.wav"), *FAST,
                 *model_args(tiny_ckpts)]) == 0  # ... and the sidecar's prompt makes the same clip again
    assert (tmp_path / "again.wav").read_bytes() == (tmp_path / "g.wav").read_bytes()
    tune = write_tune(tmp_path / "tune.mid", [60, 62, 64, 65] * 4)  # 4 bars at 120 bpm
    assert main(["generate", "C major, 2 s", "--melody", str(tune), "-o", str(tmp_path / "m.wav"), "--plan-out",
                 str(tmp_path / "m.mid"), "--seed", "1", *FAST, *model_args(tiny_ckpts)]) == 0
    got = load_midi(tmp_path / "m.mid")[0]
    assert got.num_bars == 4 and [n.pitch for n in got.melody.notes] == [60, 62, 64, 65] * 4
    rows = tmp_path / "rows.csv"
    rows.write_text('prompt,seed,chords\n"flute, 120 bpm, 2 s",1,Am | Dm | E7 | Am\n')
    assert main(["batch", str(rows), "-o", str(tmp_path / "o"), "--no-progress", *FAST, *model_args(tiny_ckpts)]) == 0
    assert "the chords set the length" in capsys.readouterr().err
    record = json.loads((tmp_path / "o" / "manifest.jsonl").read_text().splitlines()[0])
    assert [c[0] for c in record["chords"]] == ["Am", "Dm", "E7", "Am"] and record["seconds"] >= 8.0
    assert abs(parse(record["prompt"]).seconds - record["seconds"]) < 0.05


def test_the_default_length_never_cuts_a_progression_mid_bar(tiny_ckpts, tmp_path, capsys):
    from audiodiff.music.midi import load_midi

    assert main(["generate", "C major", "--chords", "C | Am | F | G | C", "-o", str(tmp_path / "g.wav"),  # 12 s
                 "--plan-out", str(tmp_path / "g.mid"), "--seed", "1", *FAST, *model_args(tiny_ckpts)]) == 0
    assert load_midi(tmp_path / "g.mid")[0].num_bars == 5 and sf.info(str(tmp_path / "g.wav")).duration >= 12.0
    assert "set the length" not in capsys.readouterr().err  # the prompt gave no seconds: nothing overridden


@pytest.mark.parametrize("chords, key", [("Em | C | D | Em", "E minor"), ("Am | F | G | Am", "A minor"),
                                         ("Bm | G | A | Bm", "B minor"), ("Am | G | F | G", "A minor")])
def test_minor_progressions_are_read_in_minor(chords, key, tiny_ckpts, tmp_path, capsys):
    """Item 2 (the table of progressions is in tests/music/test_chords.py)."""
    from audiodiff.music.midi import load_midi

    assert main(plan_argv(tiny_ckpts, tmp_path / "p.mid", "", "--chords", chords)) == 0
    assert load_midi(tmp_path / "p.mid")[0].key.name == key
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"prompt": f"{key}, 1 s", "chords": chords, "seed": 1}) + "\n")
    assert main(["batch", str(rows), "-o", str(tmp_path / "o"), "--no-progress", *FAST, *model_args(tiny_ckpts)]) == 0
    assert "suggest" not in capsys.readouterr().err


ISSUE_26_BAD = {  # item -> (argv after the command's own, what the one line says)
    "bars per section zero": (["--form", "AB", "--bars-per-section", "0"], "--bars-per-section must be a whole number"),
    "form empty": (["--form", ""], "--form wants 1..16 capital letters A-Z"),
    "form empty with bars": (["--form", "", "--bars-per-section", "2"], "--form wants 1..16 capital letters A-Z"),
    "form umlaut": (["--form", "AÄ"], "--form wants 1..16 capital letters A-Z"),
    "chords empty": (["--chords", ""], "no chords in ''"),
    "form chords one count": (["--form", "AB", "--bars-per-section", "2", "--chords", "C | F | G"],
                              "needs 4$"),
    "pickup": (["--melody", "PICKUP"], "a pickup \\(anacrusis\\) written as a short bar"),
}


@pytest.mark.parametrize("name", ISSUE_26_BAD)
@pytest.mark.parametrize("command", ["plan", "generate"])
def test_material_options_refuse_what_they_cannot_keep(name, command, tiny_ckpts, tmp_path, capsys):
    """Items 3, 10, 12: 0 bars per section, an empty or non-ASCII form, a pickup bar, one count said once."""
    import re

    write_tune(tmp_path / "pickup.mid", [67, 60, 62, 64, 65], pickup=True)
    extra, message = ISSUE_26_BAD[name]
    extra = [str(tmp_path / "pickup.mid") if a == "PICKUP" else a for a in extra]
    if command == "plan":
        argv = plan_argv(tiny_ckpts, tmp_path / "x.mid", "C major", *extra)
    else:
        argv = ["generate", "C major", "-o", str(tmp_path / "x.wav"), *extra, *FAST, *model_args(tiny_ckpts)]
    assert re.search(message, assert_fails_cleanly(argv, capsys, tmp_path))


def test_a_batch_row_with_zero_bars_per_section_is_refused(tiny_ckpts, tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"prompt": "C major", "form": "AB", "bars_per_section": 0}\n')
    code, err = run(["batch", str(rows), "--out", str(tmp_path / "o"), *FAST, "--no-progress",
                     *model_args(tiny_ckpts)], capsys)
    assert code == 1 and "bars-per-section must be a whole number >= 1, got 0" in err


def test_a_melody_that_breaks_the_forms_promises_says_which(tiny_ckpts, tmp_path, capsys):
    """Item 4: --form AA with a melody whose halves differ and that ends off the tonic."""
    from audiodiff.music.midi import load_midi

    tune = write_tune(tmp_path / "tune.mid", [60, 62, 64, 65] * 2 + [67, 69, 71, 72, 71, 69, 67, 62])
    assert main(plan_argv(tiny_ckpts, tmp_path / "p.mid", "C major", "--form", "AA", "--bars-per-section", "2",
                          "--melody", str(tune))) == 0
    err = capsys.readouterr().err
    assert "warning: --form AA: bars 3-4 (a repeat of section A) differ from its first time" in err
    assert "the melody ends on D, not on the tonic C: the piece does not end on the tonic" in err
    assert [n.pitch for n in load_midi(tmp_path / "p.mid")[0].melody.notes][8:] == [67, 69, 71, 72, 71, 69, 67, 62]
    same = write_tune(tmp_path / "same.mid", [60, 62, 64, 65, 67, 65, 64, 62] * 2 + [])
    assert main(plan_argv(tiny_ckpts, tmp_path / "q.mid", "C major", "--form", "AA", "--bars-per-section", "2",
                          "--melody", str(same))) == 0
    assert "differ" not in capsys.readouterr().err


def test_the_python_api_reports_every_substitution(tiny_ckpts):
    """Item 5: what the CLI warns about is in pipeline.warnings."""
    from audiodiff.music.plan import Note, Plan, Track
    from audiodiff.music.prompt import parse
    from audiodiff.music.theory import Key, Meter
    from audiodiff.pipeline import Pipeline

    pipeline = Pipeline.load(tiny_ckpts["structure"], tiny_ckpts["acoustic"], tiny_ckpts["codec"])
    result = pipeline.generate([parse("C major, banjo, 2 s, seed 1")], steps=2, plan_steps=2)[0]
    assert result.plan.melody.program != 105
    assert [w for w in pipeline.warnings if w.startswith("program 106 (banjo) is not among")]
    plan = Plan(Key(0, "major"), 120.0, Meter(4, 4), [Track("lead", 80, [Note(60, 0, 8)])], [None] * 4, 16)
    pipeline.render([plan], [1], steps=2)
    assert [w for w in pipeline.warnings if w.startswith("program 81 (lead 1 (square)) is not among")]


def test_evaluate_scores_mp3_in_a_folder_and_fails_a_clip_with_an_unreadable_sidecar(tmp_path, capsys):
    """Item 6."""
    import numpy as np

    t = np.arange(2 * SR) / SR
    tone = (0.3 * np.sin(2 * np.pi * 261.63 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
    sf.write(str(tmp_path / "a.mp3"), tone, SR, format="MP3")
    (tmp_path / "a.json").write_text(json.dumps({"key": "C major", "bpm": 120}))
    code, err = run(["evaluate", str(tmp_path), "--json", str(tmp_path / "s.json")], capsys)
    assert code == 0 and json.loads((tmp_path / "s.json").read_text())["clips"][0]["name"] == "a"
    wav(tmp_path / "b.wav", tone)
    (tmp_path / "b.json").write_text("{not json")
    code, err = run(["evaluate", str(tmp_path), "--json", str(tmp_path / "s.json"), "--force"], capsys)
    scores = json.loads((tmp_path / "s.json").read_text())
    assert code == 1 and scores["summary"]["clips_failed"] == 1
    assert "unusable sidecar" in {c["name"]: c["problem"] for c in scores["clips"]}["b"]


@pytest.fixture(scope="module")
def made_clip(tiny_ckpts, tmp_path_factory) -> Path:
    """A 2 s clip made by generate, with its sidecar."""
    folder = tmp_path_factory.mktemp("made")
    assert main(["generate", "G major, 120 bpm, 2 s", "-o", str(folder / "c.wav"), "--seed", "2", *FAST,
                 *model_args(tiny_ckpts)]) == 0
    return folder / "c.wav"


SIDECAR_EDITS = {  # item 7, 8: field -> (its bad value, what the one line says)
    "pitch": (lambda s: s["plan_data"]["tracks"][0]["notes"][0].__setitem__(0, 200), "notes\\[0\\] pitch is 200"),
    "start": (lambda s: s["plan_data"]["tracks"][0]["notes"][0].__setitem__(1, -5), "notes\\[0\\] start is -5"),
    "num_steps": (lambda s: s["plan_data"].__setitem__("num_steps", 10**9), "plan_data num_steps is 1000000000"),
    "steps": (lambda s: s.__setitem__("steps", 0), "steps is 0, want a whole number in 1..1000"),
    "guidance": (lambda s: s.__setitem__("guidance", "loud"), "guidance is 'loud', want a number"),
    "seed": (lambda s: s.__setitem__("seed", -1), "seed is -1, want a whole number"),
    "seconds": (lambda s: s.__setitem__("seconds", "long"), "seconds is 'long', want a number"),
    "prompt": (lambda s: s.__setitem__("prompt", "H minor"), "prompt 'H minor' does not parse"),
    "plan": (lambda s: s.__setitem__("plan_data", {"key": "C major"}), "plan_data is not a plan"),
}


@pytest.mark.parametrize("field", SIDECAR_EDITS)
def test_every_sidecar_field_is_checked_by_extend(field, made_clip, tiny_ckpts, tmp_path, capsys):
    import re
    import shutil

    clip = tmp_path / "c.wav"
    shutil.copy(made_clip, clip)
    side = json.loads(made_clip.with_suffix(".json").read_text())
    edit, message = SIDECAR_EDITS[field]
    edit(side)
    clip.with_suffix(".json").write_text(json.dumps(side))
    line = assert_fails_cleanly(["extend", str(clip), "--seconds", "2", *model_args(tiny_ckpts)], capsys, tmp_path)
    assert re.search(message, line), line


@pytest.mark.parametrize("seconds, message", [
    ("inf", "--seconds must be positive and finite, got inf"), ("nan", "--seconds must be positive and finite"),
    ("600", "--seconds 600: the clip \\(2 s\\) would last 602 s \\(301 bars at 120 bpm in 4/4\\); at most 256 s"),
])
def test_extend_says_its_limits_in_seconds(seconds, message, made_clip, tiny_ckpts, capsys):
    import re

    line = assert_fails_cleanly(["extend", str(made_clip), "--seconds", seconds, *model_args(tiny_ckpts)], capsys,
                                made_clip.parent)
    assert re.search(message, line), line


def test_extend_writes_the_new_length_into_the_prompt(made_clip, tiny_ckpts, tmp_path):
    out = tmp_path / "longer.wav"
    assert main(["extend", str(made_clip), "--seconds", "1", "-o", str(out), *model_args(tiny_ckpts)]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["prompt"] == "G major, 120 bpm, 4/4, acoustic grand " \
                                                                          "piano, 3 s, seed 2"


def test_one_key_finder_for_a_melody_file(tiny_ckpts, tmp_path, capsys):
    """Item 9: the key a melody file suggests is the key it is read in without one."""
    from audiodiff.music.midi import load_midi

    tune = write_tune(tmp_path / "aminor.mid", [69, 72, 76, 72, 71, 68, 69, 64, 69], key="Am")
    assert main(plan_argv(tiny_ckpts, tmp_path / "a.mid", "", "--melody", str(tune))) == 0
    assert load_midi(tmp_path / "a.mid")[0].key.name == "A minor"
    assert main(plan_argv(tiny_ckpts, tmp_path / "d.mid", "D major, flute", "--melody", str(tune))) == 0
    assert ("warning: --melody suggests A minor, the prompt asks for D major; using D major"
            in capsys.readouterr().err)


def test_unicode_accidentals_in_chords_and_flats_written_back(tiny_ckpts, tmp_path):
    """Items 11, 12: C♯m and B♭ read as C#m and Bb; Bbm is written back as Bbm, not A#m."""
    from audiodiff.music.midi import load_midi

    assert main(plan_argv(tiny_ckpts, tmp_path / "p.mid", "F major", "--chords", "C♯m | B♭ | Bbm | F")) == 0
    plan = load_midi(tmp_path / "p.mid")[0]
    assert [c.symbol_in(plan.key) for c in plan.chords[:16:4]] == ["Dbm", "Bb", "Bbm", "F"]
    assert plan.to_dict()["chords"][8] == "Bbm"


def test_render_says_when_seconds_ask_for_more_than_the_file(tiny_ckpts, tmp_path, capsys):
    write_midi(tmp_path / "in.mid")  # 4 quarters at 120: 2 s
    assert main(["render", str(tmp_path / "in.mid"), "-o", str(tmp_path / "x.wav"), "--seconds", "20", "--steps", "2",
                 *model_args(tiny_ckpts)[2:]]) == 0
    assert "--seconds 20 is longer than" in capsys.readouterr().err and sf.info(str(tmp_path / "x.wav")).duration < 4
