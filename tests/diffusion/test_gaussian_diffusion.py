"""EDM preconditioning, schedules and samplers checked against the analytic Gaussian solution."""
from __future__ import annotations

import math

import pytest
import torch

from audiodiff.diffusion.gaussian import (
    SAMPLERS,
    SIGMA_MAX,
    classifier_free_guidance,
    edm_denoise,
    initial_noise,
    karras_sigmas,
    loss_weight,
    preconditioning,
    sample,
    training_sigmas,
)

MU, STD = 0.7, 1.0  # data distribution N(MU, STD^2) per dimension


def gaussian_denoiser(mu: float, std: float):
    """The exact denoiser E[x0 | x] of N(mu, std^2) data: mu + std^2 / (std^2 + sigma^2) (x - mu)."""
    def d(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = sigma.reshape(-1, *([1] * (x.dim() - 1)))
        return mu + std ** 2 / (std ** 2 + s ** 2) * (x - mu)
    return d


def exact_ode_solution(noise: torch.Tensor, mu: float, std: float) -> torch.Tensor:
    """Where the probability-flow ODE takes x(sigma_max) = noise for Gaussian data."""
    return mu + std / math.sqrt(std ** 2 + SIGMA_MAX ** 2) * (noise - mu)


@pytest.fixture(scope="module")
def noise() -> torch.Tensor:
    generators = [torch.Generator().manual_seed(i) for i in range(2000)]
    return initial_noise((8,), generators, SIGMA_MAX, dtype=torch.float64)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_sampler_lands_on_the_gaussian_in_32_steps(sampler, noise):
    x = sample(gaussian_denoiser(MU, STD), noise, steps=32, sampler=sampler)
    exact = exact_ode_solution(noise, MU, STD)
    assert abs(float(x.mean()) - MU) < 0.02
    assert abs(float(x.std()) / STD - 1) < 0.03
    assert float((x - exact).abs().max()) < 0.08


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_sampler_error_shrinks_at_second_order(sampler, noise):
    exact = exact_ode_solution(noise, MU, STD)
    errors = [float((sample(gaussian_denoiser(MU, STD), noise, steps=n, sampler=sampler) - exact).abs().max())
              for n in (12, 24)]
    assert errors[1] < errors[0] / 3


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_sampler_lands_exactly_on_a_single_point(sampler, noise):
    x = sample(lambda x, sigma: torch.full_like(x, -0.3), noise[:16], steps=8, sampler=sampler)
    assert torch.allclose(x, torch.full_like(x, -0.3), atol=1e-9)


def test_an_items_noise_and_sample_do_not_depend_on_its_batch():
    alone = initial_noise((4, 5), [torch.Generator().manual_seed(7)], SIGMA_MAX)
    batch = initial_noise((4, 5), [torch.Generator().manual_seed(3), torch.Generator().manual_seed(7)], SIGMA_MAX)
    assert torch.equal(alone[0], batch[1]) and not torch.equal(batch[0], batch[1])
    denoise = gaussian_denoiser(MU, STD)
    assert torch.allclose(sample(denoise, alone, steps=6)[0], sample(denoise, batch, steps=6)[1])


def test_classifier_free_guidance_batches_both_branches_and_skips_them_at_scale_one():
    calls = []

    def cond(x, sigma):
        return x + 1.0

    def paired(x, sigma):  # first half conditional (+1), second half unconditional (-1)
        calls.append(x.shape[0])
        half = x.shape[0] // 2
        return torch.cat([x[:half] + 1.0, x[half:] - 1.0])
    x, sigma = torch.arange(6.0).reshape(2, 3), torch.ones(2)
    assert torch.equal(classifier_free_guidance(cond, paired, 1.0)(x, sigma), x + 1) and not calls
    guided = classifier_free_guidance(cond, paired, 2.5)(x, sigma)
    assert torch.allclose(guided, x - 1 + 2.5 * 2) and calls == [4]


def test_preconditioning_keeps_unit_variances():
    sigma, sd = torch.tensor([0.01, 0.5, 1.0, 30.0], dtype=torch.float64), 0.8
    c_skip, c_out, c_in, c_noise = preconditioning(sigma, sd)
    assert torch.allclose(c_in ** 2 * (sigma ** 2 + sd ** 2), torch.ones_like(sigma))  # unit-variance input
    # the network's effective target (x0 - c_skip x) / c_out has unit variance, and the loss
    # weight undoes c_out^2 so every noise level weighs the same
    assert torch.allclose((1 - c_skip) ** 2 * sd ** 2 + c_skip ** 2 * sigma ** 2, c_out ** 2)
    assert torch.allclose(loss_weight(sigma, sd) * c_out ** 2, torch.ones_like(sigma))
    assert torch.allclose(c_noise, sigma.log() / 4)


def test_edm_denoise_with_the_ideal_network_is_the_exact_denoiser():
    sd = STD
    exact = gaussian_denoiser(0.0, sd)

    def ideal_net(x_in, c_noise):  # F = (D - c_skip x) / c_out, written in terms of x_in
        sigma = (4 * c_noise).exp()[:, None]
        c_skip, c_out, c_in, _ = preconditioning(sigma, sd)
        x = x_in / c_in
        return (exact(x, sigma.squeeze(1)) - c_skip * x) / c_out
    x, sigma = torch.randn(3, 5, dtype=torch.float64), torch.tensor([0.1, 1.0, 10.0], dtype=torch.float64)
    assert torch.allclose(edm_denoise(ideal_net, x, sigma, sd), exact(x, sigma))


def test_karras_schedule_and_training_sigmas():
    sigmas = karras_sigmas(10, 0.002, 80.0, 7.0)
    assert len(sigmas) == 11 and sigmas[-1] == 0
    assert math.isclose(sigmas[0], 80.0) and math.isclose(sigmas[-2], 0.002, rel_tol=1e-9)
    assert bool((sigmas[:-1] > sigmas[1:]).all())
    log_sigma = training_sigmas(20000, -0.6, 1.2, generator=torch.Generator().manual_seed(0)).log()
    assert abs(float(log_sigma.mean()) + 0.6) < 0.03 and abs(float(log_sigma.std()) - 1.2) < 0.03
    with pytest.raises(ValueError, match="steps"):
        karras_sigmas(0)
    with pytest.raises(ValueError, match="sampler"):
        sample(gaussian_denoiser(0, 1), torch.zeros(1, 2), steps=2, sampler="euler")
