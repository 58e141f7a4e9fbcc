"""Stems on disk: every track of a piece as its own audio file beside their mix, with its own notes.

:func:`stem_set` turns a :class:`~audiodiff.pipeline.Result` into what is written: one
:class:`StemFile` per track, in track order, each scaled by its gain, and the mix, which is the
sample-wise float32 sum of the scaled stems. A track without notes is silent (the pipeline renders
nothing for it): it gets **no** audio or MIDI file, and is listed with ``file: null`` (Slakh:
``audio_rendered: false``). Gains: without ``normalize`` every stem keeps its level and one common
gain is applied only where a file would clip (peak to -1 dBFS, the rule of
:func:`audiodiff.io.audio.write_wav`); with ``normalize`` (as Slakh2100) each stem is first brought
to ``TARGET_LUFS`` integrated loudness and then all stems together are scaled so that no file's
peak exceeds ``TARGET_PEAK_DBFS``. Each stem's total gain is recorded, so the mix stays the sum.
Files are 16-bit, so the mix file equals the sum of the stem files to within each file's rounding
(libsndfile rounds down: under one 16-bit step per file, (stems + 1) steps in all).

A stem's notes are its track's notes that start inside the audio, offsets cut at its end, in
seconds (pitch, onset, offset, velocity), with its program and drum flag: the same in the JSON or
YAML index and in the stem's own MIDI file (written at the plan's tempo, 960 ticks per quarter).

Two layouts, each written into an existing empty folder (the caller stages it and renames it into
place, so nothing is ever half-written):

- :func:`write_stem_folder` (``generate/render --stems DIR``, ``batch --stems``)::

      mix.wav   00-melody-violin.wav 00-melody-violin.mid   01-bass-acoustic-bass.wav ...   stems.json

- :func:`write_slakh_track` (``batch --stems --layout slakh``), the Slakh2100 layout read by its
  public loaders (``yaml.safe_load(metadata.yaml)["stems"]["S00"]``, ``stems/S00.flac``,
  ``MIDI/S00.mid``)::

      mix.flac   stems/S00.flac ...   MIDI/S00.mid ...   all_src.mid   metadata.yaml
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from audiodiff.music.performance import Part, Performance

if TYPE_CHECKING:
    from audiodiff.pipeline import Result

MAX_STEMS = 100  # tracks with notes a file may have for --stems (Slakh's S00..S99)
TARGET_LUFS = -24.0  # --normalize: each stem's integrated loudness
TARGET_PEAK_DBFS = -1.0  # the highest peak any file may have after the common gain
MIDI_TICKS_PER_QUARTER = 960
REST_LEAD_SECONDS = 0.05  # rest_level leaves out this much before each note (an attack may come a frame early)
PLUGIN_NAME = "audiodiff"  # Slakh's plugin_name: the sampler patch that rendered the stem
# Slakh2100's inst_class of each GM family (programs 8k..8k+7), and of drums
SLAKH_CLASSES = ("Piano", "Chromatic Percussion", "Organ", "Guitar", "Bass", "Strings", "Strings (continued)",
                 "Brass", "Reed", "Pipe", "Synth Lead", "Synth Pad", "Synth Effects", "Ethnic", "Percussive",
                 "Sound Effects")
SLAKH_DRUMS = "Drums"
SLAKH_DRUM_PROGRAM = 128  # Slakh's program_num of a drum kit


@dataclass(frozen=True)
class StemFile:
    """One track as written: ``index`` in the plan, its ``part`` (notes cut to the audio), ``name``
    (file name without suffix in the folder layout), ``audio`` float32 scaled by ``gain`` (None for
    a track without notes: no file), its integrated ``loudness`` (LUFS, None if silent) and the
    RMS level in its rests (``rest_dbfs``: how much it sounds where its track plays nothing)."""

    index: int
    part: Part
    name: str
    audio: np.ndarray | None
    gain: float
    loudness: float | None
    rest_dbfs: float | None

    @property
    def written(self) -> bool:
        return self.audio is not None


@dataclass(frozen=True)
class StemSet:
    """What :func:`write_stem_folder` / :func:`write_slakh_track` write: the stems and their sum."""

    stems: tuple[StemFile, ...]
    mix: np.ndarray
    sample_rate: int
    normalized: bool
    overall_gain: float  # the common gain (1 unless a file would clip, or with normalize its peak cap)
    bpm_quarters: float  # tempo of the MIDI files (quarters per minute)


def slug(text: str) -> str:
    """``text`` as a file-name part: lowercase letters, digits and single dashes (``track`` if none)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-") or "track"


