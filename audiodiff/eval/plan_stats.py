"""Per-piece statistics of a plan's melody, chords and form, for comparing sets of plans.

Pitch classes and chord roots are counted from the key's tonic (0 = tonic), so pieces in
different keys compare by scale degree. Times are 16th steps. The melody is the plan's first
pitched track, read as the structure model sees it: one note at a time (see
:func:`model_view`).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from audiodiff.music.plan import Note, Plan
from audiodiff.music.theory import CHORD_QUALITIES, Chord

# inter-onset intervals and note lengths (16th steps) fall in these bins: 1, 2, 3, 4, 5-6, 7-8,
# 9-12, 13-16, 17+
TIME_BIN_EDGES = (1, 2, 3, 4, 5, 7, 9, 13, 17)
QUALITIES = tuple(CHORD_QUALITIES)
STEP_MAX, LEAP_MIN = 2, 5  # steps: 1-2 semitones; leaps: more than 4
SIMILARITY_LAGS = (1, 2, 4, 8)  # bars
PHRASE_BARS, PHRASE_MATCH = 2, 0.75


def model_view(plan: Plan, bars: int | None = None) -> Plan:
    """The plan's first ``bars`` bars as melody-and-chord tokens would carry them: the top note at
    each onset, each note cut where the next begins, pitches folded into the token range."""
    from audiodiff.structure.tokens import plan_to_tokens, tokens_to_plan  # torch-free, but heavy

    if bars is not None:
        plan = plan.crop(0, min(bars * plan.meter.steps_per_bar, plan.num_steps))
    return tokens_to_plan(plan_to_tokens(plan), plan.bpm)


def melody_notes(plan: Plan) -> list[Note]:
    """The melody's notes in time order (empty without a melody)."""
    return sorted(plan.melody.notes, key=lambda n: (n.start, -n.pitch)) if plan.melody else []


def intervals(plan: Plan) -> np.ndarray:
    """Absolute semitone intervals between consecutive melody notes [n - 1]."""
    pitches = np.array([n.pitch for n in melody_notes(plan)])
    return np.abs(np.diff(pitches)) if len(pitches) > 1 else np.zeros(0, dtype=np.int64)


def _time_histogram(values: list[int]) -> np.ndarray:
    """Share of ``values`` in each TIME_BIN_EDGES bin [len(TIME_BIN_EDGES)]."""
    counts = np.zeros(len(TIME_BIN_EDGES))
    for v in values:
        counts[int(np.searchsorted(TIME_BIN_EDGES, v, side="right")) - 1 if v >= 1 else 0] += 1
    return counts / max(counts.sum(), 1)


# -- melody: Yang & Lerch's features ------------------------------------------------------------

def pitch_count(plan: Plan) -> float:
    """Distinct MIDI pitches of the melody."""
    return float(len({n.pitch for n in melody_notes(plan)}))


def pitch_range(plan: Plan) -> float:
    """Highest minus lowest melody pitch (semitones; 0 without notes)."""
    pitches = [n.pitch for n in melody_notes(plan)]
    return float(max(pitches) - min(pitches)) if pitches else 0.0


def pitch_class_histogram(plan: Plan) -> np.ndarray:
    """Share of melody notes on each pitch class above the tonic [12]."""
    counts = np.bincount([(n.pitch - plan.key.tonic) % 12 for n in melody_notes(plan)], minlength=12)
    return counts / max(counts.sum(), 1)


def pitch_class_transitions(plan: Plan) -> np.ndarray:
    """Share of consecutive melody note pairs going from pitch class i to j (above the tonic) [12, 12]."""
    pcs = [(n.pitch - plan.key.tonic) % 12 for n in melody_notes(plan)]
    matrix = np.zeros((12, 12))
    for a, b in zip(pcs, pcs[1:]):
        matrix[a, b] += 1
    return matrix / max(matrix.sum(), 1)


def average_interval(plan: Plan) -> float:
    """Mean absolute interval between consecutive melody notes (semitones)."""
    steps = intervals(plan)
    return float(steps.mean()) if len(steps) else 0.0


def note_count(plan: Plan) -> float:
    """Melody notes."""
    return float(len(melody_notes(plan)))


def ioi_histogram(plan: Plan) -> np.ndarray:
    """Share of inter-onset intervals (16th steps) in each TIME_BIN_EDGES bin."""
    starts = sorted({n.start for n in melody_notes(plan)})
    return _time_histogram([b - a for a, b in zip(starts, starts[1:])])


def note_length_histogram(plan: Plan) -> np.ndarray:
    """Share of melody note durations (16th steps) in each TIME_BIN_EDGES bin."""
    return _time_histogram([n.duration for n in melody_notes(plan)])


# -- chords -------------------------------------------------------------------------------------

def _chords(plan: Plan) -> list[Chord | None]:
    return list(plan.chords[: plan.num_beats])


def chord_count(plan: Plan) -> float:
    """Distinct chords (root and quality) the plan uses."""
    return float(len({c for c in _chords(plan) if c is not None}))


def chord_histogram(plan: Plan) -> np.ndarray:
    """Share of chord beats on each (root above the tonic, quality) [12 * len(QUALITIES)]."""
    counts = np.zeros(12 * len(QUALITIES))
    for c in _chords(plan):
        if c is not None:
            counts[((c.root - plan.key.tonic) % 12) * len(QUALITIES) + QUALITIES.index(c.quality)] += 1
    return counts / max(counts.sum(), 1)


