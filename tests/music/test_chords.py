import pytest

from audiodiff.music.chords import chords_key, parse_chord, parse_progression, progression_beats
from audiodiff.music.theory import Chord, Key, Meter


@pytest.mark.parametrize("symbol, root, quality", [
    ("C", 0, "maj"), ("Cmaj7", 0, "maj"), ("C6", 0, "maj"), ("Caug", 0, "maj"), ("Csus4", 0, "maj"),
    ("Dm", 2, "min"), ("Dm7", 2, "min"), ("Eb-", 3, "min"), ("A7", 9, "7"), ("G9", 7, "7"),
    ("Bdim", 11, "dim"), ("F#m7b5", 6, "dim"), ("C/E", 0, "maj"), ("Bbm/F", 10, "min"),
])
def test_symbols_map_to_the_nearest_vocabulary_chord(symbol, root, quality):
    assert parse_chord(symbol) == Chord(root, quality)


@pytest.mark.parametrize("symbol", ["H7", "Cmaj13#11", "C/X", "Dm/", "7", ""])
def test_unknown_symbols_give_one_line_naming_what_is_accepted(symbol):
    with pytest.raises(ValueError, match="unknown chord symbol") as err:
        parse_chord(symbol)
    assert "\n" not in str(err.value) and "maj7" in str(err.value) and "N.C." in str(err.value)


def test_bars_split_evenly_and_a_short_progression_repeats():
    bars = parse_progression("| Dm | Gm A7 | N.C. |")
    assert len(bars) == 3 and bars[2] == [None]
    beats = progression_beats(bars, Meter(4, 4), 4)
    dm, gm, a7 = Chord(2, "min"), Chord(7, "min"), Chord(9, "7")
    assert beats == [dm] * 4 + [gm, gm, a7, a7] + [None] * 4 + [dm] * 4
    assert progression_beats([[gm, a7]], Meter(3, 4), 1) == [gm, gm, a7]  # 2 + 1 beats
    assert progression_beats([[gm, a7]], Meter(6, 8), 1) == [gm, a7]


def test_bad_progressions_are_refused():
    with pytest.raises(ValueError, match="bar 2 of the chords is empty"):
        parse_progression("Dm || Gm")
    with pytest.raises(ValueError, match="has 4 chords; 3/4 has only 3 beats"):
        progression_beats(parse_progression("C F G C"), Meter(3, 4), 1)


def test_chords_suggest_their_key():
    assert chords_key([Chord(2, "min"), Chord(7, "min"), Chord(9, "7"), Chord(2, "min")]) == Key(2, "minor")
    assert chords_key([None]) is None


KEY_TABLE = {  # common progressions -> the key they are in (major, minor, modal)
    "C | F | G | C": "C major", "C | Am | F | G": "C major", "C | G | Am | F": "C major", "G | Em | C | D": "G major",
    "D | A | Bm | G": "D major", "F | Bb | C7 | F": "F major", "C | Dm7 G7 | C": "C major", "Dm | G7 | C": "C major",
    "Am | Dm | G | C": "C major", "E | A | B7 | E": "E major", "G | C | D7 | G": "G major",
    "Bb | Eb | F | Bb": "Bb major", "C7 | F7 | C7 | G7 F7 | C7": "C major", "G | F | C | G": "G major",
    "D | C | G | D": "D major", "Eb | Cm | Ab | Bb7 | Eb": "Eb major", "F | Dm | Bb | C": "F major",
    "Em | C | D | Em": "E minor", "Am | F | G | Am": "A minor", "Bm | G | A | Bm": "B minor",
    "Am | Dm | E7 | Am": "A minor", "Dm | Gm A7 | Dm | A7 Dm": "D minor", "F#m | D | C#7 F#m": "F# minor",
    "Am | G | F | G": "A minor", "Am | G | F | E": "A minor", "Dm | C | Bb | C": "D minor", "Em | D | C | D": "E minor",
    "Cm | Ab | Eb | Bb": "C minor", "Cm | Fm | G7 | Cm": "C minor", "Gm | Cm | D7 | Gm": "G minor",
    "Em | Am | B7 | Em": "E minor", "Dm | Bb | F | C": "D minor", "Bm | A | G | A": "B minor",
    "Am": "A minor", "C": "C major",
}


@pytest.mark.parametrize("progression", KEY_TABLE)
def test_chords_key_on_a_table_of_major_minor_and_modal_progressions(progression):
    assert chords_key([c for bar in parse_progression(progression) for c in bar]).name == KEY_TABLE[progression]


@pytest.mark.parametrize("symbol, written", [("C♯m", "C#m"), ("B♭", "Bb"), ("E♭7", "Eb7"), ("F♯m7♭5", "F#m7b5")])
def test_unicode_accidentals_read_as_ascii(symbol, written):
    assert parse_chord(symbol) == parse_chord(written)
