"""One checkpoint format for every model: safetensors tensors + JSON header (kind, config, metadata).

Layout of the safetensors ``__metadata__`` (all values are strings, as safetensors requires):

- ``format``: ``"audiodiff"`` (tells our files from foreign safetensors files)
- ``format_version``: ``"1"``
- ``kind``: which model the tensors belong to, e.g. ``"codec"``, ``"structure"``, ``"acoustic"``
- ``config``: JSON of the model config, enough to rebuild the architecture
- ``metadata``: JSON of anything else worth keeping (training steps, final losses, data hash)

Every problem on load surfaces as a :class:`CheckpointError` whose one-line message names the file.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audiodiff.io.atomic import atomic_path

if TYPE_CHECKING:  # torch is not needed to read headers or hash files: keep this import cheap
    import torch

PACKAGE_CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"  # shipped inside the package
FORMAT_NAME = "audiodiff"
FORMAT_VERSION = 1
# safetensors caps its JSON header at 100 MB; a larger length prefix means "not safetensors".
_MAX_HEADER_BYTES = 100_000_000


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line and names the file."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = Path(path)
        self.problem = " ".join(str(problem).split())  # one line, whatever the cause said
        super().__init__(f"{self.path}: {self.problem}")


def default_checkpoint(name: str) -> Path:
    """The checkpoint of model ``name`` (structure, acoustic, codec) shipped inside the package."""
    return PACKAGE_CHECKPOINTS / f"{name}.safetensors"


def save_checkpoint(
    path: str | os.PathLike,
    state_dict: dict[str, torch.Tensor],
    *,
    kind: str,
    config: dict[str, Any],
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``state_dict`` with its kind, config and metadata to ``path`` atomically.

    Written atomically (:mod:`audiodiff.io.atomic`): a crash never leaves a half-written checkpoint
    under the final name. ``config`` and ``metadata`` must be JSON-serialisable. Returns the path written.
    """
    from safetensors.torch import save_file

    path = Path(path)
    try:
        header = {
            "format": FORMAT_NAME,
            "format_version": str(FORMAT_VERSION),
            "kind": kind,
            "config": json.dumps(config, sort_keys=True),
            "metadata": json.dumps(metadata or {}, sort_keys=True),
        }
    except (TypeError, ValueError) as err:
        raise CheckpointError(path, f"config or metadata is not JSON-serialisable: {err}") from None
    tensors = _owned_contiguous(state_dict)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=header)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # safetensors creates files 0600; give the usual mode
    return path


def load_checkpoint(
    path: str | os.PathLike, *, kind: str
) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`; tensors land on the CPU.

    Returns ``(state_dict, config, metadata)``. Raises :class:`CheckpointError` when the file is
    missing, truncated or corrupt, not safetensors, a safetensors file without audiodiff metadata,
    of another kind than ``kind``, or written in an unknown format version.
    """
    from safetensors.torch import load_file

    path = Path(path)
    header = read_checkpoint_header(path)
    if header["kind"] != kind:
        raise CheckpointError(path, f"holds a {header['kind']!r} model, expected a {kind!r} model")
    try:
        state_dict = load_file(path, device="cpu")
    except Exception as err:  # safetensors raises several types; all mean "unreadable"
        raise CheckpointError(path, f"corrupt checkpoint ({type(err).__name__}: {err})") from None
    return state_dict, header["config"], header["metadata"]


def read_checkpoint_header(path: str | os.PathLike) -> dict[str, Any]:
    """Validate a checkpoint's framing and return ``{"kind", "format_version", "config", "metadata"}``.

    Reads only the header, so it is cheap even for large files. Raises :class:`CheckpointError`.
    """
    path = Path(path)
    raw = _read_safetensors_metadata(path)
    if raw.get("format") != FORMAT_NAME:
        raise CheckpointError(path, "is a safetensors file without audiodiff metadata (not an audiodiff checkpoint)")
    version = raw.get("format_version", "")
    if version != str(FORMAT_VERSION):
        raise CheckpointError(
            path, f"has format version {version!r}; this audiodiff reads version {FORMAT_VERSION} only"
        )
    try:
        config = json.loads(raw["config"])
        metadata = json.loads(raw["metadata"])
        kind = raw["kind"]
    except (KeyError, json.JSONDecodeError) as err:
        raise CheckpointError(path, f"corrupt audiodiff header ({type(err).__name__}: {err})") from None
    return {"kind": kind, "format_version": FORMAT_VERSION, "config": config, "metadata": metadata}


def checkpoint_sha256(path: str | os.PathLike, length: int = 16) -> str:
    """First ``length`` hex digits of the file's SHA-256: a short id for batch manifests."""
    path = Path(path)
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as err:
        raise CheckpointError(path, f"cannot read file ({err.strerror or err})") from None
    return digest.hexdigest()[:length]


def _read_safetensors_metadata(path: Path) -> dict[str, str]:
    """Check the safetensors framing by hand (clear errors instead of deep tracebacks).

    A safetensors file is: 8-byte little-endian header length N, N bytes of JSON, then the tensor
    bytes; the JSON's largest data end offset must equal the size of the data section.
    """
    if not path.exists():
        raise CheckpointError(path, "no such checkpoint file")
    if path.is_dir():
        raise CheckpointError(path, "is a directory, expected a checkpoint file")
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            prefix = f.read(8)
            if len(prefix) < 8:
                raise CheckpointError(path, f"truncated or not a checkpoint (only {size} bytes)")
            (header_len,) = struct.unpack("<Q", prefix)
            first = f.read(1)
            if header_len > _MAX_HEADER_BYTES or first != b"{":
                raise CheckpointError(path, "not a safetensors file")
            if 8 + header_len > size:
                raise CheckpointError(path, f"truncated (header needs {8 + header_len} bytes, file has {size})")
            header_bytes = first + f.read(header_len - 1)
    except OSError as err:
        raise CheckpointError(path, f"cannot read file ({err.strerror or err})") from None
    try:
        header = json.loads(header_bytes)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CheckpointError(path, "not a safetensors file (header is not JSON)") from None
    data_end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            data_end = max(data_end, int(info["data_offsets"][1]))
        except (TypeError, KeyError, IndexError, ValueError):
            raise CheckpointError(path, f"corrupt safetensors header (bad entry {name!r})") from None
    data_size = size - 8 - header_len
    if data_end > data_size:
        raise CheckpointError(path, f"truncated (tensor data needs {data_end} bytes, file has {data_size})")
    if data_end < data_size:
        raise CheckpointError(path, f"corrupt ({data_size - data_end} unexpected bytes after the tensor data)")
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict):
        raise CheckpointError(path, "corrupt safetensors header (__metadata__ is not an object)")
    return metadata


def _owned_contiguous(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous tensors that share no storage (safetensors refuses shared storage)."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, tensor in state_dict.items():
        t = tensor.detach().cpu().contiguous()
        ptr = t.untyped_storage().data_ptr()
        if t.numel() and ptr in seen:
            t = t.clone()
        seen.add(ptr)
        out[name] = t
    return out
