"""What the page asks for, done by the command line's own code with one loaded pipeline.

Every request is checked when it arrives, by the same functions the command line calls before loading a
model (:func:`audiodiff.cli.generate_render.check_generate` and friends), so a bad prompt, chord symbol or
file gets the command line's one-line message at once, tied to the field it came from
(:class:`FieldError`). What passes becomes a :class:`Task` for the queue, whose ``run`` calls the command's
run with the server's pipeline and writes the same files (the same bytes, for the same seed, inputs and
threads) into the server's folder under names the server picks (:mod:`.storage`).
"""
from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from audiodiff.cli.messages import CliError
from audiodiff.cli.parser import ACOUSTIC_STEPS, GUIDANCE, PLAN_GUIDANCE, PLAN_STEPS
from audiodiff.serve.jobs import UserError
from audiodiff.serve.storage import Store

if TYPE_CHECKING:
    from audiodiff.pipeline import Pipeline, Result

MAX_CHORDS_CHARS = 2000
MAX_FORM_CHARS = 64
MAX_EXTEND_SECONDS = 120.0


class FieldError(ValueError):
    """A bad input: the command line's one-line message and the page field it belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class Task:
    """Checked work for the queue: a label, the seconds of audio it makes, the clip it writes and how."""

    label: str
    audio_seconds: float
    clip: str
    run: Callable[[], str]


def _message(exc: BaseException, names: dict[str, str]) -> str:
    """The command line's one-line message, the server's file names replaced by the user's."""
    text = " ".join(str(exc).split())
    for path, name in names.items():
        text = text.replace(path, name)
    return text


def _number(field: str, text: str, kind: type[int] | type[float]) -> int | float | None:
    """A form field as a whole number or a number (None when empty), else FieldError."""
    if not text.strip():
        return None
    try:
        return kind(text)
    except ValueError:
        want = "a whole number" if kind is int else "a number"
        raise FieldError(field, f"want {want}, got {text.strip()!r}") from None


@contextlib.contextmanager
def _field(field: str, names: dict[str, str] | None = None) -> Iterator[None]:
    """Turn the command line's errors inside the block into a FieldError for ``field``."""
    try:
        yield
    except (CliError, ValueError, OSError) as exc:
        if isinstance(exc, FieldError):
            raise
        raise FieldError(field, _message(exc, names or {})) from None


GUIDE_OPTIONS = {"--melody-track": "melody_track", "--melody": "melody", "--chords": "chords",
                 "--bars-per-section": "bars_per_section", "--form": "form"}


def _option_field(message: str, melody: str | None) -> str:
    """The page field of the first guide option (or the melody file) a command line message names; else prompt."""
    found = [(message.find(option), field) for option, field in GUIDE_OPTIONS.items() if option in message]
    if melody and melody in message:
        found.append((message.find(melody), "melody"))
    return min(found)[1] if found else "prompt"


