import dataclasses
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audiodiff.music.prompt import (
    ALLOWED_HELP,
    BPM_RANGE,
    DEFAULT_BPM,
    DEFAULT_KEY,
    DEFAULT_METER,
    DEFAULT_PROGRAM,
    DEFAULT_SECONDS,
    DEFAULT_SEED,
    MAX_PROMPT_CHARS,
    SECONDS_RANGE,
    Prompt,
    parse,
)
from audiodiff.music.theory import ALL_KEYS, SUPPORTED_METERS, Key, Meter

fast = settings(max_examples=100, deadline=None)
PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def key(name: str, mode: str = "major") -> Key:
    tonic = PC[name[0]] + {"": 0, "#": 1, "b": -1}[name[1:]]
    return Key(tonic % 12, mode)


def test_defaults():
    assert (DEFAULT_KEY, DEFAULT_BPM, DEFAULT_METER) == (Key(0, "major"), 100, Meter(4, 4))
    assert (DEFAULT_PROGRAM, DEFAULT_SECONDS, DEFAULT_SEED) == (0, 10.0, None)
    assert (BPM_RANGE, SECONDS_RANGE) == ((40, 240), (1, 600))
    assert parse("") == parse(" , ") == Prompt() == Prompt(Key(0, "major"), 100.0, Meter(4, 4), 0, 10.0, None)


def test_missing_fields_get_defaults():
    p = parse("violin")
    assert p == Prompt(program=40)
    assert (p.key, p.bpm, p.meter, p.seconds, p.seed) == (DEFAULT_KEY, DEFAULT_BPM, DEFAULT_METER, 10.0, None)


@pytest.mark.parametrize("text, expected", [
    ("D minor, 96 bpm, 3/4, violin", Prompt(key("D", "minor"), 96, Meter(3, 4), 40)),
    ("F# minor, 128 bpm, 6/8, flute, 30 s, seed 7",
     Prompt(key("F#", "minor"), 128, Meter(6, 8), 73, 30.0, 7)),
    ("Dm 96bpm", Prompt(key("D", "minor"), 96)),
    ("A♭m, 72 bpm", Prompt(key("Ab", "minor"), 72)),
    ("seed=7 30s flute 6/8 128 BPM F# minor", Prompt(key("F#", "minor"), 128, Meter(6, 8), 73, 30.0, 7)),
    ("tempo 90, 2/4, program 41", Prompt(bpm=90, meter=Meter(2, 4), program=40)),
    ("Gm 96 bpm", Prompt(key("G", "minor"), 96)),   # Gm followed by a tempo is the key
    ("Gm, program 41", Prompt(key("G", "minor"), program=40)),
    ("Gm 96", Prompt(key("G", "minor"), 96)),   # a bare number right after the key is the tempo
    ("Am 100", Prompt(key("A", "minor"), 100)),
    ("D minor 96.5, violin", Prompt(key("D", "minor"), 96.5, program=40)),
    ("A violin", Prompt(key("A"), program=40)),  # a capital A is the key
    ("a minor, violin", Prompt(key("A", "minor"), program=40)),
    ("a, violin", Prompt(key("A"), program=40)),
    ("electric guitar (jazz), E flat minor", Prompt(key("Eb", "minor"), program=26)),
    ("lead 8 (bass + lead), 60 bpm", Prompt(bpm=60, program=87)),
    ("key=Bb, 4/4", Prompt(key("Bb"))),
])
def test_examples(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text, name, mode", [
    ("Dm", "D", "minor"), ("d minor", "D", "minor"), ("D min", "D", "minor"), ("D Minor", "D", "minor"),
    ("F#", "F#", "major"), ("F# major", "F#", "major"), ("Gb major", "Gb", "major"),
    ("Gb maj", "Gb", "major"), ("Bb", "Bb", "major"), ("A♭m", "Ab", "minor"),
    ("a♭ minor", "Ab", "minor"), ("C#m", "C#", "minor"), ("Ebm", "Eb", "minor"),
    ("E flat minor", "Eb", "minor"), ("F sharp major", "F#", "major"), ("d", "D", "major"),
    ("B", "B", "major"), ("b", "B", "major"), ("bb", "Bb", "major"), ("Bbm", "Bb", "minor"),
    ("E-flat minor", "Eb", "minor"), ("C♯ minor", "C#", "minor"), ("Cmaj", "C", "major"),
    ("f#min", "F#", "minor"), ("Bm", "B", "minor"), ("B major", "B", "major"),
])
def test_key_spellings(text, name, mode):
    assert parse(text).key == key(name, mode)


