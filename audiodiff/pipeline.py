"""Pipeline: prompt -> plan (structure model + arranger) -> codec latents (acoustic model) -> audio.

Pure: no printing, no files written. ``generate`` and ``render`` return :class:`Result` objects
(float32 audio at the codec's sample rate, the plan it realises, the seed); writing WAV / MIDI /
PNG is the caller's business (see :mod:`audiodiff.io.audio`, :mod:`audiodiff.music.midi`,
:mod:`audiodiff.io.plot`).

Seeds. One seed per item drives everything: the structure model's sampler (via
:func:`audiodiff.structure.compose.compose`) and the acoustic sampler (seeded with
:func:`audiodiff.seeds.acoustic_seed`). ``render(plan, seed)`` of the plan that ``generate`` returned, with the
same seed and length, gives the same audio.

Batches. An item's audio never depends on the other items asked for at the same time. With the
default ``batch_size=1`` items are computed one by one, so this holds bit for bit (batched
matrix products round differently for different batch sizes: about 1e-5 in the latents, enough
to flip the last bit of some 16-bit samples). ``batch_size > 1`` shares network calls between
items of similar length (worth it on a GPU); the results then agree only to that rounding.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiodiff.acoustic.model import DEFAULT_GUIDANCE, DEFAULT_STEPS, AcousticModel
from audiodiff.codec.model import Codec, load_codec
from audiodiff.io.checkpoint import CheckpointError, default_checkpoint
from audiodiff.music.instruments import nearest_program
from audiodiff.music.plan import TAIL_SECONDS, Plan
from audiodiff.music.prompt import Prompt
from audiodiff.seeds import acoustic_seed, resolve_seed
from audiodiff.structure.compose import bars_for, compose, guided_bars
from audiodiff.structure.guide import Guide
from audiodiff.structure.model import DEFAULT_GUIDANCE as DEFAULT_PLAN_GUIDANCE
from audiodiff.structure.model import DEFAULT_STEPS as DEFAULT_PLAN_STEPS
from audiodiff.structure.model import MAX_BARS_GENERATED, StructureModel

FADE_SECONDS = 0.05  # fade-out where the audio is cut, so the cut does not click
DECODER_MARGIN_FRAMES = 8  # latent frames rendered past a requested length: the decoder sees ahead
# The GM programs an acoustic checkpoint without a "programs" metadata entry (the shipped one) was
# trained on: those the corpus was rendered with when it was made.
FALLBACK_PROGRAMS = (0, 4, 11, 16, 19, 21, 24, 25, 32, 33, 34, 40, 48, 52, 56, 65, 68, 71, 73)


@dataclass(frozen=True)
class Result:
    """One generated piece: ``audio`` float32 ``[N]`` at ``sample_rate`` Hz (not normalised;
    peaks may exceed 1), the ``plan`` it realises (cropped to the bars that sound), the ``seed``
    that reproduces it, and the ``prompt`` it came from (None for :meth:`Pipeline.render`)."""

    audio: np.ndarray
    sample_rate: int
    plan: Plan
    seed: int
    prompt: Prompt | None = None

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate


def trained_programs(metadata: dict[str, Any]) -> tuple[int, ...]:
    """The GM programs an acoustic checkpoint was trained on (the only timbres it has heard), from
    its metadata's ``programs``; :data:`FALLBACK_PROGRAMS` for checkpoints that do not record them."""
    return tuple(sorted(int(p) for p in metadata.get("programs", FALLBACK_PROGRAMS)))


def crop_to_seconds(plan: Plan, seconds: float) -> Plan:
    """The plan's first whole bars that cover ``seconds`` (the plan itself if it is not longer)."""
    bar_seconds = plan.meter.steps_per_bar * plan.seconds_per_step
    bars = max(1, math.ceil(seconds / bar_seconds - 1e-9))
    return plan if bars >= plan.num_bars else plan.crop(0, bars * plan.meter.steps_per_bar)


