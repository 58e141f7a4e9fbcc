"""Pipeline: prompt -> plan (structure model + arranger) -> codec latents (acoustic model) -> audio.

Pure: no printing, no files written. ``generate`` and ``render`` return :class:`Result` objects
(float32 audio at the codec's sample rate, the plan it realises, the seed); writing WAV / MIDI /
PNG is the caller's business (see :mod:`audiodiff.io.audio`, :mod:`audiodiff.music.midi`,
:mod:`audiodiff.io.plot`).

Parts. Every part (track) of a piece is rendered alone by the acoustic model and decoded alone
(:mod:`audiodiff.acoustic.render`); the piece is the sum of its parts, and ``Result.stems`` holds
each part's audio, so the stems sum to the mix exactly and reordering tracks changes nothing.

Seeds. One seed per item drives everything: the structure model's sampler (via
:func:`audiodiff.structure.compose.compose`) and each part's acoustic sampler (seeded with
:func:`audiodiff.seeds.part_seed`). ``render(plan, seed)`` of the plan that ``generate``
returned, with the same seed and length, gives the same audio.

Batches. An item's audio never depends on the other items asked for at the same time: the parts of
one piece share the acoustic model's calls, and ``batch_size`` groups prompts for the structure
model (with ``batch_size > 1`` its plans agree with one-by-one ones only to the rounding of batched
matrix products).

Backends. The networks run on ONNX Runtime (numpy only, no torch) or on torch
(:mod:`audiodiff.backends`); the samplers, their noise and everything around the networks are the
same numpy code on both, so a seed gives the same music on both (up to the networks' float
rounding). Same seed, same backend, same threads, same machine: same bytes.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from audiodiff.acoustic.render import note_gate, render_parts
from audiodiff.acoustic.sampling import (
    DEFAULT_GUIDANCE,
    DEFAULT_SAMPLER,
    DEFAULT_START_SIGMA,
    DEFAULT_STEPS,
    LatentWriter,
)
from audiodiff.backends import BACKENDS, Codec, OnnxCodec, TorchCodec, available, load_onnx, load_torch
from audiodiff.io.checkpoint import CheckpointError, default_checkpoint
from audiodiff.music.instruments import nearest_program, substitution_warnings
from audiodiff.music.performance import Part, Performance
from audiodiff.music.plan import TAIL_SECONDS, Plan, Track
from audiodiff.music.prompt import Prompt
from audiodiff.seeds import resolve_seed
from audiodiff.structure.compose import bars_for, compose, guided_bars
from audiodiff.structure.guide import Guide
from audiodiff.structure.sampling import DEFAULT_GUIDANCE as DEFAULT_PLAN_GUIDANCE
from audiodiff.structure.sampling import DEFAULT_STEPS as DEFAULT_PLAN_STEPS
from audiodiff.structure.sampling import MAX_BARS_GENERATED, PlanWriter

if TYPE_CHECKING:
    from audiodiff.acoustic.model import AcousticModel
    from audiodiff.codec import model as torch_codec
    from audiodiff.structure.model import StructureModel

TrackT = TypeVar("TrackT", Track, Part)  # a plan's track or a performance's part
FADE_SECONDS = 0.05  # fade-out where the audio is cut, so the cut does not click
DECODER_MARGIN_FRAMES = 8  # latent frames rendered past a requested length: the decoder sees ahead
# The GM programs an acoustic checkpoint without a "programs" metadata entry (the shipped one) was
# trained on: those the corpus was rendered with when it was made.
FALLBACK_PROGRAMS = (0, 4, 11, 16, 19, 21, 24, 25, 32, 33, 34, 40, 48, 52, 56, 65, 68, 71, 73)


@dataclass(frozen=True)
class Stem:
    """One part of a piece: the ``part`` it plays (notes in seconds) and its ``audio`` float32 ``[N]``."""

    part: Part
    audio: np.ndarray


@dataclass(frozen=True)
class Result:
    """One generated piece: ``audio`` float32 ``[N]`` at ``sample_rate`` Hz (not normalised;
    peaks may exceed 1), the ``plan`` it realises (cropped to the bars that sound), the ``seed``
    that reproduces it, the ``prompt`` it came from (None for :meth:`Pipeline.render`), and its
    ``stems``: one per track of the plan (or performance), in track order, whose samples sum to
    ``audio`` (a track without notes has a silent stem)."""

    audio: np.ndarray
    sample_rate: int
    plan: Plan
    seed: int
    prompt: Prompt | None = None
    stems: tuple[Stem, ...] = ()

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate


def trained_programs(metadata: dict[str, Any]) -> tuple[int, ...]:
    """The GM programs an acoustic checkpoint was trained on (the only timbres it has heard), from
    its metadata's ``programs``; :data:`FALLBACK_PROGRAMS` for checkpoints that do not record them."""
    return tuple(sorted(int(p) for p in metadata.get("programs", FALLBACK_PROGRAMS)))


