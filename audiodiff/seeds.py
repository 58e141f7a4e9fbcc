"""Seeds: one integer per item drives everything, and every other seed is derived from it here.

- :func:`resolve_seed`: the item's seed, or a fresh random one (reported back to reproduce it).
- :func:`part_seed`: the acoustic sampler's seed of one part of a piece, a function of the
  piece's seed and the part's own notes (never of its position), so reordering tracks changes
  nothing (the structure model and the arranger draw from ``[seed, 1]`` and ``[seed, 2]``).
- :func:`stable_hash`: a 64-bit hash that is the same in every process and Python run (corpus
  splits and item specs, batch seeds).
- :func:`derived_seed`: the seed of a batch row that gives none.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from audiodiff.music.performance import Part
    from audiodiff.music.prompt import Prompt

SEED_MODULUS = 2**31  # seeds are in 0 .. 2**31 - 1


def resolve_seed(seed: int | None) -> int:
    """The given seed, or a fresh random one when it is None."""
    return seed if seed is not None else secrets.randbelow(SEED_MODULUS)


def stable_hash(*parts: object) -> int:
    """A 64-bit hash of the parts' ``str`` joined by ``|``: the first 8 bytes (little-endian) of
    their SHA-256, the same in every process and Python run."""
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "little")


def part_seed(seed: int, part: Part, stream: int = 0) -> int:
    """The acoustic sampler's seed of ``part`` in a piece made with ``seed``: a hash of the seed and
    the part's program, drum flag and notes; ``stream`` > 0 draws another seed (a continuation's
    new audio) for the same part."""
    notes = ";".join(f"{n.pitch},{n.start:.4f},{n.end:.4f},{n.velocity}" for n in part.notes)
    base = stable_hash("part", seed, part.program, part.is_drum, notes) % SEED_MODULUS
    return base if not stream else stable_hash("stream", stream, base) % SEED_MODULUS


def derived_seed(index: int, prompt: Prompt) -> int:
    """The seed of batch row ``index`` (0-based) without one: a function of its position and its
    prompt text (without seed), never of the machine, the worker count or the run."""
    return stable_hash("batch", index, replace(prompt, seed=None).to_text()) % SEED_MODULUS
