"""Real melodies and chorales as plans: music21's bundled ABC folk tunes, Bach chorales, user MIDI.

Every function returns a melody-or-parts :class:`Plan` or raises :class:`SkipTune` with a short
reason, so the data recipe can count why each skipped tune was skipped.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from audiodiff.music.plan import Note, Plan, Track
from audiodiff.music.theory import Key, Meter, estimate_key, parse_pitch_class

ABC_SOURCES = ("essenFolksong", "oneills1850", "ryansMammoth", "airdsAirs", "miscFolk",
               "nottingham-dataset")
MIN_NOTES = 8
# ABC meters mapped to a supported meter and a factor on every duration (the music is unchanged;
# only its notation is). Others are skipped.
_METER_MAP = {
    (2, 4): (Meter(2, 4), Fraction(1)), (3, 4): (Meter(3, 4), Fraction(1)),
    (4, 4): (Meter(4, 4), Fraction(1)), (6, 8): (Meter(6, 8), Fraction(1)),
    (2, 2): (Meter(4, 4), Fraction(1)), (4, 2): (Meter(4, 4), Fraction(1, 2)),
    (3, 2): (Meter(3, 4), Fraction(1, 2)), (3, 8): (Meter(3, 4), Fraction(2)),
    (6, 4): (Meter(6, 8), Fraction(1, 2)), (12, 8): (Meter(6, 8), Fraction(1)),
    (4, 8): (Meter(2, 4), Fraction(1)), (2, 1): (Meter(2, 4), Fraction(1, 4)),
    (3, 1): (Meter(3, 4), Fraction(1, 4)), (4, 1): (Meter(4, 4), Fraction(1, 4)),
    (6, 2): (Meter(6, 8), Fraction(1, 4)),
}
_MINOR_WORDS = ("m", "min", "minor", "aeo", "aeolian", "dor", "dorian", "phr", "phrygian", "loc")


class SkipTune(Exception):
    """A tune that cannot become a plan; ``reason`` is a short category used for counting."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TuneSource:
    """Where a tune comes from: a stable id, the collection name and its raw text or path."""

    tune_id: str
    source: str
    text: str = ""
    path: str = ""


def music21_corpus_dir() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def iter_abc_tunes(sources: tuple[str, ...] = ABC_SOURCES) -> Iterator[TuneSource]:
    """Every tune of music21's ABC collections, split on 'X:' lines, in a stable order."""
    root = music21_corpus_dir()
    for source in sources:
        for path in sorted((root / source).rglob("*.abc")):
            text = path.read_text(encoding="utf-8", errors="replace")
            header = text.split("\nX:")[0] if not text.lstrip().startswith("X:") else ""
            for index, chunk in enumerate(re.split(r"(?m)^(?=X:)", text)):
                if chunk.startswith("X:"):
                    yield TuneSource(f"{source}/{path.stem}#{index}", source, header + chunk)


def iter_chorales() -> Iterator[TuneSource]:
    """The Bach chorales bundled with music21 (one per BWV number, duplicates removed)."""
    seen: set[str] = set()
    for path in sorted((music21_corpus_dir() / "bach").glob("bwv*.mxl")):
        bwv = path.stem.split(".")[0]
        if bwv not in seen:
            seen.add(bwv)
            yield TuneSource(f"bach/{path.stem}", "bach", path=str(path))


def iter_midi_dir(directory: str | Path) -> Iterator[TuneSource]:
    """Every .mid/.midi file under a user's directory."""
    for path in sorted(Path(directory).rglob("*")):
        if path.suffix.lower() in (".mid", ".midi"):
            yield TuneSource(f"midi/{path.relative_to(directory)}", "midi", path=str(path))


def tune_to_plan(tune: TuneSource) -> Plan:
    """Dispatch on the tune's source; raises SkipTune."""
    if tune.source == "bach":
        return chorale_to_plan(tune.path)
    if tune.source == "midi":
        return midi_to_plan(tune.path)
    return abc_to_plan(tune.text)


