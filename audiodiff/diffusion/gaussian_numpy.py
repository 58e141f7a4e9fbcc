"""EDM samplers in numpy over any denoiser callable (an ONNX Runtime session or a wrapped torch module).

The same samplers as :mod:`audiodiff.diffusion.gaussian` (Karras schedule, DPM-Solver++(2M) and
EDM's Heun, classifier-free guidance, EDM preconditioning), with float32 arrays and numpy
generators: ``denoise(x [B, ...], sigma [B]) -> x0_hat [B, ...]``. Noise comes from one
``numpy.random.Generator`` per item (:func:`initial_noise`), so an item's result never depends on
its batch, and both backends draw the same noise from the same seeds.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

Denoiser = Callable[[np.ndarray, np.ndarray], np.ndarray]
SAMPLERS = ("dpmpp_2m", "heun")
SIGMA_MIN, SIGMA_MAX, RHO = 0.002, 80.0, 7.0  # EDM's sampling defaults (audiodiff.diffusion.gaussian uses these)


def _per_item(value: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``value [B]`` reshaped to broadcast against ``like [B, ...]``, in its dtype."""
    return value.reshape(-1, *([1] * (like.ndim - 1))).astype(like.dtype)


def preconditioning(sigma: np.ndarray, sigma_data: float) -> tuple[np.ndarray, ...]:
    """EDM's (c_skip, c_out, c_in, c_noise) for noise levels ``sigma`` (any shape, same out)."""
    total = sigma ** 2 + sigma_data ** 2
    return sigma_data ** 2 / total, sigma * sigma_data / np.sqrt(total), 1.0 / np.sqrt(total), np.log(sigma) / 4


def edm_denoise(net: Callable[[np.ndarray, np.ndarray], np.ndarray], x: np.ndarray, sigma: np.ndarray,
                sigma_data: float) -> np.ndarray:
    """``x0_hat = c_skip * x + c_out * net(c_in * x, c_noise)`` for ``x [B, ...]``, ``sigma [B]``
    (``net(x_in, c_noise [B])`` is the raw network with its conditioning bound)."""
    c_skip, c_out, c_in, c_noise = preconditioning(sigma, sigma_data)
    out = net(_per_item(c_in, x) * x, c_noise)
    return _per_item(c_skip, x) * x + _per_item(c_out, x) * out


def karras_sigmas(steps: int, sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX,
                  rho: float = RHO) -> np.ndarray:
    """Float64 ``[steps + 1]``: the decreasing Karras schedule with a final 0 (as the torch one)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not 0 < sigma_min < sigma_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
    ramp = np.linspace(0, 1, steps, dtype=np.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return np.concatenate([(hi + ramp * (lo - hi)) ** rho, np.zeros(1)])


def item_generators(seeds: Sequence[int]) -> list[np.random.Generator]:
    """One numpy generator per item, seeded as the seeds are seeded everywhere (``default_rng(seed)``)."""
    return [np.random.default_rng(int(seed)) for seed in seeds]


def initial_noise(item_shape: Sequence[int], generators: Sequence[np.random.Generator],
                  sigma_max: float = SIGMA_MAX) -> np.ndarray:
    """Float32 ``sigma_max * N(0, I)`` of shape ``[len(generators), *item_shape]``, item b from ``generators[b]``."""
    noise = np.stack([g.standard_normal(tuple(item_shape), dtype=np.float32) for g in generators])
    return (np.float32(sigma_max) * noise).astype(np.float32)


def classifier_free_guidance(cond: Denoiser, paired: Denoiser, scale: float) -> Denoiser:
    """``D = uncond + scale * (cond - uncond)``, both branches in one call of ``paired`` (first B
    items with the condition, last B without); ``scale = 1`` is plain ``cond``."""
    if scale == 1.0:
        return cond

    def guided(x: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        c, u = np.split(paired(np.concatenate([x, x]), np.concatenate([sigma, sigma])), 2)
        return u + np.float32(scale) * (c - u)
    return guided


def _call(denoise: Denoiser, x: np.ndarray, sigma: float) -> np.ndarray:
    """Call with the step's sigma as ``[B]`` in the sample's dtype."""
    return denoise(x, np.full(x.shape[0], sigma, dtype=x.dtype))


def heun_sample(denoise: Denoiser, x: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """EDM Algorithm 1 (deterministic): Euler step + trapezoidal correction, except into sigma 0."""
    for s, s_next in zip(sigmas[:-1].tolist(), sigmas[1:].tolist()):
        d = (x - _call(denoise, x, s)) / np.float32(s)
        x_next = x + np.float32(s_next - s) * d
        if s_next > 0:
            d_next = (x_next - _call(denoise, x_next, s_next)) / np.float32(s_next)
            x_next = x + np.float32(s_next - s) * (d + d_next) / 2
        x = x_next
    return x


def dpmpp_2m_sample(denoise: Denoiser, x: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """DPM-Solver++(2M) in sigma form (see :func:`audiodiff.diffusion.gaussian.dpmpp_2m_sample`)."""
    previous: np.ndarray | None = None
    h_last = 0.0
    for s, s_next in zip(sigmas[:-1].tolist(), sigmas[1:].tolist()):
        denoised = _call(denoise, x, s)
        if s_next == 0:
            return denoised
        h = math.log(s) - math.log(s_next)
        estimate = denoised
        if previous is not None:
            r = h_last / h
            estimate = np.float32(1 + 1 / (2 * r)) * denoised - np.float32(1 / (2 * r)) * previous
        x = np.float32(s_next / s) * x - np.float32(math.expm1(-h)) * estimate
        previous, h_last = denoised, h
    return x


def sample(denoise: Denoiser, noise: np.ndarray, *, steps: int, sampler: str = "dpmpp_2m",
           sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX, rho: float = RHO) -> np.ndarray:
    """Run ``sampler`` (one of SAMPLERS) from ``noise`` (at ``sigma_max``) over a Karras schedule of
    ``steps`` levels; returns the sample, same shape and dtype as ``noise``."""
    sigmas = karras_sigmas(steps, sigma_min, sigma_max, rho)
    if sampler == "dpmpp_2m":
        return dpmpp_2m_sample(denoise, noise, sigmas)
    if sampler == "heun":
        return heun_sample(denoise, noise, sigmas)
    raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
