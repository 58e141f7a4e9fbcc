"""Score a set of audio clips against their labels: key and tempo adherence, plan faithfulness.

A set is either

- a **directory** of WAV files, each with a sidecar ``<name>.json`` as ``audiodiff generate``
  writes it (``key``, ``bpm``, ``meter``, and the plan as ``plan`` (a MIDI/JSON path relative to
  the sidecar) and/or ``plan_data`` (:meth:`Plan.to_dict`)); audio files (AUDIO_SUFFIXES) without
  a sidecar are skipped and named in the notes, as are files of other formats that have a sidecar;
  a clip whose sidecar cannot be read is a row with a ``problem``, or
- a **manifest**, JSON Lines (``.jsonl``) or CSV (``.csv``), one row per clip with columns
  ``audio``, ``key``, ``bpm`` and optionally ``mode`` (then ``key`` is the tonic, as in the
  corpus manifests), ``meter``, ``seconds`` and ``plan`` (or ``midi``, as ``audiodiff batch``
  names it); paths are relative to the manifest's folder.

A clip whose audio cannot be scored (unreadable, empty, NaN or infinite samples, silent, shorter
than its labelled ``seconds`` or than MIN_SECONDS) or whose plan cannot be read becomes one row
with a ``problem`` and no estimates; the summary counts it as failing every criterion (and as 0
faithfulness where it has a plan), so bad audio never raises a score.

Adherence follows :mod:`audiodiff.eval.estimators` (key exact / exact-or-relative, tempo within 4 %,
tempo bin exact / within one bin); faithfulness follows :mod:`audiodiff.eval.faithfulness`.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiodiff.eval.estimators import (
    Adherence,
    adherence,
    estimate_audio_key,
    estimate_audio_tempo,
    summarize,
)
from audiodiff.eval.faithfulness import Faithfulness, plan_faithfulness
from audiodiff.io.manifest import read_jsonl
from audiodiff.music.plan import Plan
from audiodiff.music.theory import Key, Meter

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")  # what read_audio reads
COMPANION_SUFFIXES = (".json", ".mid", ".midi", ".png")  # what generate writes next to a WAV
MIN_SECONDS = 1.0  # shorter audio gives no meaningful key or tempo estimate
SILENCE_PEAK = 1e-4  # -80 dBFS: below this peak a clip is silent
SHORT_TOLERANCE = 0.95  # audio shorter than this share of its labelled length is truncated


@dataclass(frozen=True)
class Clip:
    """One clip to score: audio file, labelled key and tempo (bpm of the meter's beat), optional
    meter, labelled length in seconds and plan (a path to MIDI / plan JSON, or a plan dict). With a
    ``problem`` (its labels could not be read) it has no key and cannot be scored."""

    name: str
    audio: Path
    key: Key | None
    bpm: float
    meter: Meter | None = None
    plan: Path | dict | None = None
    seconds: float | None = None
    problem: str | None = None


@dataclass(frozen=True)
class ClipScore:
    """Estimates and scores of one clip; with a ``problem`` (why it could not be scored) they are None."""

    clip: Clip
    est_key: Key | None
    est_bpm: float | None
    adherence: Adherence | None
    faithfulness: Faithfulness | None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready row."""
        c = self.clip
        adherence = asdict(self.adherence) if self.adherence else dict.fromkeys(Adherence.__dataclass_fields__)
        faith = asdict(self.faithfulness) if self.faithfulness else dict.fromkeys(Faithfulness.__dataclass_fields__)
        return {"name": c.name, "audio": str(c.audio), "key": c.key.name if c.key else None,
                "bpm": None if math.isnan(c.bpm) else c.bpm,
                "meter": c.meter.name if c.meter else None, "problem": self.problem,
                "est_key": self.est_key.name if self.est_key else None,
                "est_bpm": None if self.est_bpm is None else round(self.est_bpm, 2), **adherence, **faith}


def parse_key(text: str, mode: str | None = None) -> Key:
    """'D minor', 'Dm', 'F#' (major) -> Key; a ``mode`` ('major'/'minor') overrides the text's."""
    from audiodiff.music.prompt import parse

    try:
        key = parse(str(text)).key
        return Key(key.tonic, str(mode).lower()) if mode else key
    except ValueError:
        raise ValueError(f"unknown key {text!r}{f' (mode {mode!r})' if mode else ''}; "
                         "write it like 'D minor', 'Dm' or 'F#', mode major or minor") from None


def _clip(row: dict[str, Any], base: Path, where: str) -> Clip:
    missing = [c for c in ("audio", "key", "bpm") if row.get(c) in (None, "")]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)} (need audio, key, bpm; optional mode, meter, plan)")
    try:
        bpm = float(row["bpm"])
        meter = Meter.parse(str(row["meter"])) if row.get("meter") else None
        key = parse_key(str(row["key"]), row.get("mode") or None)
        seconds = float(row["seconds"]) if row.get("seconds") not in (None, "") else None
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    plan: Path | dict | None = row.get("plan_data") or None  # embedded: needs no file
    plan_file = row.get("plan") or row.get("midi")  # batch manifests name the plan's MIDI 'midi'
    if plan is None and plan_file:
        plan = base / str(plan_file)
    audio = base / str(row["audio"])
    return Clip(str(row.get("name") or row.get("id") or audio.stem), audio, key, bpm, meter, plan, seconds)


