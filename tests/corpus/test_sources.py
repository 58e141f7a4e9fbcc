import pytest

from audiodiff.corpus.items import add_chords
from audiodiff.corpus.sources import (
    SkipTune,
    abc_to_plan,
    chorale_to_plan,
    iter_abc_tunes,
    iter_chorales,
    music21_corpus_dir,
)
from audiodiff.music.theory import Chord, Key, Meter

WALTZ = """X:1
T:Test waltz
M:3/4
L:1/8
K:G
D2 | G2 A2 B2 | c4 B2 | A2 G2 F2 | G4 D2 | G2 A2 B2 | c4 e2 | d2 B2 A2 | G6 |]
"""


def test_abc_pickup_ends_on_the_first_bar_line():
    plan = abc_to_plan(WALTZ)
    notes = plan.melody.notes
    assert plan.meter == Meter(3, 4)
    assert (notes[0].pitch, notes[0].start, notes[0].duration) == (62, 8, 4)  # D, a beat before bar 1
    assert notes[1].start == 12  # G on the downbeat of bar 1
    assert plan.num_steps % plan.meter.steps_per_bar == 0
    assert plan.key == Key(7, "major")


def test_mode_is_rederived_from_the_third():
    minor = WALTZ.replace("B2", "_B2").replace("K:G", "K:G\n%")  # header says G, melody says G minor
    assert abc_to_plan(minor).key == Key(7, "minor")


@pytest.mark.parametrize("meter,expected", [("C", Meter(4, 4)), ("C|", Meter(4, 4)), ("6/8", Meter(6, 8)),
                                            ("2/4", Meter(2, 4))])
def test_meter_is_read_from_the_header(meter, expected):
    assert abc_to_plan(WALTZ.replace("M:3/4", f"M:{meter}")).meter == expected


def test_unsupported_and_free_meters_are_skipped_with_reason():
    with pytest.raises(SkipTune, match="unsupported meter 5/4"):
        abc_to_plan(WALTZ.replace("M:3/4", "M:5/4"))
    with pytest.raises(SkipTune, match="unsupported meter none"):
        abc_to_plan(WALTZ.replace("M:3/4", "M:none"))
    with pytest.raises(SkipTune, match="meter change"):
        abc_to_plan(WALTZ.replace("| G2 A2 B2 | c4 e2", "| [M:2/4] G2 A2 | c4"))


def test_too_short_tune_is_skipped():
    with pytest.raises(SkipTune, match="too few notes"):
        abc_to_plan("X:1\nM:4/4\nL:1/4\nK:C\nC D E F |]\n")


def test_real_folk_tunes_from_music21():
    tunes = {t.tune_id: t for t in iter_abc_tunes(("ryansMammoth",))}
    assert len(tunes) > 1000
    acacia = abc_to_plan(tunes["ryansMammoth/AcaciaReel#1"].text)
    assert acacia.meter == Meter(2, 4) and acacia.key == Key(7, "major")
    assert acacia.melody.notes[0].start > 0  # it starts with a pickup
    assert len(acacia.melody.notes) > 100  # repeats expanded: the whole reel
    harmonized = add_chords(acacia)
    assert harmonized.chords[-1] == Chord(7, "maj")  # ends on the tonic
    assert all(harmonized.chords)


def test_a_bach_chorale_has_four_voices_and_its_key():
    path = music21_corpus_dir() / "bach" / "bwv66.6.mxl"
    plan = chorale_to_plan(str(path))
    assert len(plan.tracks) == 4
    assert plan.key == Key(6, "minor")  # F# minor
    assert sum(1 for _ in iter_chorales()) > 300
