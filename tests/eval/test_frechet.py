"""The Fréchet distance between Gaussians fitted to embedding frames (numbers only, no network)."""
import numpy as np
import pytest

from audiodiff.eval.frechet import Gaussian, fit_gaussian, frechet_distance, set_distance


def test_identical_sets_are_at_distance_zero():
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal((50, 8)) for _ in range(4)]
    assert set_distance(clips, clips) == pytest.approx(0.0, abs=1e-9)


def test_distance_of_known_gaussians():
    # diagonal covariances: |mu_a - mu_b|^2 + sum (sqrt(s_a) - sqrt(s_b))^2
    a = Gaussian(np.zeros(3), np.diag([1.0, 4.0, 9.0]), 100)
    b = Gaussian(np.array([1.0, 0.0, 2.0]), np.diag([4.0, 4.0, 1.0]), 100)
    assert frechet_distance(a, b) == pytest.approx(5.0 + 1.0 + 0.0 + 4.0)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a))


def test_distance_grows_with_added_noise_and_tolerates_singular_covariances():
    rng = np.random.default_rng(1)
    base = rng.standard_normal((400, 6)) @ rng.standard_normal((6, 6))
    base[:, 5] = 0.0  # a dead unit: singular covariance
    ref = fit_gaussian([base[:200], base[200:]])
    distances = [frechet_distance(ref, fit_gaussian([base + s * rng.standard_normal(base.shape)]))
                 for s in (0.0, 0.3, 1.0)]
    assert distances[0] == pytest.approx(0.0, abs=1e-9) and distances[0] < distances[1] < distances[2]


def test_running_sums_give_numpy_mean_and_covariance():
    rng = np.random.default_rng(2)
    clips = [rng.standard_normal((n, 5)) + 3.0 for n in (7, 30, 1)]
    g, frames = fit_gaussian(clips), np.concatenate(clips)
    assert g.frames == 38 and np.allclose(g.mean, frames.mean(axis=0))
    assert np.allclose(g.cov, np.cov(frames, rowvar=False))


def test_a_gaussian_needs_two_frames():
    with pytest.raises(ValueError, match="at least 2"):
        fit_gaussian([np.ones((1, 4))])
