"""A batch row's output: its WAV, plan MIDI, annotations and manifest record, or its error file."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from audiodiff.batch.directory import row_paths
from audiodiff.batch.rows import Row, one_line
from audiodiff.batch.settings import Settings
from audiodiff.io.atomic import write_text_atomic

if TYPE_CHECKING:
    from audiodiff.pipeline import Result


def result_annotations(result: Result) -> dict:
    """Notes per track as [pitch, onset s, offset s, velocity] (notes that start inside the audio;
    offsets cut at its end) with the track's GM program (1-128), chords as [symbol, start s, end s],
    beat and downbeat times."""
    plan, seconds = result.plan, result.seconds

    def t(step: float) -> float:
        return round(min(max(plan.step_to_seconds(step), 0.0), seconds), 6)

    tracks = []
    for track in plan.tracks:
        notes = [[n.pitch, t(n.start), t(n.end), n.velocity] for n in track.notes
                 if plan.step_to_seconds(n.start) < seconds]
        tracks.append({"name": track.name, "program": None if track.is_drum else track.program + 1,
                       "is_drum": track.is_drum, "notes": notes})
    spb = plan.meter.steps_per_beat
    chords: list[list] = []
    for beat, chord in enumerate(plan.chords):
        start = beat * spb
        if plan.step_to_seconds(start) >= seconds:
            break
        symbol = chord.symbol_in(plan.key) if chord else None
        if chords and chords[-1][0] == symbol and chords[-1][2] == t(start):
            chords[-1][2] = t(start + spb)
        else:
            chords.append([symbol, t(start), t(start + spb)])
    chords = [c for c in chords if c[0] is not None]
    beats = [t(b * spb) for b in range(plan.num_beats + 1) if plan.step_to_seconds(b * spb) < seconds]
    downbeats = beats[::plan.meter.beats_per_bar]
    return {"tracks": tracks, "chords": chords, "beats": beats, "downbeats": downbeats}


def _record(row: Row, result: Result, settings: Settings, peak_normalized: bool, paths: dict[str, Path]) -> dict:
    from audiodiff.music.instruments import program_name

    plan = result.plan
    melody = plan.melody
    out = Path(settings.out)
    guide = row.guide
    return {
        "id": row.id, "index": row.index,
        **{name: paths[name].relative_to(out).as_posix() for name in ("audio", "midi", "annotations")},
        "prompt": result.prompt.to_text(),
        "key": plan.key.name, "tonic": plan.key.name.split()[0], "mode": plan.key.mode, "bpm": plan.bpm,
        "meter": plan.meter.name,
        "instrument": program_name(melody.program) if melody else None,
        "program": melody.program + 1 if melody else None, "programs": [p + 1 for p in plan.programs],
        "drums": any(t.is_drum for t in plan.tracks),
        "seconds": round(result.seconds, 6), "num_samples": len(result.audio), "sample_rate": result.sample_rate,
        "seed": result.seed, "peak_normalized": peak_normalized,
        "given_chords": one_line(row.input["chords"]) if guide and guide.chords else None,
        "form": guide.form if guide else None,
        "bars_per_section": guide.bars_per_section if guide and guide.form else None,
        "steps": settings.steps, "plan_steps": settings.plan_steps, "guidance": settings.guidance,
        "plan_guidance": settings.plan_guidance,
        **{f"{name}_sha256": settings.hashes[name] for name in ("structure", "acoustic", "codec")},
        "input": row.input,
        **result_annotations(result),
    }


def write_row(row: Row, result: Result, settings: Settings) -> dict:
    """Write a row's WAV, MIDI and annotations (and with ``settings.stems`` its stems), then its
    record (last: the row is finished)."""
    from audiodiff.io.audio import write_wav
    from audiodiff.music.midi import save_midi

    paths = row_paths(Path(settings.out), row.id, settings.layout if settings.stems else "folder")
    if settings.stems:
        return _write_stems_row(row, result, settings, paths)
    clipped = write_wav(paths["audio"], result.audio, result.sample_rate)
    save_midi(result.plan, paths["midi"])
    record = _record(row, result, settings, clipped, paths)
    write_text_atomic(paths["annotations"], json.dumps(
        {"id": row.id, "seconds": record["seconds"], **result_annotations(result)}) + "\n")
    write_text_atomic(paths["record"], json.dumps(record) + "\n")
    return record


def _write_stems_row(row: Row, result: Result, settings: Settings, paths: dict[str, Path]) -> dict:
    """A row with its stems: the mix is the stems' sum (:func:`audiodiff.io.stems.stem_set`). The stems
    folder (in the Slakh layout the whole track folder) is filled under a temporary name and renamed
    into place, then the record is written: a killed or failed row leaves no partial folder in view,
    and ``--resume`` writes it again."""
    from audiodiff.io.atomic import atomic_dir
    from audiodiff.io.audio import write_wav
    from audiodiff.io.stems import piece_labels, stem_set, write_slakh_track, write_stem_folder
    from audiodiff.music.midi import save_midi

    stems = stem_set(result, normalize=settings.normalize)
    clipped = stems.overall_gain != 1.0 and not settings.normalize
    labels = piece_labels(result, id=row.id, steps=settings.steps, guidance=settings.guidance)
    annotations = json.dumps({"id": row.id, "seconds": round(result.seconds, 6), **result_annotations(result)}) + "\n"
    with atomic_dir(paths["stems"]) as folder:
        if settings.layout == "slakh":
            save_midi(result.plan, folder / "all_src.mid")
            write_slakh_track(folder, stems, all_src=folder / "all_src.mid", labels=labels)
            (folder / "annotations.json").write_text(annotations, encoding="utf-8")
        else:
            write_stem_folder(folder, stems, labels)
    if settings.layout != "slakh":
        write_wav(paths["audio"], stems.mix, result.sample_rate)
        save_midi(result.plan, paths["midi"])
        write_text_atomic(paths["annotations"], annotations)
    record = _record(row, result, settings, clipped, paths)
    record["stems"] = paths["stems"].relative_to(Path(settings.out)).as_posix()
    record["stems_gain"] = stems.overall_gain
    write_text_atomic(paths["record"], json.dumps(record) + "\n")
    return record


def write_error(row: Row, message: str, settings: Settings) -> dict:
    """Write a failed row's error file: its input and ``message`` on one line."""
    error = {"id": row.id, "index": row.index, "where": row.where, "input": row.input, "error": one_line(message)}
    write_text_atomic(row_paths(Path(settings.out), row.id)["error"], json.dumps(error) + "\n")
    return error
