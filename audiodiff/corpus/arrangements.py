"""Random arrangements that look like users' MIDI files (training data and held-out test sets).

Each arrangement is a :class:`Performance` drawn from one seed: a key, tempo and meter, a diatonic
chord progression, and 1-6 parts in random order -- a lead line, bass, sustained pads, polyphonic
comping (block chords or arpeggios), a counter-line, and in half of them a GM drum kit playing
patterns drawn per piece. Programs are drawn from all 128 GM programs (every program can lead;
each supporting role also draws from its usual families), voicings and registers at random, and
the timing is played, not quantized: swing, triplets, per-note timing jitter, a slow tempo drift,
velocity curves and articulation.

``stream`` separates seed spaces: training items use :data:`TRAIN_STREAM`, held-out benchmark
sets :data:`HELDOUT_STREAM` and model choices :data:`DEV_STREAM`, so no held-out piece is ever a
training piece or a piece a choice was made on.
"""
from __future__ import annotations

import numpy as np

from audiodiff.music.performance import Part, Performance, TimedNote
from audiodiff.music.theory import Key

TRAIN_STREAM, HELDOUT_STREAM, DEV_STREAM = 0, 1, 2
METERS = ((2, 4), (3, 4), (4, 4), (6, 8))  # (beats per bar, subdivisions per beat; 6/8 = 2 beats of 3)
MAJOR_DEGREES = ((0, "maj"), (2, "min"), (4, "min"), (5, "maj"), (7, "maj"), (9, "min"), (11, "dim"))
MINOR_DEGREES = ((0, "min"), (2, "dim"), (3, "maj"), (5, "min"), (7, "maj"), (8, "maj"), (10, "maj"))
DEGREE_WEIGHTS = (6, 2, 1, 4, 5, 3, 0.5)  # I, ii, iii, IV, V, vi, vii
CHORD_TONES = {"maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6)}
SEVENTHS = {"maj": 11, "min": 10, "dim": 9}
ROLE_FAMILIES = {  # GM programs each supporting role also draws from (besides any program)
    "bass": (32, 33, 34, 35, 36, 37, 38, 39, 42, 43, 57, 58, 70, 87),
    "pad": (16, 17, 18, 19, 20, 48, 49, 50, 51, 52, 53, 54, 61, 62, 63, 88, 89, 90, 91, 92, 93, 94, 95),
    "comp": (0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 24, 25, 26, 27, 28, 29, 30, 46),
}
ROLE_REGISTERS = {"lead": (60, 84), "counter": (52, 76), "bass": (28, 52), "pad": (48, 76), "comp": (48, 84)}
DRUM_VOICES = {"kick": (35, 36), "snare": (38, 40, 37, 39), "hat": (42, 44, 46), "ride": (51, 53, 59),
               "tom": (41, 43, 45, 47, 48, 50), "perc": tuple(range(54, 82))}


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(stream), 0xA7]))


class _Clock:
    """Grid position (beats) -> seconds, with a slow sinusoidal tempo drift and per-note jitter."""

    def __init__(self, bpm: float, rng: np.random.Generator) -> None:
        self.beat = 60.0 / bpm
        self.drift = float(rng.choice([0.0, 0.0, rng.uniform(0.01, 0.04)]))  # relative tempo wobble
        self.period = float(rng.uniform(8, 24))  # beats
        self.jitter = float(rng.choice([0.0, 0.004, 0.008, 0.015, 0.025]))  # seconds (std)
        self.swing = float(rng.choice([0.0, 0.0, 0.0, rng.uniform(0.05, 0.17)]))  # beats, off-beat 8ths
        self.rng = rng

    def seconds(self, beats: float, humanize: bool = True) -> float:
        frac = beats % 1.0
        if self.swing and abs(frac - 0.5) < 1e-6:
            beats += self.swing
        wander = self.drift * self.beat * self.period / (2 * np.pi) * np.sin(2 * np.pi * beats / self.period)
        t = beats * self.beat + wander
        if humanize and self.jitter:
            t += float(self.rng.normal(0, self.jitter))
        return max(t, 0.0)


