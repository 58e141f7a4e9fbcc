"""Seeds: each expectation is a known value computed outside the code under test, or a second method."""
from __future__ import annotations

import hashlib
import struct

from audiodiff.music.prompt import Prompt
from audiodiff.music.theory import Key
from audiodiff.seeds import SEED_MODULUS, derived_seed, part_seed, resolve_seed, stable_hash


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


def test_part_seed_follows_the_documented_hash_and_its_streams_differ():
    from audiodiff.music.performance import Part, TimedNote

    part = Part("lead", 40, [TimedNote(60, 0.0, 0.5, 90), TimedNote(64, 0.5, 1.0, 80)])
    notes = "60,0.0000,0.5000,90;64,0.5000,1.0000,80"
    base = stable_hash("part", 7, 40, False, notes) % SEED_MODULUS
    assert part_seed(7, part) == base == part_seed(7, Part("other name", 40, list(part.notes)))
    assert part_seed(7, part, 5) == stable_hash("stream", 5, base) % SEED_MODULUS != base
    assert len({part_seed(7, part), part_seed(8, part), part_seed(7, Part("lead", 41, part.notes)),
                part_seed(7, Part("lead", 40, part.notes, is_drum=True))}) == 4
    assert all(0 <= part_seed(s, part) < SEED_MODULUS and type(part_seed(s, part)) is int for s in (0, 2**31 - 1))


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
