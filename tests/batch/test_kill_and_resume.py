"""A batch killed (SIGKILL, SIGTERM) at any moment resumes to a complete dataset; its worker processes die
with it; one run at a time holds an output directory (stale locks of killed runs are taken over)."""
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

from audiodiff.batch.lock import LOCK_NAME, pid_alive
from audiodiff.cli import main

SR = 24000
FAST = ["--steps", "2", "--plan-steps", "2"]
ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


def model_args(ckpts: dict) -> list[str]:
    return [a for name in ("structure", "acoustic", "codec") for a in (f"--{name}", ckpts[name])]


def write_rows(path: Path, n: int) -> Path:
    keys = "CDEFGAB" * n
    lines = ["prompt,seconds"] + [f'"{keys[i]} major, {80 + 5 * (i % 21)} bpm",{1 + i % 2}' for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def batch_command(rows: Path, out: Path, ckpts: dict, *extra: str) -> list[str]:
    return [sys.executable, "-m", "audiodiff", "batch", str(rows), "--out", str(out), "--resume", "--no-progress",
            *FAST, "--threads", "1", *extra, *model_args(ckpts)]


def children(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def wait_for(condition, seconds: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the batch ended (exit {proc.returncode}): {proc.communicate()[1]}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def assert_complete(out: Path, num_rows: int) -> None:
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [r["index"] for r in manifest] == list(range(num_rows))  # every row exactly once, in order
    assert (out / "errors.jsonl").read_text() == ""
    for record in manifest:
        info = sf.info(out / record["audio"])
        assert info.samplerate == SR and info.frames == record["seconds"] * SR == record["num_samples"]
        sf.read(out / record["audio"])  # decodes
        mido.MidiFile(out / record["midi"])
    assert not [p for p in out.rglob(".*")]  # no temporary files left
    assert not (out / LOCK_NAME).exists()


def test_batch_killed_at_random_moments_resumes_to_a_complete_dataset(tiny_ckpts, tmp_path):
    rows = write_rows(tmp_path / "rows.csv", 21)
    out = tmp_path / "out"
    cmd = batch_command(rows, out, tiny_ckpts)
    rng = random.Random(0)
    kills = 0
    for _ in range(15):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
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
    done = subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=False)
    assert done.returncode == 0, done.stderr
    assert_complete(out, 21)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_their_parent(sig, tiny_ckpts, tmp_path):
    rows = write_rows(tmp_path / "rows.csv", 16)
    out = tmp_path / "out"
    proc = subprocess.Popen(batch_command(rows, out, tiny_ckpts, "--workers", "2"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV)
    try:
        wait_for(lambda: (out / "batch.json").exists() and any((out / "records").glob("*.json")),
                 proc=proc)
        workers = children(proc.pid)
        assert len(workers) >= 2
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == (-9 if sig == signal.SIGKILL else 143), err
        wait_for(lambda: not any(pid_alive(p) for p in workers), seconds=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    records = len(list((out / "records").glob("*.json")))
    time.sleep(1.0)
    assert len(list((out / "records").glob("*.json"))) == records  # nobody writes rows any more
    if sig == signal.SIGTERM:  # (a resume after SIGKILL is tested above)
        done = subprocess.run(batch_command(rows, out, tiny_ckpts), capture_output=True, text=True, env=ENV,
                              check=False)
        assert done.returncode == 0, done.stderr
        assert_complete(out, 16)


def test_one_run_at_a_time_holds_the_directory_and_stale_locks_are_taken_over(tiny_ckpts, tmp_path, capsys):
    rows = write_rows(tmp_path / "rows.csv", 24)
    out = tmp_path / "out"
    proc = subprocess.Popen(batch_command(rows, out, tiny_ckpts), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=ENV)
    try:
        wait_for(lambda: (out / LOCK_NAME).exists(), proc=proc)
        assert (out / LOCK_NAME).read_text().split()[0] == str(proc.pid)
        argv = ["batch", str(rows), "--out", str(out), "--resume", "--no-progress", *FAST, *model_args(tiny_ckpts)]
        assert main(argv) == 2
        assert f"in use by another batch (pid {proc.pid})" in capsys.readouterr().err
    finally:
        proc.kill()
        proc.communicate()
    assert (out / LOCK_NAME).exists()  # left behind by the killed run: stale
    assert main(argv) == 0
    assert_complete(out, 24)
