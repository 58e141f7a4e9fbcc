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


def test_karras_schedule_known_values():
    """rho = 1 is a straight line; rho = 2 interpolates square roots: midpoint ((1 + 3) / 2)^2 = 4."""
    assert karras_sigmas(3, 1.0, 3.0, 1.0).tolist() == [3.0, 2.0, 1.0, 0.0]
    assert karras_sigmas(3, 1.0, 9.0, 2.0).tolist() == pytest.approx([9.0, 4.0, 1.0, 0.0])
    assert karras_sigmas(1, 0.5, 2.0).tolist() == pytest.approx([2.0, 0.0])  # one step starts at sigma_max
    assert karras_sigmas(4).dtype == torch.float64
    for lo, hi in ((0.0, 1.0), (2.0, 1.0), (1.0, 1.0), (-1.0, 1.0)):
        with pytest.raises(ValueError) as info:
            karras_sigmas(4, lo, hi)
        assert str(info.value) == f"need 0 < sigma_min < sigma_max, got {lo}, {hi}"
    with pytest.raises(ValueError) as info:
        karras_sigmas(0)
    assert str(info.value) == "steps must be >= 1, got 0"
    with pytest.raises(ValueError) as info:
        sample(gaussian_denoiser(0, 1), torch.zeros(1, 2), steps=2, sampler="euler")
    assert str(info.value) == "unknown sampler 'euler'; choose one of dpmpp_2m, heun"


@pytest.mark.parametrize("sampler, calls", [("dpmpp_2m", 5), ("heun", 9)])
def test_denoiser_calls_and_what_the_denoiser_is_given(sampler, calls):
    seen = []

    def denoise(x, sigma):
        seen.append((sigma.shape, sigma.dtype, float(sigma[0])))
        return torch.zeros_like(x)

    x = torch.ones(3, 2, dtype=torch.float32) * SIGMA_MAX
    sample(denoise, x, steps=5, sampler=sampler)
    assert len(seen) == calls and all(shape == (3,) and dtype == torch.float32 for shape, dtype, _ in seen)
    schedule = karras_sigmas(5).tolist()
    assert seen[0][2] == pytest.approx(SIGMA_MAX) and {round(s, 4) for _, _, s in seen} == {
        round(s, 4) for s in schedule[:-1]}


def test_one_step_goes_straight_to_the_denoised_value():
    noise = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * SIGMA_MAX
    denoise = gaussian_denoiser(MU, STD)
    expected = denoise(noise, torch.full((4,), SIGMA_MAX, dtype=torch.float64))
    for sampler in SAMPLERS:
        assert torch.allclose(sample(denoise, noise, steps=1, sampler=sampler), expected)


def test_two_steps_of_each_sampler_by_hand():
    """sigmas 2 -> 1 -> 0 (rho = 1), a linear denoiser D(x, s) = x / (1 + s^2) (Gaussian data, mean 0, std 1).
    Heun: Euler to 1, trapezoid correction, then Euler into 0 returns D. DPM-Solver++(2M): first order
    x1 = (1/2) x0 - expm1(-ln 2) D(x0, 2), then the step into 0 returns D(x1, 1)."""
    def denoise(x, sigma):
        return x / (1 + sigma[:, None] ** 2)

    x0 = torch.tensor([[3.0]], dtype=torch.float64)
    d0 = (3.0 - 3.0 / 5) / 2  # (x - D) / sigma at sigma 2
    euler = 3.0 - d0  # to sigma 1
    d1 = euler - euler / 2
    x1 = 3.0 - (d0 + d1) / 2
    heun = sample(denoise, x0, steps=2, sampler="heun", sigma_min=1.0, sigma_max=2.0, rho=1.0)
    assert heun.item() == pytest.approx(x1 / 2)
    x1 = 0.5 * 3.0 + 0.5 * (3.0 / 5)
    dpm = sample(denoise, x0, steps=2, sampler="dpmpp_2m", sigma_min=1.0, sigma_max=2.0, rho=1.0)
    assert dpm.item() == pytest.approx(x1 / 2)


