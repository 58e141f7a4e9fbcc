"""Dataclass configs to and from JSON, and the named JSON configs shipped in ``audiodiff/configs``.

A named config is ``audiodiff/configs/<kind>/<name>.json`` (kind: data, structure, acoustic,
codec); it ships inside the package, so names resolve after ``pip install``. A config may start
with ``"extends": "<name>"`` (another config of its kind, or a JSON file path relative to it): its
own keys are then merged into that one's, dicts key by key and everything else replaced.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
CONFIG_ROOT = Path(__file__).resolve().parents[1] / "configs"


def config_names(kind: str) -> list[str]:
    """The names of the shipped configs of ``kind``, sorted."""
    return sorted(p.stem for p in (CONFIG_ROOT / kind).glob("*.json"))


def load_config(kind: str, name_or_path: str | os.PathLike) -> dict[str, Any]:
    """The JSON config named ``name_or_path`` (a shipped name, or a path to a .json file) with its
    ``extends`` chain resolved. Raises ValueError (one line) for an unknown name, a file that is
    not a JSON object, or an ``extends`` cycle."""
    return _load(kind, name_or_path, Path.cwd(), ())


def _load(kind: str, name_or_path: str | os.PathLike, base: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    path = Path(name_or_path)
    if path.suffix:
        path = path if path.is_absolute() else base / path
    else:
        path = CONFIG_ROOT / kind / f"{name_or_path}.json"
    if not path.is_file():
        raise ValueError(f"no config {str(name_or_path)!r}; choose one of {', '.join(config_names(kind))} "
                         "or give a JSON file")
    path = path.resolve()
    if path in chain:
        raise ValueError(f"{path}: config extends itself ({' -> '.join(p.name for p in (*chain, path))})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable JSON config ({' '.join(str(err).split())})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config must be a JSON object")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    return merge(_load(kind, str(parent), path.parent, (*chain, path)), data)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override``'s keys: dicts merged key by key, other values replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def check_keys(cls: type, data: dict[str, Any], what: str, extra: tuple[str, ...] = ()) -> None:
    """Raise ValueError naming the keys of ``data`` that ``cls`` has no field for, and the allowed ones."""
    allowed = {f.name for f in fields(cls)} | set(extra)
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"unknown {what} keys {unknown}; allowed: {', '.join(sorted(allowed))}")


def from_preset_dict(cls: type[T], data: dict[str, Any], what: str) -> T:
    """Build ``cls`` from ``{"preset": name, **overrides}`` or plain fields (``cls.preset(name)``)."""
    data = dict(data)
    check_keys(cls, data, what, extra=("preset",))
    base = asdict(cls.preset(data.pop("preset"))) if "preset" in data else {}  # type: ignore[attr-defined]
    return cls(**{**base, **data})


def to_json_dict(config: Any) -> dict[str, Any]:
    """A dataclass config (nested ones included) as a JSON-ready dict: tuples become lists."""
    return _plain(asdict(config))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
