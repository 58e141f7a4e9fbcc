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

import re
from dataclasses import dataclass, replace

from audiodiff.music.chords import chords_key, progression_beats
from audiodiff.music.midi import notes_key
from audiodiff.music.plan import TAIL_SECONDS, Note, Plan, Track
from audiodiff.music.prompt import Prompt, seconds_text
from audiodiff.music.theory import Chord, Key, Meter

DEFAULT_BARS_PER_SECTION = 8
LENGTH_TOLERANCE = 0.01  # seconds: a prompt's length rounded to 10 ms still means the material's
MAX_SECTIONS = 16


@dataclass(frozen=True)
class Guide:
    """Chords per bar, melody notes (16th steps from bar 1, in the prompt's meter) and a form
    (letters A-Z, ``bars_per_section`` bars each); each may be absent. ``melody_key``: the key
    the melody's file gives or implies (None: found from its notes)."""

    chords: list[list[Chord | None]] | None = None
    melody: list[Note] | None = None
    form: str | None = None
    bars_per_section: int = DEFAULT_BARS_PER_SECTION
    melody_key: Key | None = None

    def __post_init__(self) -> None:
        if self.melody is not None and not self.melody:
            raise ValueError("the melody has no pitched notes")
        if self.form is not None and not re.fullmatch(f"[A-Z]{{1,{MAX_SECTIONS}}}", self.form):
            raise ValueError(f"--form wants 1..{MAX_SECTIONS} capital letters A-Z like AABA, got {self.form!r}")
        if self.bars_per_section < 1:
            raise ValueError(f"--bars-per-section must be a whole number >= 1, got {self.bars_per_section}")


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
        needs = (f"{total}" if total == per_letter else
                 f"{total} (the whole piece) or {per_letter} (each letter once, in order)")
        raise ValueError(f"the chords have {chords} bars; --form {guide.form} with {guide.bars_per_section} bars per "
                         f"section needs {needs}")
    if melody > total:
        raise ValueError(f"the melody has {melody} bars; --form {guide.form} with {guide.bars_per_section} bars per "
                         f"section holds {total}")
    return total


def _material_seconds(prompt: Prompt, guide: Guide) -> tuple[int, float]:
    """Bars the guide fills and their seconds at the prompt's tempo and meter."""
    bars = guide_bars(guide, prompt.meter)
    return bars, bars * prompt.meter.beats_per_bar * 60.0 / prompt.bpm


def guided_bars(prompt: Prompt, guide: Guide) -> int | None:
    """Bars a guided piece must have (None: the prompt's seconds decide, the material repeats or is
    followed by new bars up to them, and the audio is cut there). Given material is never cut: a
    form fixes the length, and chords or a melody that last at least the prompt's seconds set it
    (the audio is then all their bars and the release); so does a prompt whose seconds are exactly
    that (what a guided result's prompt says)."""
    bars, seconds = _material_seconds(prompt, guide)
    whole = abs(seconds + TAIL_SECONDS - prompt.seconds) < LENGTH_TOLERANCE
    return bars if guide.form or whole or seconds >= prompt.seconds - LENGTH_TOLERANCE else None


def length_note(prompt: Prompt, guide: Guide) -> str | None:
    """Where the material overrides the prompt's seconds (chords or melody longer, a form longer or
    shorter), a line saying so; else None."""
    bars, seconds = _material_seconds(prompt, guide)
    same = min(abs(seconds - prompt.seconds), abs(seconds + TAIL_SECONDS - prompt.seconds)) < LENGTH_TOLERANCE
    if same or guided_bars(prompt, guide) is None:
        return None
    what = ("the form" if guide.form else "the chords" if guide.chords and len(guide.chords) == bars
            else "the melody")
    return (f"{what} set{'' if what == 'the chords' else 's'} the length: {bars} bars, "
            f"{seconds_text(seconds)} at {prompt.bpm:g} bpm in {prompt.meter} (and a "
            f"{seconds_text(TAIL_SECONDS)} release), not the prompt's {seconds_text(prompt.seconds)}")


