"""Chord progressions as people write them: "Dm | Gm A7 | Dm | A7 Dm" -> a chord per beat.

One bar per ``|``; the chords within a bar split it evenly (where the beats do not divide
evenly, the earlier chords get the extra beat: two chords in 3/4 are 2 + 1 beats). ``N.C.``
(or ``NC``) is a bar part without harmony.

The plan's chord vocabulary has four qualities (major, minor, diminished, dominant seventh;
:data:`audiodiff.music.theory.CHORD_QUALITIES`), so richer symbols map to the nearest of them,
keeping root and third:

======================================  =========================================
written                                 played as
======================================  =========================================
C, Cmaj, CM, Cmaj7, CM7, C6, Cadd9      C major
Cm, Cmin, C-, Cm7, Cm6, Cm9             C minor
C7, C9, C13                             C7 (dominant seventh)
Cdim, C°, Cdim7, Cm7b5, Cø              C diminished
Caug, C+                                C major (the raised fifth is dropped)
Csus2, Csus4, Csus, C7sus4              C major (C7 for 7sus4)
C/E (any chord over a bass note)        the chord; the bass plays its root, not E
======================================  =========================================
"""
from __future__ import annotations

import re

import numpy as np

from audiodiff.music.theory import ALL_KEYS, Chord, Key, Meter, key_correlations, parse_pitch_class

# written quality suffix -> vocabulary quality (see the module docstring's table)
QUALITY_MAP = {
    "": "maj", "maj": "maj", "M": "maj", "maj7": "maj", "M7": "maj", "6": "maj", "add9": "maj",
    "m": "min", "min": "min", "-": "min", "m7": "min", "min7": "min", "m6": "min", "m9": "min",
    "7": "7", "9": "7", "13": "7", "7sus4": "7",
    "dim": "dim", "°": "dim", "dim7": "dim", "°7": "dim", "m7b5": "dim", "ø": "dim", "ø7": "dim",
    "aug": "maj", "+": "maj", "sus2": "maj", "sus4": "maj", "sus": "maj",
}
NO_CHORD = ("N.C.", "NC")
ACCEPTED = ("root A-G with optional # or b (♯, ♭), then one of: "
            + ", ".join(repr(q) if q else "'' (major)" for q in QUALITY_MAP)
            + "; optional /bass note (C/E); N.C. for no chord; bars separated by |")
_SYMBOL = re.compile(r"([A-G](?:#|b)?)(.*?)(?:/([A-G](?:#|b)?))?")
_UNICODE_ACCIDENTALS = str.maketrans({"♯": "#", "♭": "b"})
# Key finding from chords (:func:`chords_key`): the profile correlation, plus these for each key
# (tuned on tests/music/test_chords.py's table of common progressions, major, minor and modal)
TONIC_FIRST = 1.2  # the first chord is the key's tonic triad
TONIC_LAST = 1.2  # the last chord is
CADENCE = 0.8  # each dominant (V, V7) resolving to the tonic
OUTSIDE = 2.0  # times the share of chords with a tone outside the key's scale (minor: natural + leading tone)


def parse_chord(symbol: str) -> Chord | None:
    """One chord symbol -> a vocabulary :class:`Chord` (None for N.C.). ValueError names what is accepted."""
    text = symbol.strip().translate(_UNICODE_ACCIDENTALS)
    if text.upper() in NO_CHORD:
        return None
    m = _SYMBOL.fullmatch(text)
    if not m or m.group(2) not in QUALITY_MAP:
        raise ValueError(f"unknown chord symbol {symbol!r}; accepted: {ACCEPTED}")
    return Chord(parse_pitch_class(m.group(1)), QUALITY_MAP[m.group(2)])


def parse_progression(text: str) -> list[list[Chord | None]]:
    """'Dm | Gm A7' -> one list of chords per bar. ValueError for empty bars or unknown symbols."""
    bars = [part.split() for part in text.strip().strip("|").split("|")]
    if not any(bars):
        raise ValueError(f"no chords in {text!r}; write bars like 'Dm | Gm A7 | Dm'")
    for i, bar in enumerate(bars):
        if not bar:
            raise ValueError(f"bar {i + 1} of the chords is empty; write N.C. for a bar without harmony")
    return [[parse_chord(s) for s in bar] for bar in bars]


def progression_beats(bars: list[list[Chord | None]], meter: Meter, num_bars: int) -> list[Chord | None]:
    """The chord on every beat of ``num_bars`` bars; a shorter progression repeats from its start."""
    beats = meter.beats_per_bar
    out: list[Chord | None] = []
    for b in range(num_bars):
        bar = bars[b % len(bars)]
        if len(bar) > beats:
            raise ValueError(f"bar {b % len(bars) + 1} of the chords has {len(bar)} chords; "
                             f"{meter} has only {beats} beats per bar")
        out += [bar[i * len(bar) // beats] for i in range(beats)]
    return out


def _is_tonic(chord: Chord, key: Key) -> bool:
    """Whether ``chord`` is the tonic triad of ``key`` (in a major key a tonic 7th counts, as in blues)."""
    return chord.root == key.tonic and chord.quality in (("maj", "7") if key.mode == "major" else ("min",))


def _key_fit(chords: list[Chord], key: Key) -> float:
    """What besides the profile speaks for ``key``: a tonic first and last chord, dominant-tonic
    cadences, and few chord tones outside its scale."""
    allowed = set(key.scale) | ({(key.tonic + 11) % 12} if key.mode == "minor" else set())
    score = TONIC_FIRST * _is_tonic(chords[0], key) + TONIC_LAST * _is_tonic(chords[-1], key)
    score += CADENCE * sum(a.root == (key.tonic + 7) % 12 and a.quality in ("maj", "7") and _is_tonic(b, key)
                           for a, b in zip(chords, chords[1:]))
    return score - OUTSIDE * sum(not allowed.issuperset(c.pitch_classes) for c in chords) / len(chords)


def chords_key(chords: list[Chord | None]) -> Key | None:
    """The key the chords suggest; None without chords. The pitch classes of the chords (roots
    counted twice) are correlated with each key's profile, and the key whose tonic opens and closes
    the progression, to which its dominants resolve and whose scale holds the chords gains: so
    Em | C | D | Em is E minor, not G major, and Am | G | F | G is A minor."""
    present = [c for c in chords if c is not None]
    if not present:
        return None
    weights = np.zeros(12)
    for chord in present:
        weights[list(chord.pitch_classes)] += 1.0
        weights[chord.root] += 1.0  # the root is heard most
    scores = key_correlations(weights) + np.array([_key_fit(present, key) for key in ALL_KEYS])
    return ALL_KEYS[int(np.argmax(scores))]
