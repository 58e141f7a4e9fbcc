"""Build the training corpus: tunes -> plans (index) -> arranged, rendered, windowed items.

Layout of an output directory::

    config.json                 the resolved DataConfig (a rerun with another config is refused)
    index/chunk-NNNNN.jsonl     parsed tunes: {"tune_id", "source", "plan"} or {"skip": reason}
    tunes_<split>.jsonl         every usable tune of the split as a full plan (structure model data)
    items/<split>/<item>.json   one record per rendered item, written last: the item is done
    audio/<split>/<item>_wNN.flac, plans/<split>/<item>_wNN.json   the windows
    <split>.jsonl               the manifest: one row per window with its labels
    summary.json                counts, hours, skip reasons, key histogram

Every file is written to a temporary name and renamed, so a killed run leaves no corrupt file and
a rerun skips finished chunks and items.
"""
from __future__ import annotations

import json
import multiprocessing
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiodiff.corpus.arrangement_items import ArrangementSpec, arrangement_specs, render_arrangement_item
from audiodiff.corpus.config import DataConfig
from audiodiff.corpus.items import ItemSpec, build_item_specs, render_item, split_tunes
from audiodiff.corpus.sources import SkipTune, TuneSource, iter_abc_tunes, iter_chorales, iter_midi_dir, tune_to_plan
from audiodiff.io.atomic import temp_glob, write_json_atomic, write_text_atomic
from audiodiff.io.manifest import jsonl_text, read_jsonl
from audiodiff.music.plan import Plan

SPLITS = ("train", "val", "test")
PARSE_SECONDS_LIMIT = 20.0


def _clean_temporaries(out: Path) -> None:
    for tmp in out.rglob(temp_glob()):
        tmp.unlink(missing_ok=True)


def _check_config(out: Path, config: DataConfig, midi_dir: str | None) -> None:
    resolved = {**config.to_dict(), "midi_dir": midi_dir}
    path = out / "config.json"
    if path.exists():
        previous = json.loads(path.read_text())
        defaults = json.loads(json.dumps(DataConfig(name=config.name).to_dict()))
        previous = {**{k: v for k, v in defaults.items() if k not in previous}, **previous}  # fields added later
        if previous != json.loads(json.dumps(resolved)):
            raise ValueError(f"{out} was built with another config; use a new --out directory")
    else:
        write_json_atomic(path, resolved, indent=1)


def _tune_sources(config: DataConfig, midi_dir: str | None) -> list[TuneSource]:
    tunes = list(iter_abc_tunes(config.abc_sources))
    if config.chorales:
        tunes += list(iter_chorales())
    if midi_dir:
        tunes += list(iter_midi_dir(midi_dir))
    if config.max_tunes is not None and config.max_tunes < len(tunes):
        rng = np.random.default_rng(config.seed)
        keep = sorted(rng.choice(len(tunes), config.max_tunes, replace=False))
        tunes = [tunes[i] for i in keep]
    return tunes


class _Timeout(Exception):
    pass


def _raise_timeout(signum, frame) -> None:
    raise _Timeout


def _parse_with_limit(tune: TuneSource, seconds: float) -> Plan:
    """Parse and harmonize one tune; SkipTune('parse timeout') after ``seconds`` (music21 can take
    minutes expanding the repeats of a few very long tunes)."""
    from audiodiff.corpus.items import add_chords

    previous = signal.signal(signal.SIGALRM, _raise_timeout)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return add_chords(tune_to_plan(tune))
    except _Timeout:
        raise SkipTune("parse timeout") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _parse_chunk(job: tuple[int, list[TuneSource]]) -> tuple[int, list[dict]]:
    index, chunk = job
    rows = []
    for tune in chunk:
        try:
            plan = _parse_with_limit(tune, PARSE_SECONDS_LIMIT)
            rows.append({"tune_id": tune.tune_id, "source": tune.source, "plan": plan.to_dict()})
        except SkipTune as exc:
            rows.append({"tune_id": tune.tune_id, "source": tune.source, "skip": exc.reason})
    return index, rows


def _pool_map(fn: Callable, jobs: list, workers: int, progress: bool, desc: str,
              initializer: Callable | None = None, initargs: tuple = ()) -> Iterator:
    """Run fn over jobs in worker processes (or inline for workers <= 1), yielding as they finish."""
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc=desc, disable=not progress, unit="job", smoothing=0.05)
    if workers <= 1:
        if initializer:
            initializer(*initargs)
        for job in jobs:
            yield fn(job)
            bar.update()
    else:
        context = multiprocessing.get_context("spawn")
        with context.Pool(workers, initializer=initializer, initargs=initargs) as pool:
            for result in pool.imap_unordered(fn, jobs):
                yield result
                bar.update()
    bar.close()


