"""One corpus item: a tune in a chosen key, tempo and instrumentation, rendered and windowed."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from audiodiff.corpus.config import DataConfig
from audiodiff.corpus.harmonize import chord_of_notes, harmonize
from audiodiff.io.atomic import atomic_path, write_json_atomic
from audiodiff.music.arrange import ArrangementStyle, arrange
from audiodiff.music.plan import TAIL_SECONDS, Note, Plan, Track
from audiodiff.music.theory import Key
from audiodiff.seeds import stable_hash

MAX_REPEATS = 4
MELODY_MEDIAN_RANGE = (62, 74)  # octave placement of transposed melodies (MIDI pitch of the median)


@dataclass(frozen=True)
class ItemSpec:
    """Everything random about an item, drawn up front so rendering is a pure function of it."""

    item_id: str
    tune_id: str
    source: str
    split: str
    semitones: int
    bpm: int
    repeats: int
    melody_program: int
    bass_program: int
    comp_program: int
    drums: bool
    variant: int
    seed: int


def is_melody(plan: Plan) -> bool:
    return sum(not t.is_drum for t in plan.tracks) == 1


def add_chords(plan: Plan) -> Plan:
    """Fill in a chord per beat: harmonize a lone melody, name the chords of a multi-part piece."""
    if any(plan.chords):
        return plan
    meter = plan.meter
    if is_melody(plan):
        per_chord = meter.steps_per_bar // 2 if meter.name == "4/4" else meter.steps_per_bar
        return replace(plan, chords=harmonize(plan, per_chord))
    notes = [n for t in plan.tracks if not t.is_drum for n in t.notes]
    spb = meter.steps_per_beat
    return replace(plan, chords=[chord_of_notes(notes, b * spb, (b + 1) * spb, plan.key)
                                 for b in range(plan.num_beats)])


def repeat(plan: Plan, times: int) -> Plan:
    """The plan played ``times`` times in a row."""
    n = plan.num_steps
    tracks = [replace(t, notes=[replace(x, start=x.start + k * n) for k in range(times) for x in t.notes])
              for t in plan.tracks]
    return replace(plan, tracks=tracks, chords=plan.chords * times, num_steps=n * times)


def window_starts(plan: Plan, window_seconds: float, max_windows: int) -> list[int]:
    """Grid steps where windows start: bar lines, each window fully inside the rendered audio,
    the next one at the first bar line after the previous window ends."""
    bar = plan.meter.steps_per_bar
    limit = plan.seconds + TAIL_SECONDS
    starts, step = [], 0
    while len(starts) < max_windows and plan.step_to_seconds(step) + window_seconds <= limit:
        starts.append(step)
        end = plan.step_to_seconds(step) + window_seconds
        step = -(-int(np.ceil(end / plan.seconds_per_step - 1e-9)) // bar) * bar
    return starts


def split_tunes(tune_ids: list[str], config: DataConfig) -> dict[str, str]:
    """Assign whole tunes to train/val/test (no tune in two splits), deterministic for the seed."""

    order = sorted(tune_ids, key=lambda t: stable_hash(config.seed, t))
    n = len(order)
    n_test = max(int(round(n * config.test_fraction)), 1 if n >= 3 else 0)
    n_val = max(int(round(n * config.val_fraction)), 1 if n >= 3 else 0)
    return {t: ("test" if i < n_test else "val" if i < n_test + n_val else "train")
            for i, t in enumerate(order)}


def _semitones_to(key: Key, tonic: int) -> int:
    """Smallest transposition (-6..5) taking key's tonic to ``tonic``."""
    return (tonic - key.tonic + 6) % 12 - 6


