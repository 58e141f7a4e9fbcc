"""Checkpoint format: round trip and one-line errors naming the file for every kind of bad file."""
from __future__ import annotations

import hashlib
import json
import os
import stat
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from audiodiff.io.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    checkpoint_sha256,
    default_checkpoint,
    load_checkpoint,
    read_checkpoint_header,
    save_checkpoint,
)


def test_the_shipped_checkpoints_live_inside_the_package():
    import audiodiff

    package = Path(audiodiff.__file__).parent
    assert default_checkpoint("codec") == package / "checkpoints" / "codec.safetensors"
    assert default_checkpoint("structure").name == "structure.safetensors"


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


def _raw_safetensors(path, header: bytes, data: bytes = b"", length: int | None = None):
    """A hand-made file: 8-byte little-endian header length, the header bytes, the data."""
    path.write_bytes(struct.pack("<Q", len(header) if length is None else length) + header + data)
    return path


AUDIODIFF_META = {"format": "audiodiff", "format_version": "1", "kind": "codec", "config": "{}", "metadata": "{}"}


@pytest.mark.parametrize("case, problem", [
    ("absent", "no such checkpoint file"),
    ("directory", "is a directory, expected a checkpoint file"),
    ("short", "truncated or not a checkpoint (only 5 bytes)"),
    ("huge header", "not a safetensors file"),
    ("top bit set", "not a safetensors file"),
    ("no brace", "not a safetensors file"),
    ("header cut", "truncated (header needs 508 bytes, file has 20)"),
    ("header at the limit", "truncated (header needs 100000008 bytes, file has 11)"),
    ("not json", "not a safetensors file (header is not JSON)"),
    ("json list", "not a safetensors file (header is not JSON)"),
    ("bad entry", "corrupt safetensors header (bad entry 'w')"),
    ("data cut", "truncated (tensor data needs 16 bytes, file has 12)"),
    ("data extra", "corrupt (5 unexpected bytes after the tensor data)"),
    ("metadata list", "corrupt safetensors header (__metadata__ is not an object)"),
    ("foreign", "is a safetensors file without audiodiff metadata (not an audiodiff checkpoint)"),
    ("no version", "has format version ''; this audiodiff reads version 1 only"),
    ("no config", "corrupt audiodiff header (KeyError: 'config')"),
    ("config not json", "corrupt audiodiff header (JSONDecodeError: Expecting value: line 1 column 1 (char 0))"),
])
def test_every_bad_file_gets_its_exact_one_line_message(tmp_path, case, problem):
    path = tmp_path / "m.safetensors"
    tensor = {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}
    if case == "absent":
        pass
    elif case == "directory":
        path.mkdir()
    elif case == "short":
        path.write_bytes(b"12345")
    elif case == "huge header":
        _raw_safetensors(path, b"{}", length=200_000_000)
    elif case == "top bit set":  # read as unsigned: far over the limit, not -1
        _raw_safetensors(path, b"{}", length=2**64 - 1)
    elif case == "no brace":
        _raw_safetensors(path, b"[{}]")
    elif case == "header cut":
        _raw_safetensors(path, b"{" + b" " * 11, length=500)
    elif case == "header at the limit":
        _raw_safetensors(path, b"{}}", length=100_000_000)
    elif case == "not json":
        _raw_safetensors(path, b"{nope")
    elif case == "json list":
        _raw_safetensors(path, b"{}[]")
    elif case == "bad entry":
        _raw_safetensors(path, json.dumps({"w": {"dtype": "F32"}}).encode())
    elif case == "data cut":
        _raw_safetensors(path, json.dumps(tensor).encode(), b"\0" * 12)
    elif case == "data extra":
        _raw_safetensors(path, json.dumps(tensor).encode(), b"\0" * 21)
    elif case == "metadata list":
        _raw_safetensors(path, json.dumps({**tensor, "__metadata__": [1]}).encode(), b"\0" * 16)
    elif case == "foreign":
        _raw_safetensors(path, json.dumps({**tensor, "__metadata__": {"format": "pt"}}).encode(), b"\0" * 16)
    else:
        meta = dict(AUDIODIFF_META)
        if case == "no version":
            del meta["format_version"]
        elif case == "no config":
            del meta["config"]
        else:
            meta["config"] = "nope"
        _raw_safetensors(path, json.dumps({**tensor, "__metadata__": meta}).encode(), b"\0" * 16)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, kind="codec")
    assert str(info.value) == f"{path}: {problem}" and info.value.path == path and info.value.problem == problem


