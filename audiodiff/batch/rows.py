"""Input rows of a batch: reading a CSV or JSONL file of prompts and validating each row."""
from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

from audiodiff.batch import BatchError
from audiodiff.music.chords import parse_progression
from audiodiff.music.prompt import Prompt, parse, parse_fields
from audiodiff.music.theory import Key, Meter
from audiodiff.seeds import derived_seed
from audiodiff.structure.guide import (
    DEFAULT_BARS_PER_SECTION,
    Guide,
    check_guide,
    form_promises,
    length_note,
    settle_key,
)

FIELD_COLUMNS = ("key", "bpm", "meter", "instrument")
OPTIONAL_COLUMNS = ("seed", "seconds")
GUIDE_COLUMNS = ("chords", "form", "bars_per_section")  # as generate's --chords, --form, --bars-per-section
COLUMNS = ("prompt", *FIELD_COLUMNS, *OPTIONAL_COLUMNS, *GUIDE_COLUMNS)
ENOUGH_COLUMNS = (*FIELD_COLUMNS, "chords", "form")  # a row needs 'prompt' or one of these


@dataclass
class Row:
    """One input row: position, id, where it came from, what it held, and its prompt or error."""

    index: int
    id: str
    where: str  # "line 4" / "grid"
    input: dict
    prompt: Prompt | None = None
    error: str | None = None
    guide: Guide | None = None  # chords / form given in the row
    warning: str | None = None  # the chords suggest another key than the row's


def one_line(text: object) -> str:
    """``text`` as one line, runs of whitespace (newlines included) made single spaces."""
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


def _key(value: object) -> Key:
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
    from audiodiff.music.instruments import parse_instrument

    if isinstance(value, int) and not isinstance(value, bool):
        value = f"program {value}"  # GM numbers are 1-based, as in prompts
    text = _text("instrument", value)
    return parse_instrument(f"program {text}" if text.strip().isdigit() else text)


def row_request(index: int, data: dict) -> tuple[Prompt, Guide | None, str | None]:
    """The validated prompt of one row, its guide (chords, form; None without) and a warning when the
    chords suggest another key than the row gives (else None). ValueError with a one-line message
    for bad data."""
    unknown = sorted(set(data) - set(COLUMNS))
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(COLUMNS)}")
    given = {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}
    given = {k: v for k, v in given.items() if v is not None and v != ""}
    fields = [k for k in FIELD_COLUMNS if k in given]
    if "prompt" in given and fields:
        raise ValueError(f"give either 'prompt' or its fields ({', '.join(FIELD_COLUMNS)}), not both "
                         f"(this row has prompt and {', '.join(fields)})")
    key_given, seconds_given = "key" in given, "seconds" in given
    if "prompt" in given:
        prompt_fields = parse_fields(_text("prompt", given["prompt"]))
        prompt, key_given = Prompt(**prompt_fields), "key" in prompt_fields
        seconds_given = seconds_given or "seconds" in prompt_fields
    elif fields:
        kwargs: dict = {}
        if "key" in given:
            kwargs["key"] = _key(given["key"])
        if "bpm" in given:
            kwargs["bpm"] = _number("bpm", given["bpm"])
        if "meter" in given:
            kwargs["meter"] = Meter.parse(_text("meter", given["meter"]))
        if "instrument" in given:
            kwargs["program"] = _instrument(given["instrument"])
        prompt = Prompt(**kwargs)
    elif "chords" in given or "form" in given:
        prompt = Prompt()
    else:
        raise ValueError(f"the row has neither 'prompt' nor any of {', '.join(ENOUGH_COLUMNS)}")
    if "seconds" in given:
        prompt = replace(prompt, seconds=_number("seconds", given["seconds"]))
    guide, warning = None, None
    if any(k in given for k in GUIDE_COLUMNS):
        guide, prompt, warning = _guide(given, prompt, key_given, seconds_given)
    if "seed" in given:
        prompt = replace(prompt, seed=_integer("seed", given["seed"]))
    if prompt.seed is None:
        prompt = replace(prompt, seed=derived_seed(index, prompt))
    return prompt, guide, warning


def _guide(given: dict, prompt: Prompt, key_given: bool, seconds_given: bool) -> tuple[Guide, Prompt, str | None]:
    """The row's chords / form as a Guide, checked as ``generate --chords --form`` checks them, the
    prompt in the key the chords suggest where the row gives none, and what to warn about (or None):
    chords that suggest another key, that set another length than the seconds given, or that break
    a promise of the form."""
    if "bars_per_section" in given and "form" not in given:
        raise ValueError("bars_per_section needs form")
    chords = parse_progression(_text("chords", given["chords"])) if "chords" in given else None
    form = _text("form", given["form"]) if "form" in given else None
    per_section = (_integer("bars_per_section", given["bars_per_section"]) if "bars_per_section" in given
                   else DEFAULT_BARS_PER_SECTION)
    guide = Guide(chords, None, form, per_section)
    key, suggested = settle_key(guide, prompt.key, key_given)
    prompt = replace(prompt, key=key)
    check_guide(guide, prompt.meter)
    notes = [] if suggested is None else [f"the chords suggest {suggested.name}, the row asks for {key.name}; "
                                          f"using {key.name}"]
    note = length_note(prompt, guide) if seconds_given else None
    notes += [note] if note else []
    notes += [f"form {form}: {line}" for line in form_promises(guide, key, prompt.meter)]
    return guide, prompt, "; ".join(notes) or None


def make_row(index: int, where: str, data: object) -> Row:
    """The Row at ``index`` holding ``data``: with its prompt, or with ``error`` set if the data is bad."""
    row = Row(index, f"{index:06d}", where, data if isinstance(data, dict) else {"value": data})
    try:
        if not isinstance(data, dict):
            raise ValueError(f"a row must be a JSON object with the columns {', '.join(COLUMNS)}, got {data!r}")
        row.prompt, row.guide, row.warning = row_request(index, data)
    except (ValueError, TypeError) as err:
        row.error = one_line(err)
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
        rows.append(make_row(len(rows), f"line {number}", data))
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
            raise BatchError(f"{path}: unknown column(s) {', '.join(map(repr, unknown))}; "
                             f"allowed: {', '.join(COLUMNS)}")
        if len(set(names)) != len(names):
            raise BatchError(f"{path}: a column is named twice in the header {header}")
        if "prompt" not in names and not set(ENOUGH_COLUMNS) & set(names):
            raise BatchError(f"{path}: needs a 'prompt' column or at least one of {', '.join(ENOUGH_COLUMNS)}")
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
            rows.append(make_row(len(rows), where, dict(zip(names, cells))))
    except csv.Error as err:
        raise BatchError(f"{path}: line {reader.line_num}: bad CSV ({err})") from None
    return rows