def test_dpmpp_2m_second_order_step_by_hand():
    """Levels 4 -> 2 -> 1 -> 0 passed directly. With h = ln 2 at
    both steps (r = 1): D_hat = 1.5 D(x1, 2) - 0.5 D(x0, 4), x2 = x1 / 2 + D_hat / 2."""
    from audiodiff.diffusion.gaussian import dpmpp_2m_sample, heun_sample

    def denoise(x, sigma):
        return x / (1 + sigma[:, None] ** 2)

    sigmas = torch.tensor([4.0, 2.0, 1.0, 0.0], dtype=torch.float64)
    x0 = 8.0
    da = x0 / 17
    x1 = x0 / 2 + da / 2
    db = x1 / 5
    x2 = x1 / 2 + (1.5 * db - 0.5 * da) / 2
    out = dpmpp_2m_sample(denoise, torch.tensor([[x0]], dtype=torch.float64), sigmas)
    assert out.item() == pytest.approx(x2 / 2)  # the last step returns D(x2, 1) = x2 / 2
    uneven = torch.tensor([4.0, 1.0, 0.5, 0.0], dtype=torch.float64)  # h = ln 4 then ln 2: r = 2
    y1 = x0 / 4 - math.expm1(-math.log(4)) * (x0 / 17)
    e = (1 + 1 / 4) * (y1 / 2) - (1 / 4) * (x0 / 17)
    y2 = y1 / 2 - math.expm1(-math.log(2)) * e
    assert dpmpp_2m_sample(denoise, torch.tensor([[x0]], dtype=torch.float64), uneven).item() == pytest.approx(
        y2 / 1.25)
    assert heun_sample(denoise, torch.tensor([[x0]], dtype=torch.float64), torch.tensor([4.0, 0.0],
                                                                                        dtype=torch.float64)).item() \
        == pytest.approx(x0 / 17)


def test_initial_noise_scale_dtype_and_device():
    noise = initial_noise((1000,), [torch.Generator().manual_seed(i) for i in range(4)], 5.0, dtype=torch.float64)
    assert noise.shape == (4, 1000) and noise.dtype == torch.float64 and noise.device.type == "cpu"
    assert abs(float(noise.std()) - 5.0) < 0.15 and abs(float(noise.mean())) < 0.3
    again = initial_noise((1000,), [torch.Generator().manual_seed(2)], 5.0, dtype=torch.float64)
    assert torch.equal(again[0], noise[2])


def test_edm_denoise_wiring_by_hand():
    """net returns its input plus c_noise: D = c_skip x + c_out (c_in x + ln(sigma) / 4), per item."""
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    sigma = torch.tensor([1.0, 2.0], dtype=torch.float64)
    got = edm_denoise(lambda x_in, c_noise: x_in + c_noise[:, None], x, sigma, 1.0)
    expected = []
    for row, s in zip(x.tolist(), sigma.tolist()):
        total = s * s + 1
        expected.append([v / total + s / math.sqrt(total) * (v / math.sqrt(total) + math.log(s) / 4) for v in row])
    assert torch.allclose(got, torch.tensor(expected, dtype=torch.float64))
    assert loss_weight(torch.tensor([2.0]), 0.5).item() == pytest.approx((4 + 0.25) / (1.0 ** 2))


def test_edm_denoise_keeps_the_datas_dtype_with_float64_noise_levels():
    """A float64 sigma (as karras_sigmas may give) must not turn float32 latents into float64."""
    x = torch.ones(2, 3, dtype=torch.float32)
    sigma = torch.tensor([0.5, 4.0], dtype=torch.float64)
    got = edm_denoise(lambda x_in, c_noise: x_in, x, sigma, 1.0)
    assert got.dtype == torch.float32
    total = sigma ** 2 + 1  # c_skip + c_out * c_in, by hand
    assert torch.allclose(got, (1 / total + sigma / total).to(torch.float32)[:, None].expand(2, 3))


def test_guidance_with_an_odd_batch_and_the_sigmas_it_passes():
    seen = []

    def paired(x, sigma):
        seen.append(sigma.tolist())
        half = x.shape[0] // 2
        return torch.cat([x[:half] + 1.0, x[half:] - 1.0])

    x, sigma = torch.zeros(3, 2), torch.tensor([1.0, 2.0, 3.0])
    guided = classifier_free_guidance(lambda x, s: x, paired, 3.0)(x, sigma)
    assert torch.allclose(guided, torch.full((3, 2), -1.0 + 3.0 * 2.0)) and seen == [[1.0, 2.0, 3.0] * 2]


def test_sample_passes_rho_to_the_schedule():
    """Three steps over sigma 1..9: rho 1 puts the middle level at 5, rho 2 at ((1 + 3) / 2)^2 = 4."""
    levels = []

    def denoise(x, sigma):
        levels.append(round(float(sigma[0]), 6))
        return torch.zeros_like(x)

    for rho in (1.0, 2.0):
        sample(denoise, torch.ones(1, 1, dtype=torch.float64), steps=3, sampler="dpmpp_2m", sigma_min=1.0,
               sigma_max=9.0, rho=rho)
    assert levels == [9.0, 5.0, 1.0, 9.0, 4.0, 1.0]


def test_training_sigmas_are_the_generators_draws_exponentiated():
    got = training_sigmas(5, -0.6, 1.2, generator=torch.Generator().manual_seed(3))
    normal = torch.randn(5, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(got, torch.exp(-0.6 + 1.2 * normal))
