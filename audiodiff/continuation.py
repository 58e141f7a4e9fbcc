"""Continue and repaint audio that audiodiff made, from its plan and seed (the WAV's sidecar).

A layer over :class:`audiodiff.pipeline.Pipeline` (which knows nothing of it):
``extend(pipeline, result, seconds)`` and ``repaint(pipeline, result, first_bar, last_bar)``.

The latents of the clip are rendered again from its plan and seed (the acoustic model is
deterministic for a seed, so they are the ones the clip was decoded from), up to where new
audio begins; the acoustic model continues from them as its context, with the new plan:

* :func:`extend`: the plan is continued by the structure model (every stream of the old bars
  kept), the new audio follows the old clip; the old samples are kept up to a seam just before
  the old clip's fade-out, then a short cross-fade leads into the new audio.
* :func:`repaint`: bars ``first..last`` of the plan are written again (every stream of the
  other bars kept), the audio of those bars is rendered again after the untouched part before
  them, and cross-fades back into the old audio after them. Outside the two cross-fades the
  samples are the old ones, bit for bit.

Old WAVs may have been peak-normalised when written, so the new audio is scaled by the
least-squares gain that maps the re-rendered old audio onto the file (when they agree, i.e.
correlate above ``MIN_GAIN_CORRELATION``; else 1) and kept within full scale.
"""
from __future__ import annotations

import math

import numpy as np

from audiodiff.acoustic.render import note_gate, render_parts
from audiodiff.acoustic.sampling import DEFAULT_GUIDANCE, DEFAULT_SAMPLER, DEFAULT_STEPS
from audiodiff.music.performance import Part, Performance
from audiodiff.music.plan import Plan
from audiodiff.music.prompt import Prompt
from audiodiff.pipeline import (
    DECODER_MARGIN_FRAMES,
    DEFAULT_PLAN_GUIDANCE,
    DEFAULT_PLAN_STEPS,
    Pipeline,
    Result,
    crop_to_seconds,
    fade_out,
    map_programs,
    plan_frames,
)
from audiodiff.structure.compose import STREAMS, compose

CROSS_FADE_SECONDS = 0.03
MIN_GAIN_CORRELATION = 0.9
NEW_AUDIO_STREAM = 5  # seed stream of the new audio's noise (acoustic.render.render_parts)


