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