def check_guide(guide: Guide, meter: Meter) -> int:
    """The fewest bars the guide needs (:func:`guide_bars`), after checking that it fits ``meter``.

    Raises ValueError when chords or melody do not fit the form, a bar holds more chords than beats,
    or the piece would be longer than the structure model writes."""
    from audiodiff.structure.sampling import MAX_BARS_GENERATED

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
    given ``key`` (else None). Without a given key the material's key (:func:`guide_key`) is used."""
    suggested = guide_key(guide)
    if not key_given:
        return suggested or key, None
    return key, suggested if suggested is not None and suggested != key else None


def guide_key(guide: Guide) -> Key | None:
    """The key the material suggests, the one it is written in when the prompt names none: a
    melody's (its file's key, else found from its notes), else the chords'; None if neither is given."""
    if guide.melody:
        return guide.melody_key or notes_key(guide.melody)
    return chords_key([c for bar in guide.chords for c in bar]) if guide.chords else None


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


def _bars_text(bars: list[int]) -> str:
    """Sorted 0-based bars -> 'bar 3', 'bars 3-4', 'bars 2, 5-6' (1-based)."""
    runs: list[list[int]] = []
    for b in bars:
        if runs and b == runs[-1][-1] + 1:
            runs[-1].append(b)
        else:
            runs.append([b])
    text = ", ".join(f"{r[0] + 1}" if len(r) == 1 else f"{r[0] + 1}-{r[-1] + 1}" for r in runs)
    return f"bar{'s' if len(bars) > 1 else ''} {text}"


def _repeated_bars(form: str, per_section: int) -> list[tuple[str, list[tuple[int, int]]]]:
    """For each repeat of a letter: the letter and its (bar, first-time bar) pairs that the form promises
    to repeat note for note (not the last bar of a repeat that leads on to another section)."""
    out = []
    first_at: dict[str, int] = {}
    for index, (letter, start) in enumerate(form_sections(form, per_section)):
        if letter not in first_at:
            first_at[letter] = start
            continue
        size = per_section - (index < len(form) - 1)
        out.append((letter, [(start + b, first_at[letter] + b) for b in range(size)]))
    return out


def form_promises(guide: Guide, key: Key, meter: Meter) -> list[str]:
    """Lines naming each promise of the form that the given melody or chords break (repeats note for
    note, the end on the tonic): the given material is kept, so that promise is dropped. Empty without
    a form or when the material keeps them."""
    if not guide.form:
        return []
    notes: dict[int, list[tuple[int, int, int]]] = {}
    bar = meter.steps_per_bar
    for n in guide.melody or []:
        notes.setdefault(n.start // bar, []).append((n.pitch, n.start % bar, n.duration))
    beats = meter.beats_per_bar
    total = len(guide.form) * guide.bars_per_section
    chords = progression_beats(_chord_bars(guide), meter, total) if guide.chords else None
    out = []
    for letter, pairs in _repeated_bars(guide.form, guide.bars_per_section):
        differ = [b for b, o in pairs if b in notes and sorted(notes[b]) != sorted(notes.get(o, []))]
        if chords is not None:
            differ += [b for b, o in pairs if chords[b * beats:(b + 1) * beats] != chords[o * beats:(o + 1) * beats]]
        if differ:
            differ = sorted(set(differ))
            out.append(f"{_bars_text(differ)} (a repeat of section {letter}) differ{'s' if len(differ) == 1 else ''} "
                       "from its first time as given: the given material is kept, so this repeat is not note for note")
    last = total - 1
    if last in notes:
        final = max(guide.melody or [], key=lambda n: n.start)
        if final.pitch % 12 != key.tonic:
            out.append(f"the melody ends on {key.spell(final.pitch)}, not on the tonic {key.spell(key.tonic)}: "
                       "the piece does not end on the tonic")
    if chords is not None and chords[-1] != tonic_chord(key):
        end = chords[-1].symbol_in(key) if chords[-1] else "N.C."
        out.append(f"the chords end on {end}, not on the tonic chord {tonic_chord(key).symbol_in(key)}: the piece "
                   "does not end on the tonic")
    return out


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
