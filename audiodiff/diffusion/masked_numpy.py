"""The masked (absorbing-state) diffusion sampler in numpy, over any denoiser callable.

The sampler of :func:`audiodiff.diffusion.masked.sample` step for step (cosine unmasking schedule,
classifier-free guidance in logit space, forbidden tokens, Gumbel order noise annealed to zero),
with numpy arrays and one ``numpy.random.Generator`` per item:
``denoise(tokens: list[int64 array], guided: bool array [B]) -> list[logits]`` (both guidance
branches in one call on the batch twice over, as the torch sampler). Tokens are drawn by inverse
transform sampling (:func:`categorical`) from the generator's uniforms, so an item's result does
not depend on its batch and the draws are the same on every backend.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

MASK_ID = 1  # as audiodiff.diffusion.masked.MASK_ID

Denoiser = Callable[[list[np.ndarray], np.ndarray], list[np.ndarray]]


def unmask_schedule(step: int, steps: int) -> float:
    """Fraction of the initially masked tokens still masked after ``step + 1`` of ``steps``."""
    return math.cos(math.pi / 2 * (step + 1) / steps)


def guided_logits(denoise: Denoiser, tokens: list[np.ndarray], guidance: float) -> list[np.ndarray]:
    """Classifier-free guidance: uncond + w * (cond - uncond) in logit space (w = 1: plain cond),
    both branches in one denoiser call on the batch twice over (conditioned, then not)."""
    batch = tokens[0].shape[0]
    if guidance == 1.0:
        return denoise(tokens, np.ones(batch, dtype=bool))
    both = denoise([np.concatenate([t, t]) for t in tokens], np.repeat([True, False], batch))
    return [u + np.float32(guidance) * (c - u) for c, u in ((lg[:batch], lg[batch:]) for lg in both)]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in the logits' dtype (``-inf`` entries get probability 0)."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def categorical(probs: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Inverse transform sampling: ``probs [L, V]`` (rows need not sum to exactly 1) and
    ``uniforms [L]`` in [0, 1) -> ``[L]`` int64 indices; entries of probability 0 are never drawn."""
    cdf = np.cumsum(probs.astype(np.float64), axis=-1)
    total = cdf[:, -1:]
    drawn = (cdf <= uniforms[:, None] * total).sum(axis=-1)
    last = (cdf < total).sum(axis=-1)  # the last entry of nonzero probability
    return np.minimum(drawn, last).astype(np.int64)


def sample(denoise: Denoiser, tokens: Sequence[np.ndarray], keep: Sequence[np.ndarray], *, steps: int,
           guidance: float, temperature: float, generators: Sequence[np.random.Generator],
           forbid: Sequence[Sequence[int]] = (), order_noise: float = 0.0) -> list[np.ndarray]:
    """Fill every position that ``keep`` [B, L_i] marks False, over ``steps`` denoiser calls.

    Arguments and result as :func:`audiodiff.diffusion.masked.sample` (int64 token streams
    ``[B, L_i]``), with ``generators`` one ``numpy.random.Generator`` per item. Per step and stream,
    item b draws ``L_i`` uniforms for its tokens and then, with ``order_noise``, ``L_i`` float32
    uniforms for the order. Raises ValueError if the denoiser returns NaN or infinite logits.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    x = [np.where(k, t, MASK_ID).astype(np.int64) for t, k in zip(tokens, keep)]
    total = np.stack([(~k).sum(axis=1) for k in keep]).sum(axis=0)  # [B] tokens to generate
    batch = x[0].shape[0]
    for step in range(steps):
        logits = guided_logits(denoise, x, guidance)
        proposals, confidences = [], []
        for i, lg in enumerate(logits):
            if not np.isfinite(lg).all():
                raise ValueError("the structure model produced NaN or infinite logits; its checkpoint is "
                                 "probably broken")
            lg = lg.astype(np.float32) / np.float32(max(temperature, 1e-6))
            for banned in (forbid[i] if i < len(forbid) else ()):
                lg[..., banned] = -np.inf
            probs = softmax(lg)
            picked = np.stack([categorical(probs[b], generators[b].random(probs.shape[1])) for b in range(batch)])
            conf = np.log(np.maximum(np.take_along_axis(probs, picked[..., None], -1)[..., 0], np.float32(1e-20)))
            if order_noise > 0:
                u = np.stack([generators[b].random(conf.shape[1], dtype=np.float32) for b in range(batch)])
                gumbel = np.log(-np.log(np.clip(u, np.float32(1e-20), np.float32(1 - 1e-7))))
                conf = conf - np.float32(order_noise * (1 - step / steps)) * gumbel
            proposals.append(picked)
            confidences.append(np.where(x[i] == MASK_ID, conf, np.float32(-np.inf)))
        remaining = np.floor(total.astype(np.float32) * np.float32(unmask_schedule(step, steps))).astype(np.int64)
        if step == steps - 1:
            remaining[:] = 0
        conf_all = np.concatenate(confidences, axis=1)
        open_now = conf_all > -np.inf
        n_reveal = np.maximum(open_now.sum(axis=1) - remaining, 0)
        order = np.argsort(-conf_all, axis=1, kind="stable")
        reveal = np.zeros_like(open_now)
        for b in range(batch):
            reveal[b, order[b, : int(n_reveal[b])]] = True
        reveal &= open_now
        offset = 0
        for i in range(len(x)):
            length = x[i].shape[1]
            x[i] = np.where(reveal[:, offset: offset + length], proposals[i], x[i])
            offset += length
    return x
