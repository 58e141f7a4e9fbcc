"""Gaussian diffusion in the EDM formulation (Karras et al. 2022) as pure functions.

The data ``x0`` is noised as ``x = x0 + sigma * n``; a *denoiser* ``denoise(x, sigma) -> x0_hat``
takes a batch ``x [B, ...]`` and per-item noise levels ``sigma [B]``. A network ``F`` becomes a
denoiser through the preconditioning of :func:`edm_denoise`:
``D(x, sigma) = c_skip * x + c_out * F(c_in * x, c_noise)``.

Samplers integrate the probability-flow ODE ``dx/dsigma = (x - D(x, sigma)) / sigma`` from
``sigma_max`` down to 0 over a Karras schedule: EDM's Heun (2nd order, two denoiser calls per
step but the last) and DPM-Solver++(2M) (multistep 2nd order, one call per step). Both are
deterministic given the initial noise, which :func:`initial_noise` draws from one generator per
item, so an item's result never depends on the batch it was sampled in.

Inference samples with :mod:`audiodiff.diffusion.gaussian_numpy` on both backends; training uses the
torch preconditioning, noise levels and loss weight here. The torch samplers here are no longer
called by the library: they remain as the reference tests/diffusion checks the numpy ones against.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from audiodiff.diffusion.gaussian_numpy import RHO, SAMPLERS, SIGMA_MAX, SIGMA_MIN  # noqa: F401 (re-exported)

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _per_item(sigma: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``sigma [B]`` reshaped to broadcast against ``like [B, ...]``."""
    return sigma.reshape(-1, *([1] * (like.dim() - 1))).to(like.dtype)


def preconditioning(sigma: torch.Tensor, sigma_data: float) -> tuple[torch.Tensor, ...]:
    """EDM's (c_skip, c_out, c_in, c_noise) for noise levels ``sigma`` (any shape, same out).

    They keep the network's input and training target at unit variance for data of standard
    deviation ``sigma_data``; ``c_noise = ln(sigma) / 4`` is what the network is told.
    """
    total = sigma ** 2 + sigma_data ** 2
    c_skip = sigma_data ** 2 / total
    c_out = sigma * sigma_data / total.sqrt()
    c_in = 1.0 / total.sqrt()
    c_noise = sigma.log() / 4
    return c_skip, c_out, c_in, c_noise


def edm_denoise(net: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor,
                sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """``x0_hat = c_skip * x + c_out * net(c_in * x, c_noise)`` for ``x [B, ...]``, ``sigma [B]``.

    ``net(x_in [B, ...], c_noise [B]) -> [B, ...]`` is the raw network with its conditioning bound.
    """
    c_skip, c_out, c_in, c_noise = preconditioning(sigma, sigma_data)
    out = net(_per_item(c_in, x) * x, c_noise)
    return _per_item(c_skip, x) * x + _per_item(c_out, x) * out


def training_sigmas(batch: int, p_mean: float, p_std: float, *, device: torch.device | str = "cpu",
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Noise levels for training: ``ln(sigma) ~ N(p_mean, p_std^2)``, shape ``[batch]``."""
    normal = torch.randn(batch, generator=generator, device=device)
    return (p_mean + p_std * normal).exp()


def loss_weight(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """EDM's ``lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma * sigma_data)^2``: equal weight
    to every noise level in terms of the network's (unit-variance) target."""
    return (sigma ** 2 + sigma_data ** 2) / (sigma * sigma_data) ** 2


def karras_sigmas(steps: int, sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX,
                  rho: float = RHO) -> torch.Tensor:
    """The schedule ``sigma_i = (max^(1/rho) + i/(steps-1) (min^(1/rho) - max^(1/rho)))^rho``,
    ``i = 0..steps-1``, with a final 0 appended: float64 ``[steps + 1]``, decreasing."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not 0 < sigma_min < sigma_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def initial_noise(item_shape: Sequence[int], generators: Sequence[torch.Generator], sigma_max: float,
                  *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``sigma_max * N(0, I)`` of shape ``[len(generators), *item_shape]``, item b drawn from
    ``generators[b]`` (CPU generators, so results agree across devices)."""
    noise = torch.stack([torch.randn(tuple(item_shape), generator=g) for g in generators])
    return (sigma_max * noise).to(device=device, dtype=dtype)


def classifier_free_guidance(cond: Denoiser, paired: Denoiser, scale: float) -> Denoiser:
    """``D = uncond + scale * (cond - uncond)`` with both branches in one call of ``paired``.

    ``paired(x [2B, ...], sigma [2B])`` denoises its first B items with the condition and its
    last B without (one batched network call instead of two). ``scale = 1`` is plain ``cond``.
    """
    if scale == 1.0:
        return cond

    def guided(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        c, u = paired(torch.cat([x, x]), torch.cat([sigma, sigma])).chunk(2)
        return u + scale * (c - u)
    return guided


def _call(denoise: Denoiser, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Call with the scalar step sigma broadcast to ``[B]`` in the sample's dtype."""
    return denoise(x, sigma.to(device=x.device, dtype=x.dtype).expand(x.shape[0]))


@torch.no_grad()
def heun_sample(denoise: Denoiser, x: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """EDM Algorithm 1 (deterministic): Euler step + trapezoidal correction, except into sigma 0.

    ``x`` is the initial noise at ``sigmas[0]``; ``sigmas`` is decreasing and ends with 0.
    """
    for s, s_next in zip(sigmas[:-1], sigmas[1:]):
        d = (x - _call(denoise, x, s)) / s
        x_next = x + (s_next - s) * d
        if s_next > 0:
            d_next = (x_next - _call(denoise, x_next, s_next)) / s_next
            x_next = x + (s_next - s) * (d + d_next) / 2
        x = x_next
    return x


@torch.no_grad()
def dpmpp_2m_sample(denoise: Denoiser, x: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022) in sigma form, as in k-diffusion: with ``t = -ln(sigma)``,
    ``x' = (sigma'/sigma) x - expm1(-h) D_hat`` where ``D_hat`` extrapolates the last two
    denoiser outputs; the first step is first order and the step into sigma 0 returns ``D``."""
    previous: torch.Tensor | None = None
    h_last = 0.0
    for s, s_next in zip(sigmas[:-1], sigmas[1:]):
        denoised = _call(denoise, x, s)
        if s_next == 0:
            return denoised
        h = float(s.log() - s_next.log())
        estimate = denoised
        if previous is not None:
            r = h_last / h
            estimate = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * previous
        x = float(s_next / s) * x - math.expm1(-h) * estimate
        previous, h_last = denoised, h
    return x


def sample(denoise: Denoiser, noise: torch.Tensor, *, steps: int, sampler: str = "dpmpp_2m",
           sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX, rho: float = RHO) -> torch.Tensor:
    """Run ``sampler`` (one of SAMPLERS) over a Karras schedule of ``steps`` noise levels.

    ``noise`` is the initial state at ``sigma_max`` (see :func:`initial_noise`). Denoiser calls:
    ``steps`` for dpmpp_2m, ``2 * steps - 1`` for heun. Returns the sample, same shape as noise.
    """
    sigmas = karras_sigmas(steps, sigma_min, sigma_max, rho)
    if sampler == "dpmpp_2m":
        return dpmpp_2m_sample(denoise, noise, sigmas)
    elif sampler == "heun":
        return heun_sample(denoise, noise, sigmas)
    else:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
