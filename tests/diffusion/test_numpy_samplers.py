"""The numpy samplers match the torch ones given the same noise, on the tiny networks.

EDM: the torch and numpy samplers start from the same numpy noise and call the same torch network
(wrapped for numpy); they agree to float32 rounding (relative 1e-5 of the sample's scale). Masked:
the torch sampler draws with ``torch.multinomial`` and ``torch.rand``; replacing those by the numpy
sampler's draws (the same per-item uniforms, :func:`categorical`) makes the two identical token
for token, which checks every other step (schedule, guidance, order noise, forbidden and kept tokens).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from audiodiff.diffusion import gaussian, gaussian_numpy, masked, masked_numpy
from audiodiff.diffusion.masked_numpy import categorical


def tiny_acoustic():
    from audiodiff.acoustic.features import NUM_FEATURES
    from audiodiff.acoustic.net import AcousticNet, AcousticNetConfig

    torch.manual_seed(0)
    net = AcousticNet(AcousticNetConfig.preset("tiny")).eval()
    b, d, t = 2, net.config.latent_dim, 24
    gen = torch.Generator().manual_seed(1)
    cond = (torch.rand(b, NUM_FEATURES, t, generator=gen), torch.tensor([3, 40]),
            torch.randn(b, d, t, generator=gen), torch.zeros(b, d, t), torch.zeros(b, 1, t))
    paired = tuple(torch.cat([c, c]) for c in cond)
    return net, cond, paired, (d, t)


@pytest.mark.parametrize("sampler", gaussian.SAMPLERS)
@pytest.mark.parametrize("guidance", [1.0, 3.0])
def test_edm_samplers_match_torch_given_the_same_noise(sampler, guidance):
    net, cond, paired, shape = tiny_acoustic()

    def torch_net(conditioning):
        return lambda x, sigma: gaussian.edm_denoise(lambda x_in, c: net(x_in, c, *conditioning), x, sigma, 1.0)

    def numpy_net(conditioning):
        def call(x_in, c):
            with torch.no_grad():
                return net(torch.from_numpy(x_in), torch.from_numpy(c), *conditioning).numpy()
        return lambda x, sigma: gaussian_numpy.edm_denoise(call, x, sigma, 1.0)

    noise = gaussian_numpy.initial_noise(shape, gaussian_numpy.item_generators([5, 6]))
    theirs = gaussian.sample(gaussian.classifier_free_guidance(torch_net(cond), torch_net(paired), guidance),
                             torch.from_numpy(noise), steps=6, sampler=sampler).numpy()
    ours = gaussian_numpy.sample(gaussian_numpy.classifier_free_guidance(numpy_net(cond), numpy_net(paired),
                                                                         guidance), noise, steps=6, sampler=sampler)
    assert ours.dtype == np.float32 and ours.shape == noise.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5 * np.abs(theirs).max())


def test_schedule_and_preconditioning_match_torch():
    for steps in (1, 2, 8, 32):
        theirs = gaussian.karras_sigmas(steps).numpy()
        np.testing.assert_allclose(gaussian_numpy.karras_sigmas(steps), theirs, rtol=1e-14)
    sigma = np.array([0.01, 1.0, 80.0])
    for ours, theirs in zip(gaussian_numpy.preconditioning(sigma, 0.5),
                            gaussian.preconditioning(torch.from_numpy(sigma), 0.5)):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-15)


def test_numpy_noise_is_per_item_and_seeded():
    one = gaussian_numpy.initial_noise((3, 4), gaussian_numpy.item_generators([7]))
    two = gaussian_numpy.initial_noise((3, 4), gaussian_numpy.item_generators([9, 7]))
    assert one.dtype == np.float32 and np.array_equal(one[0], two[1]) and not np.array_equal(two[0], two[1])
    np.testing.assert_allclose(one, 80.0 * np.random.default_rng(7).standard_normal((1, 3, 4), dtype=np.float32))


def test_categorical_draws_the_distribution_and_never_a_zero():
    probs = np.array([[0.0, 0.2, 0.0, 0.5, 0.3, 0.0]], dtype=np.float32)
    rng = np.random.default_rng(0)
    draws = np.concatenate([categorical(probs, rng.random(1)) for _ in range(20000)])
    counts = np.bincount(draws, minlength=6) / len(draws)
    np.testing.assert_allclose(counts, probs[0], atol=0.015)
    edges = categorical(np.repeat(probs, 3, axis=0), np.array([0.0, 0.2 - 1e-12, 1.0 - 1e-16]))
    assert list(edges) == [1, 1, 4]


class NumpyDraws:
    """``torch.multinomial`` and ``torch.rand`` drawing what the numpy sampler draws, from numpy
    generators standing in for the torch ones."""

    def multinomial(self, probs, num_samples, generator):
        return torch.from_numpy(categorical(probs.numpy(), generator.random(probs.shape[0])))[:, None]

    def rand(self, shape, generator):
        return torch.from_numpy(generator.random(tuple(shape), dtype=np.float32))


@pytest.mark.parametrize("guidance,order_noise", [(1.0, 0.0), (2.0, 3.0)])
def test_masked_sampler_matches_torch_given_the_same_draws(guidance, order_noise, monkeypatch, structure_ckpt):
    from audiodiff.structure.model import StructureModel
    from audiodiff.structure.tokens import MASK, PAD

    model = StructureModel.load(structure_ckpt)
    b, beats, slots = 2, 8, 6
    cond = {"beat_in_bar": np.tile(np.arange(beats) % 4, (b, 1)), "bar": np.tile(np.arange(beats) // 4, (b, 1)),
            "bars_to_end": np.full((b, beats), 2), "key": np.array([0, 5]), "meter": np.array([0, 0]),
            "bpm": np.array([100.0, 140.0], np.float32)}
    numpy_denoise = model.writer().denoiser(cond)  # the network on torch, numpy in and out

    def denoise(tokens, guided):
        return [torch.from_numpy(t) for t in numpy_denoise([t.numpy() for t in tokens], guided.numpy())]

    gen = torch.Generator().manual_seed(3)
    melody = torch.randint(2, 20, (b, beats * slots), generator=gen)
    chords = torch.randint(2, 20, (b, beats), generator=gen)
    keep = [torch.rand(b, beats * slots, generator=gen) < 0.3, torch.rand(b, beats, generator=gen) < 0.3]
    settings = dict(steps=5, guidance=guidance, temperature=1.0, forbid=[(PAD, MASK), (PAD, MASK)],
                    order_noise=order_noise)
    ours = masked_numpy.sample(numpy_denoise, [melody.numpy(), chords.numpy()], [k.numpy() for k in keep],
                               generators=gaussian_numpy.item_generators([11, 12]), **settings)
    draws = NumpyDraws()
    monkeypatch.setattr(torch, "multinomial", draws.multinomial)
    monkeypatch.setattr(torch, "rand", draws.rand)
    theirs = masked.sample(denoise, [melody, chords], keep, generators=gaussian_numpy.item_generators([11, 12]),
                           **settings)
    for o, t, k, source in zip(ours, theirs, keep, (melody, chords)):
        assert o.dtype == np.int64 and np.array_equal(o, t.numpy())
        assert np.array_equal(o[k.numpy()], source[k].numpy()) and not np.isin(o, (PAD, MASK)).any()


def test_masked_sampler_rejects_bad_logits_and_steps():
    def broken(tokens, guided):
        return [np.full((*t.shape, 4), np.nan, dtype=np.float32) for t in tokens]
    tokens, keep = [np.zeros((1, 3), np.int64)], [np.zeros((1, 3), bool)]
    with pytest.raises(ValueError, match="NaN or infinite"):
        masked_numpy.sample(broken, tokens, keep, steps=2, guidance=1.0, temperature=1.0,
                            generators=gaussian_numpy.item_generators([0]))
    with pytest.raises(ValueError, match="steps must be >= 1"):
        masked_numpy.sample(broken, tokens, keep, steps=0, guidance=1.0, temperature=1.0,
                            generators=gaussian_numpy.item_generators([0]))