def test_a_header_without_padding_reads_to_its_last_byte(tmp_path):
    """safetensors pads headers with spaces; a hand-made one need not: its closing brace is the last byte."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "__metadata__": AUDIODIFF_META},
                        separators=(",", ":")).encode()
    assert header.endswith(b"}}")
    path = _raw_safetensors(tmp_path / "tight.safetensors", header, struct.pack("<f", 2.5))
    state, config, metadata = load_checkpoint(path, kind="codec")
    assert state["w"].tolist() == [2.5] and config == {} and metadata == {}


def test_header_fields_and_an_empty_checkpoint(tmp_path):
    path = save_checkpoint(tmp_path / "a" / "b" / "empty.safetensors", {}, kind="structure", config={"x": 1})
    assert read_checkpoint_header(path) == {"kind": "structure", "format_version": 1, "config": {"x": 1},
                                            "metadata": {}}
    assert load_checkpoint(path, kind="structure") == ({}, {"x": 1}, {})


def test_config_and_metadata_are_stored_as_sorted_json(tmp_path):
    """Key order does not change the stored text. (The files' bytes still differ from save to save:
    safetensors writes ``__metadata__`` in hash-map order.)"""
    from safetensors import safe_open

    texts = []
    cases = (("a", {"dim": 4, "ratios": [8, 5]}, {"steps": 7, "losses": {"mel": 0.5, "l1": 0.1}}),
             ("b", {"ratios": [8, 5], "dim": 4}, {"losses": {"l1": 0.1, "mel": 0.5}, "steps": 7}))
    for name, config, metadata in cases:
        path = save_checkpoint(tmp_path / f"{name}.safetensors", _state(), kind="codec", config=config,
                               metadata=metadata)
        with safe_open(path, "pt") as f:
            meta = f.metadata()
        texts.append((meta["config"], meta["metadata"]))
    assert texts[0] == texts[1] == ('{"dim": 4, "ratios": [8, 5]}', '{"losses": {"l1": 0.1, "mel": 0.5}, "steps": 7}')


def test_a_checkpoint_that_safetensors_refuses_names_the_error_type(tmp_path):
    path = tmp_path / "lie.safetensors"
    save_checkpoint(path, {"w": torch.zeros(4)}, kind="codec", config={})
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8: 8 + n])
    header["w"]["shape"] = [3]
    raw = json.dumps(header, separators=(",", ":")).encode()
    path.write_bytes(data[:8] + raw + b" " * (n - len(raw)) + data[8 + n:])
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, kind="codec")
    assert info.value.problem.startswith("corrupt checkpoint (SafetensorError: ")


def test_unreadable_files_name_the_os_error(tmp_path, monkeypatch):
    """An OSError while reading (permissions, I/O) becomes a one-line CheckpointError with its reason.
    (Injected: the tests may run as root, who can read anything.)"""
    import builtins

    import audiodiff.io.checkpoint as checkpoint

    path = save_checkpoint(tmp_path / "m.safetensors", _state(), kind="codec", config={})

    def refuse(file, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(checkpoint, "open", refuse, raising=False)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, kind="codec")
    assert str(info.value) == f"{path}: cannot read file (Permission denied)"
    with pytest.raises(CheckpointError) as info:
        checkpoint_sha256(path)
    assert str(info.value) == f"{path}: cannot read file (Permission denied)"
    monkeypatch.setattr(checkpoint, "open", builtins.open)
    with pytest.raises(CheckpointError) as info:
        checkpoint_sha256(tmp_path / "absent")
    assert str(info.value) == f"{tmp_path / 'absent'}: cannot read file (No such file or directory)"


def test_tensors_sharing_one_storage_are_all_saved(tmp_path):
    base = torch.arange(6.0)
    state = {"a": base, "b": base, "c": base.view(2, 3), "d": torch.zeros(0), "e": torch.zeros(0)}
    path = save_checkpoint(tmp_path / "s.safetensors", state, kind="codec", config={})
    loaded, _, _ = load_checkpoint(path, kind="codec")
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
