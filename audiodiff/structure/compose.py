"""Prompt -> full plan: the structure model writes melody and chords, the arranger adds the band."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from audiodiff.music.arrange import NUM_VARIANTS, ArrangementStyle, arrange
from audiodiff.music.plan import Note, Plan, Track
from audiodiff.music.prompt import Prompt
from audiodiff.structure.guide import Guide, Kept, first_pass, guide_bars, guided_bars, second_pass
from audiodiff.structure.sampling import (
    DEFAULT_GUIDANCE,
    DEFAULT_ORDER_NOISE,
    DEFAULT_STEPS,
    DEFAULT_TEMPERATURE,
    PlanRequest,
    PlanWriter,
)

if TYPE_CHECKING:
    from audiodiff.structure.model import StructureModel

BASS_PROGRAM, COMP_PROGRAM = 33, 0  # fingered bass, piano
MIN_GENERATED_BARS = 4
STREAMS = ("melody", "chords", "bass", "comping", "drums")  # what --keep can name
ARRANGED_STREAMS = ("bass", "comping", "drums")  # tracks the arranger writes from the chords


def bars_for(prompt: Prompt) -> int:
    """Bars that cover the prompt's length at its tempo (at least MIN_GENERATED_BARS)."""
    beats = prompt.seconds * prompt.bpm / 60.0
    return max(MIN_GENERATED_BARS, math.ceil(beats / prompt.meter.beats_per_bar - 1e-9))


def arrangement_for(prompt: Prompt, seed: int, drums: bool = True) -> ArrangementStyle:
    """The band for a prompt: fixed bass and comping programs, pattern variant drawn from the seed."""
    variant = int(np.random.default_rng([seed, 1]).integers(NUM_VARIANTS))
    return ArrangementStyle(BASS_PROGRAM, COMP_PROGRAM, drums, variant)


