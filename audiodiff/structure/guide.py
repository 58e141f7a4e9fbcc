"""What a user brings to a plan: chords, a melody, a form; turned into kept tokens (inpainting).

* chords (bars of :class:`Chord`, see :mod:`audiodiff.music.chords`): every beat's chord is kept,
  the structure model writes a melody that fits them; a shorter progression repeats;
* melody (notes on the 16th grid of the prompt's meter): the bars where it sounds are kept, the
  model writes the chords and fills the bars it leaves empty;
* form ("AABA", ``bars_per_section`` each): written in two passes. The first writes the piece with
  its last bar fixed to the tonic (tonic chord, the tonic held in the melody); the second copies
  each letter's first section onto its repeats and rewrites the last bar of every repeat but the
  final one, so it leads on to what follows. Given material always wins over copies.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from audiodiff.music.chords import chords_key, progression_beats
from audiodiff.music.plan import Note, Plan, Track
from audiodiff.music.theory import Chord, Key, Meter, estimate_key

DEFAULT_BARS_PER_SECTION = 8
MAX_SECTIONS = 16


@dataclass(frozen=True)
class Guide:
    """Chords per bar, melody notes (16th steps from bar 1, in the prompt's meter) and a form
    (letters A-Z, ``bars_per_section`` bars each); each may be absent."""

    chords: list[list[Chord | None]] | None = None
    melody: list[Note] | None = None
    form: str | None = None
    bars_per_section: int = DEFAULT_BARS_PER_SECTION

    def __post_init__(self) -> None:
        if self.melody is not None and not self.melody:
            raise ValueError("the melody has no pitched notes")
        if self.form is not None:
            if not self.form.isalpha() or not self.form.isupper() or not 1 <= len(self.form) <= MAX_SECTIONS:
                raise ValueError(f"--form wants 1..{MAX_SECTIONS} capital letters like AABA, got {self.form!r}")
            if self.bars_per_section < 1:
                raise ValueError(f"bars per section must be >= 1, got {self.bars_per_section}")


def melody_bars(notes: list[Note], meter: Meter) -> frozenset[int]:
    """Bars (0-based) in which a note sounds."""
    bar = meter.steps_per_bar
    return frozenset(b for n in notes for b in range(max(n.start, 0) // bar, (max(n.end, 1) - 1) // bar + 1))


def guide_bars(guide: Guide, meter: Meter) -> int:
    """The fewest bars that hold everything the guide gives (the form fixes it exactly).

    Raises ValueError when chords or melody do not fit the form."""
    melody = max(melody_bars(guide.melody, meter), default=-1) + 1 if guide.melody else 0
    chords = len(guide.chords) if guide.chords else 0
    if not guide.form:
        return max(melody, chords)
    total = len(guide.form) * guide.bars_per_section
    letters = len(set(guide.form))
    per_letter = letters * guide.bars_per_section
    if chords and chords not in (total, per_letter):
        raise ValueError(f"the chords have {chords} bars; --form {guide.form} with {guide.bars_per_section} bars per "
                         f"section needs {total} (the whole piece) or {per_letter} (each letter once, in order)")
    if melody > total:
        raise ValueError(f"the melody has {melody} bars; --form {guide.form} with {guide.bars_per_section} bars per "
                         f"section holds {total}")
    return total


def check_guide(guide: Guide, meter: Meter) -> int:
    """The fewest bars the guide needs (:func:`guide_bars`), after checking that it fits ``meter``.

    Raises ValueError when chords or melody do not fit the form, a bar holds more chords than beats,
    or the piece would be longer than the structure model writes."""
    from audiodiff.structure.model import MAX_BARS_GENERATED  # here: the model module imports torch

    bars = guide_bars(guide, meter)
    if guide.chords:
        progression_beats(guide.chords, meter, len(guide.chords))
    if bars > MAX_BARS_GENERATED:
        if guide.form:
            what = f"form {guide.form} with {guide.bars_per_section} bars per section is"
        else:
            what = "the chords are" if guide.chords and len(guide.chords) == bars else "the melody is"
        raise ValueError(f"{what} {bars} bars; the structure model writes at most {MAX_BARS_GENERATED}")
    return bars


def settle_key(guide: Guide, key: Key, key_given: bool) -> tuple[Key, Key | None]:
    """The key to write in and, for a warning, the key the material suggests where it differs from a
    given ``key`` (else None). Without a given key, chords alone choose it (a melody file brings its
    own key: pass that as ``key``)."""
    if not key_given:
        if guide.melody is None and guide.chords:
            key = chords_key([c for bar in guide.chords for c in bar]) or key
        return key, None
    suggested = guide_key(guide)
    return key, suggested if suggested is not None and suggested != key else None


def guide_key(guide: Guide) -> Key | None:
    """The key the given melody (by note durations) and chords suggest; None if neither is given."""
    weights = np.zeros(12)
    for n in guide.melody or []:
        weights[n.pitch % 12] += n.duration
    chords = [c for bar in guide.chords or [] for c in bar]
    chord_key = chords_key(chords)
    if not weights.any():
        return chord_key
    for c in chords:
        if c is not None:
            weights[list(c.pitch_classes)] += weights.sum() / max(len(chords), 1) / 3
    return estimate_key(weights)


def form_sections(form: str, per_section: int) -> list[tuple[str, int]]:
    """``(letter, first bar)`` of each section of a form."""
    return [(letter, i * per_section) for i, letter in enumerate(form)]


def _chord_bars(guide: Guide) -> list[list[Chord | None]]:
    """The chords bar by bar for the whole piece (per-letter chords laid out along the form)."""
    assert guide.chords is not None
    if not guide.form or len(guide.chords) == len(guide.form) * guide.bars_per_section:
        return guide.chords
    order = list(dict.fromkeys(guide.form))
    n = guide.bars_per_section
    return [bar for letter in guide.form for bar in guide.chords[order.index(letter) * n:(order.index(letter) + 1) * n]]


def tonic_chord(key: Key) -> Chord:
    return Chord(key.tonic, "maj" if key.mode == "major" else "min")


def _tonic_near(key: Key, pitch: int) -> int:
    return pitch + ((key.tonic - pitch + 6) % 12 - 6)


@dataclass(frozen=True)
class Kept:
    """A source plan (melody + chords) and the bars whose melody / chords the model must keep."""

    source: Plan
    melody: frozenset[int]
    chords: frozenset[int]


def first_pass(guide: Guide, key: Key, meter: Meter, bpm: float, num_bars: int) -> Kept:
    """The given material as a source plan in ``key`` with the bars it fixes (the form's final
    tonic bar included)."""
    beats = num_bars * meter.beats_per_bar
    chords: list[Chord | None] = [None] * beats
    keep_chords: set[int] = set()
    if guide.chords:
        chords = progression_beats(_chord_bars(guide), meter, num_bars)
        keep_chords = set(range(num_bars))
    notes = [n for n in guide.melody or [] if n.start < num_bars * meter.steps_per_bar]
    keep_melody = set(melody_bars(notes, meter)) & set(range(num_bars))
    if guide.form:
        last = num_bars - 1
        bar = meter.steps_per_bar
        if last not in keep_chords:
            chords[last * meter.beats_per_bar:] = [tonic_chord(key)] * meter.beats_per_bar
            keep_chords.add(last)
        if last not in keep_melody:
            before = [n for n in notes if n.start < last * bar]
            pitch = _tonic_near(key, max(before, key=lambda n: n.start).pitch if before else 67)
            notes = notes + [Note(pitch, last * bar, bar, 90)]
            keep_melody.add(last)
    source = Plan(key, bpm, meter, [Track("melody", 0, notes)], chords, num_bars * meter.steps_per_bar)
    return Kept(source, frozenset(keep_melody), frozenset(keep_chords))


def second_pass(guide: Guide, plan: Plan, first: Kept) -> Kept | None:
    """For a form with repeats: ``plan`` (the first pass) with each letter's first section copied
    onto its repeats, keeping all but the last bar of each repeat that is not the final section
    (and all given bars). None when the form repeats nothing."""
    if not guide.form or len(set(guide.form)) == len(guide.form):
        return None
    meter, n = plan.meter, guide.bars_per_section
    bar, bpb = meter.steps_per_bar, meter.beats_per_bar
    melody = list(plan.melody.notes) if plan.melody else []
    chords = list(plan.chords)
    free: set[int] = set()
    first_at: dict[str, int] = {}
    sections = form_sections(guide.form, n)
    for index, (letter, start) in enumerate(sections):
        if letter not in first_at:
            first_at[letter] = start
            continue
        origin, shift = first_at[letter], (start - first_at[letter]) * bar
        copy = [b for b in range(start, start + n) if b not in first.melody]
        copy_steps = {b * bar + s for b in copy for s in range(bar)}
        melody = [x for x in melody if x.start not in copy_steps]
        melody += [replace(x, start=x.start + shift, duration=min(x.duration, (origin + n) * bar - x.start))
                   for x in plan.melody.notes if x.start + shift in copy_steps]
        for b in range(start, start + n):
            if b not in first.chords:
                chords[b * bpb:(b + 1) * bpb] = plan.chords[(b - start + origin) * bpb:(b - start + origin + 1) * bpb]
        if index < len(sections) - 1:
            free.add(start + n - 1)
    source = replace(plan, tracks=[replace(plan.tracks[0], notes=sorted(melody, key=lambda x: x.start))],
                     chords=chords)
    every = set(range(plan.num_bars))
    return Kept(source, frozenset((every - free) | first.melody), frozenset((every - free) | first.chords))
