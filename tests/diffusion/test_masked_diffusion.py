"""Masked (absorbing-state) diffusion: corruption, loss, schedule, guidance and the sampler, on
hand-made denoisers whose right answers are derived by hand."""
from __future__ import annotations

import math

import pytest
import torch

from audiodiff.diffusion.masked import (
    MASK_ID,
    corrupt,
    guided_logits,
    masked_cross_entropy,
    sample,
    unmask_schedule,
)

V = 8  # vocabulary of the toy denoisers


def gens(n: int, seed: int = 0) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed + i) for i in range(n)]


def fixed_denoiser(logits: list[torch.Tensor], calls: list | None = None):
    """Always the same logits per stream (broadcast over the batch); records the tokens it was shown."""
    def denoise(tokens, guided):
        if calls is not None:
            calls.append(([t.clone() for t in tokens], guided))
        return [lg.expand(t.shape[0], *lg.shape[-2:]).clone() for lg, t in zip(logits, tokens)]
    return denoise


def peaked(targets: list[int], confidences: list[float]) -> torch.Tensor:
    """Logits [1, L, V]: position j predicts targets[j] almost surely, more surely the higher
    confidences[j] (1..9): the other tokens sit 7 + confidence nats below (p(other) < 3e-3)."""
    logits = torch.zeros(1, len(targets), V)
    for j, (t, c) in enumerate(zip(targets, confidences)):
        logits[0, j] = -(7.0 + c)
        logits[0, j, t] = 0.0
    return logits


def test_corrupt_masks_valid_tokens_at_the_asked_rate():
    tokens = torch.full((3, 4000), 7)
    valid = torch.ones(3, 4000, dtype=torch.bool)
    valid[:, -1000:] = False
    out, masked = corrupt(tokens, torch.tensor([0.0, 0.3, 1.0]), valid, torch.Generator().manual_seed(0))
    assert torch.equal(masked, out == MASK_ID) and torch.equal(out[~masked], tokens[~masked])
    assert not masked[:, -1000:].any()  # padding is never masked
    assert masked[0].sum() == 0 and masked[2, :3000].all()
    assert abs(masked[1, :3000].float().mean().item() - 0.3) < 0.03


def test_masked_cross_entropy_known_values():
    logits = torch.zeros(1, 3, V, requires_grad=True)  # uniform: log V nats everywhere
    targets = torch.tensor([[2, 3, 4]])
    masked = torch.tensor([[True, False, True]])
    assert masked_cross_entropy(logits, targets, masked).item() == pytest.approx(math.log(V))
    sharp = torch.zeros(1, 3, V)
    sharp[0, 0, 2] = sharp[0, 2, 4] = 100.0  # right and certain where masked, wrong elsewhere
    assert masked_cross_entropy(sharp, targets, masked).item() == pytest.approx(0.0, abs=1e-6)
    none = masked_cross_entropy(logits, targets, torch.zeros(1, 3, dtype=torch.bool))
    assert none.item() == 0.0
    none.backward()  # still part of the graph (DDP needs every parameter used)
    assert logits.grad is not None and torch.equal(logits.grad, torch.zeros_like(logits))


def test_unmask_schedule_is_the_cosine():
    assert unmask_schedule(0, 2) == pytest.approx(math.sqrt(0.5))
    assert unmask_schedule(0, 4) == pytest.approx(math.cos(math.pi / 8))
    assert unmask_schedule(1, 3) == pytest.approx(0.5)
    assert unmask_schedule(3, 4) == pytest.approx(0.0, abs=1e-12)


def test_guidance_extrapolates_in_logit_space_in_one_call_of_a_doubled_batch():
    calls = []

    def denoise(tokens, guided):
        calls.append((tokens[0].shape[0], guided.tolist()))
        cond, uncond = torch.tensor([2.0, 1.0]), torch.tensor([1.0, 1.5])
        return [torch.stack([cond if g else uncond for g in guided.tolist()])]

    tokens = [torch.zeros(2, 3, dtype=torch.long)]
    assert guided_logits(denoise, tokens, 1.0)[0].tolist() == [[2.0, 1.0]] * 2
    assert calls == [(2, [True, True])]  # no unconditional branch at 1
    # uncond + 3 (cond - uncond) = [1 + 3, 1.5 - 1.5], for each item, from a single call
    assert guided_logits(denoise, tokens, 3.0)[0].tolist() == [[4.0, 0.0]] * 2
    assert calls[1] == (4, [True, True, False, False])


def test_sampler_reveals_tokens_on_the_cosine_schedule_most_confident_first():
    """8 free tokens, 4 steps: still masked after each step floor(8 cos(pi/2 (s+1)/4)) = 7, 5, 3, 0."""
    calls = []
    confidences = [1.0, 9.0, 2.0, 8.0, 3.0, 7.0, 4.0, 6.0]
    denoise = fixed_denoiser([peaked([2, 3, 4, 5, 6, 7, 2, 3], confidences)], calls)
    start = torch.zeros(1, 8, dtype=torch.long)
    keep = torch.zeros(1, 8, dtype=torch.bool)
    out = sample(denoise, [start], [keep], steps=4, guidance=1.0, temperature=1.0, generators=gens(1))[0]
    assert out.tolist() == [[2, 3, 4, 5, 6, 7, 2, 3]]
    seen = [int((tokens[0] == MASK_ID).sum()) for tokens, _ in calls]
    assert seen == [8, 7, 5, 3]
    first = (calls[1][0][0] != MASK_ID)[0].tolist()
    assert first == [False, True, False, False, False, False, False, False]  # confidence 9 first
    after_two = (calls[2][0][0] != MASK_ID)[0].nonzero().flatten().tolist()
    assert after_two == [1, 3, 5]  # then 8 and 7


