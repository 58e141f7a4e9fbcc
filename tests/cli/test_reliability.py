"""Bad input of every kind gives one line ``error: ...`` on stderr, a non-zero exit and no partial file;
a batch killed with SIGKILL and resumed ends complete; NaN from a model is an error, not noise.

The CLI runs in-process (audiodiff.cli.main) except where a process must be killed.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
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


# -- SIGKILL at random moments, then resume ----------------------------------------------------
def test_batch_killed_at_random_moments_resumes_to_a_complete_dataset(tiny_ckpts, tmp_path):
    rows = tmp_path / "rows.csv"
    lines = ["prompt,seconds"] + [f'"{key} major, {80 + 5 * i} bpm",{1 + i % 2}'
                                  for i, key in enumerate("CDEFGAB" * 3)]
    rows.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "audiodiff", "batch", str(rows), "--out", str(out), "--resume", "--no-progress",
           *FAST, "--threads", "1", *model_args(tiny_ckpts)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    rng = random.Random(0)
    kills = 0
    for _ in range(15):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        # batch.json appears once the models are loaded and the directory checked: the work starts
        while proc.poll() is None and not (out / "batch.json").exists():
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.5))  # a random moment within the work (~0.1 s a row here)
        if proc.poll() is not None:
            proc.communicate()
            if (out / "manifest.jsonl").exists():
                shutil.rmtree(out)  # finished before the kill: start again, the test wants kills mid-run
            continue
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kills += 1
        if kills == 5:
            break
    assert kills == 5
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [r["index"] for r in manifest] == list(range(21))  # every row exactly once, in order
    assert (out / "errors.jsonl").read_text() == ""
    for record in manifest:
        info = sf.info(out / record["audio"])
        assert info.samplerate == SR and info.frames == record["seconds"] * SR == record["num_samples"]
        sf.read(out / record["audio"])  # decodes
        mido.MidiFile(out / record["midi"])
    assert not [p for p in out.rglob(".*")]  # no temporary files left
