"""``audiodiff batch``: many prompts -> WAVs + MIDI + annotations + manifest (see :mod:`audiodiff.batch`).

Runs alone, with ``--workers`` processes, or as one rank under torchrun (RANK, WORLD_SIZE, LOCAL_RANK).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from audiodiff.batch import BatchError
from audiodiff.cli.messages import CliError, running, warn, warn_mapped

if TYPE_CHECKING:
    from audiodiff.batch.rows import Row
    from audiodiff.batch.settings import Settings
    from audiodiff.pipeline import Pipeline


def cmd_batch(args: argparse.Namespace) -> int:
    """Render every row of the batch; returns 0 when every row succeeded, 1 when some failed."""
    try:
        return _batch(args)
    except BatchError as err:
        raise CliError(str(err)) from None


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise CliError(f"environment variable {name} must be a whole number, got {text!r}") from None


def _batch(args: argparse.Namespace) -> int:
    """Check the arguments, do this process's rows, and (where this process gathers) write the manifest."""
    from audiodiff.batch.directory import prepare_dir, subdirs
    from audiodiff.batch.lock import locked
    from audiodiff.batch.run import load_pipeline

    rank, world, local_rank = _ranks(args)
    if not args.stems and (args.layout or args.normalize):
        raise CliError(f"--{'layout' if args.layout else 'normalize'} belongs to --stems")
    rows = _rows(args)
    out = Path(args.out)
    paths, hashes = _checkpoint_files(args)
    changes = _map_programs(rows, paths["acoustic"])
    if rank == 0:
        warn_mapped(list(dict.fromkeys(changes)))
        for row in rows:
            if row.warning:
                warn(f"row {row.id} ({row.where}): {row.warning}")
    settings = _settings(args, out, paths, hashes, world, local_rank)
    pipeline = None
    if args.workers == 1:  # load before anything is written: a bad checkpoint leaves no directory behind
        pipeline = load_pipeline(settings)
        if rank == 0:
            for warning in pipeline.warnings:
                warn(warning)
    prepare_dir(out, settings.fingerprint(rows), args.resume, rank, subdirs(settings.stems, settings.layout))
    with locked(out) if rank == 0 else contextlib.nullcontext():  # one run at a time holds the directory
        return _work(args, rows, settings, rank, world, pipeline)


def _work(args: argparse.Namespace, rows: list[Row], settings: Settings, rank: int, world: int,
          pipeline: Pipeline | None) -> int:
    """This process's rows, then (where this process gathers) the manifest; returns the exit status."""
    from audiodiff.batch.directory import is_finished
    from audiodiff.batch.manifest import wait_for_all
    from audiodiff.batch.run import chunks_of

    out = Path(settings.out)
    mine = [r for chunk in chunks_of(rows, args.batch_size, rank, world) for r in chunk]
    scope = mine if world > 1 else rows
    finished = sum(is_finished(out, r) for r in scope)
    with running():  # a full disk while writing is a runtime failure (exit 1); --resume finishes the rows
        failed = _run(args, rows, settings, rank, world, pipeline, len(scope), finished)
    if rank != 0:  # rank 0 gathers; a non-zero exit here would make torchrun stop rank 0
        print(f"rank {rank}: {len(mine)} rows, {finished} already done, {failed} failed")
        return 0
    if world > 1:
        wait_for_all(out, rows)
    return _gather(out, rows, finished)


def _ranks(args: argparse.Namespace) -> tuple[int, int, int]:
    """RANK, WORLD_SIZE and LOCAL_RANK (set by torchrun; 0, 1, 0 without it), checked."""
    rank, world, local_rank = _env_int("RANK", 0), _env_int("WORLD_SIZE", 1), _env_int("LOCAL_RANK", 0)
    if world < 1 or not 0 <= rank < world:
        raise CliError(f"RANK={rank} and WORLD_SIZE={world} do not fit (want 0 <= RANK < WORLD_SIZE)")
    if world > 1 and args.workers > 1:
        raise CliError("--workers is for one machine without torchrun; under torchrun use --nproc_per_node")
    return rank, world, local_rank


def _rows(args: argparse.Namespace) -> list[Row]:
    """The rows of the prompts file, or of the --grid."""
    from audiodiff.batch.grid import grid_rows
    from audiodiff.batch.rows import read_rows

    grid_options = [name for name in ("bpm", "meters", "instruments", "seeds", "seconds")
                    if getattr(args, name) is not None]
    if args.grid:
        if args.source:
            raise CliError("give a prompts file or --grid, not both")
        return grid_rows(args.bpm or "100", args.meters or "4/4", args.instruments or "piano",
                         args.seeds or 1, 10.0 if args.seconds is None else args.seconds)
    if not args.source:
        raise CliError("give a prompts file (.csv or .jsonl) or --grid")
    if grid_options:
        raise CliError(f"--{grid_options[0]} belongs to --grid; a file's rows carry their own fields")
    return read_rows(args.source)