@pytest.mark.parametrize("text, bpm", [
    ("96 bpm", 96.0), ("96bpm", 96.0), ("bpm 96", 96.0), ("tempo 96", 96.0), ("96.5 bpm", 96.5),
    ("tempo 96 bpm", 96.0), ("bpm=120", 120.0), ("40 bpm", 40.0), ("240 bpm", 240.0),
])
def test_tempo_spellings(text, bpm):
    assert parse(text).bpm == bpm


@pytest.mark.parametrize("text, seconds", [
    ("30 s", 30.0), ("30s", 30.0), ("30 sec", 30.0), ("30 seconds", 30.0), ("1.5 seconds", 1.5),
    ("1 second", 1.0), ("600 s", 600.0),
])
def test_seconds_spellings(text, seconds):
    assert parse(text).seconds == seconds


@pytest.mark.parametrize("text, seed", [("seed 7", 7), ("seed=7", 7), ("seed7", 7), ("seed 0", 0)])
def test_seed_spellings(text, seed):
    assert parse(text).seed == seed


@pytest.mark.parametrize("meter", SUPPORTED_METERS)
def test_meters(meter):
    assert parse(f"{meter[0]}/{meter[1]}").meter == Meter(*meter)
    assert parse(f"{meter[0]} / {meter[1]}").meter == Meter(*meter)


@pytest.mark.parametrize("text, qpm", [("6/8, 60 bpm", 90.0), ("3/4, 96 bpm", 96.0), ("2/4 120 bpm", 120.0)])
def test_midi_qpm_counts_the_meters_beat(text, qpm):
    assert parse(text).midi_qpm == qpm


@pytest.mark.parametrize("text, allowed", [
    ("5/4", "2/4, 3/4, 4/4, 6/8"),
    ("300 bpm", "40..240"), ("39.9 bpm", "40..240"), ("-5 bpm", "40..240"),
    ("0.5 s", "1..600"), ("601 s", "1..600"),
    ("seed -1", "seed must be"), ("seed 1.5", "seed must be"),
    ("program 0", "1..128"), ("program 129", "1..128"),
])
def test_out_of_range_lists_allowed(text, allowed):
    with pytest.raises(ValueError) as err:
        parse(text)
    assert allowed in str(err.value)


@pytest.mark.parametrize("text, field", [
    ("Dm, Em", "key"), ("96 bpm, tempo 100", "bpm"), ("3/4 4/4", "meter"),
    ("violin, flute", "program"), ("10 s 20 s", "seconds"), ("seed 1 seed 2", "seed"),
])
def test_duplicate_fields(text, field):
    with pytest.raises(ValueError, match=f"{field} given twice"):
        parse(text)


@pytest.mark.parametrize("text, words", [
    ("D minor, fast, violin", ["'fast'"]), ("96", ["'96'"]), ("Dm 96 bpm loud kazoo", ["'loud'", "'kazoo'"]),
    ("drums", ["'drums'"]), ("D minor key signature", ["'signature'"]),
])
def test_unknown_words_listed_with_allowed_fields(text, words):
    with pytest.raises(ValueError) as err:
        parse(text)
    msg = str(err.value)
    assert all(w in msg for w in words)
    for allowed in ("D minor", "N bpm", "40..240", "3/4", "6/8", "violin", "N s", "seed N"):
        assert allowed in msg


def test_prompt_validates_directly():
    with pytest.raises(ValueError, match="0..127"):
        Prompt(program=128)
    with pytest.raises(ValueError, match="40..240"):
        Prompt(bpm=20)
    with pytest.raises(ValueError, match="seed"):
        Prompt(seed=-1)
    with pytest.raises(TypeError):
        Prompt(key="D minor")
    assert dataclasses.replace(Prompt(), bpm=60).bpm == 60.0


