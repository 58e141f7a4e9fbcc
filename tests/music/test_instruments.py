import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audiodiff.music.instruments import (
    GM_PROGRAM_NAMES,
    INSTRUMENT_ALIASES,
    INSTRUMENT_FAMILIES,
    family_of,
    find_instrument,
    nearest_program,
    parse_instrument,
    program_name,
)

programs = st.integers(0, 127)


def test_128_unique_lowercase_names():
    assert len(GM_PROGRAM_NAMES) == 128
    assert len(set(GM_PROGRAM_NAMES)) == 128
    assert all(n == n.lower() and n.strip() == n for n in GM_PROGRAM_NAMES)


@pytest.mark.parametrize("program, name", [
    (0, "acoustic grand piano"), (6, "harpsichord"), (19, "church organ"),
    (24, "acoustic guitar (nylon)"), (32, "acoustic bass"), (40, "violin"), (42, "cello"),
    (48, "string ensemble 1"), (56, "trumpet"), (65, "alto sax"), (71, "clarinet"),
    (73, "flute"), (80, "lead 1 (square)"), (110, "fiddle"), (127, "gunshot"),
])
def test_program_name(program, name):
    assert program_name(program) == name


@pytest.mark.parametrize("bad", [-1, 128, 1.0, True])
def test_program_name_rejects_non_programs(bad):
    with pytest.raises(ValueError, match="0..127"):
        program_name(bad)


def test_every_name_parses_to_its_program():
    for program, name in enumerate(GM_PROGRAM_NAMES):
        assert parse_instrument(name) == program
        assert parse_instrument(name.upper()) == program


@pytest.mark.parametrize("text, program", [
    ("piano", 0), ("Piano", 0), ("  grand   piano ", 0), ("Acoustic Grand Piano", 0),
    ("honky tonk piano", 3), ("Honky-Tonk Piano", 3), ("electric piano", 4),
    ("organ", 19), ("hammond", 16), ("guitar", 24), ("electric guitar", 27),
    ("acoustic guitar nylon", 24), ("ELECTRIC GUITAR (JAZZ)", 26),
    ("bass", 32), ("double bass", 43), ("violin", 40), ("fiddle", 110), ("cello", 42),
    ("strings", 48), ("sax", 65), ("saxophone", 65), ("tenor sax", 66), ("flute", 73),
    ("lead 8 (bass + lead)", 87), ("fx 8 (sci-fi)", 103), ("choir", 52),
])
def test_names_and_aliases(text, program):
    assert parse_instrument(text) == program


@pytest.mark.parametrize("text, program", [
    ("program 1", 0), ("program 41", 40), ("gm 41", 40), ("instrument 41", 40),
    ("Program 128", 127), ("GM  74", 73), ("program=41", 40), ("program #41", 40),
])
def test_gm_numbers_are_one_based(text, program):
    assert parse_instrument(text) == program


@pytest.mark.parametrize("text", ["program 0", "program 129", "gm -3", "instrument 1000"])
def test_gm_number_out_of_range(text):
    with pytest.raises(ValueError, match=r"1\.\.128"):
        parse_instrument(text)


@pytest.mark.parametrize("text", ["kazoo", "41", "", "drums", "violin violin"])
def test_unknown_instrument_lists_allowed(text):
    with pytest.raises(ValueError) as err:
        parse_instrument(text)
    msg = str(err.value)
    assert "violin" in msg and "flute" in msg and "program N" in msg and "1..128" in msg
    assert find_instrument(text) is None


def test_unknown_instrument_suggests_close_names():
    with pytest.raises(ValueError, match="did you mean.*violin"):
        parse_instrument("violn")


def test_aliases_point_at_programs():
    assert all(0 <= p <= 127 for p in INSTRUMENT_ALIASES.values())
    assert not set(INSTRUMENT_ALIASES) & set(GM_PROGRAM_NAMES)  # never shadow a GM name


def test_families():
    assert len(INSTRUMENT_FAMILIES) == 16
    assert sorted(p for ps in INSTRUMENT_FAMILIES.values() for p in ps) == list(range(128))
    assert all(len(ps) == 8 for ps in INSTRUMENT_FAMILIES.values())
    assert INSTRUMENT_FAMILIES["strings"] == tuple(range(40, 48))
    assert family_of(40) == "strings" and family_of(0) == "piano" and family_of(127) == "sound effects"


@pytest.mark.parametrize("program, supported, expected", [
    (40, [0, 40, 73], 40),       # supported as is
    (41, [0, 40, 73], 40),       # viola -> violin, same family
    (44, [40, 47, 48], 47),      # within the family, the closest index (47, not 40)
    (43, [41, 45], 41),          # tie inside the family goes to the lower program
    (47, [40, 48], 40),          # family beats a closer index in another family
    (56, [0, 40, 73], 40),       # no brass: closest index overall (16 vs 17 away)
    (10, [0, 20], 0),            # tie overall goes to the lower program
])
def test_nearest_program(program, supported, expected):
    assert nearest_program(program, supported) == expected


def test_nearest_program_rejects_bad_input():
    with pytest.raises(ValueError):
        nearest_program(0, [])
    with pytest.raises(ValueError):
        nearest_program(128, [0])
    with pytest.raises(ValueError):
        nearest_program(0, [200])


@settings(max_examples=100, deadline=None)
@given(programs, st.lists(programs, min_size=1, max_size=10))
def test_nearest_program_properties(program, supported):
    got = nearest_program(program, supported)
    assert got in supported
    if program in supported:
        assert got == program
    family = [p for p in supported if p // 8 == program // 8]
    if family:
        assert got // 8 == program // 8
        assert abs(got - program) == min(abs(p - program) for p in family)
    else:
        assert abs(got - program) == min(abs(p - program) for p in supported)


@settings(max_examples=100, deadline=None)
@given(programs, st.sampled_from([str.lower, str.upper, str.title]), st.sampled_from(["program", "gm", "instrument"]))
def test_name_and_number_round_trip(program, case, word):
    assert parse_instrument(case(program_name(program))) == program
    assert parse_instrument(f"{case(word)} {program + 1}") == program