def read_clips(source: str | Path) -> tuple[list[Clip], list[str]]:
    """The clips of a directory or manifest (see the module docstring) and notes on skipped files.

    Raises ValueError (one line) for an unreadable or malformed source or an empty set."""
    source = Path(source)
    notes: list[str] = []
    clips: list[Clip] = []
    if source.is_dir():
        for audio in sorted(p for p in source.iterdir() if p.is_file()):
            sidecar = audio.with_suffix(".json")
            if audio.suffix.lower() not in AUDIO_SUFFIXES:
                if audio.suffix.lower() not in COMPANION_SUFFIXES and sidecar.is_file():
                    notes.append(f"{audio}: has a sidecar but is not a format evaluate reads "
                                 f"({', '.join(AUDIO_SUFFIXES)}); skipped")
                continue
            if not sidecar.is_file():
                notes.append(f"{audio}: no sidecar {sidecar.name}; skipped")
                continue
            try:
                row = json.loads(sidecar.read_text())
                if not isinstance(row, dict):
                    raise ValueError("not a JSON object")
                clips.append(_clip({**row, "audio": audio.name, "name": audio.stem}, source, str(sidecar)))
            except (OSError, ValueError) as err:  # one bad sidecar fails its clip, not the folder
                problem = f"{sidecar}: unusable sidecar ({' '.join(str(err).split())})"
                clips.append(Clip(audio.stem, audio, None, math.nan, problem=problem))
    elif source.is_file() and source.suffix.lower() in (".jsonl", ".csv"):
        if source.suffix.lower() == ".csv":
            rows = list(csv.DictReader(source.read_text().splitlines()))
        else:
            rows = read_jsonl(source)
        first = 2 if source.suffix.lower() == ".csv" else 1  # line numbers: a CSV starts with its header
        clips = [_clip(row, source.parent, f"{source}:{n}") for n, row in enumerate(rows, first)]
    elif source.exists():
        raise ValueError(f"{source}: give a directory of WAVs with sidecar JSONs, or a .jsonl / .csv manifest")
    else:
        raise FileNotFoundError(f"{source}: no such file or directory")
    if not clips:
        raise ValueError(f"{source}: no clips to evaluate" + (f" ({len(notes)} without sidecar)" if notes else ""))
    return clips, notes


def load_plan(plan: Path | dict) -> Plan:
    """A clip's plan from a MIDI file, a plan JSON file, or a plan dict."""
    if isinstance(plan, dict):
        return Plan.from_dict(plan)
    if plan.suffix.lower() in (".mid", ".midi"):
        from audiodiff.music.midi import load_midi

        return load_midi(plan)[0]
    try:
        return Plan.from_dict(json.loads(plan.read_text()))
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{plan}: not a readable plan ({type(err).__name__}: {err})") from None


def audio_problem(audio: np.ndarray, rate: int, seconds: float | None = None) -> str | None:
    """Why ``audio [N]`` at ``rate`` Hz cannot be scored (labelled ``seconds`` long), or None if it can."""
    if len(audio) == 0:
        return "empty audio (0 samples)"
    if not np.isfinite(audio).all():
        return "audio holds NaN or infinite samples"
    length = len(audio) / rate
    if seconds is not None and length < SHORT_TOLERANCE * seconds:
        return f"audio is {length:.3g} s long, its label says {seconds:g} s (truncated?)"
    if length < MIN_SECONDS:
        return f"audio is {length:.3g} s long, too short to estimate key and tempo (need {MIN_SECONDS:g} s)"
    peak = float(np.abs(audio).max())
    if peak < SILENCE_PEAK:
        return f"silent audio (peak {20 * np.log10(peak) if peak > 0 else -np.inf:.0f} dBFS)"
    return None


