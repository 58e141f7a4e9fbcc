"""A batch in ``--workers`` processes on this machine, each doing its shard (rank = worker number)."""
from __future__ import annotations

from typing import Any

from audiodiff.batch import BatchError
from audiodiff.batch.rows import Row
from audiodiff.batch.run import Report, run_shard
from audiodiff.batch.settings import Settings


def _worker_main(rows: list[Row], settings: Settings, rank: int, world: int, queue: Any, parent: int) -> None:
    """Entry point of a --workers process: die with the parent, load the models once, do the shard,
    report to the queue."""
    from audiodiff.batch.lock import die_with_parent

    die_with_parent(parent)
    run_shard(rows, settings, rank, world, lambda kind, row, msg: queue.put((kind, row.index, msg)))


def run_workers(rows: list[Row], settings: Settings, workers: int, report: Report) -> None:
    """Run the rows in ``workers`` spawned processes (rank = worker number); raises BatchError
    if a worker dies (its unfinished rows stay unfinished: rerun with --resume)."""
    import multiprocessing
    import os
    import queue as queue_module

    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    procs = [context.Process(target=_worker_main, args=(rows, settings, rank, workers, messages, os.getpid()),
                             daemon=True) for rank in range(workers)]
    for p in procs:
        p.start()
    try:
        while True:
            try:
                kind, index, msg = messages.get(timeout=0.2)
                report(kind, rows[index], msg)
                continue
            except queue_module.Empty:
                pass
            if not any(p.is_alive() for p in procs):
                break
        while True:  # what was sent just before the last worker exited
            try:
                kind, index, msg = messages.get(timeout=0.05)
            except queue_module.Empty:
                break
            report(kind, rows[index], msg)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
    dead = [(rank, p.exitcode) for rank, p in enumerate(procs) if p.exitcode != 0]
    if dead:
        rank, code = dead[0]
        raise BatchError(f"worker {rank} stopped with exit code {code}; its unfinished rows are not done; "
                         "rerun with --resume")