class Engine:
    """The server's pipeline, its checkpoints and threads, and its output folder."""

    def __init__(self, pipeline: Pipeline, store: Store, checkpoints: dict[str, str | None], threads: int) -> None:
        self.pipeline = pipeline
        self.store = store
        self.checkpoints = checkpoints
        self.threads = threads

    def _args(self, **given: object) -> argparse.Namespace:
        """The arguments the command line would have parsed (its defaults, the server's models)."""
        defaults: dict[str, object] = dict(
            steps=ACOUSTIC_STEPS, guidance=GUIDANCE, plan_steps=PLAN_STEPS, plan_guidance=PLAN_GUIDANCE,
            no_drums=False, seconds=None, seed=None, plot=None, plan_out=None, force=False, threads=self.threads,
            chords=None, melody=None, melody_track=None, form=None, bars_per_section=None, **self.checkpoints)
        return argparse.Namespace(**{**defaults, **given})

    def _task(self, label: str, seconds: float, clip: str, make: Callable[[], Result]) -> Task:
        """A task whose run makes the clip with ``make``, adds its spectrogram (and stems), returns its id."""
        def run() -> str:
            try:
                result = make()
            except (CliError, ValueError, OSError) as exc:
                raise UserError(_message(exc, {str(self.store.root) + "/": ""})) from None
            midi = self.store.path(clip, "midi")
            if not midi.exists():  # extend, repaint and new takes: the plan they rendered
                from audiodiff.music.midi import save_midi

                save_midi(result.plan, midi)
            self.store.write_spectrogram(clip, result.audio, result.sample_rate)
            self._write_stems(clip, result)
            return clip
        return Task(label, seconds, clip, run)

    def _write_stems(self, clip: str, result: Result) -> None:
        """``<id>.stem-<index>_<track>.wav`` per stem of ``Result.stems`` (names made by the server)."""
        from audiodiff.io.audio import write_wav

        for i, stem in enumerate(result.stems):
            track = "".join(c for c in stem.part.name.lower() if c.isalnum() or c == "_")[:24]
            write_wav(self.store.path(clip, f"stem-{i}_{track}" if track else f"stem-{i}"), stem.audio,
                      result.sample_rate)

    def _upload(self, clip: str, kind: str, data: bytes) -> Path:
        """Write an uploaded MIDI file (checked by :func:`check_midi_upload` already) as the clip's ``kind``."""
        from audiodiff.io.atomic import write_bytes_atomic

        path = self.store.path(clip, kind)
        write_bytes_atomic(path, data)
        return path

    def generate(self, prompt: str, chords: str = "", form: str = "", bars_per_section: str = "",
                 melody: tuple[bytes, str] | None = None, melody_track: str = "", drums: bool = True) -> Task:
        """``audiodiff generate PROMPT --chords ... --melody ... --form ... --bars-per-section ...``."""
        from audiodiff.cli.generate_render import check_generate, generate_with
        from audiodiff.music.chords import parse_progression
        from audiodiff.music.prompt import parse

        with _field("prompt"):
            parse(prompt)
        if len(chords) > MAX_CHORDS_CHARS:
            raise FieldError("chords", f"the chords are {len(chords)} characters long; at most {MAX_CHORDS_CHARS}")
        if chords.strip():
            with _field("chords"):
                parse_progression(chords)
        if len(form) > MAX_FORM_CHARS:
            raise FieldError("form", f"the form is {len(form)} characters long; at most {MAX_FORM_CHARS}")
        numbers = {}
        for name, text in (("bars_per_section", bars_per_section), ("melody_track", melody_track)):
            if text.strip():
                if not text.strip().isdigit() or not 1 <= int(text) <= 64:
                    raise FieldError(name, f"want a whole number in 1..64, got {text.strip()!r}")
                numbers[name] = int(text)
        clip = self.store.new_id()
        names: dict[str, str] = {}
        melody_path = None
        if melody is not None:
            melody_path = self._upload(clip, "melody", melody[0])
            names[str(melody_path)] = melody[1]
        args = self._args(prompt=prompt, output=str(self.store.path(clip, "wav")),
                          plan_out=str(self.store.path(clip, "midi")), chords=chords.strip() or None,
                          melody=str(melody_path) if melody_path else None, form=form.strip() or None,
                          no_drums=not drums, **numbers)
        try:
            with _field("prompt", names):
                checked = check_generate(args)
        except FieldError as exc:
            self.store.remove(clip)
            raise FieldError(_option_field(str(exc), melody[1] if melody else None), str(exc)) from None
        seconds = checked[0].seconds
        return self._task(prompt or "(defaults)", seconds, clip,
                          lambda: generate_with(self.pipeline, args, *checked, self.threads))

    def render(self, midi: tuple[bytes, str], seed: str = "", seconds: str = "") -> Task:
        """``audiodiff render FILE.mid --seed ... --seconds ...``."""
        from audiodiff.cli.generate_render import _check_seed, check_render, render_with

        clip = self.store.new_id()
        path = self._upload(clip, "source", midi[0])
        try:
            seed_value = _number("render_seed", seed, int)
            seconds_value = _number("render_seconds", seconds, float)
            with _field("render_seed"):
                _check_seed(seed_value)
            args = self._args(plan=str(path), output=str(self.store.path(clip, "wav")), seed=seed_value,
                              seconds=seconds_value)
            with _field("render_midi", {str(path): midi[1]}):
                plan, paths = check_render(args)
        except FieldError as exc:
            self.store.remove(clip)
            raise FieldError("render_seconds" if str(exc).startswith("--seconds") else exc.field, str(exc)) from None
        return self._task(f"render {midi[1]}", seconds_value or plan.seconds, clip,
                          lambda: render_with(self.pipeline, args, plan, paths, self.threads))

    def _source(self, source: str) -> tuple[Result, dict, str]:
        """The clip ``source`` of this server, read back like ``extend`` and ``repaint`` do, and its WAV path."""
        from audiodiff.cli.continuation import read_clip

        with _field("clip", {str(self.store.root) + "/": ""}):
            wav = str(self.store.existing(source, "wav"))
            result, data = read_clip(wav)
        return result, data, wav

    def _edit(self, command: str, source: str, **given: object) -> tuple[argparse.Namespace, tuple[Path, Path]]:
        from audiodiff.cli.outputs import outputs

        clip = self.store.new_id()
        args = self._args(command=command, clip=str(self.store.path(source, "wav")), **given)
        out, sidecar = outputs(False, (self.store.path(clip, "wav"), "wav"), (self.store.path(clip, "json"), "json"))
        assert out is not None and sidecar is not None
        return args, (out, sidecar)

    def repaint(self, source: str, bars: str) -> Task:
        """``audiodiff repaint SOURCE.wav --bars 5-8``."""
        from audiodiff.cli.continuation import repaint_bars, repaint_with

        result, data, wav = self._source(source)
        with _field("bars", {wav: f"clip {source}"}):
            first, last = repaint_bars(bars, result, wav)
        args, paths = self._edit("repaint", source, bars=bars)
        bar_seconds = result.plan.meter.steps_per_bar * result.plan.seconds_per_step
        return self._task(f"repaint bars {bars} of {source}", (last - first + 1) * bar_seconds, paths[0].stem,
                          lambda: repaint_with(self.pipeline, args, result, data, paths))

    def extend(self, source: str, seconds: str) -> Task:
        """``audiodiff extend SOURCE.wav --seconds N``."""
        from audiodiff.cli.continuation import check_extend_seconds, extend_with

        result, data, _ = self._source(source)
        value = _number("extend_seconds", seconds, float)
        with _field("extend_seconds"):
            if value is None:
                raise CliError("give the seconds to add")
            check_extend_seconds(value)
            if value > MAX_EXTEND_SECONDS:
                raise CliError(f"--seconds: at most {MAX_EXTEND_SECONDS:g} s at a time, got {value:g}")
        args, paths = self._edit("extend", source, seconds=value)
        return self._task(f"extend {source} by {value:g} s", value, paths[0].stem,
                          lambda: extend_with(self.pipeline, args, result, data, paths))

    def regenerate(self, source: str, keep: str, seed: str = "") -> Task:
        """A new take of ``source`` with a new seed, keeping the streams ``keep`` (e.g. melody,chords) in every
        bar: ``audiodiff plan "" --from SOURCE.mid --keep KEEP --seed S`` then ``audiodiff render --seed S``."""
        from audiodiff.cli.control import keep_streams
        from audiodiff.cli.generate_render import _check_seed
        from audiodiff.seeds import resolve_seed

        result, data, _ = self._source(source)
        plan = result.plan
        with _field("keep"):
            streams = keep_streams(keep, frozenset(range(plan.num_bars)))
        with _field("regenerate_seed"):
            new_seed = resolve_seed(_check_seed(_number("regenerate_seed", seed, int)))
        args, paths = self._edit("regenerate", source)
        return self._task(f"new take of {source} keeping {keep}", result.seconds, paths[0].stem,
                          lambda: self._regenerate(result, data, streams, new_seed, keep, paths))

    def _regenerate(self, source: Result, data: dict, streams: dict, seed: int, keep: str,
                    paths: tuple[Path, Path]) -> Result:
        from audiodiff.cli.continuation import sampler_settings
        from audiodiff.cli.generate_render import write_result
        from audiodiff.cli.messages import running
        from audiodiff.cli.outputs import staged
        from audiodiff.music.prompt import Prompt
        from audiodiff.structure.compose import compose

        plan = source.plan
        melody = plan.melody
        prompt = Prompt(key=plan.key, bpm=plan.bpm, meter=plan.meter, program=melody.program if melody else 0,
                        seed=seed)
        settings = sampler_settings(data, data.get("audio", "the sidecar"))
        drums = bool(data.get("drums", True))
        if self.pipeline.structure is None:
            raise CliError("this server has no structure model")
        with running():
            new_plan = compose(self.pipeline.structure, [prompt], bars=plan.num_bars, steps=settings["plan_steps"],
                               guidance=settings["plan_guidance"], drums=drums, source=plan, keep=streams)[0]
            result = self.pipeline.render([new_plan], [seed], steps=settings["steps"], guidance=settings["guidance"],
                                          seconds=[source.seconds])[0]
            result = replace(result, prompt=prompt)
            keys = ("steps", "plan_steps", "guidance", "plan_guidance", "drums", "threads", "backend", "checkpoints")
            extra = {"prompt": replace(prompt, seconds=min(max(source.seconds, 1.0), 600.0)).to_text(),
                     **{k: data[k] for k in keys if k in data},
                     "regenerate": {"from": data["audio"], "keep": keep}}
            with staged() as stage:
                write_result(stage, result, paths[0], paths[1], None, None, None, extra, extra["prompt"])
                stage.commit()
        return result
