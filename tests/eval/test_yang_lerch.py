"""Yang & Lerch set comparison on hand-made sets: identical sets overlap, disjoint ones do not."""
import numpy as np
import pytest

from audiodiff.eval.yang_lerch import (
    as_rows,
    compare_feature,
    inter_distances,
    intra_distances,
    kde,
    kl_divergence,
    overlap_area,
)


def test_distances_count_each_pair_once_within_a_set_and_every_pair_between_sets():
    a = as_rows([0.0, 1.0, 3.0])
    assert sorted(intra_distances(a)) == [1.0, 2.0, 3.0]
    assert sorted(inter_distances(a, as_rows([10.0, 0.0]))) == [0.0, 1.0, 3.0, 7.0, 9.0, 10.0]
    rows = as_rows([np.eye(2), np.zeros((2, 2))])  # matrices become rows: Euclidean over all cells
    assert rows.shape == (2, 4) and intra_distances(rows)[0] == pytest.approx(np.sqrt(2))


def test_density_integrates_to_one_even_for_a_constant_sample():
    grid = np.linspace(-1, 1, 2001)
    for sample in (np.zeros(5), np.array([0.1, 0.2, 0.5])):
        density = kde(sample, grid, scale=1.0)
        assert np.sum((density[1:] + density[:-1]) * np.diff(grid)) / 2 == pytest.approx(1.0, abs=1e-3)


def test_overlap_is_one_for_one_sample_and_zero_for_far_apart_ones():
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    assert overlap_area(x, x) == pytest.approx(1.0, abs=1e-6)
    assert kl_divergence(x, x) == pytest.approx(0.0, abs=1e-6)
    assert overlap_area(x, x + 50) < 0.01
    assert kl_divergence(x, x + 50) > 10
    half = overlap_area(x, x + 1.35)  # two unit normals 1.35 apart overlap by about 0.5
    assert 0.4 < half < 0.6


def test_identical_sets_compare_as_the_same_and_disjoint_sets_do_not():
    rng = np.random.default_rng(1)
    reference = rng.integers(40, 60, size=120).astype(float)
    same = compare_feature(reference, reference)
    assert same.oa > 0.9 and same.kl < 0.05
    assert same.generated_mean == same.reference_mean
    far = compare_feature(reference + 200, reference)
    assert far.oa < 0.01 and far.kl > 1


def test_histogram_features_separate_sets_that_use_different_bins():
    rng = np.random.default_rng(2)
    low = rng.dirichlet([8, 8, 1, 1], size=80)  # mass on the first two bins
    high = low[:, ::-1]
    assert compare_feature(low[:40], low[40:]).oa > 0.8
    assert compare_feature(high, low).oa < 0.2


def test_too_small_sets_are_refused():
    with pytest.raises(ValueError):
        compare_feature([1.0], [2.0])
