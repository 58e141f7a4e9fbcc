"""audiodiff batch: rows -> WAV + MIDI + annotations + manifest; grid; resume; workers and torchrun shards."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch

from audiodiff.batch.grid import grid_rows, parse_bpm_range
from audiodiff.batch.rows import read_rows
from audiodiff.batch.run import chunks_of
from audiodiff.cli import main
from audiodiff.music.midi import load_midi
from audiodiff.music.theory import ALL_KEYS, Chord

SR = 24000
FAST = ["--steps", "2", "--plan-steps", "2", "--threads", "1", "--no-progress"]
ROWS = [
    '{"prompt": "D minor, 96 bpm, 3/4, violin", "seed": 7, "seconds": 2}',
    '{"key": "F# minor", "bpm": 60, "meter": "6/8", "instrument": "flute", "seconds": 1.5}',
    '{"key": "Bb", "instrument": 41, "seconds": 1}',
    '{"prompt": "G major, 140 bpm, 2/4, 1 s"}',
    '{"prompt": "A minor, 1 s", "seed": 3}',
]


def model_args(ckpts: dict) -> list[str]:
    return [a for name in ("structure", "acoustic", "codec") for a in (f"--{name}", ckpts[name])]


def batch(ckpts, source, out, *extra: str) -> int:
    return main(["batch", str(source), "--out", str(out), *FAST, *extra, *model_args(ckpts)])


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def rows_file(tmp_path) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(ROWS) + "\n")
    return path


def test_batch_writes_audio_midi_annotations_and_manifests(tiny_ckpts, rows_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert batch(tiny_ckpts, rows_file, out) == 0
    assert capsys.readouterr().out.strip() == f"{out}: 5 rows, 5 written (0 already done), 0 failed; " \
                                              f"manifest {out / 'manifest.jsonl'}"
    records = jsonl(out / "manifest.jsonl")
    assert [r["id"] for r in records] == [f"{i:06d}" for i in range(5)]
    first = records[0]
    assert {k: first[k] for k in ("key", "mode", "bpm", "meter", "instrument", "program", "seconds", "seed")} == {
        "key": "D minor", "mode": "minor", "bpm": 96.0, "meter": "3/4", "instrument": "violin", "program": 41,
        "seconds": 2.0, "seed": 7}
    assert first["programs"][0] == 41 and first["prompt"] == "D minor, 96 bpm, 3/4, violin, 2 s, seed 7"
    assert len(first["structure_sha256"]) == 16 and first["input"]["seed"] == 7
    assert records[1]["meter"] == "6/8" and records[1]["bpm"] == 60.0 and records[1]["program"] == 74
    assert records[2]["program"] == 41 and records[2]["key"] == "Bb major"  # GM number 41 = violin
    # a row without a seed gets the documented one (golden value derived in tests/batch/test_rows.py)
    assert records[3]["seed"] == 246049999 and records[1]["seed"] != records[2]["seed"]
    for r in records:
        info = sf.info(out / r["audio"])
        assert info.samplerate == SR and info.frames == r["num_samples"] == round(r["seconds"] * SR)
        plan, report = load_midi(out / r["midi"])
        assert report.num_moved == 0 and plan.key.name == r["key"]
        ann = json.loads((out / r["annotations"]).read_text())
        assert ann["tracks"] == r["tracks"] and ann["chords"] == r["chords"]
        for track in r["tracks"]:
            for pitch, onset, offset, velocity in track["notes"]:
                assert 0 <= pitch < 128 and 0 <= onset <= offset <= r["seconds"] and 1 <= velocity <= 127
        assert all(start < end <= r["seconds"] for _, start, end in r["chords"])
        assert r["beats"][0] == 0.0 and r["downbeats"][0] == 0.0
    with open(out / "manifest.csv", newline="") as f:
        flat = list(csv.DictReader(f))
    assert [row["id"] for row in flat] == [r["id"] for r in records]
    assert flat[0]["annotations"] == "annotations/000000.json" and flat[0]["programs"].split()[0] == "41"
    assert (out / "errors.jsonl").read_text() == ""
    assert not [p for p in out.rglob(".*")]


def test_resume_skips_finished_rows_and_redoes_partial_ones(tiny_ckpts, rows_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert batch(tiny_ckpts, rows_file, out) == 0
    wav = (out / "audio" / "000002.wav").read_bytes()
    (out / "records" / "000002.json").unlink()  # as if killed after the WAV, before the record
    (out / "audio" / "000002.wav").write_bytes(b"torn")
    (out / "audio" / ".000002.wav.999.deadbeef.tmp.wav").write_bytes(b"stale")
    capsys.readouterr()
    assert batch(tiny_ckpts, rows_file, out, "--resume") == 0
    assert "5 written (4 already done)" in capsys.readouterr().out
    assert (out / "audio" / "000002.wav").read_bytes() == wav
    assert len(jsonl(out / "manifest.jsonl")) == 5 and not [p for p in out.rglob(".*")]


def test_two_workers_write_the_same_files_as_one(tiny_ckpts, rows_file, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert batch(tiny_ckpts, rows_file, one, "--batch-size", "2") == 0
    assert batch(tiny_ckpts, rows_file, two, "--batch-size", "2", "--workers", "2") == 0
    for sub in ("audio", "midi", "annotations", "records"):
        names = sorted(p.name for p in (one / sub).iterdir())
        assert names == sorted(p.name for p in (two / sub).iterdir()) and len(names) == 5
        for name in names:
            assert (one / sub / name).read_bytes() == (two / sub / name).read_bytes(), (sub, name)
    for name in ("manifest.jsonl", "manifest.csv", "errors.jsonl"):
        assert (one / name).read_bytes() == (two / name).read_bytes()


def test_torchrun_ranks_share_the_rows(tiny_ckpts, rows_file, tmp_path):
    """Two processes with RANK/WORLD_SIZE as torchrun sets them: no duplicates, no gaps, rank 0 gathers."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "audiodiff", "batch", str(rows_file), "--out", str(out), *FAST,
           *model_args(tiny_ckpts)]
    procs = [subprocess.Popen(cmd, env={**os.environ, "RANK": str(r), "WORLD_SIZE": "2", "LOCAL_RANK": str(r),
                                        "PYTHONWARNINGS": "ignore"},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert outputs[1][0].strip() == "rank 1: 2 rows, 0 already done, 0 failed"
    assert "5 rows, 5 written" in outputs[0][0]
    assert [r["index"] for r in jsonl(out / "manifest.jsonl")] == list(range(5))
    single = tmp_path / "single"
    assert batch(tiny_ckpts, rows_file, single) == 0
    for name in sorted(p.name for p in (single / "audio").iterdir()):
        assert (single / "audio" / name).read_bytes() == (out / "audio" / name).read_bytes()


def test_grid_covers_keys_tempos_meters_and_seeds(tiny_ckpts, tmp_path, capsys):
    rows = grid_rows("60:100:20", "3/4,4/4", "piano,violin", 2, 1.0)
    assert len(rows) == 24 * 3 * 2 * 2 * 2
    assert {r.prompt.key for r in rows} == set(ALL_KEYS)
    assert sorted({r.prompt.bpm for r in rows}) == [60, 80, 100] and {r.prompt.seed for r in rows} == {0, 1}
    assert parse_bpm_range("60:180:20") == [60, 80, 100, 120, 140, 160, 180] and parse_bpm_range("90,120") == [90, 120]
    out = tmp_path / "grid"
    assert main(["batch", "--grid", "--bpm", "120", "--seconds", "1", "--out", str(out), *FAST,
                 *model_args(tiny_ckpts)]) == 0
    records = jsonl(out / "manifest.jsonl")
    assert len(records) == 24 and len({r["key"] for r in records}) == 24
    assert {(r["bpm"], r["meter"], r["instrument"], r["seed"], r["seconds"]) for r in records} == {
        (120.0, "4/4", "acoustic grand piano", 0, 1.0)}


def test_shards_have_no_duplicates_and_no_gaps(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("prompt\n" + "".join(f'"C major, seed {i}"\n' for i in range(11)))
    rows = read_rows(path)
    for batch_size in (1, 2, 4):
        for world in (1, 2, 3):
            got = sorted(r.index for rank in range(world) for c in chunks_of(rows, batch_size, rank, world) for r in c)
            assert got == list(range(11))
    assert [r.index for c in chunks_of(rows, 1, 1, 3) for r in c] == [1, 4, 7, 10]  # row i -> rank i % world
    assert [r.prompt.seed for r in rows] == list(range(11))


def test_killed_and_resumed_batch_equals_an_uninterrupted_run_byte_for_byte(tiny_ckpts, tmp_path):
    """SIGKILL twice at random moments mid-run, then --resume: every output file equals the one an
    uninterrupted run writes (same threads). Identical rows without a seed still give different audio."""
    import random
    import signal
    import time

    rows = tmp_path / "rows.csv"
    lines = ["prompt,seconds"] + [f'"{key} major, {80 + 5 * i} bpm",1' for i, key in enumerate("CDEFGAB")]
    rows.write_text("\n".join(lines + ['"C major, 80 bpm",1', '"C major, 80 bpm",1']) + "\n")
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert batch(tiny_ckpts, rows, whole) == 0
    cmd = [sys.executable, "-m", "audiodiff", "batch", str(rows), "--out", str(killed), "--resume", *FAST,
           *model_args(tiny_ckpts)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    rng, kills = random.Random(1), 0

    def finished() -> int:
        return len(list((killed / "records").glob("*.json")))

    def working() -> bool:
        """The run is doing rows: the first created the batch, a resumed one finished a row of its own."""
        return finished() > done_before if kills else (killed / "batch.json").exists()

    while kills < 2:
        done_before = finished() if killed.exists() else 0
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        while proc.poll() is None and not working():
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
        assert proc.poll() is None, "finished before the kill; the test wants kills mid-run"
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kills += 1
    assert batch(tiny_ckpts, rows, killed, "--resume") == 0
    files = sorted(str(p.relative_to(whole)) for p in whole.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(killed)) for p in killed.rglob("*") if p.is_file())
    assert len([f for f in files if f.startswith("audio/")]) == 9
    for name in files:
        assert (whole / name).read_bytes() == (killed / name).read_bytes(), name
    assert (whole / "audio" / "000007.wav").read_bytes() != (whole / "audio" / "000008.wav").read_bytes()


def test_resume_refuses_a_batch_made_with_other_checkpoints(tiny_ckpts, rows_file, tmp_path, capsys):
    from audiodiff.codec.model import Codec, CodecConfig, save_codec

    out = tmp_path / "out"
    assert batch(tiny_ckpts, rows_file, out) == 0
    torch.manual_seed(5)
    other = save_codec(Codec(CodecConfig.preset("tiny")), tmp_path / "other_codec.safetensors")
    capsys.readouterr()
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert batch({**tiny_ckpts, "codec": str(other)}, rows_file, out, "--resume") == 2
    err = capsys.readouterr().err
    assert "other settings (checkpoints differ)" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_chords_rows_reach_the_plan_and_a_bad_symbol_fails_only_its_row(tiny_ckpts, tmp_path, capsys):
    """A chords column: the plan MIDI, the annotations and the record hold the requested chords; a row
    with an unknown symbol is reported with generate --chords's line and the others are written."""
    rows = tmp_path / "rows.csv"
    rows.write_text('prompt,seed,seconds,chords,form,bars_per_section\n'
                    '"D minor, 96 bpm, 3/4",1,4,Dm | Gm A7,,\n'
                    '"C major",2,1,C | H7,,\n'
                    '"E minor",3,1,Dm | Gm A7 | Dm,,\n'
                    '"A minor, 120 bpm, 4/4",4,,,AABA,1\n')
    out = tmp_path / "out"
    assert batch(tiny_ckpts, rows, out) == 1
    captured = capsys.readouterr()
    assert f"{out}: 4 rows, 3 written (0 already done), 1 failed" in captured.out
    assert "warning: row 000002 (line 4): the chords suggest D minor, the row asks for E minor; using E minor; " \
        "the chords set the length: 3 bars, 7.2 s at 100 bpm in 4/4 (and a 1 s release), not the prompt's 1 s\n" \
        in captured.err
    bad = "unknown chord symbol 'H7'; accepted: root A-G with optional # or b"
    assert f"error: row 000001 (line 3): {bad}" in captured.err
    [error] = jsonl(out / "errors.jsonl")
    assert error["id"] == "000001" and error["error"].startswith(bad) and "\n" not in error["error"]
    assert not (out / "audio" / "000001.wav").exists() and not (out / "records" / "000001.json").exists()
    records = {r["id"]: r for r in jsonl(out / "manifest.jsonl")}
    assert sorted(records) == ["000000", "000002", "000003"]

    # D minor, 96 bpm, 3/4: a beat is 0.625 s, 4 s are 6.4 beats, so the MIDI holds 3 bars;
    # bars Dm | Gm A7 (2 + 1 beats) repeat
    dm, gm, a7 = Chord(2, "min"), Chord(7, "min"), Chord(9, "7")
    plan, _ = load_midi(out / "midi" / "000000.mid")
    assert plan.num_bars == 3 and plan.chords == [dm] * 3 + [gm] * 2 + [a7] + [dm] * 3
    first = records["000000"]
    assert first["chords"] == [["Dm", 0.0, 1.875], ["Gm", 1.875, 3.125], ["A7", 3.125, 3.75], ["Dm", 3.75, 4.0]]
    assert (first["given_chords"], first["form"], first["bars_per_section"]) == ("Dm | Gm A7", None, None)
    assert records["000002"]["key"] == "E minor" and load_midi(out / "midi" / "000002.mid")[0].chords[:4] == [dm] * 4

    # AABA with one bar per section at 120 bpm: 4 bars, ending on the tonic chord A minor
    form, _ = load_midi(out / "midi" / "000003.mid")
    assert form.num_bars == 4 and form.chords[-4:] == [Chord(9, "min")] * 4
    assert (records["000003"]["form"], records["000003"]["bars_per_section"]) == ("AABA", 1)
    assert records["000003"]["seconds"] >= 8.0  # the form sets the length: 4 bars of 2 s
    with open(out / "manifest.csv", newline="") as f:
        flat = {row["id"]: row for row in csv.DictReader(f)}
    assert flat["000000"]["given_chords"] == "Dm | Gm A7" and flat["000003"]["form"] == "AABA"