def build_index(out: Path, config: DataConfig, midi_dir: str | None, workers: int,
                progress: bool) -> list[dict]:
    """Parse every selected tune once (chunked, resumable); returns all index rows in order."""
    tunes = _tune_sources(config, midi_dir)
    size = config.index_chunk_size
    chunks = [tunes[i:i + size] for i in range(0, len(tunes), size)]
    paths = [out / "index" / f"chunk-{i:05d}.jsonl" for i in range(len(chunks))]
    todo = [(i, chunk) for i, (chunk, p) in enumerate(zip(chunks, paths)) if not p.exists()]
    (out / "index").mkdir(exist_ok=True)
    for index, rows in _pool_map(_parse_chunk, todo, workers, progress, "index tunes"):
        write_text_atomic(paths[index], jsonl_text(rows))
    return [row for p in paths for row in read_jsonl(p)]


_RENDERER = None


def _init_worker(soundfont: str | None, sample_rate: int) -> None:
    global _RENDERER
    from audiodiff.corpus.render import Renderer

    _RENDERER = Renderer(soundfont, sample_rate)


@dataclass
class _RenderJob:
    out: Path
    config: DataConfig

    def __call__(self, job: tuple[ItemSpec | ArrangementSpec, dict | None]) -> dict:
        spec, plan = job
        if isinstance(spec, ArrangementSpec):
            return render_arrangement_item(_RENDERER, spec, self.out, self.config)
        assert plan is not None
        return render_item(_RENDERER, spec, Plan.from_dict(plan), self.out, self.config)


def prepare(out: str | Path, config: DataConfig, *, midi_dir: str | None = None, workers: int = 1,
            soundfont: str | None = None, progress: bool = False, tunes_only: bool = False) -> dict:
    """Build (or resume) the corpus in ``out``; returns the summary also written to summary.json.

    ``tunes_only``: stop after the index and ``tunes_<split>.jsonl`` (the structure model's data, no
    rendering) and return only the tune counts per split."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _check_config(out, config, midi_dir)
    _clean_temporaries(out)
    rows = build_index(out, config, midi_dir, workers, progress)
    usable = [r for r in rows if "plan" in r]
    skipped = Counter(r["skip"] for r in rows if "skip" in r)
    splits = split_tunes([r["tune_id"] for r in usable], config)
    for split in SPLITS:
        write_text_atomic(out / f"tunes_{split}.jsonl",
                          jsonl_text({**r, "split": split} for r in usable if splits[r["tune_id"]] == split))
        (out / "items" / split).mkdir(parents=True, exist_ok=True)
    if tunes_only:
        return {"tunes_indexed": len(rows), "tunes_skipped": dict(skipped.most_common()),
                "tunes": {s: sum(v == s for v in splits.values()) for s in SPLITS}}

    specs: list[ItemSpec | ArrangementSpec] = [*build_item_specs(usable, splits, config), *arrangement_specs(config)]
    plans = {r["tune_id"]: r["plan"] for r in usable}
    todo = [(s, plans[s.tune_id] if isinstance(s, ItemSpec) else None) for s in specs
            if not (out / "items" / s.split / f"{s.item_id}.json").exists()]
    for record in _pool_map(_RenderJob(out, config), todo, workers, progress, "render items",
                            _init_worker, (soundfont, config.sample_rate)):
        write_json_atomic(out / "items" / record["split"] / f"{record['item_id']}.json", record)
    return write_manifests(out, specs, len(rows), skipped)


def write_manifests(out: Path, specs: list[ItemSpec | ArrangementSpec], num_tunes: int, skipped: Counter) -> dict:
    """Gather finished item records into per-split manifests and the summary."""
    summary: dict = {"tunes_indexed": num_tunes, "tunes_skipped": dict(skipped.most_common()),
                     "splits": {}}
    keys: Counter = Counter()
    for split in SPLITS:
        records = [json.loads((out / "items" / split / f"{s.item_id}.json").read_text())
                   for s in specs if s.split == split]
        windows = [w for r in records for w in r["windows"]]
        write_text_atomic(out / f"{split}.jsonl", jsonl_text(windows))
        item_skips = Counter(r["skip"] for r in records if r.get("skip"))
        summary["splits"][split] = {
            "tunes": len({r["tune_id"] for r in records if r["windows"]}),
            "items": len(records),
            "windows": len(windows),
            "hours": round(sum(w["seconds"] for w in windows) / 3600, 3),
            "items_skipped": dict(item_skips),
        }
        keys.update(w["key"] for w in windows)
    summary["key_histogram"] = dict(sorted(keys.items()))
    write_json_atomic(out / "summary.json", summary, indent=1)
    return summary
