"""Prompt -> full plan: the structure model writes melody and chords, the arranger adds the band."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from audiodiff.music.arrange import NUM_VARIANTS, ArrangementStyle, arrange
from audiodiff.music.plan import Plan
from audiodiff.music.prompt import Prompt
from audiodiff.structure.model import DEFAULT_GUIDANCE, DEFAULT_ORDER_NOISE, DEFAULT_STEPS, PlanRequest, StructureModel

BASS_PROGRAM, COMP_PROGRAM = 33, 0  # fingered bass, piano
MIN_GENERATED_BARS = 4


def bars_for(prompt: Prompt) -> int:
    """Bars that cover the prompt's length at its tempo (at least MIN_GENERATED_BARS)."""
    beats = prompt.seconds * prompt.bpm / 60.0
    return max(MIN_GENERATED_BARS, math.ceil(beats / prompt.meter.beats_per_bar - 1e-9))


def arrangement_for(prompt: Prompt, seed: int, drums: bool = True) -> ArrangementStyle:
    """The band for a prompt: fixed bass and comping programs, pattern variant drawn from the seed."""
    variant = int(np.random.default_rng([seed, 1]).integers(NUM_VARIANTS))
    return ArrangementStyle(BASS_PROGRAM, COMP_PROGRAM, drums, variant)


def compose(model: StructureModel, prompts: list[Prompt], *, bars: int | None = None,
            steps: int = DEFAULT_STEPS, guidance: float = DEFAULT_GUIDANCE,
            order_noise: float = DEFAULT_ORDER_NOISE, drums: bool = True, source: Plan | None = None,
            keep_bars: frozenset[int] = frozenset()) -> list[Plan]:
    """Full plans (melody in the prompt's instrument, chords, bass, comping, drums), one per prompt.

    Every prompt must carry a seed (see :func:`audiodiff.seeds.resolve_seed`). ``bars`` overrides the length the
    prompt's seconds imply; ``source`` + ``keep_bars`` inpaint or continue an existing plan.
    """
    if any(p.seed is None for p in prompts):
        raise ValueError("compose needs a seed on every prompt; use resolve_seed()")
    requests = [PlanRequest(p.key, p.meter, p.bpm, bars or bars_for(p), p.seed, source, keep_bars)
                for p in prompts]
    plans = model.generate(requests, steps=steps, guidance=guidance, order_noise=order_noise)
    out = []
    for prompt, plan in zip(prompts, plans):
        plan = replace(plan, tracks=[replace(plan.tracks[0], program=prompt.program)])
        rng = np.random.default_rng([prompt.seed, 2])
        out.append(arrange(plan, arrangement_for(prompt, prompt.seed, drums), rng))
    return out
