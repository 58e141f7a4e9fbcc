"""Text prompts: "D minor, 96 bpm, 3/4, violin, 30 s, seed 7" -> Prompt.

Fields, in any order, separated by commas and/or spaces, each at most once:

- key: "D minor", "Dm", "d min", "F#", "Gb maj", "A♭m", "E flat minor", "F sharp major".
  A bare note name is major; "m"/"min"/"minor" (any case, so "DM" is D minor too) is minor.
- tempo: "96 bpm", "96bpm", "bpm 96", "tempo 96", "96.5 bpm", within BPM_RANGE. It counts the
  meter's beat: the quarter in 2/4, 3/4, 4/4, the dotted quarter in 6/8 (see Prompt.midi_qpm).
- meter: one of 2/4, 3/4, 4/4, 6/8.
- instrument: a General MIDI name or alias, or "program N" / "instrument N" with N in 1..128
  (see instruments).
- a bare number right after the key is the tempo: "Gm 96", "Am 100" and "D minor 96" all mean
  that key at that many bpm. So in a prompt "Gm" is always G minor, never "GM program" (write
  "program 96" for a program number). A bare number anywhere else is an unknown word.
- length: "30 s", "30s", "30 sec", "1.5 seconds", within SECONDS_RANGE.
- seed: "seed 7", "seed=7", an int 0 <= seed < 2**32.

Missing fields get the defaults DEFAULT_KEY (C major), DEFAULT_BPM (100), DEFAULT_METER (4/4),
DEFAULT_PROGRAM (0, acoustic grand piano), DEFAULT_SECONDS (10.0) and DEFAULT_SEED (None:
a fresh random seed); an empty prompt is all defaults. Unknown words, a field given twice,
out-of-range values and prompts longer than MAX_PROMPT_CHARS raise ValueError saying what is
allowed. A lowercase "a" right before an instrument ("a violin") is refused as ambiguous (the
article, or the key of A?): write "A major, violin" or "violin". Parsing takes time linear in
the prompt's length.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from audiodiff.music.instruments import GM_PROGRAM_NAMES, INSTRUMENT_ALIASES, find_instrument, program_name
from audiodiff.music.theory import SUPPORTED_METERS, Key, Meter, parse_pitch_class

DEFAULT_KEY = Key(0, "major")
DEFAULT_BPM = 100.0
DEFAULT_METER = Meter(4, 4)
DEFAULT_PROGRAM = 0
DEFAULT_SECONDS = 10.0
DEFAULT_SEED: int | None = None
BPM_RANGE = (40, 240)  # inclusive
SECONDS_RANGE = (1, 600)  # inclusive
SEED_LIMIT = 2**32  # seeds are 0 <= seed < SEED_LIMIT (what numpy accepts)
MAX_PROMPT_CHARS = 1000

ALLOWED_HELP = (
    "allowed fields (any order, separated by commas or spaces): "
    "key like 'D minor', 'Dm', 'F# major', 'Bb', 'E flat minor'; "
    f"tempo 'N bpm' with N in {BPM_RANGE[0]}..{BPM_RANGE[1]}; "
    f"meter {', '.join(f'{n}/{d}' for n, d in SUPPORTED_METERS)}; "
    "instrument like 'piano', 'violin', 'flute', 'alto sax' or 'program N' with N in 1..128; "
    f"length 'N s' with N in {SECONDS_RANGE[0]}..{SECONDS_RANGE[1]}; 'seed N'"
)

_NUMBER = r"-?\d+(?:\.\d+)?"
_BPM_UNITS = {"bpm"}
_SECONDS_UNITS = {"s", "sec", "secs", "second", "seconds"}
_KEY_TOKEN = re.compile(r"([a-g])(#|♯|b|♭)?(m|min|minor|maj|major)?")
_ACCIDENTAL_WORDS = {"#": "#", "♯": "#", "♭": "b", "sharp": "#", "flat": "b"}
_MODE_WORDS = {"m": "minor", "min": "minor", "minor": "minor", "maj": "major", "major": "major"}
# the most words an instrument can take in a prompt: its longest name, or "program # N"
_MAX_INSTRUMENT_WORDS = max(3, *(len(re.sub(r"[()]", " ", name).split())
                                 for name in [*GM_PROGRAM_NAMES, *INSTRUMENT_ALIASES]))


@dataclass(frozen=True)
class Prompt:
    """What to generate: key, tempo (beats per minute of the meter's beat), meter,
    GM program 0..127, length in seconds, and random seed (None = random)."""

    key: Key = DEFAULT_KEY
    bpm: float = DEFAULT_BPM
    meter: Meter = DEFAULT_METER
    program: int = DEFAULT_PROGRAM
    seconds: float = DEFAULT_SECONDS
    seed: int | None = DEFAULT_SEED

    def __post_init__(self) -> None:
        if not isinstance(self.key, Key) or not isinstance(self.meter, Meter):
            raise TypeError("key must be a Key and meter a Meter")
        program_name(self.program)  # validates 0..127
        object.__setattr__(self, "bpm", float(self.bpm))
        object.__setattr__(self, "seconds", float(self.seconds))
        if not BPM_RANGE[0] <= self.bpm <= BPM_RANGE[1]:
            raise ValueError(f"tempo {_fmt(self.bpm)} bpm out of range; allowed "
                             f"{BPM_RANGE[0]}..{BPM_RANGE[1]} bpm")
        if not SECONDS_RANGE[0] <= self.seconds <= SECONDS_RANGE[1]:
            raise ValueError(f"length {_fmt(self.seconds)} s out of range; allowed "
                             f"{SECONDS_RANGE[0]}..{SECONDS_RANGE[1]} s")
        if self.seed is not None and not (isinstance(self.seed, int) and 0 <= self.seed < SEED_LIMIT):
            raise ValueError(f"seed must be an int 0..{SEED_LIMIT - 1}, got {self.seed!r}")

    @property
    def midi_qpm(self) -> float:
        """MIDI tempo in quarter notes per minute: '6/8, 60 bpm' -> 90."""
        return self.bpm * self.meter.quarters_per_beat

    def to_text(self) -> str:
        """Canonical prompt text; parse(p.to_text()) == p."""
        fields = [self.key.name, f"{_fmt(self.bpm)} bpm", self.meter.name,
                  program_name(self.program), f"{_fmt(self.seconds)} s"]
        if self.seed is not None:
            fields.append(f"seed {self.seed}")
        return ", ".join(fields)


def seconds_text(seconds: float) -> str:
    """A length as every message writes it: to 10 ms, without trailing zeros ('9.73 s', '11 s')."""
    return f"{round(seconds, 2):g} s"


def _fmt(x: float) -> str:
    """Shortest text that reads back as exactly x: 96.0 -> '96', 96.5 -> '96.5'."""
    return str(int(x)) if x.is_integer() else repr(x)


def _tokens(text: str) -> tuple[list[str], set[int]]:
    """Lowercase words ('96bpm' -> '96 bpm', 'seed=7' -> 'seed 7', 'E-flat' -> 'e flat'), and the
    indices of the words that were a lowercase "a" followed by another word without a comma."""
    text = re.sub(r"[()=:]", " ", text)
    text = re.sub(r"(?<=[A-Za-z#♯♭])-(?=[A-Za-z])", " ", text)
    text = "/".join(part.strip() for part in text.split("/"))  # '3 / 4' -> '3/4' (a regex \s*/\s* is quadratic)
    out: list[str] = []
    articles: set[int] = set()
    for chunk in re.split(r"[,;]", text):
        words = chunk.split()
        for j, word in enumerate(words):
            if word == "a" and j + 1 < len(words):
                articles.add(len(out))
            word = word.lower()
            m = (re.fullmatch(rf"({_NUMBER})(bpm|s|secs?|seconds?)", word)
                 or re.fullmatch(rf"(seed|tempo|bpm)({_NUMBER})", word))
            out.extend(m.groups() if m else [word])
    return out, articles


def _is_number(tokens: list[str], i: int) -> bool:
    return i < len(tokens) and re.fullmatch(_NUMBER, tokens[i]) is not None


def _at(tokens: list[str], i: int) -> str:
    return tokens[i] if i < len(tokens) else ""


def _match_instrument(tokens: list[str], i: int) -> tuple[int, int] | None:
    """(program, tokens used) of the longest instrument name starting at tokens[i], or None.

    "gm" never starts one: in a prompt "Gm" is G minor."""
    if i >= len(tokens) or tokens[i] == "gm":
        return None
    for end in range(min(len(tokens), i + _MAX_INSTRUMENT_WORDS), i, -1):
        program = find_instrument(" ".join(tokens[i:end]))
        if program is not None:
            return program, end - i
    return None


def _match(tokens: list[str], i: int, after_key: bool, article: bool) -> tuple[str, object, int] | None:
    """The field starting at tokens[i]: (field name, value, tokens used), or None.

    ``after_key``: the previous field was the key (a bare number is then the tempo); ``article``:
    tokens[i] is a lowercase "a" followed by another word."""
    tok, nxt = tokens[i], _at(tokens, i + 1)
    if re.fullmatch(r"\d+/\d+", tok):
        return "meter", Meter.parse(tok), 1
    if _is_number(tokens, i) and nxt in _BPM_UNITS:
        return "bpm", float(tok), 2
    if _is_number(tokens, i) and nxt in _SECONDS_UNITS:
        return "seconds", float(tok), 2
    if after_key and _is_number(tokens, i):
        return "bpm", float(tok), 1
    if tok in ("tempo", "bpm") and _is_number(tokens, i + 1):
        used = 3 if tok == "tempo" and _at(tokens, i + 2) in _BPM_UNITS else 2
        return "bpm", float(nxt), used
    if tok == "seed" and _is_number(tokens, i + 1):
        if not re.fullmatch(r"-?\d+", nxt) or int(nxt) < 0:
            raise ValueError(f"seed must be an int 0..{SEED_LIMIT - 1}, got {nxt!r}")
        return "seed", int(nxt), 2
    instrument = _match_instrument(tokens, i)
    if instrument is not None:
        return "program", *instrument
    start = i + 1 if tok == "key" else i
    key = _match_key(tokens, start)
    if key is None:
        return None
    instrument_next = _match_instrument(tokens, start + 1) if article and key[1] == 1 else None
    if instrument_next is not None:
        name = " ".join(tokens[start + 1:start + 1 + instrument_next[1]])
        raise ValueError(f"'a {name}' is ambiguous: is 'a' the key of A major? write 'A major, {name}' "
                         f"for the key, or leave out 'a'")
    return "key", key[0], key[1] + start - i


def _match_key(tokens: list[str], i: int) -> tuple[Key, int] | None:
    m = _KEY_TOKEN.fullmatch(_at(tokens, i))
    if not m:
        return None
    letter, accidental, mode = m.groups()
    used = 1
    if accidental is None and mode is None and _at(tokens, i + used) in _ACCIDENTAL_WORDS:
        accidental = _ACCIDENTAL_WORDS[tokens[i + used]]
        used += 1
    if mode is None and _at(tokens, i + used) in _MODE_WORDS.keys() - {"m"}:
        mode = tokens[i + used]
        used += 1
    tonic = parse_pitch_class(letter + (accidental or ""))
    return Key(tonic, _MODE_WORDS[mode] if mode else "major"), used


def parse(text: str) -> Prompt:
    """Parse a prompt such as 'F# minor, 128 bpm, 6/8, flute, 30 s, seed 7' (see module doc)."""
    return Prompt(**parse_fields(text))


def parse_fields(text: str) -> dict[str, object]:
    """The fields a prompt gives, by Prompt field name (key, bpm, meter, program, seconds, seed), not yet
    range-checked (``Prompt(**fields)`` does that); the others are left out. Raises ValueError like parse."""
    if len(text) > MAX_PROMPT_CHARS:
        raise ValueError(f"the prompt is {len(text)} characters long; at most {MAX_PROMPT_CHARS} are allowed")
    tokens, articles = _tokens(text)
    found: dict[str, tuple[object, str]] = {}
    unknown: list[str] = []
    i, previous = 0, ""
    while i < len(tokens):
        match = _match(tokens, i, previous == "key", i in articles)
        if match is None:
            unknown.append(tokens[i])
            i, previous = i + 1, ""
            continue
        field, value, used = match
        words = " ".join(tokens[i:i + used])
        if field in found:
            raise ValueError(f"{field} given twice: {found[field][1]!r} and {words!r}; "
                             f"give each field at most once")
        found[field] = (value, words)
        i, previous = i + used, field
    if unknown:
        shown = ", ".join(map(repr, unknown[:5])) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise ValueError(f"unknown word(s) in prompt: {shown}; {ALLOWED_HELP}")
    return {field: value for field, (value, _) in found.items()}