def build_item_specs(rows: list[dict], splits: dict[str, str], config: DataConfig) -> list[ItemSpec]:
    """Draw the items of every split: keys balanced over all 24, tempos and programs at random.

    With ``target_hours`` each split gets its share of hours, major and minor filled alternately
    (minor tunes are rarer, so they come back in other keys sooner); without it every tune gets
    ``transpositions`` keys. Within a mode, target tonics rotate through the 12 pitch classes.
    """
    plans = {r["tune_id"]: Plan.from_dict(r["plan"]) for r in rows}
    sources = {r["tune_id"]: r["source"] for r in rows}
    fractions = {"train": 1 - config.val_fraction - config.test_fraction,
                 "val": config.val_fraction, "test": config.test_fraction}
    specs: list[ItemSpec] = []
    for split_index, split in enumerate(("train", "val", "test")):
        tunes = [t for t in sorted(plans) if splits[t] == split]
        draw = _SplitDraw(split, split_index, {t: plans[t] for t in tunes}, sources, config)
        if config.target_hours is None:
            specs += [draw.item(t) for t in tunes for _ in range(config.transpositions)]
        else:
            specs += draw.items_for_hours(config.target_hours * fractions[split])
    return specs


class _SplitDraw:
    """The items of one split, drawn from one random stream (``[config.seed, split_index]``)."""

    def __init__(self, split: str, split_index: int, plans: dict[str, Plan], sources: dict[str, str],
                 config: DataConfig) -> None:
        self.split, self.plans, self.sources, self.config = split, plans, sources, config
        self.rng = np.random.default_rng([config.seed, split_index])
        self.by_mode: dict[str, list[str]] = defaultdict(list)
        for tune_id in plans:
            self.by_mode[plans[tune_id].key.mode].append(tune_id)
        self.next_tonic = {mode: int(self.rng.integers(12)) for mode in ("major", "minor")}
        self.uses: dict[str, int] = defaultdict(int)

    def item(self, tune_id: str) -> ItemSpec:
        """The next item of ``tune_id``: the mode's next tonic, a random tempo, band and seed."""
        plan, config, rng = self.plans[tune_id], self.config, self.rng
        mode = plan.key.mode
        tonic = self.next_tonic[mode]
        self.next_tonic[mode] = (tonic + 5) % 12  # step by fourths: every tonic within 12 items
        bpm = int(rng.integers(config.bpm_range[0], config.bpm_range[1] + 1))
        repeats = 1
        while repeats < MAX_REPEATS and not window_starts(
                replace(repeat(plan, repeats), bpm=bpm), config.window_seconds, 1):
            repeats += 1
        melody = is_melody(plan)
        programs = config.melody_programs if melody else config.ensemble_programs
        k = self.uses[tune_id]
        self.uses[tune_id] += 1
        return ItemSpec(
            item_id=f"{tune_id.replace('/', '_').replace('#', '_')}-{k}", tune_id=tune_id,
            source=self.sources[tune_id], split=self.split, semitones=_semitones_to(plan.key, tonic),
            bpm=bpm, repeats=repeats, melody_program=int(rng.choice(programs)),
            bass_program=int(rng.choice(config.bass_programs)),
            comp_program=int(rng.choice(config.comp_programs)),
            drums=bool(melody and rng.random() < config.drums_probability),
            variant=int(rng.integers(2)), seed=int(rng.integers(2**31)))

    def hours(self, spec: ItemSpec) -> float:
        """Hours of audio the item's windows hold."""
        plan = replace(repeat(self.plans[spec.tune_id], spec.repeats), bpm=spec.bpm)
        windows = window_starts(plan, self.config.window_seconds, self.config.max_windows_per_item)
        return len(windows) * self.config.window_seconds / 3600

    def items_for_hours(self, target: float) -> list[ItemSpec]:
        """Items until their windows hold ``target`` hours, the mode with fewer hours drawing next;
        each mode goes through its tunes in a random order, then again."""
        hours = {mode: 0.0 for mode in self.by_mode}
        queues: dict[str, list[str]] = {mode: [] for mode in self.by_mode}
        specs = []
        while self.by_mode and sum(hours.values()) < target:
            mode = min(hours, key=lambda m: hours[m])
            if not queues[mode]:
                queues[mode] = list(self.rng.permutation(self.by_mode[mode]))
            spec = self.item(str(queues[mode].pop()))
            gained = self.hours(spec)
            if gained == 0 and all(self.uses[t] > 0 for t in self.by_mode[mode]):
                hours[mode] = float("inf")  # this mode's tunes yield no window at all
                continue
            hours[mode] += gained
            specs.append(spec)
        return specs