def test_to_text_is_canonical():
    p = Prompt(key("Eb", "minor"), 96.5, Meter(6, 8), 24, 30.0, 7)
    assert p.to_text() == "Eb minor, 96.5 bpm, 6/8, acoustic guitar (nylon), 30 s, seed 7"
    assert Prompt().to_text() == "C major, 100 bpm, 4/4, acoustic grand piano, 10 s"


# ---- properties ----

prompts = st.builds(
    Prompt,
    key=st.sampled_from(ALL_KEYS),
    bpm=st.one_of(st.integers(*BPM_RANGE), st.floats(*BPM_RANGE)),
    meter=st.sampled_from([Meter(*m) for m in SUPPORTED_METERS]),
    program=st.integers(0, 127),
    seconds=st.one_of(st.integers(*SECONDS_RANGE), st.floats(*SECONDS_RANGE)),
    seed=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
)


@fast
@given(prompts)
def test_to_text_round_trips(p):
    assert parse(p.to_text()) == p


@st.composite
def key_spellings(draw, k: Key):
    spellings = [(letter, acc) for letter, pc in PC.items() for acc, shift in (("", 0), ("#", 1), ("b", -1))
                 if (pc + shift) % 12 == k.tonic]
    letter, acc = draw(st.sampled_from(spellings))
    case = draw(st.sampled_from([str.lower, str.upper, str.title]))
    letter = draw(st.sampled_from([letter, letter.lower()]))
    if acc == "#":
        acc = draw(st.sampled_from(["#", "♯", " sharp", "-sharp", " " + case("sharp")]))
    elif acc == "b":
        acc = draw(st.sampled_from(["b", "♭", " flat", "-flat", " " + case("flat")]))
    words = acc.startswith((" ", "-"))
    if k.mode == "minor":
        modes = [" min", " minor"] + ([] if words else ["m", "min", "minor"])
    else:
        modes = [" maj", " major"] + ([] if words else ["", "maj", "major"])
    mode = draw(st.sampled_from(modes))
    return letter + acc + (" " + case(mode.strip()) if mode.startswith(" ") else mode)


@fast
@given(st.sampled_from(ALL_KEYS).flatmap(lambda k: st.tuples(st.just(k), key_spellings(k))))
def test_random_key_spellings(key_and_text):
    k, text = key_and_text
    assert parse(text).key == k
    assert parse(f"{text}, 90 bpm, violin").key == k


@fast
@given(prompts, st.randoms(use_true_random=False), st.sampled_from([", ", " ", ",", " , ", ",  "]))
def test_field_order_does_not_matter(p, rnd, sep):
    fields = p.to_text().split(", ")
    fields[0] = rnd.choice([p.key.name, p.key.short_name])
    rnd.shuffle(fields)
    assert parse(sep.join(fields)) == p


out_of_range_bpm = st.one_of(
    st.integers(-1000, BPM_RANGE[0] - 1), st.integers(BPM_RANGE[1] + 1, 10**6),
    st.floats(0.5, BPM_RANGE[0] - 0.01), st.floats(BPM_RANGE[1] + 0.01, 1e6),
)


@fast
@given(out_of_range_bpm, st.sampled_from(["{} bpm", "{}bpm", "tempo {}", "bpm {}"]))
def test_out_of_range_tempo_raises(bpm, form):
    with pytest.raises(ValueError, match="40..240"):
        parse("D minor, " + form.format(bpm) + ", violin")


@fast
@given(prompts, st.text(alphabet="hjkquvwxyz", min_size=1, max_size=8), st.integers(0, 6))
def test_junk_words_raise(p, junk, where):
    fields = p.to_text().split(", ")
    fields.insert(where, junk)
    with pytest.raises(ValueError) as err:
        parse(", ".join(fields))
    assert repr(junk) in str(err.value)
    assert ALLOWED_HELP in str(err.value)