def test_sampler_keeps_kept_tokens_and_never_makes_forbidden_or_mask_tokens():
    logits = torch.zeros(1, 6, V)
    logits[..., MASK_ID] = logits[..., 0] = 50.0  # the denoiser loves PAD and MASK
    logits[..., 6] = 10.0
    keep = torch.tensor([[True, False, False, True, False, False]] * 2)
    start = torch.tensor([[4, 0, 0, 5, 0, 0], [3, 0, 0, 2, 0, 0]])
    out = sample(fixed_denoiser([logits]), [start], [keep], steps=3, guidance=2.0, temperature=1.0,
                 generators=gens(2), forbid=[[0, MASK_ID]])[0]
    assert out.tolist() == [[4, 6, 6, 5, 6, 6], [3, 6, 6, 2, 6, 6]]


def test_sampler_spreads_reveals_over_streams_by_confidence():
    """Two streams of different lengths: one ranking across both, written back at the right offsets."""
    calls = []
    melody = peaked([2, 3, 4], [1.0, 2.0, 3.0])
    chords = peaked([5, 6], [9.0, 8.0])
    keep = [torch.zeros(1, 3, dtype=torch.bool), torch.zeros(1, 2, dtype=torch.bool)]
    start = [torch.zeros(1, 3, dtype=torch.long), torch.zeros(1, 2, dtype=torch.long)]
    out = sample(fixed_denoiser([melody, chords], calls), start, keep, steps=3, guidance=1.0, temperature=1.0,
                 generators=gens(1))
    assert out[0].tolist() == [[2, 3, 4]] and out[1].tolist() == [[5, 6]]
    # 5 tokens, 3 steps: still masked floor(5 cos(pi/6)) = 4, floor(5 cos(pi/3)) = 2, then 0
    after_one = [(t[0] != MASK_ID).tolist() for t in calls[1][0]]
    assert after_one == [[False, False, False], [True, False]]
    after_two = [(t[0] != MASK_ID).tolist() for t in calls[2][0]]
    assert after_two == [[False, False, True], [True, True]]


def test_sampling_draws_from_the_tempered_distribution():
    """One position, two tokens with probabilities 0.8 / 0.2: 1000 one-step draws land near 0.8."""
    logits = torch.zeros(1, 1, V)
    logits[..., :] = -1e4
    logits[..., 2], logits[..., 3] = math.log(0.8), math.log(0.2)
    draws = [sample(fixed_denoiser([logits]), [torch.zeros(1, 1, dtype=torch.long)],
                    [torch.zeros(1, 1, dtype=torch.bool)], steps=1, guidance=1.0, temperature=1.0,
                    generators=gens(1, seed))[0].item() for seed in range(1000)]
    assert set(draws) == {2, 3} and abs(draws.count(2) / 1000 - 0.8) < 0.04
    cold = [sample(fixed_denoiser([logits]), [torch.zeros(1, 1, dtype=torch.long)],
                   [torch.zeros(1, 1, dtype=torch.bool)], steps=1, guidance=1.0, temperature=0.1,
                   generators=gens(1, seed))[0].item() for seed in range(200)]
    assert cold.count(2) >= 199  # 0.8^10 : 0.2^10 is about a million to one


def test_an_item_does_not_depend_on_its_batch():
    logits = torch.randn(1, 6, V, generator=torch.Generator().manual_seed(3))
    keep = torch.zeros(3, 6, dtype=torch.bool)
    start = torch.zeros(3, 6, dtype=torch.long)
    together = sample(fixed_denoiser([logits]), [start], [keep], steps=3, guidance=1.0, temperature=1.0,
                      generators=gens(3), order_noise=1.0)[0]
    alone = sample(fixed_denoiser([logits]), [start[2:]], [keep[2:]], steps=3, guidance=1.0, temperature=1.0,
                   generators=gens(1, seed=2), order_noise=1.0)[0]
    assert torch.equal(together[2:], alone) and not torch.equal(together[0], together[1])


def test_order_noise_shuffles_the_reveal_order_and_zero_keeps_it():
    """With nearly equal certainties and order noise the first revealed position varies with the seed."""
    confidences = [5.0, 5.2, 5.4, 5.6, 5.8, 6.0]  # nearly equal

    def first_revealed(seed: int, noise: float) -> int:
        calls = []
        sample(fixed_denoiser([peaked([2] * 6, confidences)], calls), [torch.zeros(1, 6, dtype=torch.long)],
               [torch.zeros(1, 6, dtype=torch.bool)], steps=6, guidance=1.0, temperature=1.0,
               generators=gens(1, seed), order_noise=noise)
        return int((calls[1][0][0][0] != MASK_ID).nonzero()[0])

    assert {first_revealed(s, 0.0) for s in range(5)} == {5}
    assert len({first_revealed(s, 5.0) for s in range(30)}) >= 4


def test_steps_must_be_positive():
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        sample(fixed_denoiser([torch.zeros(1, 1, V)]), [torch.zeros(1, 1, dtype=torch.long)],
               [torch.zeros(1, 1, dtype=torch.bool)], steps=0, guidance=1.0, temperature=1.0, generators=gens(1))


def test_corrupt_draws_from_the_given_generator():
    tokens, valid = torch.full((2, 50), 7), torch.ones(2, 50, dtype=torch.bool)
    _, masked = corrupt(tokens, torch.tensor([0.5, 0.5]), valid, torch.Generator().manual_seed(4))
    u = torch.rand((2, 50), generator=torch.Generator().manual_seed(4))
    assert torch.equal(masked, u < 0.5)
