"""Ground truth for the benchmarks: how audible key and tempo labels are on FluidSynth renders of
corpus windows (as they are, or moved to a benchmark's own labels)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from audiodiff.corpus.items import normalize_loudness
from audiodiff.eval.clips import load_plan
from audiodiff.eval.estimators import Adherence, audio_adherence
from audiodiff.io.audio import read_audio
from audiodiff.music.plan import Plan
from audiodiff.music.theory import Key, Meter, estimate_key


def window_adherence(data: str | Path, row: dict[str, Any]) -> Adherence:
    """How audible a corpus window's labels are: key and tempo estimated from its audio, scored
    against its plan's key and tempo (``row`` from :func:`audiodiff.io.manifest.read_manifest`)."""
    audio, rate = read_audio(Path(data) / row["audio"])
    plan = load_plan(Path(data) / row["plan"])
    return audio_adherence(audio, rate, plan.key, plan.bpm)


def plan_notes_key(plan: Plan) -> Key:
    """The key of a plan's pitched notes (duration-weighted pitch classes, key profiles): what its
    notes say, with no audio in between."""
    weights = np.zeros(12)
    for n in (n for t in plan.tracks if not t.is_drum for n in t.notes):
        weights[n.pitch % 12] += n.duration
    return estimate_key(weights)


def relabelled_plan(plan: Plan, key: Key, bpm: float) -> Plan:
    """``plan`` moved to ``key`` (its own mode; the nearest transposition, -5..+6 semitones) and
    played at ``bpm``."""
    if key.mode != plan.key.mode:
        raise ValueError(f"cannot move a {plan.key.mode} plan to {key.name}")
    shift = (key.tonic - plan.key.tonic) % 12
    return replace(plan.transpose(shift - 12 if shift > 6 else shift), bpm=float(bpm))


def matched_ground_truth(data: str | Path, rows: list[dict[str, Any]], labels: Sequence[tuple[Key, float, Meter]],
                         renderer: Any, loudness_db: float = -20.0, progress: bool = False) -> list[Adherence]:
    """How audible a benchmark's own labels are on real renders: for each ``(key, bpm, meter)``, the
    next corpus window of ``rows`` (:func:`audiodiff.io.manifest.read_manifest`) in that mode and
    meter (each in turn; in that mode if no window has the meter), its plan moved to the key and tempo
    (:func:`relabelled_plan`), rendered with ``renderer`` (:class:`audiodiff.corpus.render.Renderer`)
    at the corpus loudness (RMS dBFS) and scored by the estimators. ValueError, before anything is
    rendered, if a label's mode has no window. ``progress`` shows a progress bar on stderr.

    The corpus windows' own tempos are spread over 60-180 bpm; a benchmark's grid may put labels
    where an estimator is weak (on a tempo-bin edge, say), so this is the control with the same labels.
    """
    pools: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for row in rows:
        for group in ((row["mode"], row["meter"]), (row["mode"], None)):
            pools.setdefault(group, []).append(row)
    missing = sorted({key.mode for key, _, _ in labels if (key.mode, None) not in pools})
    if missing:
        raise ValueError(f"{data}: the test split has no {' or '.join(missing)} window to render as ground truth")
    taken: dict[tuple[str, str | None], int] = {}
    scores = []
    for key, bpm, meter in tqdm(labels, desc="matched ground truth", disable=not progress):
        group = (key.mode, meter.name) if (key.mode, meter.name) in pools else (key.mode, None)
        turn = taken.get(group, 0)
        taken[group] = turn + 1
        plan = relabelled_plan(load_plan(Path(data) / pools[group][turn % len(pools[group])]["plan"]), key, bpm)
        audio = normalize_loudness(renderer.render(plan), loudness_db)
        scores.append(audio_adherence(audio, renderer.sample_rate, key, bpm))
    return scores