def chord_changes_per_bar(plan: Plan) -> float:
    """Beats whose chord differs from the previous beat's, per bar."""
    chords = _chords(plan)
    return sum(a != b for a, b in zip(chords, chords[1:])) / max(plan.num_bars, 1)


def ends_on_tonic_chord(plan: Plan) -> bool:
    """The last chord is built on the tonic."""
    last = next((c for c in reversed(_chords(plan)) if c is not None), None)
    return last is not None and last.root == plan.key.tonic


def authentic_cadence(plan: Plan) -> bool:
    """The last two distinct chords are the dominant (major or 7th) then the tonic."""
    chords = [c for c in _chords(plan) if c is not None]
    distinct = [c for i, c in enumerate(chords) if i == 0 or c != chords[i - 1]]
    if len(distinct) < 2 or not ends_on_tonic_chord(plan):
        return False
    before = distinct[-2]
    return (before.root - plan.key.tonic) % 12 == 7 and before.quality in ("maj", "7")


# -- form: how bars and phrases return ----------------------------------------------------------

def bar_contents(plan: Plan) -> list[frozenset[tuple[int, int]]]:
    """Each bar's melody as a set of (onset within the bar, pitch above the tonic)."""
    bar = plan.meter.steps_per_bar
    out: list[set[tuple[int, int]]] = [set() for _ in range(plan.num_bars)]
    for n in melody_notes(plan):
        if 0 <= n.start < plan.num_bars * bar:
            out[n.start // bar].add((n.start % bar, n.pitch - plan.key.tonic))
    return [frozenset(s) for s in out]


def jaccard(a: frozenset, b: frozenset) -> float:
    """|a & b| / |a | b| (1 for two empty sets)."""
    return len(a & b) / len(a | b) if a | b else 1.0


def similarity_by_lag(plan: Plan) -> np.ndarray:
    """Mean melody similarity (Jaccard of onset-pitch sets) of bars SIMILARITY_LAGS bars apart [4]."""
    bars = bar_contents(plan)
    return np.array([np.mean([jaccard(bars[b], bars[b - lag]) for b in range(lag, len(bars))])
                     if len(bars) > lag else 0.0 for lag in SIMILARITY_LAGS])


def repeated_bars(plan: Plan) -> float:
    """Share of bars whose melody repeats an earlier bar's exactly (empty bars excluded)."""
    bars, seen, repeats = bar_contents(plan), set(), 0
    for content in bars:
        repeats += bool(content) and content in seen
        seen.add(content)
    return repeats / max(len(bars), 1)


def phrase_returns(plan: Plan) -> float:
    """Share of PHRASE_BARS-bar phrases (from the second on, at multiples of PHRASE_BARS) whose
    melody is at least PHRASE_MATCH similar to an earlier phrase: how often a phrase comes back."""
    bars = bar_contents(plan)
    phrases = [frozenset((b, x) for b in range(PHRASE_BARS) for x in bars[start + b])
               for start in range(0, len(bars) - PHRASE_BARS + 1, PHRASE_BARS)]
    if len(phrases) < 2:
        return 0.0
    return float(np.mean([max(jaccard(p, q) for q in phrases[:i]) >= PHRASE_MATCH
                          for i, p in enumerate(phrases) if i > 0]))


# -- the feature sets the structure benchmark compares ------------------------------------------

Feature = Callable[[Plan], float | np.ndarray]
MELODY_FEATURES: dict[str, Feature] = {
    "pitch count": pitch_count,
    "pitch range": pitch_range,
    "pitch-class histogram": pitch_class_histogram,
    "pitch-class transitions": pitch_class_transitions,
    "average interval": average_interval,
    "note count": note_count,
    "inter-onset-interval histogram": ioi_histogram,
    "note-length histogram": note_length_histogram,
}
CHORD_FEATURES: dict[str, Feature] = {
    "chord vocabulary": chord_count,
    "chord histogram": chord_histogram,
    "chord changes per bar": chord_changes_per_bar,
}
FORM_FEATURES: dict[str, Feature] = {
    "bar similarity by lag (1, 2, 4, 8)": similarity_by_lag,
    "bars repeating an earlier bar": repeated_bars,
    "2-bar phrases that return": phrase_returns,
}


def interval_rates(plans: list[Plan]) -> dict[str, float]:
    """Over all melody intervals of the plans: share of repeated notes (0), steps (1-2 semitones),
    skips (3-4) and leaps (> 4); and melody notes per bar."""
    steps = np.concatenate([intervals(p) for p in plans]) if plans else np.zeros(0)
    n = max(len(steps), 1)
    return {"repeated": float((steps == 0).sum() / n),
            "step": float(((steps >= 1) & (steps <= STEP_MAX)).sum() / n),
            "skip": float(((steps > STEP_MAX) & (steps < LEAP_MIN)).sum() / n),
            "leap": float((steps >= LEAP_MIN).sum() / n),
            "notes per bar": sum(len(melody_notes(p)) for p in plans) / max(sum(p.num_bars for p in plans), 1)}
