"""Per-stem scores: each stem's note F1 against its own MIDI file, and how much it sounds in its rests.

A single instrument transcribes far more reliably than a mix, so a stem against its own notes is the
cleanest measure of the acoustic model per instrument. Stem folders are those ``--stems`` writes
(``stems.json`` beside the files) and Slakh2100-style tracks (``stems/Snn.flac`` with ``MIDI/Snn.mid``,
as ``batch --stems --layout slakh`` writes and Slakh2100 itself ships). Drum stems get no F1 (the
transcriber hears pitched notes only) but are listed, with their rest level.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

Transcriber = Callable[[np.ndarray, int], np.ndarray]
"""audio [N], sample rate -> notes [M, 3] (onset s, offset s, MIDI pitch), e.g.
:func:`audiodiff.eval.transcription.transcribe`."""


@dataclass(frozen=True)
class StemScore:
    """One stem: its ``folder`` and ``stem`` file, instrument ``family`` ('drums' for the kit), number of
    ``notes`` heard in it, note ``f1`` / ``precision`` / ``recall`` (None for drums) and ``rest_dbfs``
    (RMS level where its track plays nothing: :func:`audiodiff.io.stems.rest_level`)."""

    folder: str
    stem: str
    family: str
    is_drum: bool
    notes: int
    f1: float | None
    precision: float | None
    recall: float | None
    rest_dbfs: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_stem_folder(folder: Path) -> bool:
    return (folder / "stems.json").is_file() or ((folder / "stems").is_dir() and (folder / "MIDI").is_dir())


def find_stem_folders(root: str | Path) -> list[Path]:
    """``root`` if it is a stem folder, else the stem folders below it (sorted; hidden ones skipped)."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a directory of stems")
    if is_stem_folder(root):
        return [root]
    found = sorted({p.parent for name in ("stems.json", "MIDI") for p in root.rglob(name)
                    if is_stem_folder(p.parent) and not any(part.startswith(".") for part in p.parent.parts)})
    if not found:
        raise ValueError(f"{root}: no stem folders (stems.json, or Slakh-style stems/ and MIDI/) in it")
    return found


def stem_pairs(folder: Path) -> list[tuple[Path, Path]]:
    """(audio, MIDI) of every stem of a folder, in track order."""
    if (folder / "stems.json").is_file():
        index = json.loads((folder / "stems.json").read_text())
        return [(folder / s["file"], folder / s["midi"]) for s in index["stems"] if s.get("file")]
    pairs = []
    for audio in sorted((folder / "stems").iterdir()):
        midi = folder / "MIDI" / f"{audio.stem}.mid"
        if audio.suffix.lower() in (".flac", ".wav") and midi.is_file():
            pairs.append((audio, midi))
    return pairs


def score_stem(audio_path: Path, midi_path: Path, transcribe: Transcriber, folder: str = "") -> StemScore:
    """Note F1 of one stem's audio against its MIDI file (drums: no F1), and its rest level."""
    from audiodiff.eval.transcription import clip_notes, note_f1, notes_array
    from audiodiff.io.audio import read_audio
    from audiodiff.io.stems import rest_level
    from audiodiff.music.instruments import family_of
    from audiodiff.music.midi import read_midi
    from audiodiff.music.performance import Part

    audio, sr = read_audio(audio_path)
    parts = read_midi(midi_path).tracks
    part = Part(parts[0].name, parts[0].program, [n for p in parts for n in p.notes], parts[0].is_drum) if parts \
        else Part("empty", 0)
    reference = clip_notes(notes_array((n.start, n.end, n.pitch) for n in part.notes), len(audio) / sr)
    score = None if part.is_drum else note_f1(reference, transcribe(audio, sr))
    return StemScore(folder, audio_path.name, "drums" if part.is_drum else family_of(part.program), part.is_drum,
                     len(reference), score and score.f1, score and score.precision, score and score.recall,
                     rest_level(audio, part, sr))


def score_stems(root: str | Path, transcribe: Transcriber | None = None) -> list[StemScore]:
    """Every stem of every stem folder under ``root`` (see :func:`find_stem_folders`), scored.
    ``transcribe`` defaults to basic-pitch (:func:`audiodiff.eval.transcription.transcribe`)."""
    if transcribe is None:
        from audiodiff.eval.transcription import transcribe as basic_pitch

        transcribe = basic_pitch
    root = Path(root)
    scores = []
    for folder in find_stem_folders(root):
        name = folder.relative_to(root).as_posix() if folder != root else "."
        scores += [score_stem(audio, midi, transcribe, name) for audio, midi in stem_pairs(folder)]
    return scores


def family_summary(scores: list[StemScore]) -> dict[str, dict[str, Any]]:
    """Per family: stems, mean note F1 (pitched families) and the loudest rest level."""
    out: dict[str, dict[str, Any]] = {}
    for family in sorted({s.family for s in scores}):
        group = [s for s in scores if s.family == family]
        f1 = [s.f1 for s in group if s.f1 is not None]
        rests = [s.rest_dbfs for s in group if s.rest_dbfs is not None]
        out[family] = {"stems": len(group), "note_f1": float(np.mean(f1)) if f1 else None,
                       "max_rest_dbfs": max(rests) if rests else None}
    return out


def format_stem_table(scores: list[StemScore]) -> str:
    """A plain-text table: one line per stem, then one per family."""
    def cell(value: float | None, digits: int = 3) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [f"{'folder':<20} {'stem':<40} {'family':<22} {'notes':>5} {'F1':>6} {'rest dB':>8}"]
    for s in scores:
        lines.append(f"{s.folder[-20:]:<20} {s.stem[-40:]:<40} {s.family:<22} {s.notes:>5} {cell(s.f1):>6} "
                     f"{cell(s.rest_dbfs, 1):>8}")
    lines.append("")
    lines.append(f"{'family':<22} {'stems':>5} {'mean F1':>8} {'max rest dB':>12}")
    for family, row in family_summary(scores).items():
        lines.append(f"{family:<22} {row['stems']:>5} {cell(row['note_f1']):>8} {cell(row['max_rest_dbfs'], 1):>12}")
    return "\n".join(lines)