@pytest.mark.parametrize("text, message", [
    ("a violin", "'a violin' is ambiguous"),
    ("D minor, 96 bpm, a solo violin", "key given twice"),  # "solo" is no instrument: "a" is the key again
    ("Gm, gm 41", "key given twice"),  # in a prompt "gm" is the key G minor, never a GM program
    ("violin 96", "unknown word(s) in prompt: '96'"),  # a bare number away from the key
    ("Am 300", "40..240"),
])
def test_ambiguous_or_misplaced_words_are_refused(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse(text)


def test_long_prompts_are_refused_in_one_line():
    with pytest.raises(ValueError, match=f"1001 characters long; at most {MAX_PROMPT_CHARS}"):
        parse("x" * 1001)


@pytest.mark.parametrize("text", [
    "violin " * 142, "foo " * 250, "a " * 500, "D minor" + " " * 990 + "/ 4", "3" + " / " * 300 + "4",
])
def test_parsing_takes_linear_time(text):
    text = text[:MAX_PROMPT_CHARS]
    start = time.perf_counter()
    with pytest.raises(ValueError):
        parse(text)
    assert time.perf_counter() - start < 0.5  # the old quadratic parser: over a second here


def test_seed_bounds_are_what_numpy_accepts():
    """Seeds are 0 <= seed < 2**32 (numpy's limit): both ends by hand, in prompts and in Prompt."""
    assert parse("seed 4294967295").seed == 2**32 - 1 and Prompt(seed=0).seed == 0
    for bad in (2**32, -1):
        with pytest.raises(ValueError, match="seed"):
            Prompt(seed=bad)
    with pytest.raises(ValueError, match="seed"):
        parse("seed 4294967296")


# ---- exact messages and edges (each closes a hole a mutation run found: docs/mutation.md) ----

def test_prompt_errors_are_exact():
    with pytest.raises(TypeError, match=r"^key must be a Key and meter a Meter$"):
        Prompt(key="D minor")
    with pytest.raises(ValueError, match=r"^tempo 20 bpm out of range; allowed 40\.\.240 bpm$"):
        Prompt(bpm=20)
    with pytest.raises(ValueError, match=r"^seed must be an int 0\.\.4294967295, got 4294967296$"):
        Prompt(seed=2**32)
    with pytest.raises(ValueError, match=r"^seed must be an int 0\.\.4294967295, got '-1'$"):
        parse("seed -1")


def test_a_prompt_of_exactly_max_chars_is_parsed():
    text = "violin" + " " * (MAX_PROMPT_CHARS - len("violin"))
    assert len(text) == 1000 and parse(text) == Prompt(program=40)


@pytest.mark.parametrize("text", ["tempo", "D minor, bpm", "violin, seed"])
def test_a_field_word_without_its_number_at_the_end_is_an_unknown_word(text):
    word = text.split()[-1]
    with pytest.raises(ValueError, match=re.escape(f"unknown word(s) in prompt: {word!r}; ")):
        parse(text)


def test_tempo_n_bpm_uses_three_words_and_no_more():
    assert parse("tempo 96 bpm, violin") == Prompt(bpm=96, program=40)


def test_a_lone_m_is_no_mode_word():
    """Only "Dm" (one word) is D minor; "D m" is D major and an unknown 'm'."""
    with pytest.raises(ValueError, match=re.escape("unknown word(s) in prompt: 'm'; ")):
        parse("D m")


@pytest.mark.parametrize("text, message", [
    ("96 bpm, a violin", "'a violin' is ambiguous: is 'a' the key of A major? write 'A major, violin' for the "
                         "key, or leave out 'a'"),
    ("a alto sax, 96 bpm", "'a alto sax' is ambiguous: is 'a' the key of A major? write 'A major, alto sax' for "
                           "the key, or leave out 'a'"),
])
def test_ambiguous_article_message_names_the_whole_instrument(text, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse(text)


def test_duplicate_field_message_quotes_both_spellings():
    with pytest.raises(ValueError, match=r"^bpm given twice: '96 bpm' and 'tempo 100'; give each field at most once$"):
        parse("96 bpm, tempo 100")


@pytest.mark.parametrize("words, shown", [
    ("hh jj kk qq uu", "'hh', 'jj', 'kk', 'qq', 'uu'"),
    ("hh jj kk qq uu vv", "'hh', 'jj', 'kk', 'qq', 'uu' and 1 more"),
    ("hh jj kk qq uu vv ww", "'hh', 'jj', 'kk', 'qq', 'uu' and 2 more"),
])
def test_unknown_words_show_the_first_five_and_count_the_rest(words, shown):
    with pytest.raises(ValueError) as err:
        parse(words)
    assert str(err.value) == f"unknown word(s) in prompt: {shown}; {ALLOWED_HELP}"
