"""Random arrangements: deterministic per (seed, stream), disjoint seed spaces, well-formed pieces."""
from __future__ import annotations

import pytest

from audiodiff.corpus.arrangements import (
    DEV_STREAM,
    HELDOUT_STREAM,
    TRAIN_STREAM,
    dev_arrangement,
    heldout_arrangement,
    random_arrangement,
)
from audiodiff.music.performance import Performance


def fingerprint(perf: Performance) -> tuple:
    """Every note of every part, rounded: equal fingerprints mean the same piece."""
    return tuple((part.program, part.is_drum, tuple((n.pitch, round(n.start, 6), round(n.end, 6), n.velocity)
                                                    for n in part.notes)) for part in perf.tracks)


def test_same_seed_and_stream_give_the_same_piece():
    assert fingerprint(random_arrangement(3, stream=TRAIN_STREAM)) == fingerprint(random_arrangement(3))
    assert fingerprint(heldout_arrangement(5)) == fingerprint(random_arrangement(5, stream=HELDOUT_STREAM))
    assert fingerprint(dev_arrangement(5)) == fingerprint(random_arrangement(5, stream=DEV_STREAM))


def test_train_heldout_and_dev_seed_spaces_share_no_piece():
    n = 25
    spaces = [{fingerprint(random_arrangement(seed, stream=stream)) for seed in range(n)}
              for stream in (TRAIN_STREAM, HELDOUT_STREAM, DEV_STREAM)]
    assert all(len(space) == n for space in spaces)  # no two seeds of one space coincide either
    assert not (spaces[0] & spaces[1]) and not (spaces[0] & spaces[2]) and not (spaces[1] & spaces[2])


@pytest.mark.parametrize("seed", range(12))
def test_an_arrangement_is_a_well_formed_piece(seed):
    perf = random_arrangement(seed, min_seconds=16.0, max_seconds=34.0)
    pitched = [part for part in perf.tracks if not part.is_drum]
    drums = [part for part in perf.tracks if part.is_drum]
    assert 1 <= len(pitched) <= 6 and len(drums) <= 1
    assert perf.key is not None
    assert 8.0 < perf.seconds < 40.0  # whole bars near the asked 16-34 s (a bar is at most ~5 s)
    for part in perf.tracks:
        assert 0 <= part.program <= 127 and part.notes
        for note in part.notes:
            assert 0 <= note.pitch <= 127 and 1 <= note.velocity <= 127
            assert 0.0 <= note.start < note.end <= perf.seconds + 1.0  # a played end may ring past the last bar