def cross_fade(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Equal-gain raised-cosine cross-fade from ``old [N]`` to ``new [N]``."""
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, len(old) + 2)[1:-1])).astype(np.float32)
    return (old * (1 - ramp) + new * ramp).astype(np.float32)


def matched_gain(old: np.ndarray, rendered: np.ndarray) -> float:
    """The gain that best maps ``rendered`` onto ``old`` (same length), or 1 when they do not agree."""
    if len(old) < 2 or not rendered.any() or not old.any():
        return 1.0
    if np.corrcoef(old, rendered)[0, 1] < MIN_GAIN_CORRELATION:
        return 1.0
    return float(np.dot(old, rendered) / np.dot(rendered, rendered))


def _prompt(plan: Plan, seed: int) -> Prompt:
    """The prompt a plan could have come from (key, tempo, meter, melody program, seed)."""
    melody = plan.melody
    return Prompt(key=plan.key, bpm=plan.bpm, meter=plan.meter, program=melody.program if melody else 0,
                  seconds=min(max(plan.seconds, 1.0), 600.0), seed=seed)


def _rewrite(pipeline: Pipeline, plan: Plan, seed: int, bars: int, keep_bars: frozenset[int], plan_steps: int,
             plan_guidance: float) -> Plan:
    """``plan`` grown or cut to ``bars`` bars, every stream kept in ``keep_bars`` and new elsewhere."""
    if pipeline.structure is None:
        raise ValueError("this pipeline has no structure model; load one to extend or repaint")
    drums = any(t.is_drum for t in plan.tracks)
    return compose(pipeline.structure, [_prompt(plan, seed)], bars=bars, steps=plan_steps, guidance=plan_guidance,
                   drums=drums, source=plan, keep={s: keep_bars for s in STREAMS})[0]


def _parts(pipeline: Pipeline, plan: Plan) -> list[Part]:
    """The parts the acoustic model plays for ``plan`` (programs mapped as :meth:`Pipeline.render` does)."""
    return Performance.from_plan(map_programs(plan, pipeline.programs)[0]).tracks


def _continue(pipeline: Pipeline, old_plan: Plan, new_plan: Plan, seed: int, start: int, end: int, steps: int,
              guidance: float) -> np.ndarray:
    """Audio [end * hop] of ``new_plan``: each part's latents of the old clip before frame ``start``
    (rendered again: the model is deterministic for a seed), new ones after, parts summed."""
    old, new = _parts(pipeline, old_plan), _parts(pipeline, new_plan)
    if len(old) != len(new):
        raise ValueError(f"the new plan has {len(new)} tracks where the clip has {len(old)}")
    sounding = [i for i, p in enumerate(new) if p.notes or old[i].notes]
    audio = np.zeros(end * pipeline.codec.hop_length, np.float32)
    if not sounding:
        return audio
    prefix = None
    if start:
        prefix = render_parts(pipeline.acoustic, pipeline.codec, [old[i] for i in sounding], seed, start,
                              steps=steps, guidance=guidance, sampler=DEFAULT_SAMPLER)
    latents = render_parts(pipeline.acoustic, pipeline.codec, [new[i] for i in sounding], seed, end, steps=steps,
                           guidance=guidance, sampler=DEFAULT_SAMPLER, prefix=prefix, stream=NEW_AUDIO_STREAM)
    for row, i in enumerate(sounding):
        wav = pipeline._decode(latents[row], seed)[:len(audio)]
        audio[:len(wav)] += wav * note_gate(new[i], len(wav), pipeline.sample_rate)
    return audio


def _level(new: np.ndarray, old: np.ndarray, upto: int) -> np.ndarray:
    """``new`` scaled to the old file's level (see the module docstring), within full scale."""
    gain = matched_gain(old[:upto], new[:upto]) if upto > 0 else 1.0
    return np.clip(new * np.float32(gain), -1.0, 1.0).astype(np.float32)


def extend(pipeline: Pipeline, result: Result, seconds: float, *, steps: int = DEFAULT_STEPS,
           guidance: float = DEFAULT_GUIDANCE, plan_steps: int = DEFAULT_PLAN_STEPS,
           plan_guidance: float = DEFAULT_PLAN_GUIDANCE) -> Result:
    """``result`` (its audio, plan and seed, e.g. read back from a WAV and its sidecar) followed by
    ``seconds`` more. The sampler settings must be the ones the clip was made with."""
    plan, seed, audio = result.plan, result.seed, result.audio
    if not seconds > 0:
        raise ValueError(f"--seconds must be positive, got {seconds:g}")
    sr, hop = pipeline.sample_rate, pipeline.codec.hop_length
    fade = int(round(CROSS_FADE_SECONDS * sr))
    seam = (len(audio) - 2 * fade) // hop  # a frame before the old clip's fade-out (FADE_SECONDS)
    if seam < 1:
        raise ValueError(f"the clip is too short to extend ({len(audio) / sr:.2f} s)")
    total = len(audio) / sr + seconds
    bar_seconds = plan.meter.steps_per_bar * plan.seconds_per_step
    bars = max(plan.num_bars, math.ceil(total / bar_seconds - 1e-9))
    new_plan = _rewrite(pipeline, plan, seed, bars, frozenset(range(plan.num_bars)), plan_steps, plan_guidance)
    frames = min(plan_frames(new_plan, pipeline.acoustic.frame_rate),
                 math.ceil(total * pipeline.acoustic.frame_rate) + DECODER_MARGIN_FRAMES)
    start = seam * hop
    new = _level(_continue(pipeline, plan, new_plan, seed, seam, frames, steps, guidance), audio, start - fade)
    length = min(int(round(total * sr)), len(new))
    out = np.concatenate([audio[:start], cross_fade(audio[start:start + fade], new[start:start + fade]),
                          new[start + fade:length]])
    return Result(fade_out(out, sr), sr, crop_to_seconds(new_plan, total), seed)


def repaint(pipeline: Pipeline, result: Result, first: int, last: int, *, steps: int = DEFAULT_STEPS,
            guidance: float = DEFAULT_GUIDANCE, plan_steps: int = DEFAULT_PLAN_STEPS,
            plan_guidance: float = DEFAULT_PLAN_GUIDANCE) -> Result:
    """``result`` (its audio, plan and seed) with bars ``first..last`` (0-based, inclusive) written
    and rendered again, the rest of the audio untouched. The sampler settings must be the ones the
    clip was made with."""
    plan, seed, audio = result.plan, result.seed, result.audio
    sr, hop = pipeline.sample_rate, pipeline.codec.hop_length
    fps = pipeline.acoustic.frame_rate
    bar = plan.meter.steps_per_bar
    begin = plan.step_to_frame(first * bar, fps)
    if not 0 <= first <= last < plan.num_bars or begin * hop >= len(audio):
        heard = min(plan.num_bars, math.ceil(len(audio) / sr / (bar * plan.seconds_per_step) - 1e-9))
        raise ValueError(f"bars {first + 1}-{last + 1} are out of range; the clip has bars 1-{heard}")
    keep = frozenset(range(plan.num_bars)) - set(range(first, last + 1))
    new_plan = _rewrite(pipeline, plan, seed, plan.num_bars, keep, plan_steps, plan_guidance)
    fade = int(round(CROSS_FADE_SECONDS * sr))
    start, stop = begin * hop, min(plan.step_to_frame((last + 1) * bar, fps) * hop, len(audio))
    back = max(start - fade, 0)  # the fade into the new audio ends where the bars begin
    frames = min(math.ceil((stop + fade) / hop) + DECODER_MARGIN_FRAMES, plan_frames(new_plan, fps))
    new = _level(_continue(pipeline, plan, new_plan, seed, begin, frames, steps, guidance), audio, back)
    new = np.pad(new, (0, max(0, len(audio) - len(new))))
    out = audio.copy()
    out[back:start] = cross_fade(audio[back:start], new[back:start])
    out[start:stop] = new[start:stop]
    after = min(stop + fade, len(audio))
    out[stop:after] = cross_fade(new[stop:after], audio[stop:after])
    if stop == len(audio):
        out = fade_out(out, sr)
    return Result(out, sr, new_plan, seed)
