"""Absorbing-state (masked) discrete diffusion: training corruption, loss and a confidence sampler.

Pure functions over a denoiser callable ``denoise(tokens: list[Tensor], guided: Tensor) ->
list[logits]`` that sees several aligned token streams at once (e.g. melody steps and chord beats);
``guided [B]`` (bool) says which batch items see the condition, so classifier-free guidance runs
both branches in one call on a doubled batch.
The forward process replaces each token by MASK with probability t; the sampler starts from all
MASK (except tokens the caller keeps) and unmasks the most confident predictions on a cosine
schedule, MaskGIT-style, with classifier-free guidance.

Inference samples with :mod:`audiodiff.diffusion.masked_numpy` on both backends; training uses the
torch corruption and loss here. The torch sampler here is no longer called by the library: it
remains as the reference tests/diffusion checks the numpy one against.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

MASK_ID = 1

Denoiser = Callable[[list[torch.Tensor], torch.Tensor], list[torch.Tensor]]


def corrupt(tokens: torch.Tensor, rate: torch.Tensor, valid: torch.Tensor,
            generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask each valid token with probability rate[b]. tokens, valid [B, L]; rate [B].

    Returns (corrupted tokens, mask of the positions that were masked).
    """
    u = torch.rand(tokens.shape, generator=generator, device=tokens.device)
    masked = (u < rate[:, None]) & valid
    return torch.where(masked, torch.full_like(tokens, MASK_ID), tokens), masked


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over masked positions. logits [B, L, V]; targets, masked [B, L]."""
    if not masked.any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits[masked], targets[masked])


def unmask_schedule(step: int, steps: int) -> float:
    """Fraction of the initially masked tokens still masked after ``step + 1`` of ``steps``."""
    return math.cos(math.pi / 2 * (step + 1) / steps)


def guided_logits(denoise: Denoiser, tokens: list[torch.Tensor], guidance: float) -> list[torch.Tensor]:
    """Classifier-free guidance: uncond + w * (cond - uncond) in logit space (w = 1: plain cond).
    Both branches are one denoiser call on the batch twice over (conditioned, then not)."""
    batch = tokens[0].shape[0]
    device = tokens[0].device
    if guidance == 1.0:
        return denoise(tokens, torch.ones(batch, dtype=torch.bool, device=device))
    guided = torch.cat([torch.ones(batch, dtype=torch.bool), torch.zeros(batch, dtype=torch.bool)]).to(device)
    both = denoise([torch.cat([t, t]) for t in tokens], guided)
    return [u + guidance * (c - u) for c, u in (lg.split(batch) for lg in both)]


@torch.no_grad()
def sample(denoise: Denoiser, tokens: Sequence[torch.Tensor], keep: Sequence[torch.Tensor], *,
           steps: int, guidance: float, temperature: float, generators: Sequence[torch.Generator],
           forbid: Sequence[Sequence[int]] = (), order_noise: float = 0.0) -> list[torch.Tensor]:
    """Fill every position that ``keep`` [B, L_i] marks False, over ``steps`` denoiser calls.

    ``tokens`` hold the kept values (others are ignored); ``generators`` has one generator per
    batch item so an item's result does not depend on its batch. ``forbid[i]`` lists token ids
    stream i may never produce (PAD, MASK). ``order_noise`` adds Gumbel noise, annealed to zero,
    to the log-confidences that decide which tokens are revealed first (MaskGIT's choice
    temperature): without it the most frequent tokens (repeated notes) win early and spread.
    Returns the completed streams; raises ValueError if the denoiser returns NaN or infinite logits.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    x = [torch.where(k, t, torch.full_like(t, MASK_ID)) for t, k in zip(tokens, keep)]
    todo = [~k for k in keep]
    batch = x[0].shape[0]
    total = torch.stack([t.sum(dim=1) for t in todo]).sum(dim=0)  # [B] tokens to generate
    for step in range(steps):
        logits = guided_logits(denoise, x, guidance)
        proposals, confidences = [], []
        for i, lg in enumerate(logits):
            if not torch.isfinite(lg).all():  # torch.multinomial would fail with an obscure message
                raise ValueError("the structure model produced NaN or infinite logits; its checkpoint is "
                                 "probably broken")
            lg = lg.float() / max(temperature, 1e-6)
            for banned in (forbid[i] if i < len(forbid) else ()):
                lg[..., banned] = -float("inf")
            probs = lg.softmax(dim=-1)
            picked = torch.stack([torch.multinomial(probs[b], 1, generator=generators[b]).squeeze(-1)
                                  for b in range(batch)])
            conf = torch.gather(probs, -1, picked[..., None]).squeeze(-1).clamp_min(1e-20).log()
            if order_noise > 0:
                u = torch.stack([torch.rand(conf.shape[1:], generator=generators[b]) for b in range(batch)])
                conf = conf - order_noise * (1 - step / steps) * torch.log(-torch.log(u.clamp(1e-20, 1 - 1e-7)))
            still = x[i] == MASK_ID
            proposals.append(picked)
            confidences.append(torch.where(still, conf, torch.full_like(conf, -float("inf"))))
        remaining = (total.float() * unmask_schedule(step, steps)).floor().long()
        if step == steps - 1:
            remaining.zero_()
        conf_all = torch.cat(confidences, dim=1)
        masked_now = (conf_all > -float("inf")).sum(dim=1)
        n_reveal = (masked_now - remaining).clamp(min=0)
        order = conf_all.argsort(dim=1, descending=True)
        reveal = torch.zeros_like(conf_all, dtype=torch.bool)
        for b in range(batch):
            reveal[b, order[b, : int(n_reveal[b])]] = True
        reveal &= conf_all > -float("inf")
        offset = 0
        for i in range(len(x)):
            length = x[i].shape[1]
            r = reveal[:, offset: offset + length]
            x[i] = torch.where(r, proposals[i], x[i])
            offset += length
    return x
