"""Helpers every dataclass config shares: strict construction from JSON and back."""
from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, TypeVar

T = TypeVar("T")


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
    base = asdict(cls.preset(data.pop("preset"))) if "preset" in data else {}
    return cls(**{**base, **data})


def to_json_dict(config: Any) -> dict[str, Any]:
    """A dataclass as a JSON-ready dict (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}
