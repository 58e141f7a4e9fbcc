import numpy as np
import pytest

from audiodiff.music.theory import ALL_KEYS, TEMPERLEY_MAJOR, TEMPERLEY_MINOR, Chord, Key, Meter, estimate_key


def test_key_names_and_index_round_trip():
    assert Key(2, "minor").name == "D minor"
    assert Key(3, "major").name == "Eb major"
    assert Key(6, "minor").short_name == "F#m"
    assert [Key.from_index(k.index) for k in ALL_KEYS] == list(ALL_KEYS)
    assert len(set(ALL_KEYS)) == 24


def test_relative_keys():
    assert Key(0, "major").relative == Key(9, "minor")
    assert Key(9, "minor").relative == Key(0, "major")


@pytest.mark.parametrize("meter,bar,beat,beats", [((2, 4), 8, 4, 2), ((3, 4), 12, 4, 3),
                                                  ((4, 4), 16, 4, 4), ((6, 8), 12, 6, 2)])
def test_meter_grid(meter, bar, beat, beats):
    m = Meter(*meter)
    assert (m.steps_per_bar, m.steps_per_beat, m.beats_per_bar) == (bar, beat, beats)


def test_compound_meter_counts_dotted_quarters():
    assert Meter(6, 8).quarters_per_beat == 1.5
    assert Meter(3, 4).quarters_per_beat == 1.0


def test_unsupported_meter_lists_allowed():
    with pytest.raises(ValueError, match="2/4, 3/4, 4/4, 6/8"):
        Meter(5, 4)


def test_chord_symbols_round_trip():
    for symbol in ("C", "Dm", "F#dim", "G7", "A#m"):
        assert Chord.parse(symbol).symbol == symbol
    assert Chord.parse("Bbm") == Chord(10, "min")
    assert Chord.parse("G7").pitch_classes == (7, 11, 2, 5)


@pytest.mark.parametrize("key", ALL_KEYS)
def test_estimate_key_recovers_profile_keys(key):
    profile = TEMPERLEY_MAJOR if key.mode == "major" else TEMPERLEY_MINOR
    assert estimate_key(np.roll(profile, key.tonic)) == key


def test_estimate_key_from_scale_with_tonic_weight():
    weights = np.zeros(12)
    for pc in Key(2, "minor").scale:
        weights[pc] += 1
    weights[2] += 3  # tonic
    weights[9] += 2  # dominant
    assert estimate_key(weights) == Key(2, "minor")