def instrument_name(part: Part) -> str:
    """The GM program name of a pitched part, ``drums`` for the kit."""
    from audiodiff.music.instruments import program_name

    return "drums" if part.is_drum else program_name(part.program)


def stem_name(index: int, part: Part, width: int = 2) -> str:
    """File name (no suffix) of track ``index``: ``00-melody-violin``; the track name is left out
    when it is the instrument's name (``04-drums``)."""
    name, instrument = slug(part.name), slug(instrument_name(part))
    return f"{index:0{width}d}-{name}" + ("" if name == instrument else f"-{instrument}")


def heard_notes(part: Part, seconds: float) -> Part:
    """The part with only the notes that start in ``[0, seconds)``, offsets cut at ``seconds``."""
    notes = [replace(n, end=min(n.end, seconds)) for n in part.notes if 0 <= n.start < seconds]
    return replace(part, notes=notes)


def rest_level(audio: np.ndarray, part: Part, sample_rate: int, release: float = 0.5,
               lead: float = REST_LEAD_SECONDS) -> float | None:
    """RMS level (dBFS) of ``audio`` where ``part`` plays nothing: outside every note, its
    ``release`` seconds after it and the ``lead`` seconds before it (a note's attack may begin a
    latent frame early). None where the part leaves no rest; -inf for exact silence."""
    quiet = np.ones(len(audio), dtype=bool)
    for n in part.notes:
        start = max(0, int((n.start - lead) * sample_rate))
        quiet[start:max(0, int(math.ceil((n.end + release) * sample_rate)))] = False
    if not quiet.any():
        return None
    rms = float(np.sqrt(np.mean(np.asarray(audio, dtype=np.float64)[quiet] ** 2)))
    return 20 * math.log10(rms) if rms > 0 else -math.inf


def stem_set(result: Result, normalize: bool = False, target_lufs: float = TARGET_LUFS,
             target_peak_dbfs: float = TARGET_PEAK_DBFS) -> StemSet:
    """The stems of ``result`` with their gains (see the module doc), and their mix.

    Raises ValueError for a result without stems (``extend`` and ``repaint`` give none) or whose
    stems do not have the length of its audio."""
    from audiodiff.eval.loudness import integrated_loudness

    if not result.stems:
        raise ValueError("this result has no stems (extend and repaint return the mix only)")
    sr, seconds = result.sample_rate, result.seconds
    if any(len(s.audio) != len(result.audio) for s in result.stems):
        raise ValueError("the stems do not have the length of the mix")
    parts = [s.part for s in result.stems]
    loud = [integrated_loudness(s.audio, sr) if s.part.notes else None for s in result.stems]
    gains = [10 ** ((target_lufs - lufs) / 20) if normalize and lufs is not None else 1.0 for lufs in loud]
    scaled = [np.asarray(s.audio, np.float64) * g for s, g in zip(result.stems, gains)]
    mix = np.sum(scaled, axis=0)
    peak = max([float(np.abs(mix).max(initial=0.0))] + [float(np.abs(a).max(initial=0.0)) for a in scaled])
    cap = 10 ** (target_peak_dbfs / 20)
    overall = cap / peak if peak > (cap if normalize else 1.0) else 1.0
    width = max(2, len(str(len(parts) - 1)))
    stems, audio_sum = [], np.zeros(len(result.audio), np.float32)
    for i, (stem, gain) in enumerate(zip(result.stems, gains)):
        audio = None
        if stem.part.notes:
            audio = (np.asarray(stem.audio, np.float64) * (gain * overall)).astype(np.float32)
            audio_sum += audio
        elif np.any(stem.audio):
            raise ValueError(f"track {i} ({stem.part.name}) has no notes but its stem is not silent")
        stems.append(StemFile(i, heard_notes(stem.part, seconds), stem_name(i, stem.part, width), audio,
                              gain * overall, None if audio is None else integrated_loudness(audio, sr),
                              None if audio is None else rest_level(audio, stem.part, sr)))
    plan = result.plan
    return StemSet(tuple(stems), audio_sum, sr, normalize, overall, plan.bpm * plan.meter.quarters_per_beat)


