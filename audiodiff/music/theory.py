"""Keys, meters, chords and key finding: small, pure music theory used by every level."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

PITCH_CLASS_NAMES_SHARP = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_LETTER_PC = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_ACCIDENTALS = {"#": 1, "♯": 1, "b": -1, "♭": -1, "": 0}
# Conventional spellings: the key signature people write for each tonic (fewest accidentals).
_MAJOR_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MINOR_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
# Chord roots as written in a key: flat keys (F, Bb, ... and their relative minors) use flats,
# sharp keys sharps, C major / A minor the usual mix.
_FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
_PLAIN_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_FLAT_MAJOR_TONICS = (1, 3, 5, 8, 10)  # Db, Eb, F, Ab, Bb
MODES = ("major", "minor")
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)  # natural minor; the leading tone is added by chord choice

# Temperley (2001) key profiles: weights of the 12 scale degrees from the tonic.
TEMPERLEY_MAJOR = np.array([5.0, 2.0, 3.5, 2.0, 4.5, 4.0, 2.0, 4.5, 2.0, 3.5, 1.5, 4.0])
TEMPERLEY_MINOR = np.array([5.0, 2.0, 3.5, 4.5, 2.0, 4.0, 2.0, 4.5, 3.5, 2.0, 1.5, 4.0])


def parse_pitch_class(text: str) -> int:
    """'F#', 'Gb', 'a♭', 'B' -> pitch class 0..11. Raises ValueError for anything else."""
    m = re.fullmatch(r"\s*([a-gA-G])\s*(#|♯|b|♭)?\s*", text)
    if not m:
        raise ValueError(f"unknown note name {text!r}; allowed: A-G with optional # or b")
    return (_LETTER_PC[m.group(1).lower()] + _ACCIDENTALS[m.group(2) or ""]) % 12


@dataclass(frozen=True)
class Key:
    """A major or minor key: tonic pitch class 0..11 (C=0) and mode."""

    tonic: int
    mode: str

    def __post_init__(self) -> None:
        if not 0 <= self.tonic < 12:
            raise ValueError(f"tonic must be a pitch class 0..11, got {self.tonic}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")

    @property
    def name(self) -> str:
        """Conventional name, e.g. 'D minor', 'Eb major'."""
        names = _MAJOR_NAMES if self.mode == "major" else _MINOR_NAMES
        return f"{names[self.tonic]} {self.mode}"

    @property
    def short_name(self) -> str:
        """MIDI-style name: 'Dm', 'Eb' (what mido's key_signature takes)."""
        names = _MAJOR_NAMES if self.mode == "major" else _MINOR_NAMES
        return names[self.tonic] + ("m" if self.mode == "minor" else "")

    @property
    def index(self) -> int:
        """0..23: majors 0..11 then minors 12..23 (the class index of key-conditioned models)."""
        return self.tonic + (12 if self.mode == "minor" else 0)

    @classmethod
    def from_index(cls, index: int) -> "Key":
        return cls(index % 12, MODES[index // 12])

    @property
    def scale(self) -> tuple[int, ...]:
        """The seven pitch classes of the (natural) scale."""
        steps = MAJOR_SCALE if self.mode == "major" else MINOR_SCALE
        return tuple((self.tonic + s) % 12 for s in steps)

    @property
    def relative(self) -> "Key":
        """Relative major/minor: same key signature, other mode."""
        if self.mode == "major":
            return Key((self.tonic + 9) % 12, "minor")
        return Key((self.tonic + 3) % 12, "major")

    def transpose(self, semitones: int) -> "Key":
        return Key((self.tonic + semitones) % 12, self.mode)

    def spell(self, pitch_class: int) -> str:
        """A pitch class named as this key writes it: Bb in F major and D minor, A# in B major."""
        major = self.tonic if self.mode == "major" else (self.tonic + 3) % 12
        if major == 0:
            return _PLAIN_NAMES[pitch_class % 12]
        names = _FLAT_NAMES if major in _FLAT_MAJOR_TONICS else PITCH_CLASS_NAMES_SHARP
        return names[pitch_class % 12]

    def __str__(self) -> str:
        return self.name


ALL_KEYS = tuple(Key.from_index(i) for i in range(24))


@dataclass(frozen=True)
class Meter:
    """A time signature. Tempo counts its beat: the quarter in x/4, the dotted quarter in 6/8."""

    numerator: int
    denominator: int

    def __post_init__(self) -> None:
        if (self.numerator, self.denominator) not in SUPPORTED_METERS:
            allowed = ", ".join(f"{n}/{d}" for n, d in SUPPORTED_METERS)
            raise ValueError(f"unsupported meter {self.numerator}/{self.denominator}; allowed: {allowed}")

    @property
    def steps_per_bar(self) -> int:
        """Number of 16th-note grid steps in one bar."""
        return self.numerator * 16 // self.denominator

    @property
    def compound(self) -> bool:
        return self.denominator == 8 and self.numerator % 3 == 0

    @property
    def steps_per_beat(self) -> int:
        """16th steps per counted beat: 4 (quarter) or 6 (dotted quarter in compound meters)."""
        return 6 if self.compound else 16 // self.denominator

    @property
    def beats_per_bar(self) -> int:
        return self.steps_per_bar // self.steps_per_beat

    @property
    def quarters_per_beat(self) -> float:
        """Quarter notes in one beat; MIDI tempo (quarters per minute) = bpm * this."""
        return self.steps_per_beat / 4

    @property
    def name(self) -> str:
        return f"{self.numerator}/{self.denominator}"

    @classmethod
    def parse(cls, text: str) -> "Meter":
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not m:
            raise ValueError(f"meter must look like 3/4, got {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return self.name


SUPPORTED_METERS = ((2, 4), (3, 4), (4, 4), (6, 8))

CHORD_QUALITIES = {"maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "7": (0, 4, 7, 10)}
_QUALITY_SUFFIX = {"maj": "", "min": "m", "dim": "dim", "7": "7"}


@dataclass(frozen=True)
class Chord:
    """A chord: root pitch class and quality ('maj', 'min', 'dim', '7')."""

    root: int
    quality: str

    def __post_init__(self) -> None:
        if not 0 <= self.root < 12 or self.quality not in CHORD_QUALITIES:
            raise ValueError(f"bad chord root={self.root} quality={self.quality!r}; "
                             f"qualities: {', '.join(CHORD_QUALITIES)}")

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root + i) % 12 for i in CHORD_QUALITIES[self.quality])

    @property
    def symbol(self) -> str:
        return PITCH_CLASS_NAMES_SHARP[self.root] + _QUALITY_SUFFIX[self.quality]

    def symbol_in(self, key: Key) -> str:
        """The symbol with its root spelled as ``key`` writes it: Bbm (not A#m) in F major."""
        return key.spell(self.root) + _QUALITY_SUFFIX[self.quality]

    @classmethod
    def parse(cls, symbol: str) -> "Chord":
        m = re.fullmatch(r"([A-G][#b]?)(m|dim|7)?", symbol.strip())
        if not m:
            raise ValueError(f"unknown chord symbol {symbol!r}")
        quality = {None: "maj", "m": "min", "dim": "dim", "7": "7"}[m.group(2)]
        return cls(parse_pitch_class(m.group(1)), quality)

    def transpose(self, semitones: int) -> "Chord":
        return Chord((self.root + semitones) % 12, self.quality)


def key_correlations(pc_weights: np.ndarray) -> np.ndarray:
    """Correlation of a 12-bin pitch-class profile with each of the 24 keys ([24], Key.index order)."""
    pc = np.asarray(pc_weights, dtype=float)
    out = np.zeros(24)
    if pc.std() == 0:
        return out
    for index in range(24):
        key = Key.from_index(index)
        profile = TEMPERLEY_MAJOR if key.mode == "major" else TEMPERLEY_MINOR
        out[index] = np.corrcoef(pc, np.roll(profile, key.tonic))[0, 1]
    return out


def estimate_key(pc_weights: np.ndarray) -> Key:
    """Best-correlating key for a pitch-class profile (note durations or mean chroma)."""
    return Key.from_index(int(np.argmax(key_correlations(pc_weights))))