def realize(spec: ItemSpec, plan: Plan) -> Plan:
    """The full plan of an item: repeated, transposed, at its tempo, arranged, humanized."""
    rng = np.random.default_rng(spec.seed)
    plan = replace(repeat(plan, spec.repeats), bpm=float(spec.bpm)).transpose(spec.semitones)
    if not is_melody(plan):
        if spec.source == "bach":
            plan = replace(plan, tracks=[replace(t, program=spec.melody_program) for t in plan.tracks])
        return plan
    melody = plan.tracks[0]
    median = int(np.median([n.pitch for n in melody.notes]))
    octave = 0
    while median + octave < MELODY_MEDIAN_RANGE[0]:
        octave += 12
    while median + octave > MELODY_MEDIAN_RANGE[1]:
        octave -= 12
    bar = plan.meter.steps_per_bar
    notes = [Note(n.pitch + octave, n.start, n.duration,
                  int(np.clip(88 + (8 if n.start % bar == 0 else 0) + rng.integers(-6, 7), 1, 127)))
             for n in melody.notes]
    plan = replace(plan, tracks=[Track("melody", spec.melody_program, notes)])
    style = ArrangementStyle(spec.bass_program, spec.comp_program, spec.drums, spec.variant)
    return arrange(plan, style, rng)


def write_flac(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write 16-bit FLAC through a temporary file and a rename (parents are created)."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        sf.write(tmp, audio, sample_rate, format="FLAC", subtype="PCM_16")


def normalize_loudness(audio: np.ndarray, rms_db: float, peak: float = 0.98) -> np.ndarray:
    """Scale to an RMS level in dBFS, then down if needed so the peak stays below ``peak``."""
    rms = float(np.sqrt(np.mean(audio ** 2)))
    if rms == 0:
        return audio
    audio = audio * (10 ** (rms_db / 20) / rms)
    top = float(np.abs(audio).max())
    return audio * (peak / top) if top > peak else audio


def render_item(renderer, spec: ItemSpec, plan: Plan, out: Path, config: DataConfig) -> dict:
    """Render an item and write its windows; returns the item record (manifest rows inside)."""
    plan = realize(spec, plan)
    starts = window_starts(plan, config.window_seconds, config.max_windows_per_item)
    record = {"item_id": spec.item_id, "split": spec.split, "tune_id": spec.tune_id,
              "spec": asdict(spec), "windows": [], "skip": None if starts else "no full window"}
    if not starts:
        return record
    audio = normalize_loudness(renderer.render(plan), config.loudness_rms_db)
    sr = config.sample_rate
    length = int(round(config.window_seconds * sr))
    window_steps = int(np.ceil(config.window_seconds / plan.seconds_per_step - 1e-9))
    for w, step in enumerate(starts):
        name = f"{spec.item_id}_w{w:02d}"
        first = int(round(plan.step_to_seconds(step) * sr))
        audio_path = Path("audio") / spec.split / f"{name}.flac"
        plan_path = Path("plans") / spec.split / f"{name}.json"
        for p in (audio_path, plan_path):
            (out / p).parent.mkdir(parents=True, exist_ok=True)
        write_flac(out / audio_path, audio[first:first + length], sr)
        window_plan = plan.crop(step, window_steps)
        write_json_atomic(out / plan_path, window_plan.to_dict())
        record["windows"].append({
            "id": name, "audio": str(audio_path), "plan": str(plan_path), "sample_rate": sr,
            "num_samples": length, "seconds": config.window_seconds,
            "start_seconds": round(first / sr, 6), "key": plan.key.name, "mode": plan.key.mode,
            "bpm": plan.bpm, "meter": plan.meter.name, "programs": plan.programs,
            "drums": spec.drums, "tune_id": spec.tune_id, "source": spec.source,
            "item_id": spec.item_id, "split": spec.split,
        })
    return record
