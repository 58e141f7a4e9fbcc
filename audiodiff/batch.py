"""Batch rendering for datasets: many prompts -> WAVs, plan MIDIs, annotations and a manifest.

Input rows come from a CSV or JSONL file, or from a grid (:func:`grid_rows`). A row holds a
``prompt`` (the text ``audiodiff generate`` takes) or its fields ``key``, ``bpm``, ``meter``,
``instrument``, and optionally ``seed`` and ``seconds`` (these two override the prompt text's).
Rows without a seed get ``derived_seed(index, prompt)``: the first 8 bytes of
``sha256(f"batch|{index}|{prompt text without seed}")`` modulo 2**31, so a seed depends on the
row's 0-based position and content and never on the machine, the worker count or the run.

Layout of an output directory::

    batch.json                 the settings (rows hash, sampler settings, checkpoint hashes);
                               --resume with other settings is refused
    audio/<id>.wav             24 kHz 16-bit mono
    midi/<id>.mid              the plan that was rendered (cropped to the bars that sound)
    annotations/<id>.json      notes [pitch, onset s, offset s, velocity] per track, chords, beats
    records/<id>.json          the row's manifest record, written last: the row is finished
    errors/<id>.json           a row that failed (input and a one-line message)
    manifest.jsonl, manifest.csv, errors.jsonl   gathered in input order at the end

Every file is written under a temporary name and renamed, so a killed run leaves no torn file;
a rerun with ``--resume`` skips rows that have a record and redoes the others (failed rows
included).

Scale-out. Rows are cut into chunks of ``batch_size`` consecutive rows (one forward pass each)
and chunk k belongs to rank ``k % world``; with ``batch_size=1`` that is row i -> rank
``i % world``. The chunks do not depend on the world size, so 1, 2 or N processes write the same
bytes. ``--workers N`` starts N processes here; under ``torchrun`` each process reads RANK /
WORLD_SIZE / LOCAL_RANK and does its own shard. No process group is used: every rank writes
only its own rows' files, and whoever gathers (the parent with ``--workers``; rank 0 under
torchrun, which polls ``records/`` and ``errors/`` until every row is finished) writes the
manifest. A rank that dies leaves its rows unfinished; rerun with ``--resume``.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from audiodiff.audio_io import write_text_atomic
from audiodiff.prompt import BPM_RANGE, Prompt, parse

FIELD_COLUMNS = ("key", "bpm", "meter", "instrument")
OPTIONAL_COLUMNS = ("seed", "seconds")
COLUMNS = ("prompt", *FIELD_COLUMNS, *OPTIONAL_COLUMNS)
SEED_MODULUS = 2**31
CSV_COLUMNS = ("id", "index", "audio", "midi", "annotations", "prompt", "key", "tonic", "mode", "bpm", "meter",
               "instrument", "program", "programs", "drums", "seconds", "num_samples", "sample_rate", "seed",
               "peak_normalized", "steps", "plan_steps", "guidance", "structure_sha256", "acoustic_sha256",
               "codec_sha256")
SUBDIRS = ("audio", "midi", "annotations", "records", "errors")
POLL_SECONDS = 0.5


class BatchError(Exception):
    """A problem with the whole batch (input file, arguments, output directory): exit code 2."""


@dataclass
class Row:
    """One input row: position, id, where it came from, what it held, and its prompt or error."""

    index: int
    id: str
    where: str  # "line 4" / "grid"
    input: dict
    prompt: Prompt | None = None
    error: str | None = None


# -- input -----------------------------------------------------------------------------------
def derived_seed(index: int, prompt: Prompt) -> int:
    """The seed of a row that gives none (see the module docstring)."""
    from audiodiff.data.prepare import (
        stable_hash,  # the corpus recipe's process-independent hash
    )

    return stable_hash("batch", index, replace(prompt, seed=None).to_text()) % SEED_MODULUS


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


def _integer(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"{name} must be a whole number, got {value!r}")


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {value!r}")
    return value


def _key(value: object):
    text = _text("key", value)
    problem = f"key {text!r} is not a key like 'D minor', 'F#', 'Bb major', 'E flat minor'"
    try:
        prompt = parse(f"key {text}")  # 'key X' only parses where X is a key
    except ValueError:
        raise ValueError(problem) from None
    if replace(prompt, key=Prompt().key) != Prompt():
        raise ValueError(problem)
    return prompt.key


def _instrument(value: object) -> int:
    from audiodiff.instruments import parse_instrument

    if isinstance(value, int) and not isinstance(value, bool):
        value = f"program {value}"  # GM numbers are 1-based, as in prompts
    text = _text("instrument", value)
    return parse_instrument(f"program {text}" if text.strip().isdigit() else text)


def row_prompt(index: int, data: dict) -> Prompt:
    """The validated prompt of one row (ValueError with a one-line message otherwise)."""
    from audiodiff.music import Meter

    unknown = sorted(set(data) - set(COLUMNS))
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(COLUMNS)}")
    given = {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}
    given = {k: v for k, v in given.items() if v is not None and v != ""}
    fields = [k for k in FIELD_COLUMNS if k in given]
    if "prompt" in given and fields:
        raise ValueError(f"give either 'prompt' or its fields ({', '.join(FIELD_COLUMNS)}), not both "
                         f"(this row has prompt and {', '.join(fields)})")
    if "prompt" in given:
        prompt = parse(_text("prompt", given["prompt"]))
    elif fields:
        kwargs: dict = {}
        if "key" in given:
            kwargs["key"] = _key(given["key"])
        if "bpm" in given:
            kwargs["bpm"] = _number("bpm", given["bpm"])
        if "meter" in given:
            kwargs["meter"] = Meter.parse(_text("meter", given["meter"]).replace(" ", ""))
        if "instrument" in given:
            kwargs["program"] = _instrument(given["instrument"])
        prompt = Prompt(**kwargs)
    else:
        raise ValueError(f"the row has neither 'prompt' nor any of {', '.join(FIELD_COLUMNS)}")
    if "seconds" in given:
        prompt = replace(prompt, seconds=_number("seconds", given["seconds"]))
    if "seed" in given:
        prompt = replace(prompt, seed=_integer("seed", given["seed"]))
    if prompt.seed is None:
        prompt = replace(prompt, seed=derived_seed(index, prompt))
    return prompt


def _make_row(index: int, where: str, data: object) -> Row:
    row = Row(index, f"{index:06d}", where, data if isinstance(data, dict) else {"value": data})
    try:
        if not isinstance(data, dict):
            raise ValueError(f"a row must be a JSON object with the columns {', '.join(COLUMNS)}, got {data!r}")
        row.prompt = row_prompt(index, data)
    except (ValueError, TypeError) as err:
        row.error = _one_line(err)
    return row


def read_rows(path: str | os.PathLike) -> list[Row]:
    """Rows of a .csv or .jsonl file, in order. File-level problems raise BatchError; a bad row
    becomes a Row with ``error`` set (it goes to errors.jsonl, the others go on)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise BatchError(f"{path}: want a .csv or .jsonl file of prompts, got {suffix or 'no extension'!r}")
    if not path.exists():
        raise BatchError(f"{path}: no such file")
    if path.is_dir():
        raise BatchError(f"{path} is a directory, want a .csv or .jsonl file")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise BatchError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    if "\x00" in text:
        raise BatchError(f"{path}: holds NUL bytes; not a text file")
    rows = _read_csv(path, text) if suffix == ".csv" else _read_jsonl(text)
    if not rows:
        raise BatchError(f"{path}: no rows")
    return rows


