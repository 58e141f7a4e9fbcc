"""Checkpoint format: round trip and one-line errors naming the file for every kind of bad file."""
from __future__ import annotations

import hashlib
import json
import os
import stat
import struct

import pytest
import torch
from safetensors.torch import save_file

from audiodiff.io.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    checkpoint_sha256,
    load_checkpoint,
    read_checkpoint_header,
    save_checkpoint,
)


def _state() -> dict[str, torch.Tensor]:
    return {
        "w": torch.arange(12, dtype=torch.float32).reshape(3, 4),
        "b": torch.tensor([1.5, -2.0], dtype=torch.float16),
        "n": torch.tensor([3], dtype=torch.int64),
    }


@pytest.fixture
def good(tmp_path):
    return save_checkpoint(tmp_path / "m.safetensors", _state(), kind="codec",
                           config={"dim": 4, "ratios": [8, 5]}, metadata={"steps": 7, "losses": {"mel": 0.5}})


def _assert_one_line_error(path, match: str) -> None:
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(path, kind="codec")
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert isinstance(info.value, ValueError)


def test_round_trip(good):
    state, config, metadata = load_checkpoint(good, kind="codec")
    assert set(state) == {"w", "b", "n"}
    for key, value in _state().items():
        assert state[key].dtype == value.dtype
        assert torch.equal(state[key], value)
    assert config == {"dim": 4, "ratios": [8, 5]}
    assert metadata == {"steps": 7, "losses": {"mel": 0.5}}
    assert read_checkpoint_header(good)["kind"] == "codec"
    assert [p.name for p in good.parent.iterdir()] == [good.name]  # the atomic write left no temp file


def test_shared_storage_is_saved(tmp_path):
    base = torch.randn(4)
    path = save_checkpoint(tmp_path / "s.safetensors", {"a": base, "b": base}, kind="codec", config={})
    state, _, _ = load_checkpoint(path, kind="codec")
    assert torch.equal(state["a"], state["b"])


def test_hash_is_the_files_sha256_prefix(tmp_path):
    """Known SHA-256 values (FIPS 180-2 test vector "abc"; the empty input), not the code's own output."""
    path = tmp_path / "abc.bin"
    path.write_bytes(b"abc")
    assert checkpoint_sha256(path) == "ba7816bf8f01cfea"
    assert checkpoint_sha256(path, length=64) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    path.write_bytes(b"")
    assert checkpoint_sha256(path, 8) == "e3b0c442"
    big = tmp_path / "big.bin"  # more than one 1 MiB read block
    data = bytes(range(256)) * 8193
    big.write_bytes(data)
    assert checkpoint_sha256(big, 64) == hashlib.sha256(data).hexdigest()
    with pytest.raises(CheckpointError, match="cannot read") as info:
        checkpoint_sha256(tmp_path / "absent.safetensors")
    assert str(tmp_path / "absent.safetensors") in str(info.value)


def test_hash_follows_the_content_not_the_name(good, tmp_path):
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes(good.read_bytes())
    assert checkpoint_sha256(copy) == checkpoint_sha256(good)
    save_checkpoint(copy, _state(), kind="codec", config={"dim": 5})
    assert checkpoint_sha256(copy) != checkpoint_sha256(good)


def test_a_write_that_fails_midway_leaves_the_old_checkpoint_intact(good, monkeypatch):
    """Inject a crash after half the bytes are written: a non-atomic writer would leave a torn file."""
    import safetensors.torch

    before = good.read_bytes()

    def torn_save_file(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", torn_save_file)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(good, {"w": torch.ones(3)}, kind="codec", config={})
    assert good.read_bytes() == before
    assert [p.name for p in good.parent.iterdir()] == [good.name]  # no temp file left behind
    fresh = good.with_name("fresh.safetensors")
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(fresh, {"w": torch.ones(3)}, kind="codec", config={})
    assert not fresh.exists() and [p.name for p in good.parent.iterdir()] == [good.name]


def test_a_failing_rename_leaves_the_old_checkpoint_and_no_temp_file(good, monkeypatch):
    before = good.read_bytes()

    def refuse(src, dst):
        raise OSError("rename refused")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="rename refused"):
        save_checkpoint(good, {"w": torch.ones(3)}, kind="codec", config={})
    assert good.read_bytes() == before and [p.name for p in good.parent.iterdir()] == [good.name]


def test_saved_files_get_the_usual_mode(tmp_path):
    """0o666 less the umask, like any new file (safetensors alone would leave 0o600)."""
    old = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "m.safetensors", _state(), kind="codec", config={})
        os.umask(0o007)
        other = save_checkpoint(tmp_path / "o.safetensors", _state(), kind="codec", config={})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644 and stat.S_IMODE(other.stat().st_mode) == 0o660


def test_missing_file(tmp_path):
    _assert_one_line_error(tmp_path / "absent.safetensors", "no such checkpoint file")


def test_directory(tmp_path):
    _assert_one_line_error(tmp_path, "is a directory")


def test_wrong_kind(good):
    with pytest.raises(CheckpointError, match="holds a 'codec' model, expected a 'acoustic' model") as info:
        load_checkpoint(good, kind="acoustic")
    assert str(good) in str(info.value)


@pytest.mark.parametrize("keep", [0, 5, 100, -10])
def test_truncated(good, keep):
    data = good.read_bytes()
    good.write_bytes(data[:keep] if keep >= 0 else data[:keep])
    _assert_one_line_error(good, "truncated")


def test_corrupt_tensor_bytes_after_data(good):
    good.write_bytes(good.read_bytes() + b"garbage")
    _assert_one_line_error(good, "corrupt")


def test_corrupt_header_json(good):
    data = bytearray(good.read_bytes())
    data[9:14] = b"\xff\xfe!!!"
    good.write_bytes(bytes(data))
    _assert_one_line_error(good, "not a safetensors file")


def test_not_safetensors(tmp_path):
    path = tmp_path / "model.safetensors"
    torch.save({"w": torch.zeros(3)}, path)  # a zip file: the usual mix-up
    _assert_one_line_error(path, "not a safetensors file")
    text = tmp_path / "notes.safetensors"
    text.write_text("hello, this is not a checkpoint at all")
    _assert_one_line_error(text, "not a safetensors file")


def test_foreign_safetensors(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, path, metadata={"format": "pt"})
    _assert_one_line_error(path, "without audiodiff metadata")


def test_unknown_version(tmp_path):
    path = tmp_path / "future.safetensors"
    header = {"format": "audiodiff", "format_version": str(FORMAT_VERSION + 1), "kind": "codec",
              "config": "{}", "metadata": "{}"}
    save_file({"w": torch.zeros(2)}, path, metadata=header)
    _assert_one_line_error(path, "format version '2'")


def test_tensor_data_inconsistent_with_header(tmp_path):
    """Header offsets claim the right size but a dtype/shape lie makes safetensors refuse it."""
    path = tmp_path / "lie.safetensors"
    save_checkpoint(path, {"w": torch.zeros(4)}, kind="codec", config={})
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8: 8 + n])
    header["w"]["shape"] = [3]  # 3 float32 values do not fill 16 bytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    assert len(raw) <= n
    raw += b" " * (n - len(raw))
    path.write_bytes(data[:8] + raw + data[8 + n:])
    _assert_one_line_error(path, "corrupt checkpoint")


def test_config_must_be_json(tmp_path):
    with pytest.raises(CheckpointError, match="not JSON-serialisable"):
        save_checkpoint(tmp_path / "x.safetensors", {"w": torch.zeros(1)}, kind="codec", config={"f": object()})