def piece_labels(result: Result, **extra: Any) -> dict[str, Any]:
    """What the piece is, for an index: prompt (None for a render), seed, key, tempo, meter and
    chords as [symbol, start s, end s] (those of :func:`audiodiff.batch.row_files.result_annotations`),
    then ``extra``."""
    from audiodiff.batch.row_files import result_annotations

    plan = result.plan
    return {"prompt": result.prompt.to_text() if result.prompt else None, "seed": result.seed,
            "key": plan.key.name, "bpm": plan.bpm, "meter": plan.meter.name,
            "chords": result_annotations(result)["chords"], **extra}


def _round(x: float | None, digits: int = 6) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def notes_list(part: Part) -> list[list]:
    """A part's notes as ``[pitch, onset s, offset s, velocity]`` (times rounded to 1 µs)."""
    return [[n.pitch, round(n.start, 6), round(n.end, 6), n.velocity] for n in part.notes]


def stem_record(stem: StemFile) -> dict[str, Any]:
    """What the index says about one stem (besides its file names)."""
    from audiodiff.music.instruments import family_of

    part = stem.part
    return {"index": stem.index, "track": part.name, "program": None if part.is_drum else part.program,
            "instrument": instrument_name(part), "family": "drums" if part.is_drum else family_of(part.program),
            "is_drum": part.is_drum, "gain": _round(stem.gain), "integrated_loudness": _round(stem.loudness, 3),
            "rest_dbfs": _round(stem.rest_dbfs, 2), "notes": notes_list(part)}


def _write_midi(parts: list[Part], seconds: float, bpm_quarters: float, path: Path) -> None:
    Performance(parts, seconds).to_midi(path, ticks_per_beat=MIDI_TICKS_PER_QUARTER, bpm=bpm_quarters)