# -- ABC ------------------------------------------------------------------------------------
def _header_fields(text: str, name: str) -> list[str]:
    inline = re.findall(rf"\[{name}:([^\]]*)\]", text)
    return [v.strip() for v in re.findall(rf"(?m)^{name}:(.*)$", text) + inline]


def _abc_meter(text: str) -> tuple[Meter, Fraction]:
    fields = {f.replace(" ", "") for f in _header_fields(text, "M")}
    if len(fields) != 1:
        raise SkipTune("no meter" if not fields else "meter change")
    raw = fields.pop()
    raw = {"C": "4/4", "C|": "2/2"}.get(raw, raw)
    m = re.fullmatch(r"(\d+)/(\d+)", raw)
    if not m or (int(m.group(1)), int(m.group(2))) not in _METER_MAP:
        raise SkipTune(f"unsupported meter {raw}")
    return _METER_MAP[(int(m.group(1)), int(m.group(2)))]


def _abc_tonic(text: str) -> tuple[int | None, str | None]:
    fields = _header_fields(text, "K")
    if not fields:
        return None, None
    m = re.match(r"([A-Ga-g])\s*([#b]?)\s*([A-Za-z]*)", fields[0])
    if not m:
        return None, None
    word = m.group(3).lower()
    mode = "minor" if word.startswith(_MINOR_WORDS) and not word.startswith("maj") else "major"
    if word.startswith("mix") or word.startswith("lyd") or word.startswith("ion"):
        mode = "major"
    return parse_pitch_class(m.group(1).upper() + m.group(2)), mode


def key_from_notes(notes: list[Note], tonic: int | None, header_mode: str | None) -> Key:
    """Tonic from the header when known, mode by the tune's third; else a key-profile estimate.

    Essen key fields give a reliable tonic but no reliable mode, so the mode is re-derived from
    which third above the tonic the melody dwells on.
    """
    weights = np.zeros(12)
    for n in notes:
        weights[n.pitch % 12] += n.duration
    if tonic is None:
        return estimate_key(weights)
    minor_third, major_third = weights[(tonic + 3) % 12], weights[(tonic + 4) % 12]
    if minor_third == major_third:
        return Key(tonic, header_mode or "major")
    return Key(tonic, "minor" if minor_third > major_third else "major")


def _quantize_melody(events: list[tuple[Fraction, Fraction, int]]) -> list[Note]:
    """Monophonic (onset, duration, pitch) in 16ths -> grid notes; colliding onsets move forward
    one step when there is room and are dropped otherwise (e.g. the middle of a 16th triplet)."""
    starts = [int(round(on)) for on, _, _ in events]
    notes: list[Note] = []
    for i, (on, dur, pitch) in enumerate(events):
        start = starts[i]
        if notes and start <= notes[-1].start:
            start = notes[-1].start + 1
            if i + 1 < len(events) and start >= starts[i + 1]:
                continue
        end = max(int(round(on + dur)), start + 1)
        if i + 1 < len(events):
            end = min(end, max(starts[i + 1], start + 1))
        if notes and notes[-1].end > start:
            notes[-1] = Note(notes[-1].pitch, notes[-1].start, start - notes[-1].start, notes[-1].velocity)
        notes.append(Note(pitch, start, end - start))
    return notes


def _pickup_shift(part, meter: Meter, scale: Fraction) -> Fraction:
    """16th steps to shift so that a pickup ends exactly at the first full bar line."""
    measures = list(part.getElementsByClass("Measure"))
    if not measures:
        return Fraction(0)
    first = Fraction(measures[0].duration.quarterLength) * 4 * scale
    bar = Fraction(meter.steps_per_bar)
    return bar - first if 0 < first < bar else Fraction(0)


