"""audiodiff batch --stems: stems folders or Slakh2100 tracks, a failed write redone by --resume."""
from __future__ import annotations

import errno
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from audiodiff.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
from test_stem_files import LSB, load_slakh_track  # noqa: E402  (the Slakh-style loader of tests/io)

FAST = ["--steps", "2", "--plan-steps", "2", "--threads", "1", "--no-progress"]
ROWS = ['{"prompt": "D minor, 96 bpm, 3/4, violin", "seed": 7, "seconds": 2}',
        '{"prompt": "G major, 140 bpm, 2/4, 1.5 s", "seed": 2}']


def batch(ckpts, source, out, *extra: str) -> int:
    models = [a for name in ("structure", "acoustic", "codec") for a in (f"--{name}", ckpts[name])]
    return main(["batch", str(source), "--out", str(out), *FAST, *extra, *models])


def rows_file(tmp_path) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(ROWS) + "\n")
    return path


def test_batch_slakh_layout_loads_like_slakh2100_and_resume_finishes_a_failed_write(tiny_ckpts, tmp_path,
                                                                                     monkeypatch, capsys):
    import audiodiff.io.audio as audio_io

    out = tmp_path / "slakh"
    real, calls = audio_io.write_wav, []

    def full_disk(path, *args, **kwargs):  # the disk fills up in the middle of the second row's stems
        calls.append(path)
        if "Track00002" in str(path) or ".Track00002" in str(path):
            if sum(".Track00002" in str(c) for c in calls) == 3:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(audio_io, "write_wav", full_disk)
    args = ("--stems", "--layout", "slakh", "--normalize")
    assert batch(tiny_ckpts, rows_file(tmp_path), out, *args) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert (out / "Track00001" / "metadata.yaml").exists()
    assert not (out / "Track00002").exists() and not list(out.glob(".Track*"))  # nothing half-written
    monkeypatch.setattr(audio_io, "write_wav", real)
    assert batch(tiny_ckpts, rows_file(tmp_path), out, *args, "--resume") == 0
    assert sorted(p.name for p in out.iterdir()) == ["Track00001", "Track00002", "batch.json", "errors",
                                                    "errors.jsonl", "manifest.csv", "manifest.jsonl", "records"]
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [r["audio"] for r in records] == ["Track00001/mix.flac", "Track00002/mix.flac"]
    for record in records:
        track = load_slakh_track(out / record["stems"])
        written = track["stems"]
        total = np.sum([s["audio"] for s in written.values()], axis=0)
        assert np.abs(track["mix"] - total).max() <= (len(written) + 1) * LSB
        assert np.abs(track["mix"]).max() <= 10 ** (-1 / 20) + LSB  # the mix capped below 0 dBFS
        labels = track["metadata"]["audiodiff"]
        assert labels["seed"] == record["seed"] and labels["key"] == record["key"]
        assert labels["bpm"] == record["bpm"] and labels["meter"] == record["meter"] and "chords" in labels
        assert any(s["info"]["is_drum"] for s in written.values())
        for s in written.values():
            assert s["info"]["integrated_loudness"] is not None and s["info"]["gain"] > 0


def test_batch_stems_folder_layout_beside_the_usual_files(tiny_ckpts, tmp_path):
    out = tmp_path / "out"
    assert batch(tiny_ckpts, rows_file(tmp_path), out, "--stems") == 0
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    for record in records:
        folder = out / record["stems"]
        assert record["stems"] == f"stems/{record['id']}"
        index = json.loads((folder / "stems.json").read_text())
        assert index["seed"] == record["seed"] and index["id"] == record["id"]
        mix = sf.read(str(out / record["audio"]), dtype="float64")[0]
        files = [sf.read(str(folder / s["file"]), dtype="float64")[0] for s in index["stems"] if s["file"]]
        assert np.abs(mix - np.sum(files, axis=0)).max() <= (len(files) + 1) * LSB
        annotations = json.loads((out / record["annotations"]).read_text())
        for s, track in zip(index["stems"], annotations["tracks"]):  # the same notes as the row's annotations
            assert s["track"] == track["name"] and s["notes"] == track["notes"]


def test_layout_without_stems_is_a_usage_error(tmp_path, capsys):
    assert main(["batch", "--grid", "--out", str(tmp_path / "o"), "--layout", "slakh"]) == 2
    assert capsys.readouterr().err == "error: --layout belongs to --stems\n"