def splice_notes(kept: list[Note], new: list[Note], bars: frozenset[int], steps_per_bar: int) -> list[Note]:
    """``kept``'s notes that start in ``bars`` (0-based) and ``new``'s that start elsewhere, by start."""
    notes = [n for n in kept if n.start // steps_per_bar in bars]
    notes += [n for n in new if n.start // steps_per_bar not in bars]
    return sorted(notes, key=lambda n: (n.start, n.pitch))


def stream_track(plan: Plan, stream: str) -> Track | None:
    """The track that plays a stream: the melody (first pitched track), the drum track, or the
    track named ``bass`` / ``comping`` (None for ``chords`` and for streams the plan lacks)."""
    if stream == "melody":
        return plan.melody
    if stream == "drums":
        return next((t for t in plan.tracks if t.is_drum), None)
    return next((t for t in plan.tracks if t.name == stream and not t.is_drum), None)


def _keep_given(plan: Plan, source: Plan, bars: frozenset[int]) -> Plan:
    """``plan`` with the source's own melody notes (pitch, length, velocity) in ``bars``: the model's
    tokens fold octaves, drop chord notes and reset velocities."""
    if not bars or source.melody is None:
        return plan
    melody = plan.tracks[0]
    notes = splice_notes(source.melody.notes, melody.notes, bars, plan.meter.steps_per_bar)
    return replace(plan, tracks=[replace(melody, notes=notes)])


def _derived_seed(seed: int, stream: int) -> int:
    return int(np.random.SeedSequence([int(seed), stream]).generate_state(1)[0])


def compose(model: PlanWriter | StructureModel, prompts: list[Prompt], *, bars: int | None = None,
            steps: int = DEFAULT_STEPS, guidance: float = DEFAULT_GUIDANCE,
            order_noise: float = DEFAULT_ORDER_NOISE, temperature: float = DEFAULT_TEMPERATURE,
            drums: bool = True, source: Plan | None = None,
            keep: Mapping[str, frozenset[int]] | None = None,
            guides: Sequence[Guide | None] | None = None) -> list[Plan]:
    """Full plans (melody in the prompt's instrument, chords, bass, comping, drums), one per prompt.

    Every prompt must carry a seed (see :func:`audiodiff.seeds.resolve_seed`). ``bars`` overrides the
    length the prompt's seconds imply. ``source`` + ``keep`` ({stream: 0-based bars}, streams in
    :data:`STREAMS`) inpaint or continue an existing plan: kept melody and chord bars are kept
    tokens for the model, kept bass / comping / drum bars are the source's notes instead of the
    arranger's. ``guides[i]`` (chords, melody, form: :mod:`audiodiff.structure.guide`) guides prompt i.
    """
    if any(p.seed is None for p in prompts):
        raise ValueError("compose needs a seed on every prompt; use resolve_seed()")
    keep = dict(keep or {})
    unknown = sorted(set(keep) - set(STREAMS))
    if unknown:
        raise ValueError(f"unknown streams {unknown}; streams: {', '.join(STREAMS)}")
    if keep and source is None:
        raise ValueError("keeping streams needs a source plan")
    guides = list(guides) if guides is not None else [None] * len(prompts)
    if source is not None and any(guides):
        raise ValueError("a source plan and chords / melody / form cannot be combined")
    none: frozenset[int] = frozenset()
    kept: list[Kept | None] = []
    requests = []
    for p, g in zip(prompts, guides):
        n = bars or bars_for(p)
        if g is None:
            kept.append(None if source is None else Kept(source, keep.get("melody", none), keep.get("chords", none)))
        else:
            n = (guided_bars(p, g) if bars is None or g.form else None) or max(n, guide_bars(g, p.meter))
            kept.append(first_pass(g, p.key, p.meter, p.bpm, n))
        k = kept[-1]
        requests.append(PlanRequest(p.key, p.meter, p.bpm, n, p.seed, k.source if k else None,
                                    keep_melody=k.melody if k else none, keep_chords=k.chords if k else none))
    plans = model.generate(requests, steps=steps, guidance=guidance, order_noise=order_noise,
                           temperature=temperature)
    plans = [plan if k is None else _keep_given(plan, k.source, k.melody) for plan, k in zip(plans, kept)]
    again = [(i, second_pass(g, plans[i], kept[i])) for i, g in enumerate(guides) if g is not None]
    again = [(i, k) for i, k in again if k is not None]
    if again:
        redo = [replace(requests[i], seed=_derived_seed(prompts[i].seed, 4), source=k.source, keep_melody=k.melody,
                        keep_chords=k.chords) for i, k in again]
        for (i, k), plan in zip(again, model.generate(redo, steps=steps, guidance=guidance,
                                                         order_noise=order_noise, temperature=temperature)):
            plans[i] = _keep_given(plan, k.source, k.melody)
    out = []
    for prompt, plan in zip(prompts, plans):
        plan = replace(plan, tracks=[replace(plan.tracks[0], program=prompt.program)])
        rng = np.random.default_rng([prompt.seed, 2])
        plan = arrange(plan, arrangement_for(prompt, prompt.seed, drums), rng)
        out.append(_keep_arranged(plan, source, keep))
    return out


def _keep_arranged(plan: Plan, source: Plan | None, keep: Mapping[str, frozenset[int]]) -> Plan:
    """``plan`` with the source's bass / comping / drum notes in the bars ``keep`` names for them."""
    tracks = list(plan.tracks)
    for stream in ARRANGED_STREAMS:
        bars = keep.get(stream)
        if not bars or source is None:
            continue
        old, new = stream_track(source, stream), stream_track(plan, stream)
        if old is None or new is None:
            which = "source" if old is None else "new"
            raise ValueError(f"cannot keep {stream}: the {which} plan has no {stream} track")
        i = tracks.index(new)
        tracks[i] = replace(new, notes=splice_notes(old.notes, new.notes, bars, plan.meter.steps_per_bar))
    return replace(plan, tracks=tracks)
