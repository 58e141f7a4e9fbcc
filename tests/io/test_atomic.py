"""Atomic files: moved into place on success, deleted on error, the old file intact until then."""
from __future__ import annotations

import pytest

from audiodiff.io.atomic import atomic_path, temp_glob, temp_path, write_json_atomic, write_text_atomic


def test_atomic_path_moves_on_success_and_deletes_on_error(tmp_path):
    target = tmp_path / "notes.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".notes.txt.") and tmp.name.endswith(".tmp.txt")
        assert not target.exists()
        tmp.write_text("new")
    assert target.read_text() == "new" and not tmp.exists()
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "never.txt"):
            raise RuntimeError("before writing")  # nothing was written: nothing to delete, no error
    write_text_atomic(target, "grüße ♪\n")
    assert target.read_bytes() == "grüße ♪\n".encode() and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_temp_names_are_hidden_unique_next_to_the_target_and_found_by_the_glob(tmp_path):
    target = tmp_path / "row.wav"
    a, b = temp_path(target), temp_path(target)
    assert a != b and a.parent == b.parent == tmp_path
    assert a.name.startswith(".row.wav.") and a.name.endswith(".tmp.wav")
    assert a.match(temp_glob("row.wav")) and not target.match(temp_glob("row.wav"))
    assert a.match(temp_glob()) and not (tmp_path / ".other.wav").match(temp_glob("row.wav"))


def test_a_write_that_fails_midway_leaves_the_old_text_intact(tmp_path, monkeypatch):
    from pathlib import Path

    target = tmp_path / "a.json"
    write_json_atomic(target, {"b": 1, "a": [1, 2]}, indent=1)
    assert target.read_text() == '{\n "b": 1,\n "a": [\n  1,\n  2\n ]\n}'

    def torn(self, data):
        with open(self, "wb") as f:
            f.write(data[:3])
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_bytes", torn)
    with pytest.raises(OSError, match="disk full"):
        write_text_atomic(target, "new text")
    assert target.read_text().startswith('{\n "b"') and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
