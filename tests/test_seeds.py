"""Seeds: each expectation is a known value computed outside the code under test, or a second method."""
from __future__ import annotations

import hashlib
import struct

import numpy as np

from audiodiff.music.prompt import Prompt
from audiodiff.music.theory import Key
from audiodiff.seeds import SEED_MODULUS, acoustic_seed, derived_seed, resolve_seed, stable_hash


def sha256_first_8_bytes_le(text: str) -> int:
    """The documented hash, by a second route: struct's little-endian unsigned 64-bit read."""
    return struct.unpack("<Q", hashlib.sha256(text.encode("utf-8")).digest()[:8])[0]


def test_the_seed_range_is_31_bits():
    assert SEED_MODULUS == 2147483648


def test_a_given_seed_is_kept_even_zero():
    assert [resolve_seed(s) for s in (0, 1, 12345, SEED_MODULUS - 1)] == [0, 1, 12345, SEED_MODULUS - 1]


def test_fresh_seeds_cover_the_whole_31_bit_range_and_no_more():
    fresh = [resolve_seed(None) for _ in range(400)]
    assert all(isinstance(s, int) and 0 <= s < 2**31 for s in fresh)
    # With 400 uniform draws, all of them in one half of the range has probability 2**-399.
    assert max(fresh) >= 2**30 and min(fresh) < 2**30
    assert len(set(fresh)) > 390  # fresh each time, not one value repeated


def test_stable_hash_known_values():
    # Computed once with `sha256(b"...").digest()[:8]` read as a little-endian integer.
    assert stable_hash("a") == sha256_first_8_bytes_le("a")
    assert stable_hash() == sha256_first_8_bytes_le("")
    assert stable_hash("batch", 0, "C major") == sha256_first_8_bytes_le("batch|0|C major")
    assert stable_hash(1, 2.5, None) == sha256_first_8_bytes_le("1|2.5|None")
    assert 0 <= stable_hash("x", "y") < 2**64


def test_stable_hash_golden_value():
    # sha256("a") = ca978112ca1bbdca fac231b39a23dc4d ...; its first 8 bytes read little-endian:
    assert stable_hash("a") == 0xCABD1BCA128197CA


def test_stable_hash_separates_its_parts():
    assert stable_hash("ab", "c") != stable_hash("a", "bc")
    assert stable_hash("ab", "c") == stable_hash("ab|c")  # the documented joining, nothing more


def test_acoustic_seed_golden_values():
    # Computed once with numpy 2.4's SeedSequence([seed, 3]).generate_state(1): stream 3 of the item
    # seed, apart from the structure model's stream 1 and the arranger's stream 2 (their words below).
    assert {s: acoustic_seed(s) for s in (0, 7, 2**31 - 1)} == {0: 2613022947, 7: 3466196061, 2**31 - 1: 1133336721}
    structure_and_arranger = {0: (3964924996, 3141116543), 7: (369571992, 1009178997),
                              2**31 - 1: (2994186132, 2210412657)}
    for seed, streams in structure_and_arranger.items():
        assert acoustic_seed(seed) not in streams
    assert all(type(acoustic_seed(s)) is int for s in (0, 7))


def test_acoustic_seed_takes_numpy_integers():
    assert acoustic_seed(np.int64(7)) == acoustic_seed(7)  # type: ignore[arg-type]


def test_derived_seed_follows_the_documented_formula():
    prompt = Prompt(key=Key(2, "minor"), bpm=96, seed=None)
    text = prompt.to_text()
    for index in (0, 1, 41):
        assert derived_seed(index, prompt) == sha256_first_8_bytes_le(f"batch|{index}|{text}") % 2**31


def test_derived_seed_ignores_a_seed_the_prompt_carries():
    assert derived_seed(3, Prompt(bpm=120, seed=99)) == derived_seed(3, Prompt(bpm=120))


def test_derived_seeds_differ_by_row_and_by_prompt():
    seeds = {derived_seed(i, Prompt(bpm=bpm)) for i in range(5) for bpm in (90, 120)}
    assert len(seeds) == 10
    assert all(0 <= s < 2**31 for s in seeds)
