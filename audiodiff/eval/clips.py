"""Score a set of audio clips against their labels: key and tempo adherence, plan faithfulness.

A set is either

- a **directory** of WAV files, each with a sidecar ``<name>.json`` as ``audiodiff generate``
  writes it (``key``, ``bpm``, ``meter``, and the plan as ``plan`` (a MIDI/JSON path relative to
  the sidecar) and/or ``plan_data`` (:meth:`Plan.to_dict`)); WAVs without a sidecar are skipped
  and named in the notes, or
- a **manifest**, JSON Lines (``.jsonl``) or CSV (``.csv``), one row per clip with columns
  ``audio``, ``key``, ``bpm`` and optionally ``mode`` (then ``key`` is the tonic, as in the
  corpus manifests), ``meter`` and ``plan``; paths are relative to the manifest's folder.

Adherence follows :mod:`audiodiff.eval.estimators` (key exact / exact-or-relative, tempo within 4 %,
tempo bin exact / within one bin); faithfulness follows :mod:`audiodiff.eval.faithfulness`.
"""
from __future__ import annotations

import csv
import json
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

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


@dataclass(frozen=True)
class Clip:
    """One clip to score: audio file, labelled key and tempo (bpm of the meter's beat), optional
    meter and plan (a path to MIDI / plan JSON, or a plan dict)."""

    name: str
    audio: Path
    key: Key
    bpm: float
    meter: Meter | None = None
    plan: Path | dict | None = None


@dataclass(frozen=True)
class ClipScore:
    """Estimates and scores of one clip."""

    clip: Clip
    est_key: Key
    est_bpm: float
    adherence: Adherence
    faithfulness: Faithfulness | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready row."""
        c = self.clip
        return {"name": c.name, "audio": str(c.audio), "key": c.key.name, "bpm": c.bpm,
                "meter": c.meter.name if c.meter else None, "est_key": self.est_key.name,
                "est_bpm": round(self.est_bpm, 2), **asdict(self.adherence),
                **(asdict(self.faithfulness) if self.faithfulness else
                   {"melody_onset_f1": None, "onset_f1": None, "chroma_agreement": None})}


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
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    plan: Path | dict | None = row.get("plan_data") or None
    if row.get("plan"):
        plan = base / str(row["plan"])
    audio = base / str(row["audio"])
    return Clip(str(row.get("name") or row.get("id") or audio.stem), audio, key, bpm, meter, plan)


def read_clips(source: str | Path) -> tuple[list[Clip], list[str]]:
    """The clips of a directory or manifest (see the module docstring) and notes on skipped files.

    Raises ValueError (one line) for an unreadable or malformed source or an empty set."""
    source = Path(source)
    notes: list[str] = []
    clips: list[Clip] = []
    if source.is_dir():
        for audio in sorted(p for p in source.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES):
            sidecar = audio.with_suffix(".json")
            if not sidecar.is_file():
                notes.append(f"{audio}: no sidecar {sidecar.name}; skipped")
                continue
            try:
                row = json.loads(sidecar.read_text())
            except (OSError, json.JSONDecodeError) as err:
                raise ValueError(f"{sidecar}: not readable JSON ({err})") from None
            clips.append(_clip({**row, "audio": audio.name, "name": audio.stem}, source, str(sidecar)))
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


def score_clip(clip: Clip) -> ClipScore:
    """Estimate key and tempo of the clip's audio; faithfulness when it has a plan."""
    from audiodiff.io.audio import read_audio

    audio, rate = read_audio(clip.audio)
    est_key, est_bpm = estimate_audio_key(audio, rate), estimate_audio_tempo(audio, rate)
    faith = plan_faithfulness(audio, rate, load_plan(clip.plan)) if clip.plan is not None else None
    return ClipScore(clip, est_key, est_bpm, adherence(clip.key, clip.bpm, est_key, est_bpm), faith)


def summary(scores: list[ClipScore]) -> dict[str, Any]:
    """Fractions passing each adherence criterion, and mean faithfulness over clips with a plan."""
    out: dict[str, Any] = {"clips": len(scores), **summarize([s.adherence for s in scores])}
    faith = [s.faithfulness for s in scores if s.faithfulness]
    out["clips_with_plan"] = len(faith)
    for name in Faithfulness.__dataclass_fields__:
        values = [getattr(f, name) for f in faith if getattr(f, name) is not None]
        out[name] = float(np.mean(values)) if values else None
    return out


_COLUMNS = (("key_exact", "key"), ("key_relative", "key~rel"), ("tempo_within", "bpm4%"),
            ("tempo_bin", "bin"), ("tempo_bin_near", "bin±1"))
_FAITH = (("melody_onset_f1", "melF1"), ("onset_f1", "F1"), ("chroma_agreement", "chroma"))


def format_table(scores: list[ClipScore], totals: dict[str, Any]) -> str:
    """A plain-text table: one row per clip, then the fractions over all clips."""
    def cell(value: Any) -> str:
        return "-" if value is None else f"{value:.2f}"

    head = ["clip", "label", "estimate"] + [t for _, t in _COLUMNS] + [t for _, t in _FAITH]
    rows = [head]
    for s in scores:
        faith = asdict(s.faithfulness) if s.faithfulness else {}
        rows.append([s.clip.name, f"{s.clip.key.short_name} {s.clip.bpm:g}", f"{s.est_key.short_name} {s.est_bpm:.1f}"]
                    + ["yes" if getattr(s.adherence, f) else "no" for f, _ in _COLUMNS]
                    + [cell(faith.get(f)) for f, _ in _FAITH])
    rows.append([f"all ({totals['clips']})", "", ""] + [cell(totals.get(f)) for f, _ in _COLUMNS]
                + [cell(totals.get(f)) for f, _ in _FAITH])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(v.ljust(w) if i < 3 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)