def _checkpoint_files(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, str]]:
    """Path and SHA-256 of each model's checkpoint (given, else shipped), checked to hold that model."""
    from audiodiff.io.checkpoint import (
        CheckpointError,
        checkpoint_sha256,
        default_checkpoint,
        read_checkpoint_header,
    )

    paths, hashes = {}, {}
    for name in ("structure", "acoustic", "codec"):
        given = getattr(args, name)
        path = Path(given) if given else default_checkpoint(name)
        if not given and not path.is_file():
            raise CheckpointError(path, f"no {name} checkpoint is shipped with this install; pass one (--{name} FILE)")
        kind = read_checkpoint_header(path)["kind"]
        if kind != name:
            raise CheckpointError(path, f"holds a {kind!r} model, expected a {name!r} model")
        paths[name], hashes[name] = str(path), checkpoint_sha256(path)
    return paths, hashes


def _map_programs(rows: list[Row], acoustic: str) -> list[tuple[str, int, int]]:
    """Give each row's melody the nearest program the acoustic model (checkpoint file ``acoustic``)
    was trained on; returns the changes made."""
    from dataclasses import replace

    from audiodiff.io.checkpoint import read_checkpoint_header
    from audiodiff.music.instruments import nearest_program
    from audiodiff.pipeline import trained_programs

    programs = trained_programs(read_checkpoint_header(acoustic)["metadata"])
    changes = []
    for row in rows:
        if row.prompt is not None:
            program = nearest_program(row.prompt.program, programs)
            if program != row.prompt.program:
                changes.append(("the melody", row.prompt.program, program))
                row.prompt = replace(row.prompt, program=program)
    return changes


def _cuda_available() -> bool:
    """Whether torch is installed and sees a CUDA device (torchrun's ranks then take one each)."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


def _settings(args: argparse.Namespace, out: Path, paths: dict[str, str], hashes: dict[str, str], world: int,
              local_rank: int) -> Settings:
    """The settings every worker gets: checkpoints, sampler, batch size, backend, device and threads."""
    from audiodiff.batch.settings import Settings

    device = args.device or (f"cuda:{local_rank}" if world > 1 and _cuda_available() else "cpu")
    threads = args.threads or (1 if args.workers > 1 or world > 1 else None)
    return Settings(out=str(out), hashes=hashes, steps=args.steps, plan_steps=args.plan_steps,
                    guidance=args.guidance, plan_guidance=args.plan_guidance, drums=not args.no_drums,
                    batch_size=args.batch_size, device=device, threads=threads, backend=args.backend,
                    stems=args.stems,
                    layout=args.layout or "folder", normalize=args.normalize, **paths)


def _run(args: argparse.Namespace, rows: list[Row], settings: Settings, rank: int, world: int,
         pipeline: Pipeline | None, total: int, finished: int) -> int:
    """Do the rows (in --workers processes or this one) under a progress bar; returns how many failed."""
    from tqdm import tqdm

    from audiodiff.batch.run import run_shard
    from audiodiff.batch.workers import run_workers

    bar = tqdm(total=total, initial=finished, unit="row", desc="batch" if world == 1 else f"rank {rank}",
               file=sys.stderr, disable=args.no_progress or rank != 0, smoothing=0.1, dynamic_ncols=True)
    failed = 0

    def report(kind: str, row: Row, message: str | None) -> None:
        nonlocal failed
        if kind == "error":
            failed += 1
            tqdm.write(f"error: row {row.id} ({row.where}): {message}", file=sys.stderr)
        bar.update()

    try:
        if args.workers > 1:
            run_workers(rows, settings, args.workers, report)
        else:
            run_shard(rows, settings, rank, world, report, pipeline)
    finally:
        bar.close()
    return failed


def _gather(out: Path, rows: list[Row], finished: int) -> int:
    """Write the manifest and print the summary; returns the exit status (1 if rows failed or are unfinished)."""
    from audiodiff.batch.manifest import write_manifest

    records, errors, missing = write_manifest(out, rows)
    summary = (f"{out}: {len(rows)} rows, {len(records)} written ({finished} already done), "
               f"{len(errors)} failed")
    if errors:
        summary += f" (see {out / 'errors.jsonl'})"
    if missing:
        summary += f", {missing} unfinished (rerun with --resume)"
    print(f"{summary}; manifest {out / 'manifest.jsonl'}")
    return 1 if errors or missing else 0