def _progression(rng: np.random.Generator, key: Key, bars: int,
                 beats_per_bar: int) -> list[tuple[float, float, list[int]]]:
    """Chords as (start beat, end beat, pitch classes from the root, root first)."""
    degrees = MAJOR_DEGREES if key.mode == "major" else MINOR_DEGREES
    weights = np.array(DEGREE_WEIGHTS) / sum(DEGREE_WEIGHTS)
    per_bar = int(rng.choice([1, 1, 2])) if beats_per_bar >= 2 else 1
    span = beats_per_bar / per_bar
    chords, last = [], -1
    for i in range(bars * per_bar):
        choice = 0 if i == 0 else int(rng.choice(7, p=weights))
        if choice == last:
            choice = int(rng.choice(7, p=weights))
        last = choice
        offset, quality = degrees[choice]
        if key.mode == "minor" and choice == 4 and rng.random() < 0.7:
            quality = "maj"  # harmonic-minor dominant
        tones = list(CHORD_TONES[quality]) + ([SEVENTHS[quality]] if rng.random() < 0.3 else [])
        root = (key.tonic + offset) % 12
        chords.append((i * span, (i + 1) * span, [(root + t) % 12 for t in tones]))
    return chords


def _place(pc: int, low: int, high: int, rng: np.random.Generator) -> int:
    """A pitch of pitch class ``pc`` inside [low, high]."""
    options = [p for p in range(low, high + 1) if p % 12 == pc]
    return int(rng.choice(options))


def _lead(rng, key, chords, total_beats, sub, register, clock, velocity, density) -> list[TimedNote]:
    """A melodic line: steps and leaps on the scale, chord tones on strong beats, rests, triplets."""
    scale = sorted(set(key.scale))
    low, high = register
    pitch = _place(chords[0][2][0], low + 5, high - 5, rng)
    notes, beat = [], 0.0
    while beat < total_beats:
        triplet = rng.random() < 0.1
        unit = 1.0 / 3 if triplet else 1.0 / sub
        length = unit * int(rng.choice([1, 1, 2, 2, 3, 4, 6, 8])) if not triplet else unit
        if rng.random() > density:
            beat += length
            continue
        chord = next((c for c in chords if c[0] <= beat < c[1]), chords[-1])
        if abs(beat - round(beat)) < 1e-6 and rng.random() < 0.6:
            target = int(rng.choice(chord[2][:3]))
            pitch = min((p for p in range(low, high + 1) if p % 12 == target), key=lambda p: abs(p - pitch))
        else:
            step = int(rng.choice([-2, -1, -1, 1, 1, 2, 3, -3, 4, -4, 5, -5, 7, -7]))
            idx = min(range(len(scale)), key=lambda i: abs(scale[i] - pitch % 12))
            pc = scale[(idx + step) % len(scale)]
            octave = pitch // 12 + (idx + step) // len(scale)
            pitch = int(np.clip(octave * 12 + pc, low, high))
            if rng.random() < 0.04:
                pitch = int(np.clip(pitch + rng.choice([-1, 1]), low, high))  # chromatic passing tone
        end = min(beat + length, total_beats)
        notes.append(_timed(pitch, beat, end, clock, velocity, rng))
        beat += length
        for _ in range(2 if triplet else 0):  # finish the triplet group
            if beat >= total_beats:
                break
            pitch = int(np.clip(pitch + rng.choice([-2, -1, 1, 2]), low, high))
            notes.append(_timed(pitch, beat, min(beat + unit, total_beats), clock, velocity, rng))
            beat += unit
    return notes