def abc_to_plan(text: str) -> Plan:
    """One ABC tune -> a melody-only plan (bpm is a placeholder; the recipe sets tempo)."""
    import music21

    meter, scale = _abc_meter(text)
    tonic, header_mode = _abc_tonic(text)
    try:
        score = music21.converter.parse(text, format="abc")
    except Exception as exc:  # music21 raises many unrelated types on malformed ABC
        raise SkipTune(f"abc parse error ({type(exc).__name__})") from None
    try:
        score = score.expandRepeats()
    except Exception:  # repeats music21 cannot expand: keep the tune as written
        pass
    parts = list(score.parts) or [score]
    if len(parts) != 1:
        raise SkipTune("polyphonic")
    shift = _pickup_shift(parts[0], meter, scale)
    events = []
    for element in score.flatten().notes:
        if element.duration.isGrace or element.duration.quarterLength == 0:
            continue
        pitch = max(p.midi for p in element.pitches)  # double stops: keep the top voice
        onset = Fraction(element.offset) * 4 * scale + shift
        events.append((onset, Fraction(element.duration.quarterLength) * 4 * scale, pitch))
    events.sort()
    notes = _quantize_melody(events)
    if len(notes) < MIN_NOTES:
        raise SkipTune("too few notes")
    key = key_from_notes(notes, tonic, header_mode)
    num_steps = -(-notes[-1].end // meter.steps_per_bar) * meter.steps_per_bar
    return Plan(key=key, bpm=100.0, meter=meter, tracks=[Track("melody", 0, notes)],
                chords=[None] * (num_steps // meter.steps_per_beat), num_steps=num_steps)


# -- chorales and MIDI ------------------------------------------------------------------------
def chorale_to_plan(path: str) -> Plan:
    """A four-part chorale: one track per voice, key estimated from its notes, pickup kept."""
    import music21

    try:
        score = music21.converter.parse(path).stripTies()
    except Exception as exc:  # malformed MusicXML surfaces as many exception types
        raise SkipTune(f"musicxml parse error ({type(exc).__name__})") from None
    signatures = score.flatten().getElementsByClass("TimeSignature")
    if not signatures:
        raise SkipTune("no meter")
    try:
        meter = Meter(signatures[0].numerator, signatures[0].denominator)
    except ValueError:
        raise SkipTune(f"unsupported meter {signatures[0].ratioString}") from None
    shift = _pickup_shift(score.parts[0], meter, Fraction(1))
    tracks = []
    for part in score.parts:
        notes = []
        for element in part.flatten().notes:
            start = int(round(Fraction(element.offset) * 4 + shift))
            duration = max(int(round(element.duration.quarterLength * 4)), 1)
            notes.extend(Note(p.midi, start, duration) for p in element.pitches)
        if notes:
            tracks.append(Track(part.partName or f"voice{len(tracks)}", 0, notes))
    if not tracks or sum(len(t.notes) for t in tracks) < MIN_NOTES:
        raise SkipTune("too few notes")
    all_notes = [n for t in tracks for n in t.notes]
    end = max(n.end for n in all_notes)
    final = [n for n in all_notes if n.end == end]
    weights = np.zeros(12)
    for n in all_notes + final * 8:  # the final chord weighs like a long note: it names the tonic
        weights[n.pitch % 12] += n.duration
    num_steps = -(-end // meter.steps_per_bar) * meter.steps_per_bar
    return Plan(key=estimate_key(weights), bpm=100.0, meter=meter, tracks=tracks,
                chords=[None] * (num_steps // meter.steps_per_beat), num_steps=num_steps)


def midi_to_plan(path: str) -> Plan:
    """A user's MIDI file as a plan (quantized to the grid); unreadable files are skipped."""
    from audiodiff.music.midi import load_midi

    try:
        plan, _ = load_midi(path)
    except ValueError as exc:
        raise SkipTune(f"bad midi ({str(exc).split(': ', 1)[-1]})") from None
    if sum(len(t.notes) for t in plan.tracks) < MIN_NOTES:
        raise SkipTune("too few notes")
    return plan
