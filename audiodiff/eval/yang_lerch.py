"""Set-level comparison of generated music with a reference set (Yang & Lerch 2018, "On the
evaluation of generative models in music").

For one feature (a scalar, a histogram or a matrix per piece) the distances between pieces are
gathered three ways: within the generated set, within the reference set (intra-set, each pair
once) and between the sets (inter-set, every pair). Each distance sample is smoothed by a
Gaussian kernel density estimate; the overlapping area (OA) of the reference's intra-set density
and the inter-set density, and their KL divergence, say how far the generated set is from being
one more draw of the reference: OA 1 and KL 0 when it is.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID_POINTS = 512
MIN_BANDWIDTH = 1e-3  # relative to the distances' scale: a constant sample still has a density


def integrate(y: np.ndarray, x: np.ndarray) -> float:
    """Trapezoidal integral of ``y`` [g] over the grid ``x`` [g]."""
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2)


def as_rows(values: list | np.ndarray) -> np.ndarray:
    """Per-piece feature values (scalars, vectors or matrices) as [n, d] float rows."""
    array = np.asarray(values, dtype=np.float64)
    return array.reshape(len(array), -1)


def intra_distances(a: np.ndarray) -> np.ndarray:
    """Euclidean distances of every unordered pair of rows of ``a`` [n, d] -> [n (n - 1) / 2]."""
    i, j = np.triu_indices(len(a), k=1)
    return np.linalg.norm(a[i] - a[j], axis=1)


def inter_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances of every row of ``a`` [n, d] to every row of ``b`` [m, d] -> [n m]."""
    return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2).ravel()


def bandwidth(x: np.ndarray, scale: float) -> float:
    """Silverman's rule of thumb for a 1-D sample, floored at MIN_BANDWIDTH * ``scale``."""
    n = max(len(x), 1)
    spread = min(np.std(x), (np.percentile(x, 75) - np.percentile(x, 25)) / 1.34) if len(x) > 1 else 0.0
    if spread <= 0:
        spread = np.std(x) if len(x) > 1 else 0.0
    return float(max(0.9 * spread * n ** -0.2, MIN_BANDWIDTH * max(scale, 1e-12)))


def kde(x: np.ndarray, grid: np.ndarray, scale: float) -> np.ndarray:
    """Gaussian kernel density of the sample ``x`` [n] on ``grid`` [g], normalised to integrate to 1."""
    h = bandwidth(x, scale)
    z = (grid[:, None] - x[None, :]) / h
    density = np.exp(-0.5 * z * z).sum(axis=1)
    area = integrate(density, grid)
    return density / area if area > 0 else density


def density_pair(p_sample: np.ndarray, q_sample: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two samples' densities on one shared grid: (grid [g], p [g], q [g])."""
    both = np.concatenate([p_sample, q_sample])
    scale = float(np.ptp(both)) or float(np.abs(both).max()) or 1.0
    margin = 4 * max(bandwidth(p_sample, scale), bandwidth(q_sample, scale))
    grid = np.linspace(both.min() - margin, both.max() + margin, GRID_POINTS)
    return grid, kde(p_sample, grid, scale), kde(q_sample, grid, scale)


def overlap_and_kl(p_sample: np.ndarray, q_sample: np.ndarray, eps: float = 1e-10) -> tuple[float, float]:
    """Overlapping area (area under the smaller of the two density estimates: 1 = same, 0 =
    disjoint) and KL(p || q) in nats (0 = same) of two samples' densities."""
    grid, p, q = density_pair(p_sample, q_sample)
    oa = float(np.clip(integrate(np.minimum(p, q), grid), 0.0, 1.0))
    p, q = p + eps, q + eps
    return oa, float(max(integrate(p * np.log(p / q), grid), 0.0))


def overlap_area(p_sample: np.ndarray, q_sample: np.ndarray) -> float:
    """The overlapping area of :func:`overlap_and_kl`."""
    return overlap_and_kl(p_sample, q_sample)[0]


def kl_divergence(p_sample: np.ndarray, q_sample: np.ndarray) -> float:
    """KL(p || q) of :func:`overlap_and_kl`."""
    return overlap_and_kl(p_sample, q_sample)[1]


@dataclass(frozen=True)
class FeatureComparison:
    """One feature's comparison: OA and KL of the reference's intra-set distances vs the inter-set
    ones, and the mean / std of the feature's raw values in each set (its first component)."""

    oa: float
    kl: float
    generated_mean: float
    reference_mean: float


def compare_feature(generated: list | np.ndarray, reference: list | np.ndarray) -> FeatureComparison:
    """Yang & Lerch comparison of one feature: per-piece values of the generated and reference sets."""
    g, r = as_rows(generated), as_rows(reference)
    if len(g) < 1 or len(r) < 2:
        raise ValueError("need at least one generated and two reference pieces")
    intra_ref, inter = intra_distances(r), inter_distances(g, r)
    return FeatureComparison(*overlap_and_kl(intra_ref, inter),
                             float(g.mean(axis=0).sum()) if g.shape[1] == 1 else float("nan"),
                             float(r.mean(axis=0).sum()) if r.shape[1] == 1 else float("nan"))