def score_clip(clip: Clip) -> ClipScore:
    """Estimate key and tempo of the clip's audio; faithfulness when it has a plan. A clip that cannot be
    scored (see :func:`audio_problem`, unreadable audio or plan) gets a ``problem`` instead of estimates."""
    from audiodiff.io.audio import read_audio

    if clip.problem is not None or clip.key is None:
        return ClipScore(clip, None, None, None, None, clip.problem or "no key label")
    try:
        audio, rate = read_audio(clip.audio)
        plan = load_plan(clip.plan) if clip.plan is not None else None
    except (ValueError, OSError) as err:
        return ClipScore(clip, None, None, None, None, " ".join(str(err).split()))
    problem = audio_problem(audio, rate, clip.seconds)
    if problem is not None:
        return ClipScore(clip, None, None, None, None, problem)
    est_key, est_bpm = estimate_audio_key(audio, rate), estimate_audio_tempo(audio, rate)
    faith = plan_faithfulness(audio, rate, plan) if plan is not None else None
    return ClipScore(clip, est_key, est_bpm, adherence(clip.key, clip.bpm, est_key, est_bpm), faith)


_FAILED = Adherence(**dict.fromkeys(Adherence.__dataclass_fields__, False))


def summary(scores: list[ClipScore]) -> dict[str, Any]:
    """Fractions passing each adherence criterion, and mean faithfulness over clips with a plan; a clip
    with a problem fails every criterion and counts 0 faithfulness."""
    out: dict[str, Any] = {"clips": len(scores), "clips_failed": sum(s.problem is not None for s in scores),
                           **summarize([s.adherence or _FAILED for s in scores])}
    faith = [s.faithfulness for s in scores if s.faithfulness or (s.problem and s.clip.plan is not None)]
    out["clips_with_plan"] = len(faith)
    for name in Faithfulness.__dataclass_fields__:
        values = [0.0 if f is None else getattr(f, name) for f in faith]
        values = [v for v in values if v is not None]
        out[name] = float(np.mean(values)) if values else None
    return out


_COLUMNS = (("key_exact", "key"), ("key_relative", "key~rel"), ("key_weighted", "keyW"), ("tempo_within", "bpm4%"),
            ("tempo_bin", "bin"), ("tempo_bin_near", "bin±1"))
_FAITH = (("melody_onset_f1", "melF1"), ("onset_f1", "F1"), ("chroma_agreement", "chroma"))


def format_table(scores: list[ClipScore], totals: dict[str, Any]) -> str:
    """A plain-text table: one row per clip, then the fractions over all clips."""
    def cell(value: Any) -> str:
        return "-" if value is None else f"{value:.2f}"

    def flag(value: bool | float) -> str:
        return ("yes" if value else "no") if isinstance(value, bool) else cell(value)

    head = ["clip", "label", "estimate"] + [t for _, t in _COLUMNS] + [t for _, t in _FAITH]
    rows = [head]
    problems = []
    for s in scores:
        label = f"{s.clip.key.short_name} {s.clip.bpm:g}" if s.clip.key else "-"
        if s.problem is not None or s.adherence is None or s.est_key is None or s.est_bpm is None:
            rows.append([s.clip.name, label, "FAILED"] + ["no"] * len(_COLUMNS) + ["-"] * len(_FAITH))
            problems.append(f"{s.clip.name}: {s.problem}")
            continue
        faith = asdict(s.faithfulness) if s.faithfulness else {}
        rows.append([s.clip.name, label, f"{s.est_key.short_name} {s.est_bpm:.1f}"]
                    + [flag(getattr(s.adherence, f)) for f, _ in _COLUMNS]
                    + [cell(faith.get(f)) for f, _ in _FAITH])
    failed = f", {totals['clips_failed']} failed" if totals.get("clips_failed") else ""
    rows.append([f"all ({totals['clips']}{failed})", "", ""] + [cell(totals.get(f)) for f, _ in _COLUMNS]
                + [cell(totals.get(f)) for f, _ in _FAITH])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(v.ljust(w) if i < 3 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines + [f"FAILED {p}" for p in problems])
