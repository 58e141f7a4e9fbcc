"""Doing a batch's rows in this process: this rank's chunks, one forward pass each."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

from audiodiff.batch.directory import clean_row, is_finished
from audiodiff.batch.row_files import write_error, write_row
from audiodiff.batch.rows import Row, one_line
from audiodiff.batch.settings import Settings

if TYPE_CHECKING:
    from audiodiff.music.prompt import Prompt
    from audiodiff.pipeline import Pipeline, Result

Report = Callable[[str, Row, str | None], None]
"""``report(kind, row, message)``, called after each row: kind 'done' (message None) or 'error'."""


def chunks_of(rows: Sequence[Row], batch_size: int, rank: int, world: int) -> list[list[Row]]:
    """This rank's chunks: consecutive rows in chunks of batch_size, chunk k to rank k % world."""
    chunks = [list(rows[i:i + batch_size]) for i in range(0, len(rows), batch_size)]
    return [c for k, c in enumerate(chunks) if k % world == rank]


def load_pipeline(settings: Settings) -> Pipeline:
    """The models of ``settings`` on its backend and device with its thread count, if it gives one."""
    from audiodiff.pipeline import Pipeline

    pipeline = Pipeline.load(settings.structure, settings.acoustic, settings.codec, device=settings.device,
                             backend=settings.backend, threads=settings.threads)
    if settings.threads and pipeline.backend == "torch":
        import torch

        torch.set_num_threads(settings.threads)
    return pipeline


def run_shard(rows: Sequence[Row], settings: Settings, rank: int, world: int, report: Report,
              pipeline: Pipeline | None = None) -> None:
    """Do this rank's unfinished rows; ``report(kind, row, message)`` after each ('done'/'error')."""
    out = Path(settings.out)
    todo_chunks = [[r for r in chunk if not is_finished(out, r)]
                   for chunk in chunks_of(rows, settings.batch_size, rank, world)]
    todo_chunks = [c for c in todo_chunks if c]
    if not todo_chunks:
        return
    pipeline = pipeline or load_pipeline(settings)
    for chunk in todo_chunks:
        for row in chunk:
            clean_row(out, row, settings.layout if settings.stems else "folder")
        good = []
        for row in chunk:
            if row.error:
                write_error(row, row.error, settings)
                report("error", row, row.error)
            else:
                good.append(row)
        for row, result in _generate(pipeline, good, settings):
            if isinstance(result, str):
                write_error(row, result, settings)
                report("error", row, result)
            else:
                write_row(row, result, settings)
                report("done", row, None)


def _generate(pipeline: Pipeline, rows: list[Row], settings: Settings) -> list[tuple[Row, Result | str]]:
    """(row, Result or error message) per row. A failing batch is redone row by row, so that one
    bad row (NaN from a model, too long for the structure model) only fails itself."""
    if not rows:
        return []
    kwargs = dict(steps=settings.steps, plan_steps=settings.plan_steps, guidance=settings.guidance,
                  plan_guidance=settings.plan_guidance, drums=settings.drums)
    try:
        prompts = [cast("Prompt", r.prompt) for r in rows]  # a row without an error has its prompt
        results = pipeline.generate(prompts, batch_size=settings.batch_size,
                                    guides=[r.guide for r in rows], **kwargs)
        return list(zip(rows, results))
    except (ValueError, RuntimeError) as err:
        if len(rows) == 1:
            return [(rows[0], one_line(err) or type(err).__name__)]
    return [pair for row in rows for pair in _generate(pipeline, [row], replace(settings, batch_size=1))]
