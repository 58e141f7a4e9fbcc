"""benchmarks/key_finder.py: its progressions, and prompts it shares with benchmarks/control.py."""
import sys
from pathlib import Path

import pytest

from audiodiff.music.prompt import Prompt
from audiodiff.music.theory import Chord, Key

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import control  # noqa: E402
import key_finder  # noqa: E402


def test_the_first_progression_is_the_control_benchmarks_and_all_eight_differ():
    for key in (Key(2, "major"), Key(9, "minor")):
        assert key_finder.progression(key, 0) == control.progression(Prompt(key=key))
        assert len({str(key_finder.progression(key, i)) for i in range(8)}) == 8
        assert key_finder.progression(key, 8) == key_finder.progression(key, 0)


@pytest.mark.parametrize("index, symbols", [
    (1, [["D"], ["A"], ["Bm"], ["G"]]),  # I V vi IV of D major
    (3, [["Em"], ["A7"], ["D"], ["D"]]),  # ii V7 I I
])
def test_progressions_by_hand_in_d_major(index, symbols):
    assert [[c.symbol for c in bar] for bar in key_finder.progression(Key(2, "major"), index)] == symbols


def test_minor_progressions_use_the_keys_degrees():
    # i VII VI V7 of A minor: Am G F E7
    assert key_finder.progression(Key(9, "minor"), 1) == [[Chord(9, "min")], [Chord(7, "maj")], [Chord(5, "maj")],
                                                            [Chord(4, "7")]]


def test_prompts_from_another_seed_are_other_keys_and_seeds():
    bench, dev = control.prompts(8, 10.0), control.prompts(8, 10.0, 8000)
    assert [p.seed for p in dev] == list(range(8000, 8008)) and [p.seed for p in bench] == list(range(5000, 5008))
    assert [p.key for p in bench] != [p.key for p in dev]