def plan_frames(plan: Plan, fps: float, tail_seconds: float = TAIL_SECONDS) -> int:
    """Latent frames that cover ``plan`` plus ``tail_seconds`` of release at ``fps`` Hz."""
    return math.ceil((plan.seconds + tail_seconds) * fps - 1e-9)


def crop_to_seconds(plan: Plan, seconds: float) -> Plan:
    """The plan's first whole bars that cover ``seconds`` (the plan itself if it is not longer)."""
    bar_seconds = plan.meter.steps_per_bar * plan.seconds_per_step
    bars = max(1, math.ceil(seconds / bar_seconds - 1e-9))
    return plan if bars >= plan.num_bars else plan.crop(0, bars * plan.meter.steps_per_bar)


def map_tracks(tracks: Sequence[TrackT], supported: Sequence[int]) -> tuple[list[TrackT], list[tuple[str, int, int]]]:
    """Plan tracks or performance parts with every pitched program moved to the nearest supported one
    (:func:`audiodiff.music.instruments.nearest_program`), and ``(track name, old, new)`` per change."""
    changes, mapped = [], []
    for track in tracks:
        new = track.program if track.is_drum else nearest_program(track.program, supported)
        if new != track.program:
            changes.append((track.name, track.program, new))
            track = replace(track, program=new)
        mapped.append(track)
    return mapped, changes