def _read_jsonl(text: str) -> list[Row]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as err:
            row = Row(len(rows), f"{len(rows):06d}", f"line {number}", {"line": line})
            row.error = f"not JSON ({err.msg} at column {err.colno})"
            rows.append(row)
            continue
        rows.append(_make_row(len(rows), f"line {number}", data))
    return rows


def _read_csv(path: Path, text: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise BatchError(f"{path}: empty file (want a header line with the columns {', '.join(COLUMNS)})")
        names = [h.strip().lower() for h in header]
        unknown = [h for h in names if h not in COLUMNS]
        if unknown:
            raise BatchError(f"{path}: unknown column(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(COLUMNS)}")
        if len(set(names)) != len(names):
            raise BatchError(f"{path}: a column is named twice in the header {header}")
        if "prompt" not in names and not set(FIELD_COLUMNS) & set(names):
            raise BatchError(f"{path}: needs a 'prompt' column or at least one of {', '.join(FIELD_COLUMNS)}")
        rows = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            where = f"line {reader.line_num}"
            if len(cells) != len(names):
                row = Row(len(rows), f"{len(rows):06d}", where, {"cells": cells})
                row.error = f"{len(cells)} cells, the header has {len(names)}"
                rows.append(row)
                continue
            rows.append(_make_row(len(rows), where, dict(zip(names, cells))))
    except csv.Error as err:
        raise BatchError(f"{path}: line {reader.line_num}: bad CSV ({err})") from None
    return rows


def parse_bpm_range(text: str) -> list[float]:
    """'60:180:20' -> 60, 80, ..., 180 (stop included); '96' -> [96]; '60,90,120' -> a list."""
    try:
        if ":" in text:
            parts = [float(p) for p in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            start, stop, step = parts if len(parts) == 3 else (*parts, 10.0)
            if not step > 0 or stop < start:
                raise ValueError
            values = [start + i * step for i in range(int(math.floor((stop - start) / step + 1e-9)) + 1)]
        else:
            values = [float(p) for p in text.split(",")]
    except ValueError:
        raise BatchError(f"--bpm wants START:STOP:STEP (stop included, step > 0), e.g. 60:180:20, or a list "
                         f"like 60,90,120, got {text!r}") from None
    bad = [v for v in values if not BPM_RANGE[0] <= v <= BPM_RANGE[1]]
    if bad:
        raise BatchError(f"--bpm {text}: {bad[0]:g} bpm is out of range; allowed {BPM_RANGE[0]}..{BPM_RANGE[1]}")
    return [round(v, 6) for v in values]


def grid_rows(bpm: str, meters: str, instruments: str, seeds: int, seconds: float) -> list[Row]:
    """All 24 keys x bpms x meters x instruments x seeds 0..seeds-1 (in that nesting order)."""
    from audiodiff.music import ALL_KEYS

    bpms = parse_bpm_range(bpm)
    meter_list = [m.strip() for m in meters.split(",") if m.strip()]
    instrument_list = [i.strip() for i in instruments.split(",") if i.strip()]
    if not meter_list or not instrument_list:
        raise BatchError("--meters and --instruments want comma-separated lists, e.g. 3/4,4/4 and piano,violin")
    rows: list[Row] = []
    for key in ALL_KEYS:
        for b in bpms:
            for meter in meter_list:
                for instrument in instrument_list:
                    for seed in range(seeds):
                        data = {"key": key.name, "bpm": b, "meter": meter, "instrument": instrument,
                                "seed": seed, "seconds": seconds}
                        row = _make_row(len(rows), "grid", data)
                        if row.error:
                            raise BatchError(f"--grid: {row.error}")
                        rows.append(row)
    return rows


# -- output ----------------------------------------------------------------------------------
@dataclass
class Settings:
    """What a worker needs besides its rows (picklable: travels to worker processes)."""

    out: str
    structure: str
    acoustic: str
    codec: str
    hashes: dict
    steps: int
    plan_steps: int
    guidance: float
    drums: bool = True
    batch_size: int = 1
    device: str = "cpu"
    threads: int | None = None
    notes: list = field(default_factory=list)

    def fingerprint(self, rows: Sequence[Row]) -> dict:
        """What a resumed run must agree on (not workers, batch size, threads or device)."""
        digest = hashlib.sha256(json.dumps([r.input for r in rows], sort_keys=True, default=str).encode())
        return {"format": 1, "rows": len(rows), "rows_sha256": digest.hexdigest()[:16], "steps": self.steps,
                "plan_steps": self.plan_steps, "guidance": self.guidance, "drums": self.drums,
                "checkpoints": self.hashes}


def _paths(out: Path, row_id: str) -> dict[str, Path]:
    return {"audio": out / "audio" / f"{row_id}.wav", "midi": out / "midi" / f"{row_id}.mid",
            "annotations": out / "annotations" / f"{row_id}.json", "record": out / "records" / f"{row_id}.json",
            "error": out / "errors" / f"{row_id}.json"}


def prepare_dir(out: Path, fingerprint: dict, resume: bool, rank: int = 0) -> None:
    """Check (and on rank 0 create) the output directory; refuse foreign or mismatching contents."""
    settings = out / "batch.json"
    if out.exists() and not out.is_dir():
        raise BatchError(f"{out} exists and is not a directory")
    if rank == 0:
        if not out.exists():
            if not out.parent.is_dir():
                raise BatchError(f"{out.parent} does not exist")
            try:
                out.mkdir()
            except OSError as err:
                raise BatchError(f"cannot create {out} ({err.strerror or err})") from None
        if not settings.exists():
            if any(out.iterdir()):
                raise BatchError(f"{out} is not empty and holds no batch; give a new or empty directory")
            write_text_atomic(settings, json.dumps(fingerprint, indent=1) + "\n")
        elif not resume:
            raise BatchError(f"{out} already holds a batch; pass --resume to finish it, or give a new directory")
    else:  # torchrun: rank 0 creates the directory; wait for it
        deadline = time.monotonic() + 600
        while not settings.exists():
            if time.monotonic() > deadline:
                raise BatchError(f"rank {rank}: {settings} did not appear; did rank 0 fail?")
            time.sleep(POLL_SECONDS)
    try:
        previous = json.loads(settings.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise BatchError(f"{settings}: unreadable ({_one_line(err)})") from None
    if previous != fingerprint:
        changed = sorted(k for k in set(previous) | set(fingerprint) if previous.get(k) != fingerprint.get(k))
        raise BatchError(f"{out} holds a batch made with other settings ({', '.join(changed)} differ); "
                         "use a new directory")
    if rank == 0:
        for sub in SUBDIRS:
            (out / sub).mkdir(exist_ok=True)


def is_finished(out: Path, row: Row) -> bool:
    return _paths(out, row.id)["record"].exists()


def annotations(result) -> dict:
    """Notes per track as [pitch, onset s, offset s, velocity] (notes that start inside the audio;
    offsets cut at its end), chords as [symbol, start s, end s], beat and downbeat times."""
    plan, seconds = result.plan, result.seconds

    def t(step: float) -> float:
        return round(min(max(plan.step_to_seconds(step), 0.0), seconds), 6)

    tracks = []
    for track in plan.tracks:
        notes = [[n.pitch, t(n.start), t(n.end), n.velocity] for n in track.notes
                 if plan.step_to_seconds(n.start) < seconds]
        tracks.append({"name": track.name, "program": None if track.is_drum else track.program,
                       "is_drum": track.is_drum, "notes": notes})
    spb = plan.meter.steps_per_beat
    chords: list[list] = []
    for beat, chord in enumerate(plan.chords):
        start = beat * spb
        if plan.step_to_seconds(start) >= seconds:
            break
        symbol = chord.symbol if chord else None
        if chords and chords[-1][0] == symbol and chords[-1][2] == t(start):
            chords[-1][2] = t(start + spb)
        else:
            chords.append([symbol, t(start), t(start + spb)])
    chords = [c for c in chords if c[0] is not None]
    beats = [t(b * spb) for b in range(plan.num_beats + 1) if plan.step_to_seconds(b * spb) < seconds]
    downbeats = beats[::plan.meter.beats_per_bar]
    return {"tracks": tracks, "chords": chords, "beats": beats, "downbeats": downbeats}


def _record(row: Row, result, settings: Settings, peak_normalized: bool, paths: dict[str, Path]) -> dict:
    from audiodiff.instruments import program_name

    plan = result.plan
    melody = plan.melody
    out = Path(settings.out)
    return {
        "id": row.id, "index": row.index,
        **{name: paths[name].relative_to(out).as_posix() for name in ("audio", "midi", "annotations")},
        "prompt": result.prompt.to_text(),
        "key": plan.key.name, "tonic": plan.key.name.split()[0], "mode": plan.key.mode, "bpm": plan.bpm,
        "meter": plan.meter.name,
        "instrument": program_name(melody.program) if melody else None,
        "program": melody.program if melody else None, "programs": plan.programs,
        "drums": any(t.is_drum for t in plan.tracks),
        "seconds": round(result.seconds, 6), "num_samples": len(result.audio), "sample_rate": result.sample_rate,
        "seed": result.seed, "peak_normalized": peak_normalized,
        "steps": settings.steps, "plan_steps": settings.plan_steps, "guidance": settings.guidance,
        **{f"{name}_sha256": settings.hashes[name] for name in ("structure", "acoustic", "codec")},
        "input": row.input,
        **annotations(result),
    }


def _clean_row(out: Path, row: Row) -> None:
    """Remove a row's stale temporary files and error file before it is (re)done."""
    paths = _paths(out, row.id)
    for name in ("audio", "midi", "annotations", "record"):
        for tmp in paths[name].parent.glob(f".{row.id}.*"):
            tmp.unlink(missing_ok=True)
    paths["error"].unlink(missing_ok=True)


def write_row(row: Row, result, settings: Settings) -> dict:
    """Write a row's WAV, MIDI and annotations, then its record (last: the row is finished)."""
    from audiodiff.audio_io import write_wav
    from audiodiff.midi import save_midi

    paths = _paths(Path(settings.out), row.id)
    clipped = write_wav(paths["audio"], result.audio, result.sample_rate)
    save_midi(result.plan, paths["midi"])
    record = _record(row, result, settings, clipped, paths)
    write_text_atomic(paths["annotations"], json.dumps(
        {"id": row.id, "seconds": record["seconds"], **annotations(result)}) + "\n")
    write_text_atomic(paths["record"], json.dumps(record) + "\n")
    return record


def write_error(row: Row, message: str, settings: Settings) -> dict:
    error = {"id": row.id, "index": row.index, "where": row.where, "input": row.input, "error": _one_line(message)}
    write_text_atomic(_paths(Path(settings.out), row.id)["error"], json.dumps(error) + "\n")
    return error


# -- work ------------------------------------------------------------------------------------
def chunks_of(rows: Sequence[Row], batch_size: int, rank: int, world: int) -> list[list[Row]]:
    """This rank's chunks: consecutive rows in chunks of batch_size, chunk k to rank k % world."""
    chunks = [list(rows[i:i + batch_size]) for i in range(0, len(rows), batch_size)]
    return [c for k, c in enumerate(chunks) if k % world == rank]


def load_pipeline(settings: Settings):
    from audiodiff.pipeline import Pipeline

    if settings.threads:
        import torch

        torch.set_num_threads(settings.threads)
    return Pipeline.load(settings.structure, settings.acoustic, settings.codec, device=settings.device)


def run_shard(rows: Sequence[Row], settings: Settings, rank: int, world: int,
              report: Callable[[str, Row, str | None], None], pipeline=None) -> None:
    """Do this rank's unfinished rows; ``report(kind, row, message)`` after each ('done'/'error')."""
    out = Path(settings.out)
    todo_chunks = [[r for r in chunk if not is_finished(out, r)]
                   for chunk in chunks_of(rows, settings.batch_size, rank, world)]
    todo_chunks = [c for c in todo_chunks if c]
    if not todo_chunks:
        return
    pipeline = pipeline or load_pipeline(settings)
    for chunk in todo_chunks:
        for row in chunk:
            _clean_row(out, row)
        good = []
        for row in chunk:
            if row.error:
                write_error(row, row.error, settings)
                report("error", row, row.error)
            else:
                good.append(row)
        for row, result in _generate(pipeline, good, settings):
            if isinstance(result, str):
                write_error(row, result, settings)
                report("error", row, result)
            else:
                write_row(row, result, settings)
                report("done", row, None)


def _generate(pipeline, rows: list[Row], settings: Settings) -> list[tuple[Row, object]]:
    """(row, Result or error message) per row. A failing batch is redone row by row, so that one
    bad row (NaN from a model, too long for the structure model) only fails itself."""
    if not rows:
        return []
    kwargs = dict(steps=settings.steps, plan_steps=settings.plan_steps, guidance=settings.guidance,
                  drums=settings.drums)
    try:
        results = pipeline.generate([r.prompt for r in rows], batch_size=settings.batch_size, **kwargs)
        return list(zip(rows, results))
    except (ValueError, RuntimeError) as err:
        if len(rows) == 1:
            return [(rows[0], _one_line(err) or type(err).__name__)]
    return [pair for row in rows for pair in _generate(pipeline, [row], replace(settings, batch_size=1))]


def _worker_main(rows: list[Row], settings: Settings, rank: int, world: int, queue) -> None:
    """Entry point of a --workers process: load the models once, do the shard, report to the queue."""
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    run_shard(rows, settings, rank, world, lambda kind, row, msg: queue.put((kind, row.index, msg)))


def run_workers(rows: list[Row], settings: Settings, workers: int,
                report: Callable[[str, Row, str | None], None]) -> None:
    """Run the rows in ``workers`` spawned processes (rank = worker number); raises BatchError
    if a worker dies (its unfinished rows stay unfinished: rerun with --resume)."""
    import multiprocessing
    import queue as queue_module

    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    procs = [context.Process(target=_worker_main, args=(rows, settings, rank, workers, messages), daemon=True)
             for rank in range(workers)]
    for p in procs:
        p.start()
    try:
        while True:
            try:
                kind, index, msg = messages.get(timeout=0.2)
                report(kind, rows[index], msg)
                continue
            except queue_module.Empty:
                pass
            if not any(p.is_alive() for p in procs):
                break
        while True:  # what was sent just before the last worker exited
            try:
                kind, index, msg = messages.get(timeout=0.05)
            except queue_module.Empty:
                break
            report(kind, rows[index], msg)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
    dead = [(rank, p.exitcode) for rank, p in enumerate(procs) if p.exitcode != 0]
    if dead:
        rank, code = dead[0]
        raise BatchError(f"worker {rank} stopped with exit code {code}; its unfinished rows are not done; "
                         "rerun with --resume")


def wait_for_all(out: Path, rows: Sequence[Row], timeout: float | None = None) -> None:
    """Poll until every row has a record or an error file (rank 0 under torchrun)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    pending = list(rows)
    while True:
        pending = [r for r in pending if not is_finished(out, r) and not _paths(out, r.id)["error"].exists()]
        if not pending:
            return
        if deadline is not None and time.monotonic() > deadline:
            raise BatchError(f"{len(pending)} rows unfinished after {timeout:g} s; rerun with --resume")
        time.sleep(POLL_SECONDS)


def write_manifest(out: Path, rows: Sequence[Row]) -> tuple[list[dict], list[dict], int]:
    """Gather the row files into manifest.jsonl / manifest.csv / errors.jsonl (atomically, input
    order). Returns (records, errors, number of unfinished rows)."""
    records, errors, missing = [], [], 0
    for row in rows:
        paths = _paths(out, row.id)
        if paths["record"].exists():
            records.append(json.loads(paths["record"].read_text()))
        elif paths["error"].exists():
            errors.append(json.loads(paths["error"].read_text()))
        else:
            missing += 1
    write_text_atomic(out / "manifest.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in records:
        flat = {**r, "programs": " ".join(map(str, r["programs"]))}
        writer.writerow(["" if flat.get(c) is None else flat[c] for c in CSV_COLUMNS])
    write_text_atomic(out / "manifest.csv", buffer.getvalue())
    write_text_atomic(out / "errors.jsonl", "".join(json.dumps(e) + "\n" for e in errors))
    return records, errors, missing
