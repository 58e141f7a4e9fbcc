"""The prompt's fields as pickers: what they offer, and the prompt text with one field set or cleared.

The prompt text stays what is generated (parsed by :func:`audiodiff.music.prompt.parse_fields`, as on the
command line); a picker only rewrites its field in the text.
"""
from __future__ import annotations

from collections.abc import Sequence

from audiodiff.serve.engine import FieldError

FIELDS = ("key", "bpm", "meter", "program", "seconds", "seed")  # the order of Prompt.to_text
FIELD_TEXT = {"key": "{}", "bpm": "{} bpm", "meter": "{}", "program": "program {}", "seconds": "{} s",
              "seed": "seed {}"}


def options(programs: Sequence[int]) -> dict:
    """What the pickers offer: the 24 keys, the meters, the instruments the acoustic model knows, the ranges."""
    from audiodiff.music.instruments import program_name
    from audiodiff.music.prompt import BPM_RANGE, SECONDS_RANGE, Prompt
    from audiodiff.music.theory import SUPPORTED_METERS, Key
    from audiodiff.structure.compose import STREAMS

    default = Prompt()
    return {"keys": [Key(t, m).name for m in ("major", "minor") for t in range(12)],
            "meters": [f"{n}/{d}" for n, d in SUPPORTED_METERS],
            "instruments": [{"program": p, "name": program_name(p)} for p in programs],
            "bpm_range": list(BPM_RANGE), "seconds_range": list(SECONDS_RANGE), "streams": list(STREAMS),
            "defaults": {"key": default.key.name, "bpm": default.bpm, "meter": default.meter.name,
                         "program": default.program, "seconds": default.seconds}}


def rewrite(text: str, field: str | None = None, value: object = None) -> dict:
    """``text`` parsed (its given fields, and the prompt with defaults it means); with ``field``, the text with
    that field set to ``value`` (or removed when ``value`` is empty) in canonical form. FieldError("prompt")
    with the parser's message when the text or the value does not parse."""
    from audiodiff.music.prompt import Prompt, parse_fields

    try:
        given = parse_fields(text)
        Prompt(**given)  # type: ignore[arg-type]  # range checks
    except (ValueError, TypeError) as exc:
        raise FieldError("prompt", " ".join(str(exc).split())) from None
    if field is not None:
        if field not in FIELDS:
            raise FieldError("prompt", f"no prompt field {field!r}; fields: {', '.join(FIELDS)}")
        given.pop(field, None)
        if value not in (None, ""):
            shown = int(str(value)) + 1 if field == "program" and str(value).isdigit() else value
            try:
                one = parse_fields(FIELD_TEXT[field].format(shown))
                Prompt(**{**given, **one})  # type: ignore[arg-type]
            except (ValueError, TypeError) as exc:
                raise FieldError(field, " ".join(str(exc).split())) from None
            if set(one) != {field}:
                raise FieldError(field, f"{value!r} is not a {field}")
            given.update(one)
        prompt = Prompt(**given)  # type: ignore[arg-type]
        pieces = dict(zip(FIELDS, prompt.to_text().split(", ")))  # the canonical words of each field
        text = ", ".join(pieces[f] for f in FIELDS if f in given)
    prompt = Prompt(**given)  # type: ignore[arg-type]
    fields = {"key": prompt.key.name, "bpm": prompt.bpm, "meter": prompt.meter.name, "program": prompt.program,
              "seconds": prompt.seconds, "seed": prompt.seed}
    return {"text": text, "given": {f: fields[f] for f in FIELDS if f in given}, "plays": prompt.to_text()}