def _timed(pitch: int, start: float, end: float, clock: _Clock, velocity: tuple[int, float],
           rng: np.random.Generator, legato: float | None = None) -> TimedNote:
    """A grid note (beats) played: humanized times, articulation, velocity around ``velocity``."""
    base, spread = velocity
    on = clock.seconds(start)
    articulation = legato if legato is not None else float(rng.uniform(0.55, 1.0))
    off = max(on + 0.03, clock.seconds(start + (end - start) * articulation, humanize=False))
    accent = 8 if abs(start - round(start)) < 1e-6 else 0
    vel = int(np.clip(base + accent + rng.normal(0, spread), 1, 127))
    return TimedNote(int(pitch), on, off, vel)


def _bass(rng, chords, sub, register, clock, velocity) -> list[TimedNote]:
    """Roots (sometimes fifths and passing notes) in one of a few rhythms per piece."""
    pattern = int(rng.integers(4))
    notes = []
    for start, end, pcs in chords:
        root = _place(pcs[0], register[0], register[1], rng) if not notes else min(
            (p for p in range(register[0], register[1] + 1) if p % 12 == pcs[0]),
            key=lambda p: abs(p - notes[-1].pitch))
        if pattern == 0:
            hits = [(start, end, root)]
        elif pattern == 1:
            hits = [(b, b + 1, root if k % 2 == 0 else root + 7 - (12 if root + 7 > register[1] else 0))
                    for k, b in enumerate(np.arange(start, end, 1.0))]
        elif pattern == 2:
            hits = [(b, b + 0.5, root) for b in np.arange(start, end, 0.5)]
        else:
            middle = start + (end - start) / 2
            hits = [(start, middle, root), (middle, end, root + 12 if root + 12 <= register[1] else root)]
        notes += [_timed(p, a, b, clock, velocity, rng) for a, b, p in hits]
    return notes


def _voicing(rng, pcs, register) -> list[int]:
    low, high = register
    size = int(rng.integers(3, 6))
    start = _place(pcs[0] if rng.random() < 0.5 else int(rng.choice(pcs)), low, low + 12, rng)
    voices, pc_cycle = [start], [p for p in pcs if p != start % 12] + pcs
    for pc in pc_cycle[: size - 1]:
        nxt = voices[-1] + ((pc - voices[-1]) % 12 or 12)
        if rng.random() < 0.3:
            nxt += 12  # open voicing
        if nxt <= high:
            voices.append(nxt)
    return voices


def _pad(rng, chords, register, clock, velocity) -> list[TimedNote]:
    """Sustained chords, voiced at random, held for each chord's length."""
    return [_timed(p, start, end, clock, velocity, rng, legato=1.0)
            for start, end, pcs in chords for p in _voicing(rng, pcs, register)]


def _comp(rng, chords, sub, register, clock, velocity) -> list[TimedNote]:
    """Polyphonic comping: block-chord rhythms or broken-chord arpeggios."""
    arpeggio = rng.random() < 0.5
    unit = 1.0 / int(rng.choice([1, 2, sub]))
    rhythm = rng.random(16) < 0.6
    notes = []
    for start, end, pcs in chords:
        voices = _voicing(rng, pcs, register)
        for k, b in enumerate(np.arange(start, end - 1e-9, unit)):
            if arpeggio:
                notes.append(_timed(voices[k % len(voices)], b, b + unit, clock, velocity, rng))
            elif rhythm[k % 16] or k == 0:
                notes += [_timed(p, b, b + unit, clock, velocity, rng) for p in voices]
    return notes