def map_programs(plan: Plan, supported: Sequence[int]) -> tuple[Plan, list[tuple[str, int, int]]]:
    """The plan with every pitched track's program moved to the nearest supported one
    (:func:`audiodiff.music.instruments.nearest_program`), and ``(track name, old, new)`` per change."""
    changes, tracks = [], []
    for track in plan.tracks:
        new = track.program if track.is_drum else nearest_program(track.program, supported)
        if new != track.program:
            changes.append((track.name, track.program, new))
            track = replace(track, program=new)
        tracks.append(track)
    return replace(plan, tracks=tracks), changes


def fade_out(audio: np.ndarray, sample_rate: int, seconds: float = FADE_SECONDS) -> np.ndarray:
    """``audio [N]`` with a raised-cosine fade to zero over its last ``seconds``."""
    n = min(len(audio), int(round(seconds * sample_rate)))
    out = audio.copy()
    if n:
        out[-n:] *= (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, n))).astype(audio.dtype)
    return out


def _as_prompts(prompts: str | Prompt | Sequence[str | Prompt]) -> list[Prompt]:
    """Prompt texts and Prompts, alone or in a sequence, as a list of Prompts (TypeError for anything else)."""
    from audiodiff.music.prompt import parse

    items = [prompts] if isinstance(prompts, (str, Prompt)) else list(prompts)
    for p in items:
        if not isinstance(p, (str, Prompt)):
            raise TypeError(f"a prompt is a text like 'D minor, 96 bpm, violin' or a Prompt, got {type(p).__name__}")
    return [parse(p) if isinstance(p, str) else p for p in items]


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class Pipeline:
    """Structure model + acoustic model + codec: see the module docstring."""

    def __init__(self, structure: StructureModel | None, acoustic: AcousticModel, codec: Codec) -> None:
        """``structure`` may be None for a pipeline that only renders given plans."""
        acoustic.check_codec(codec.latent_dim, codec.frame_rate)  # ValueError naming both
        self.structure = structure
        self.acoustic = acoustic
        self.codec = codec.eval()
        self.programs = trained_programs(acoustic.metadata)  # the GM programs it can render
        self.warnings: list[str] = []  # things a caller may want to tell the user (set by load)

    @property
    def sample_rate(self) -> int:
        """Output sample rate (Hz): the codec's."""
        return self.codec.sample_rate

    @classmethod
    def load(cls, structure: str | os.PathLike | None = None, acoustic: str | os.PathLike | None = None,
             codec: str | os.PathLike | None = None, device: str | torch.device = "cpu",
             with_structure: bool = True) -> Pipeline:
        """Load the three checkpoints (None: the ones shipped in ``audiodiff/checkpoints/``);
        ``with_structure=False`` skips the structure model (for :meth:`render` only).

        The acoustic model and codec must agree on latent channels and frame rate (ValueError in
        one line naming both files). When the acoustic checkpoint records which codec it was
        trained with and this is another one, a line saying so is put in ``warnings``. The structure
        model runs on the CPU (it is small); acoustic model and codec on ``device``.
        """
        paths = {}
        for name, given in (("structure", structure), ("acoustic", acoustic), ("codec", codec)):
            if name == "structure" and not with_structure:
                continue
            path = Path(given) if given is not None else default_checkpoint(name)
            if given is None and not path.is_file():
                raise CheckpointError(path, f"no {name} checkpoint is shipped with this install; "
                                            f"pass one (--{name} FILE)")
            paths[name] = path
        structure_model = StructureModel.load(paths["structure"]) if with_structure else None
        acoustic_model = AcousticModel.load(paths["acoustic"], device=device)
        codec_model = load_codec(paths["codec"], device=device)  # encodec's weight_norm warnings: quiet_weight_norm
        try:
            pipeline = cls(structure_model, acoustic_model, codec_model)
        except ValueError as err:
            raise ValueError(f"{paths['acoustic']} does not fit the codec {paths['codec']}: {err}") from None
        expected = acoustic_model.metadata.get("codec_sha")
        if expected:
            from audiodiff.acoustic.data import codec_fingerprint

            actual = codec_fingerprint(codec_model)
            if actual != expected:
                pipeline.warnings.append(f"the acoustic model was trained with another codec (fingerprint {expected}, "
                                      f"{paths['codec']} has {actual}); the audio may sound wrong")
        codec_model.fold_decoder_weight_norm()
        return pipeline

    def generate(self, prompts: str | Prompt | Sequence[str | Prompt], *, steps: int = DEFAULT_STEPS,
                 plan_steps: int = DEFAULT_PLAN_STEPS,
                 guidance: float = DEFAULT_GUIDANCE, plan_guidance: float = DEFAULT_PLAN_GUIDANCE,
                 bars: int | None = None, drums: bool = True, batch_size: int = 1,
                 guides: Sequence[Guide | None] | None = None) -> list[Result]:
        """One :class:`Result` per prompt, in order (a list even for one prompt).

        ``prompts``: a prompt text ("D minor, 96 bpm, violin", parsed by
        :func:`audiodiff.music.prompt.parse`, ValueError if it does not parse), a :class:`Prompt`,
        or a sequence of them.

        The structure model writes melody and chords, the arranger adds bass, comping and (with
        ``drums``) drums, the acoustic model renders them. Audio lasts the prompt's seconds (the
        plan covers at least that and is cut with a short fade-out); with ``bars`` the plan has
        that many bars and the audio covers all of it plus its release tail. Prompts without a
        seed get a fresh one (:func:`audiodiff.seeds.resolve_seed`), returned in ``Result.seed``.
        ``steps``/``guidance``: acoustic sampler; ``plan_steps``/``plan_guidance``: structure sampler.
        ``guides[i]``: chords, melody or form for prompt i (:mod:`audiodiff.structure.guide`); where
        they set the length (:func:`guided_bars`) the audio covers the whole plan.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if self.structure is None:
            raise ValueError("this pipeline has no structure model; load one to generate from prompts")
        parsed = _as_prompts(prompts)
        for p in parsed:
            if bars is None and bars_for(p) > MAX_BARS_GENERATED:
                bar_seconds = p.meter.beats_per_bar * 60.0 / p.bpm
                raise ValueError(f"{p.seconds:g} s at {p.bpm:g} bpm in {p.meter} is {bars_for(p)} bars; the structure "
                                 f"model writes at most {MAX_BARS_GENERATED} bars "
                                 f"({MAX_BARS_GENERATED * bar_seconds:.0f} s at this tempo and meter)")
        seeded = [replace(p, seed=resolve_seed(p.seed)) for p in parsed]
        guides = list(guides) if guides is not None else [None] * len(seeded)
        plans: list[Plan] = []
        for chunk in _chunks(list(range(len(seeded))), batch_size):
            plans += compose(self.structure, [seeded[i] for i in chunk], bars=bars, steps=plan_steps,
                             guidance=plan_guidance, drums=drums, guides=[guides[i] for i in chunk])
        seconds = [None if bars or (g and guided_bars(p, g)) else p.seconds for p, g in zip(seeded, guides)]
        results = self.render(plans, [p.seed for p in seeded], steps=steps, guidance=guidance, seconds=seconds,
                              batch_size=batch_size)
        return [replace(r, prompt=p) for r, p in zip(results, seeded)]

    def render(self, plans: Sequence[Plan], seeds: Sequence[int | None], *, steps: int = DEFAULT_STEPS,
               guidance: float = DEFAULT_GUIDANCE, seconds: Sequence[float | None] | None = None,
               batch_size: int = 1) -> list[Result]:
        """Audio for given plans (e.g. a user's MIDI), one :class:`Result` per plan, in order.

        Item b lasts ``seconds[b]`` (the plan is first cropped to the whole bars that cover it,
        and the audio is cut there with a short fade-out) or, where None, the whole plan plus
        its release tail (``TAIL_SECONDS``), faded out at the end. It can never be longer than
        that. Programs the acoustic model was not trained on are moved to the nearest one it was
        (:attr:`programs`, :func:`map_programs`; ``Result.plan`` shows what was rendered). Seeds of None are drawn
        fresh. Raises ValueError if a model produces NaN or infinite values (a broken
        checkpoint), rather than returning noise.
        """
        if len(plans) != len(seeds) or (seconds is not None and len(seconds) != len(plans)):
            raise ValueError(f"need one seed (and length) per plan, got {len(plans)} plans and {len(seeds)} seeds")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        seeds = [resolve_seed(s) for s in seeds]
        seconds = list(seconds) if seconds is not None else [None] * len(plans)
        plans = [map_programs(p if s is None else crop_to_seconds(p, s), self.programs)[0]
                 for p, s in zip(plans, seconds)]
        frames = [self.acoustic.num_frames(p) if s is None else
                  min(self.acoustic.num_frames(p), math.ceil(s * self.acoustic.frame_rate) + DECODER_MARGIN_FRAMES)
                  for p, s in zip(plans, seconds)]
        order = sorted(range(len(plans)), key=lambda i: frames[i])  # similar lengths share a batch
        out: list[Result | None] = [None] * len(plans)
        for chunk in _chunks(order, batch_size):
            latents = self.acoustic.generate([plans[i] for i in chunk], [acoustic_seed(seeds[i]) for i in chunk],
                                             steps=steps, guidance=guidance, frames=[frames[i] for i in chunk])
            for row, i in enumerate(chunk):
                audio = self._decode(latents[row, :, :frames[i]], seeds[i])
                full = plans[i].seconds + TAIL_SECONDS
                length = int(round(min(full, seconds[i] or full) * self.sample_rate))
                audio = fade_out(audio[:length], self.sample_rate)  # frames round: may be a hop short
                out[i] = Result(audio, self.sample_rate, plans[i], seeds[i])
        return out  # type: ignore[return-value]

    def extend(self, result: Result, seconds: float, *, steps: int = DEFAULT_STEPS,
               guidance: float = DEFAULT_GUIDANCE, plan_steps: int = DEFAULT_PLAN_STEPS,
               plan_guidance: float = DEFAULT_PLAN_GUIDANCE) -> Result:
        """``result`` (its audio, plan and seed, e.g. read back from a WAV and its sidecar) followed
        by ``seconds`` more: see :func:`audiodiff.continuation.extend`. The sampler settings must
        be the ones the clip was made with."""
        from audiodiff.continuation import extend

        return extend(self, result.plan, result.seed, result.audio, seconds, steps=steps, guidance=guidance,
                      plan_steps=plan_steps, plan_guidance=plan_guidance)

    def repaint(self, result: Result, first_bar: int, last_bar: int, *, steps: int = DEFAULT_STEPS,
                guidance: float = DEFAULT_GUIDANCE, plan_steps: int = DEFAULT_PLAN_STEPS,
                plan_guidance: float = DEFAULT_PLAN_GUIDANCE) -> Result:
        """``result`` with bars ``first_bar..last_bar`` (0-based, inclusive) written and rendered
        again, the rest of the audio untouched: see :func:`audiodiff.continuation.repaint`."""
        from audiodiff.continuation import repaint

        return repaint(self, result.plan, result.seed, result.audio, first_bar, last_bar, steps=steps,
                       guidance=guidance, plan_steps=plan_steps, plan_guidance=plan_guidance)

    @torch.no_grad()
    def _decode(self, latents: torch.Tensor, seed: int) -> np.ndarray:
        """One item's latents ``[D, T]`` -> float32 audio ``[T * hop]`` (first channel), checked.

        Items are decoded one at a time: the decoder's convolutions see past the end of the
        latents, so decoding in a padded batch would change the last samples of shorter items."""
        if not torch.isfinite(latents).all():
            raise ValueError(f"the acoustic model produced NaN or infinite latents (seed {seed}); "
                             "its checkpoint is probably broken")
        wav = self.codec.decode(latents[None].to(self.codec.latent_scale.device))[0, 0]
        audio = wav.float().cpu().numpy()
        if not np.isfinite(audio).all():
            raise ValueError(f"the codec produced NaN or infinite audio (seed {seed}); "
                             "its checkpoint is probably broken")
        return audio