def map_programs(plan: Plan, supported: Sequence[int]) -> tuple[Plan, list[tuple[str, int, int]]]:
    """The plan with its tracks' programs mapped (:func:`map_tracks`), and the changes."""
    tracks, changes = map_tracks(plan.tracks, supported)
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

    def __init__(self, structure: PlanWriter | StructureModel | None, acoustic: LatentWriter | AcousticModel,
                 codec: Codec | torch_codec.Codec) -> None:
        """``structure`` may be None for a pipeline that only renders given plans. The models are
        those of a backend (:func:`audiodiff.backends.load_onnx`, ``load_torch``) or torch models."""
        self.structure = structure if structure is None or isinstance(structure, PlanWriter) else structure.writer()
        self.acoustic = acoustic if isinstance(acoustic, LatentWriter) else acoustic.writer()
        self.codec = codec if isinstance(codec, Codec) else TorchCodec(codec)
        self.acoustic.check_codec(self.codec.latent_dim, self.codec.frame_rate)  # ValueError naming both
        self.backend = "onnx" if isinstance(self.codec, OnnxCodec) else "torch"
        self.programs = trained_programs(self.acoustic.metadata)  # the GM programs it can render
        self.warnings: list[str] = []  # what a caller should tell the user (load: the codec; render: substitutions)

    @property
    def sample_rate(self) -> int:
        """Output sample rate (Hz): the codec's."""
        return self.codec.sample_rate

    @classmethod
    def load(cls, structure: str | os.PathLike | None = None, acoustic: str | os.PathLike | None = None,
             codec: str | os.PathLike | None = None, device: str = "cpu", with_structure: bool = True,
             backend: str | None = None, threads: int | None = None) -> Pipeline:
        """Load the three checkpoints (None: the ones shipped in ``audiodiff/checkpoints/``);
        ``with_structure=False`` skips the structure model (for :meth:`render` only).

        ``backend``: ``"onnx"`` (ONNX Runtime, CPU, ``threads`` intra-op threads, None: all cores;
        the graphs :func:`audiodiff.backends.graph_path` finds) or ``"torch"`` (structure model on the
        CPU, acoustic model and codec on ``device``; set torch's threads yourself). None: ONNX
        Runtime when it is installed, the device is the CPU and every checkpoint has a graph that
        fits it, else torch. ImportError (one line) when the backend's runtime is not installed.

        The acoustic model and codec must agree on latent channels and frame rate (ValueError in
        one line naming both files). When the acoustic checkpoint records which codec it was
        trained with and this is another one, a line saying so is put in ``warnings``.
        """
        if backend is not None and backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        if backend == "onnx" and str(device) != "cpu":
            raise ValueError(f"the onnx backend runs on the CPU; use the torch backend for device {device}")
        paths = {}
        for name, given in (("structure", structure), ("acoustic", acoustic), ("codec", codec)):
            if name == "structure" and not with_structure:
                continue
            path = Path(given) if given is not None else default_checkpoint(name)
            if given is None and not path.is_file():
                raise CheckpointError(path, f"no {name} checkpoint is shipped with this install; "
                                            f"pass one (--{name} FILE)")
            paths[name] = path
        models: tuple[PlanWriter | None, LatentWriter, Codec] | None = None
        if backend == "onnx" or (backend is None and str(device) == "cpu" and available("onnx")):
            try:
                models = load_onnx(paths, threads)
            except CheckpointError:
                if backend == "onnx" or not available("torch"):
                    raise
        if models is None:
            if not available("torch"):
                raise ImportError("the torch backend needs torch: pip install torch")
            models = load_torch(paths, str(device))
        structure_model, acoustic_model, codec_model = models
        try:
            pipeline = cls(structure_model, acoustic_model, codec_model)
        except ValueError as err:
            raise ValueError(f"{paths['acoustic']} does not fit the codec {paths['codec']}: {err}") from None
        expected = acoustic_model.metadata.get("codec_sha")
        if expected and codec_model.fingerprint != expected:
            pipeline.warnings.append(f"the acoustic model was trained with another codec (fingerprint {expected}, "
                                     f"{paths['codec']} has {codec_model.fingerprint}); the audio may sound wrong")
        return pipeline

    def generate(self, prompts: str | Prompt | Sequence[str | Prompt], *, steps: int = DEFAULT_STEPS,
                 plan_steps: int = DEFAULT_PLAN_STEPS,
                 guidance: float = DEFAULT_GUIDANCE, plan_guidance: float = DEFAULT_PLAN_GUIDANCE,
                 bars: int | None = None, drums: bool = True, batch_size: int = 1,
                 guides: Sequence[Guide | None] | None = None,
                 start_sigma: float = DEFAULT_START_SIGMA) -> list[Result]:
        """One :class:`Result` per prompt, in order (a list even for one prompt).

        ``prompts``: a prompt text ("D minor, 96 bpm, violin", parsed by
        :func:`audiodiff.music.prompt.parse`, ValueError if it does not parse), a :class:`Prompt`,
        or a sequence of them.

        The structure model writes melody and chords, the arranger adds bass, comping and (with
        ``drums``) drums, the acoustic model renders them. Audio lasts the prompt's seconds (the
        plan covers at least that and is cut with a short fade-out); with ``bars`` the plan has
        that many bars and the audio covers all of it plus its release tail. Prompts without a
        seed get a fresh one (:func:`audiodiff.seeds.resolve_seed`), returned in ``Result.seed``.
        ``steps``/``guidance``/``start_sigma``: acoustic sampler (:meth:`render`);
        ``plan_steps``/``plan_guidance``: structure sampler.
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
                              start_sigma=start_sigma)
        # where the material set the length, the prompt says the audio's (the plan and its release)
        return [replace(r, prompt=p if s is not None or g is None else
                        replace(p, seconds=min(max(round(r.plan.seconds + TAIL_SECONDS, 2), 1.0), 600.0)))
                for r, p, s, g in zip(results, seeded, seconds, guides)]

    def render(self, plans: Sequence[Plan], seeds: Sequence[int | None], *, steps: int = DEFAULT_STEPS,
               guidance: float = DEFAULT_GUIDANCE, seconds: Sequence[float | None] | None = None,
               performances: Sequence[Performance | None] | None = None,
               start_sigma: float = DEFAULT_START_SIGMA) -> list[Result]:
        """Audio for given plans (e.g. a user's MIDI), one :class:`Result` per plan, in order.

        Item b lasts ``seconds[b]`` (the plan is first cropped to the whole bars that cover it,
        and the audio is cut there with a short fade-out) or, where None, the whole plan plus
        its release tail (``TAIL_SECONDS``), faded out at the end. It can never be longer than
        that. ``performances[b]``, where given, is what is played instead of the plan's grid
        notes: a MIDI file's notes at their real times through its tempo map (the plan then only
        labels it). Programs the acoustic model was not trained on are moved to the nearest one
        it was (:attr:`programs`, :func:`map_programs`; ``Result.plan`` shows what was rendered).
        Seeds of None are drawn fresh. ``start_sigma``: the noise level the acoustic sampler starts
        from, added to each part's sketch (:meth:`AcousticModel.generate`). Raises ValueError if a
        model produces NaN or infinite values (a broken checkpoint), rather than returning noise.
        """
        performances = list(performances) if performances is not None else [None] * len(plans)
        if len(plans) != len(seeds) or (seconds is not None and len(seconds) != len(plans)) \
                or len(performances) != len(plans):
            raise ValueError(f"need one seed (and length) per plan, got {len(plans)} plans and {len(seeds)} seeds")
        seeds = [resolve_seed(s) for s in seeds]
        seconds = list(seconds) if seconds is not None else [None] * len(plans)
        mapped = [map_programs(p if s is None else crop_to_seconds(p, s), self.programs)
                  for p, s in zip(plans, seconds)]
        plans = [plan for plan, _ in mapped]
        for line in substitution_warnings([change for _, changes in mapped for change in changes]):
            if line not in self.warnings:  # a performance plays the tracks its plan labels: the same changes
                self.warnings.append(line)
        fps = self.acoustic.frame_rate
        out = []
        for plan, seed, length, given in zip(plans, seeds, seconds, performances):
            performance = Performance.from_plan(plan) if given is None else replace(
                given, tracks=map_tracks(given.tracks, self.programs)[0])
            full = performance.seconds + TAIL_SECONDS
            frames = math.ceil(full * fps - 1e-9)
            if length is not None:
                frames = min(frames, math.ceil(length * fps) + DECODER_MARGIN_FRAMES)
            samples = int(round(min(full, length or full) * self.sample_rate))
            stems = self._render_parts(performance.tracks, seed, frames, samples, steps, guidance,
                                       start_sigma=start_sigma)
            mix = np.sum([s.audio for s in stems], axis=0) if stems else np.zeros(samples, np.float32)
            out.append(Result(mix.astype(np.float32), self.sample_rate, plan, seed, stems=tuple(stems)))
        return out

    def _render_parts(self, parts: Sequence[Part], seed: int, frames: int, samples: int, steps: int,
                      guidance: float, start_sigma: float = DEFAULT_START_SIGMA) -> list[Stem]:
        """One :class:`Stem` per part, ``samples`` long and faded out at the end: the parts with
        notes rendered and gated by their notes (:func:`audiodiff.acoustic.render.note_gate`),
        the others silent."""
        sounding = [i for i, p in enumerate(parts) if p.notes]
        audio = [np.zeros(samples, np.float32) for _ in parts]
        if sounding:
            latents = render_parts(self.acoustic, self.codec, [parts[i] for i in sounding], seed, frames,
                                   steps=steps, guidance=guidance, sampler=DEFAULT_SAMPLER,
                                   start_sigma=start_sigma)
            for row, i in enumerate(sounding):
                wav = self._decode(latents[row], seed)[:samples]
                audio[i][:len(wav)] = wav * note_gate(parts[i], len(wav), self.sample_rate)  # frames round
        return [Stem(p, fade_out(a, self.sample_rate)) for p, a in zip(parts, audio)]

    def _decode(self, latents: np.ndarray, seed: int) -> np.ndarray:
        """One item's latents ``[D, T]`` -> float32 audio ``[T * hop]`` (first channel), checked.

        Items are decoded one at a time: the decoder's convolutions see past the end of the
        latents, so decoding in a padded batch would change the last samples of shorter items."""
        if not np.isfinite(latents).all():
            raise ValueError(f"the acoustic model produced NaN or infinite latents (seed {seed}); "
                             "its checkpoint is probably broken")
        audio = self.codec.decode(latents[None])[0, 0].astype(np.float32)
        if not np.isfinite(audio).all():
            raise ValueError(f"the codec produced NaN or infinite audio (seed {seed}); "
                             "its checkpoint is probably broken")
        return audio