def _drums(rng, total_beats, beats_per_bar, sub, clock) -> list[TimedNote]:
    """A drum kit: a pattern per voice drawn for the piece, crashes on some bar starts, fills."""
    steps = beats_per_bar * sub
    voices = {name: int(rng.choice(pitches)) for name, pitches in DRUM_VOICES.items()}
    patterns = {
        "kick": rng.random(steps) < 0.25, "snare": rng.random(steps) < 0.2,
        "hat": rng.random(steps) < float(rng.choice([0.0, 0.5, 0.9])),
        "ride": rng.random(steps) < float(rng.choice([0.0, 0.0, 0.5])),
        "perc": rng.random(steps) < float(rng.choice([0.0, 0.0, 0.3])),
    }
    patterns["kick"][0] = True
    if beats_per_bar > 1:
        patterns["snare"][sub] = True
    notes = []
    for bar in range(int(np.ceil(total_beats / beats_per_bar))):
        fill = rng.random() < 0.12
        if rng.random() < 0.15:
            notes.append(_timed(49, bar * beats_per_bar, bar * beats_per_bar + 1, clock, (100, 10), rng, 1.0))
        for s in range(steps):
            beat = bar * beats_per_bar + s / sub
            if beat >= total_beats:
                break
            if fill and s >= steps // 2:
                if rng.random() < 0.6:
                    tom = int(rng.choice(DRUM_VOICES["tom"]))
                    notes.append(_timed(tom, beat, beat + 1 / sub, clock, (95, 12), rng))
                continue
            for name, hits in patterns.items():
                if hits[s]:
                    notes.append(_timed(voices[name], beat, beat + 1 / sub, clock, (90, 15), rng))
    return notes


def random_arrangement(seed: int, stream: int = TRAIN_STREAM, min_seconds: float = 16.0,
                       max_seconds: float = 34.0) -> Performance:
    """One arrangement of ``min_seconds``..``max_seconds`` (whole bars), deterministic for (seed, stream)."""
    rng = _rng(seed, stream)
    key = Key(int(rng.integers(12)), str(rng.choice(["major", "minor"])))
    beats_per_bar, sub = METERS[int(rng.integers(len(METERS)))]
    bpm = float(rng.uniform(50, 200)) if sub == 4 else float(rng.uniform(40, 120))  # 6/8: dotted-quarter beat
    beat_seconds = 60.0 / bpm
    bars = max(1, int(rng.uniform(min_seconds, max_seconds) / (beats_per_bar * beat_seconds)))
    total_beats = bars * beats_per_bar
    chords = _progression(rng, key, bars, beats_per_bar)
    clock = _Clock(bpm, rng)
    drums = rng.random() < 0.5
    pitched = int(rng.integers(1, 6 if drums else 7))
    roles = ["lead"] + list(rng.choice(["bass", "pad", "comp", "counter", "comp", "pad"], size=pitched - 1,
                                       replace=False))
    parts = []
    for i, role in enumerate(roles):
        family = ROLE_FAMILIES.get(role)
        program = int(rng.choice(family)) if family is not None and rng.random() < 0.7 else int(rng.integers(128))
        velocity = (int(rng.integers(50, 116)), float(rng.uniform(4, 14)))
        shift = int(rng.integers(-7, 8))
        register = (ROLE_REGISTERS[role][0] + shift, ROLE_REGISTERS[role][1] + shift)
        if role in ("lead", "counter"):
            notes = _lead(rng, key, chords, total_beats, sub, register, clock, velocity,
                          density=0.85 if role == "lead" else 0.55)
        elif role == "bass":
            notes = _bass(rng, chords, sub, register, clock, velocity)
        elif role == "pad":
            notes = _pad(rng, chords, register, clock, velocity)
        else:
            notes = _comp(rng, chords, sub, register, clock, velocity)
        parts.append(Part(f"{role}{i}", program, notes))
    if drums:
        parts.append(Part("drums", 0, _drums(rng, total_beats, beats_per_bar, sub, clock), is_drum=True))
    order = rng.permutation(len(parts))
    return Performance([parts[i] for i in order], clock.seconds(total_beats, humanize=False), key)


def heldout_arrangement(seed: int) -> Performance:
    """An arrangement from the held-out seed space (benchmarks only; never used for training)."""
    return random_arrangement(seed, stream=HELDOUT_STREAM)


def dev_arrangement(seed: int) -> Performance:
    """An arrangement from the dev seed space (choosing between models; never trained on or benchmarked)."""
    return random_arrangement(seed, stream=DEV_STREAM)