def write_stem_folder(folder: str | Path, stems: StemSet, labels: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``mix.wav``, a WAV and a MIDI file per stem and ``stems.json`` (``labels`` first, then
    the sample rate, gains and every stem with its notes) into the existing empty ``folder``.
    Returns the index written to ``stems.json``."""
    from audiodiff.io.audio import write_wav

    folder = Path(folder)
    sr, seconds = stems.sample_rate, len(stems.mix) / stems.sample_rate
    write_wav(folder / "mix.wav", stems.mix, sr)
    records = []
    for stem in stems.stems:
        record = {"file": None, "midi": None, **stem_record(stem)}
        if stem.audio is not None:
            record["file"], record["midi"] = f"{stem.name}.wav", f"{stem.name}.mid"
            write_wav(folder / record["file"], stem.audio, sr)
            _write_midi([stem.part], seconds, stems.bpm_quarters, folder / record["midi"])
        records.append(record)
    index = {**(labels or {}), "mix": "mix.wav", "sample_rate": sr, "seconds": round(seconds, 6),
             "num_samples": len(stems.mix), "normalized": stems.normalized,
             "overall_gain": _round(stems.overall_gain), "stems": records}
    (folder / "stems.json").write_text(json.dumps(index) + "\n", encoding="utf-8")
    return index


def slakh_program_name(part: Part) -> str:
    """Slakh's ``midi_program_name``: the GM name in title case ('Acoustic Grand Piano'), 'Drums'."""
    if part.is_drum:
        return SLAKH_DRUMS
    return " ".join(w if w.startswith("(") else w.capitalize() for w in instrument_name(part).split())


def slakh_stem(stem: StemFile) -> dict[str, Any]:
    """One entry of metadata.yaml's ``stems``: Slakh2100's fields, then audiodiff's own."""
    part = stem.part
    return {"audio_rendered": stem.written,
            "inst_class": SLAKH_DRUMS if part.is_drum else SLAKH_CLASSES[part.program // 8],
            "integrated_loudness": _round(stem.loudness, 3), "is_drum": part.is_drum,
            "midi_program_name": slakh_program_name(part), "midi_saved": stem.written,
            "plugin_name": PLUGIN_NAME, "program_num": SLAKH_DRUM_PROGRAM if part.is_drum else part.program,
            "gain": _round(stem.gain), "track_name": part.name, "rest_dbfs": _round(stem.rest_dbfs, 2)}


def write_slakh_track(folder: str | Path, stems: StemSet, all_src: Path | None = None,
                      labels: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write one Slakh2100 track into the existing empty ``folder``: ``mix.flac``, ``stems/Snn.flac``
    and ``MIDI/Snn.mid`` for each track with notes (``nn`` = the track's index), ``all_src.mid`` (the
    file ``all_src`` when given, else every stem's notes) and ``metadata.yaml`` (Slakh's fields,
    ``labels`` under ``audiodiff``). Returns the metadata written."""
    from audiodiff.io.audio import write_wav

    folder = Path(folder)
    sr, seconds = stems.sample_rate, len(stems.mix) / stems.sample_rate
    (folder / "stems").mkdir()
    (folder / "MIDI").mkdir()
    write_wav(folder / "mix.flac", stems.mix, sr, file_format="FLAC")
    keys = {}
    for stem in stems.stems:
        key = f"S{stem.index:02d}"
        keys[key] = slakh_stem(stem)
        if stem.audio is not None:
            write_wav(folder / "stems" / f"{key}.flac", stem.audio, sr, file_format="FLAC")
            _write_midi([stem.part], seconds, stems.bpm_quarters, folder / "MIDI" / f"{key}.mid")
    if all_src is not None:
        (folder / "all_src.mid").write_bytes(Path(all_src).read_bytes())
    else:
        _write_midi([s.part for s in stems.stems], seconds, stems.bpm_quarters, folder / "all_src.mid")
    metadata = {"UUID": None, "audio_dir": "stems", "midi_dir": "MIDI", "lmd_midi_dir": None,
                "normalized": stems.normalized, "normalization_factor": _round(stems.overall_gain),
                "overall_gain": _round(stems.overall_gain), "target_peak": TARGET_PEAK_DBFS,
                "target_lufs": TARGET_LUFS if stems.normalized else None, "sample_rate": sr,
                "seconds": round(seconds, 6), "audiodiff": labels or {}, "stems": keys}
    (folder / "metadata.yaml").write_text(yaml_text(metadata), encoding="utf-8")
    return metadata


# -- a YAML writer for metadata.yaml: block mappings, flow lists, JSON scalars (no PyYAML needed) --
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}  # plain, these would not be strings


def _scalar(value: Any) -> str:
    """A YAML 1.1 scalar that PyYAML's safe_load reads back as the same Python value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
        text = repr(value)
        mantissa, _, exponent = text.partition("e")
        if exponent and "." not in mantissa:  # YAML 1.1 floats need the point: 1e-05 -> 1.0e-05
            text = f"{mantissa}.0e{exponent}"
        return text
    if isinstance(value, str):
        return json.dumps(value)  # a double-quoted YAML scalar (JSON escapes are YAML escapes)
    raise TypeError(f"cannot write {type(value).__name__} to YAML")


def _flow(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {_flow(v)}" for k, v in value.items()) + "}"
    return _scalar(value)


def yaml_text(data: dict[str, Any], indent: int = 0) -> str:
    """``data`` as block-style YAML (nested dicts indented by 2, lists and scalars in flow style)."""
    lines = []
    for key, value in data.items():
        plain = _PLAIN_KEY.fullmatch(str(key)) and str(key).lower() not in _RESERVED
        name = key if plain else json.dumps(str(key))
        if isinstance(value, dict) and value:
            lines.append(f"{' ' * indent}{name}:\n{yaml_text(value, indent + 2)}")
        else:
            lines.append(f"{' ' * indent}{name}: {_flow(value)}\n")
    return "".join(lines)
