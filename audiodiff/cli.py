"""The audiodiff command line: the only place that prints or exits.

    audiodiff plan "D minor, 96 bpm, 3/4" -o plan.mid --bars 16 --seed 7
    audiodiff generate "D minor, 96 bpm, 3/4, violin" -o out.wav --seconds 30 --seed 7 --plan-out out.mid --plot out.png
    audiodiff render plan.mid -o out.wav --seed 7
    audiodiff evaluate outputs/ --json scores.json
    audiodiff batch prompts.csv --out dataset/ --workers 2      (or --grid --bpm 60:180:20 --seeds 2)

Heavy modules (torch, librosa, matplotlib) are imported inside the commands, so ``--help`` is instant.
Outputs are written under temporary names and moved into place together at the end: an error
leaves no half-written file, and existing files are kept unless ``--force`` is given.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

EXIT_USAGE = 2
# The models' sampler defaults (acoustic.model.DEFAULT_STEPS / DEFAULT_GUIDANCE, structure.model.DEFAULT_STEPS),
# repeated here so that building the parser imports no torch; tests/test_pipeline.py checks they agree.
ACOUSTIC_STEPS, GUIDANCE, PLAN_STEPS = 24, 2.0, 32


class CliError(Exception):
    """A user-facing problem: printed as one line, exit code 2."""


def _output_path(path: str, force: bool) -> Path:
    out = Path(path)
    if out.exists() and not force:
        raise CliError(f"{out} exists; pass --force to overwrite")
    if not out.parent.exists():
        raise CliError(f"{out.parent} does not exist")
    if out.is_dir():
        raise CliError(f"{out} is a directory")
    _check_writable(out.parent)
    return out


def _check_writable(folder: Path) -> None:
    """Fail before any work if files cannot be created in ``folder`` (a probe file, removed at once)."""
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(prefix=".audiodiff-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise CliError(f"cannot write in {folder} ({err.strerror or err})") from None


class _Staged:
    """Output files written under temporary names, moved onto their final names together."""

    def __init__(self) -> None:
        self.pairs: list[tuple[Path, Path]] = []

    def __call__(self, final: Path) -> Path:
        tmp = final.with_name(f".{final.name}.{os.getpid()}.partial{final.suffix}")
        self.pairs.append((tmp, final))
        return tmp

    def commit(self) -> None:
        for tmp, final in self.pairs:
            os.replace(tmp, final)
        self.pairs = []


@contextlib.contextmanager
def _staged() -> Iterator[_Staged]:
    stage = _Staged()
    try:
        yield stage
    finally:
        for tmp, _ in stage.pairs:  # not committed: an error happened
            tmp.unlink(missing_ok=True)


def _outputs(force: bool, *paths: str | Path | None) -> list[Path | None]:
    """Check every output path up front (before any work); they must be distinct."""
    out = [None if p is None else _output_path(str(p), force) for p in paths]
    given = [p.resolve() for p in out if p is not None]
    if len(set(given)) != len(given):
        raise CliError("output files must be distinct (-o, its .json sidecar, --plan-out, --plot, --json)")
    return out


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"want a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"want a whole number >= 1, got {value}")
    return value


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _keep_bars(text: str | None) -> frozenset[int]:
    """'1,2,5-8' (1-based bar numbers) -> 0-based bar indices."""
    if not text:
        return frozenset()
    bars: set[int] = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            bars.update(range(int(lo) - 1, int(hi or lo)))
    except ValueError:
        raise CliError(f"--keep-bars wants bar numbers like 1,2,5-8, got {text!r}") from None
    if min(bars) < 0:
        raise CliError("bar numbers start at 1")
    return frozenset(bars)


def cmd_plan(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from audiodiff.composer import compose, default_checkpoint, resolve_seed
    from audiodiff.midi import load_midi, save_midi
    from audiodiff.prompt import parse
    from audiodiff.structure.model import StructureModel

    prompt = parse(args.prompt)
    if args.seed is not None:
        prompt = replace(prompt, seed=args.seed)
    prompt = replace(prompt, seed=resolve_seed(prompt.seed))
    out = _output_path(args.output, args.force)
    source, keep = None, _keep_bars(args.keep_bars)
    bars = args.bars
    if args.source:
        source, report = load_midi(args.source)
        if report.num_moved:
            print(f"warning: {args.source}: {report.num_moved} note times moved to the 16th grid "
                  f"(max {report.max_error_seconds * 1000:.0f} ms)", file=sys.stderr)
        prompt = replace(prompt, key=source.key, bpm=source.bpm, meter=source.meter)
        if not keep:
            keep = frozenset(range(source.num_bars))  # keep everything: a continuation
        bars = bars or source.num_bars + (args.extend or 0)
    elif args.keep_bars or args.extend:
        raise CliError("--keep-bars and --extend need --from FILE.mid")
    model = StructureModel.load(args.structure or default_checkpoint("structure"))
    plan = compose(model, [prompt], bars=bars, steps=args.steps, drums=not args.no_drums,
                   source=source, keep_bars=keep)[0]
    save_midi(plan, out)
    print(f"{out}: {plan.key.name}, {plan.bpm:g} bpm, {plan.meter}, {plan.num_bars} bars, "
          f"{plan.seconds:.1f} s, seed {prompt.seed}")


def _check_seed(seed: int | None) -> int | None:
    from audiodiff.prompt import SEED_LIMIT

    if seed is not None and not 0 <= seed < SEED_LIMIT:
        raise CliError(f"--seed must be in 0..{SEED_LIMIT - 1}, got {seed}")
    return seed


def _warn_mapped(changes: list[tuple[str, int, int]]) -> None:
    """One warning line per program the model was not trained on."""
    from audiodiff.instruments import program_name

    seen: dict[int, tuple[int, list[str]]] = {}
    for track, old, new in changes:
        seen.setdefault(old, (new, []))[1].append(track)
    for old, (new, tracks) in seen.items():
        _warn(f"program {old + 1} ({program_name(old)}) is not among the instruments the acoustic model was "
              f"trained on; {', '.join(tracks)} rendered as program {new + 1} ({program_name(new)})")


def _sidecar(out: Path, result, plan_path: Path | None, extra: dict) -> str:
    """The JSON written next to a WAV: what it should sound like, and how to make it again."""
    import json

    from audiodiff.instruments import program_name

    plan = result.plan
    melody = plan.melody
    data = {
        "audio": out.name,
        "key": plan.key.name, "bpm": plan.bpm, "meter": plan.meter.name,
        "program": melody.program if melody else None,
        "instrument": program_name(melody.program) if melody else None,
        "seconds": round(result.seconds, 6), "seed": result.seed,
        "plan": os.path.relpath(plan_path.resolve(), out.resolve().parent) if plan_path else None,
        **extra,
        "plan_data": plan.to_dict(),
    }
    return json.dumps(data, indent=1) + "\n"


def _write_result(stage: _Staged, result, out: Path, sidecar: Path, plan_out: Path | None, plot: Path | None,
                  plan_ref: Path | None, extra: dict, title: str) -> None:
    """Stage the WAV, its sidecar, and the optional plan MIDI and plot of one result."""
    from audiodiff.audio_io import write_text_atomic, write_wav

    if write_wav(stage(out), result.audio, result.sample_rate):
        _warn(f"{out}: the audio would clip; peak-normalised to -1 dBFS")
    if plan_out is not None:
        from audiodiff.midi import save_midi

        save_midi(result.plan, stage(plan_out))
    if plot is not None:
        from audiodiff.plot import save_plot

        save_plot(stage(plot), result.plan, result.audio, result.sample_rate, title=title)
    write_text_atomic(stage(sidecar), _sidecar(out, result, plan_out or plan_ref, extra))


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def _checkpoints(args: argparse.Namespace) -> dict:
    return {name: getattr(args, name, None) or "shipped" for name in ("structure", "acoustic", "codec")}


def cmd_generate(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from audiodiff.prompt import parse

    prompt = parse(args.prompt)
    if args.seconds is not None:
        prompt = replace(prompt, seconds=args.seconds)
    if args.seed is not None:
        prompt = replace(prompt, seed=args.seed)
    out, sidecar, plan_out, plot = _outputs(args.force, args.output, Path(args.output).with_suffix(".json"),
                                            args.plan_out, args.plot)
    from audiodiff.composer import resolve_seed
    from audiodiff.instruments import nearest_program
    from audiodiff.pipeline import SUPPORTED_PROGRAMS, Pipeline

    prompt = replace(prompt, seed=resolve_seed(prompt.seed))
    program = nearest_program(prompt.program, SUPPORTED_PROGRAMS)
    if program != prompt.program:
        _warn_mapped([("the melody", prompt.program, program)])
        prompt = replace(prompt, program=program)
    _set_threads(args.threads)
    pipeline = Pipeline.load(args.structure, args.acoustic, args.codec)
    for note in pipeline.notes:
        _warn(note)
    result = pipeline.generate([prompt], steps=args.steps, plan_steps=args.plan_steps, guidance=args.guidance,
                               drums=not args.no_drums)[0]
    extra = {"prompt": result.prompt.to_text(), "steps": args.steps, "plan_steps": args.plan_steps,
             "guidance": args.guidance, "drums": not args.no_drums, "checkpoints": _checkpoints(args)}
    with _staged() as stage:
        _write_result(stage, result, out, sidecar, plan_out, plot, None, extra, result.prompt.to_text())
        stage.commit()
    print(f"{out}: {result.plan.key.name}, {result.plan.bpm:g} bpm, {result.plan.meter}, "
          f"{result.seconds:g} s, seed {result.seed}")


def cmd_render(args: argparse.Namespace) -> None:
    from audiodiff.midi import load_midi

    _check_seed(args.seed)
    if args.seconds is not None and not args.seconds > 0:
        raise CliError(f"--seconds must be positive, got {args.seconds:g}")
    out, sidecar, plot = _outputs(args.force, args.output, Path(args.output).with_suffix(".json"), args.plot)
    plan, report = load_midi(args.plan)
    if report.num_moved:
        _warn(f"{args.plan}: {report.num_moved} of {2 * report.num_notes} note times moved to the 16th grid "
              f"(max {report.max_error_seconds * 1000:.0f} ms)")
    from audiodiff.composer import resolve_seed
    from audiodiff.pipeline import Pipeline, map_programs

    _warn_mapped(map_programs(plan)[1])
    _set_threads(args.threads)
    pipeline = Pipeline.load(acoustic=args.acoustic, codec=args.codec, with_structure=False)
    for note in pipeline.notes:
        _warn(note)
    seed = resolve_seed(args.seed)
    result = pipeline.render([plan], [seed], steps=args.steps, guidance=args.guidance, seconds=[args.seconds])[0]
    extra = {"source": str(args.plan), "steps": args.steps, "guidance": args.guidance,
             "checkpoints": {k: v for k, v in _checkpoints(args).items() if k != "structure"}}
    with _staged() as stage:
        _write_result(stage, result, out, sidecar, None, plot, Path(args.plan), extra, f"{args.plan}, seed {seed}")
        stage.commit()
    print(f"{out}: {result.plan.key.name}, {result.plan.bpm:g} bpm, {result.plan.meter}, "
          f"{result.seconds:g} s, seed {result.seed}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    import json

    from audiodiff.evaluate_clips import format_table, read_clips, score_clip, summary

    (json_out,) = _outputs(args.force, args.json) if args.json else (None,)
    # librosa warns about short or quiet clips (tuning from no peaks, FFT longer than a CQT octave);
    # the estimates are still made, and the table is what the user asked for
    warnings.filterwarnings("ignore", category=UserWarning, module="librosa")
    clips, notes = read_clips(args.source)
    for note in notes:
        _warn(note)
    scores = [score_clip(c) for c in clips]
    totals = summary(scores)
    if json_out is not None:
        from audiodiff.audio_io import write_text_atomic

        write_text_atomic(json_out, json.dumps({"source": str(args.source), "summary": totals,
                                                "clips": [s.to_dict() for s in scores]}, indent=1) + "\n")
    print(format_table(scores, totals))


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise CliError(f"environment variable {name} must be a whole number, got {text!r}") from None


def cmd_batch(args: argparse.Namespace) -> int:
    from audiodiff.batch import BatchError

    try:
        return _batch(args)
    except BatchError as err:
        raise CliError(str(err)) from None


def _batch(args: argparse.Namespace) -> int:
    """See audiodiff.batch; returns 0 when every row succeeded, 1 when some failed."""
    from dataclasses import replace

    from audiodiff import batch

    rank, world, local_rank = _env_int("RANK", 0), _env_int("WORLD_SIZE", 1), _env_int("LOCAL_RANK", 0)
    if world < 1 or not 0 <= rank < world:
        raise CliError(f"RANK={rank} and WORLD_SIZE={world} do not fit (want 0 <= RANK < WORLD_SIZE)")
    if world > 1 and args.workers > 1:
        raise CliError("--workers is for one machine without torchrun; under torchrun use --nproc_per_node")
    grid_options = [name for name in ("bpm", "meters", "instruments", "seeds", "seconds")
                    if getattr(args, name) is not None]
    if args.grid:
        if args.source:
            raise CliError("give a prompts file or --grid, not both")
        rows = batch.grid_rows(args.bpm or "100", args.meters or "4/4", args.instruments or "piano",
                               args.seeds or 1, 10.0 if args.seconds is None else args.seconds)
    else:
        if not args.source:
            raise CliError("give a prompts file (.csv or .jsonl) or --grid")
        if grid_options:
            raise CliError(f"--{grid_options[0]} belongs to --grid; a file's rows carry their own fields")
        rows = batch.read_rows(args.source)
    out = Path(args.out)

    from audiodiff.checkpoint import (
        CheckpointError,
        checkpoint_sha256,
        read_checkpoint_header,
    )
    from audiodiff.composer import default_checkpoint
    from audiodiff.instruments import nearest_program
    from audiodiff.pipeline import SUPPORTED_PROGRAMS

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
    changes = []
    for row in rows:
        if row.prompt is not None:
            program = nearest_program(row.prompt.program, SUPPORTED_PROGRAMS)
            if program != row.prompt.program:
                changes.append(("the melody", row.prompt.program, program))
                row.prompt = replace(row.prompt, program=program)
    if rank == 0:
        _warn_mapped(list(dict.fromkeys(changes)))

    import torch

    device = args.device or (f"cuda:{local_rank}" if world > 1 and torch.cuda.is_available() else "cpu")
    threads = args.threads or (1 if args.workers > 1 or world > 1 else None)
    settings = batch.Settings(out=str(out), hashes=hashes, steps=args.steps, plan_steps=args.plan_steps,
                              guidance=args.guidance, drums=not args.no_drums, batch_size=args.batch_size,
                              device=device, threads=threads, **paths)
    pipeline = None
    if args.workers == 1:  # load before anything is written: a bad checkpoint leaves no directory behind
        pipeline = batch.load_pipeline(settings)
        if rank == 0:
            for note in pipeline.notes:
                _warn(note)
    batch.prepare_dir(out, settings.fingerprint(rows), args.resume, rank)

    from tqdm import tqdm

    mine = [r for chunk in batch.chunks_of(rows, args.batch_size, rank, world) for r in chunk]
    scope = mine if world > 1 else rows
    finished = sum(batch.is_finished(out, r) for r in scope)
    bar = tqdm(total=len(scope), initial=finished, unit="row", desc="batch" if world == 1 else f"rank {rank}",
               file=sys.stderr, disable=args.no_progress or rank != 0, smoothing=0.1, dynamic_ncols=True)
    failed = 0

    def report(kind: str, row, message: str | None) -> None:
        nonlocal failed
        if kind == "error":
            failed += 1
            tqdm.write(f"error: row {row.id} ({row.where}): {message}", file=sys.stderr)
        bar.update()

    try:
        if args.workers > 1:
            batch.run_workers(rows, settings, args.workers, report)
        else:
            batch.run_shard(rows, settings, rank, world, report, pipeline)
    finally:
        bar.close()
    if rank != 0:  # rank 0 gathers; a non-zero exit here would make torchrun stop rank 0
        print(f"rank {rank}: {len(mine)} rows, {finished} already done, {failed} failed")
        return 0
    if world > 1:
        batch.wait_for_all(out, rows)
    records, errors, missing = batch.write_manifest(out, rows)
    summary = (f"{out}: {len(rows)} rows, {len(records)} written ({finished} already done), "
               f"{len(errors)} failed")
    if errors:
        summary += f" (see {out / 'errors.jsonl'})"
    if missing:
        summary += f", {missing} unfinished (rerun with --resume)"
    print(f"{summary}; manifest {out / 'manifest.jsonl'}")
    return 1 if errors or missing else 0


def _sampler_args(parser: argparse.ArgumentParser, structure: bool = True) -> None:
    """--steps and --guidance of the acoustic sampler; with ``structure`` also --plan-steps, --no-drums."""
    parser.add_argument("--steps", type=_positive, default=ACOUSTIC_STEPS,
                        help=f"acoustic diffusion steps (default {ACOUSTIC_STEPS})")
    parser.add_argument("--guidance", type=float, default=GUIDANCE,
                        help=f"acoustic classifier-free guidance scale, 1 = off (default {GUIDANCE:g})")
    if structure:
        parser.add_argument("--plan-steps", type=_positive, default=PLAN_STEPS,
                            help=f"structure diffusion steps (default {PLAN_STEPS})")
        parser.add_argument("--no-drums", action="store_true", help="leave out the drum track")


def _model_args(parser: argparse.ArgumentParser, structure: bool = True) -> None:
    if structure:
        parser.add_argument("--structure", help="structure checkpoint (default: the one shipped with the package)")
    parser.add_argument("--acoustic", help="acoustic checkpoint (default: the one shipped with the package)")
    parser.add_argument("--codec", help="codec checkpoint (default: the one shipped with the package)")
    parser.add_argument("--threads", type=_positive, help="torch CPU threads (default: all cores; 1 is "
                        "fastest when other jobs keep the cores busy)")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line ``error: ...`` (exit code 2) like every other error; subcommand
    parsers inherit it."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"error: {self.prog}: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="audiodiff", description="Hierarchical music generation from a "
                                     "prompt like 'D minor, 96 bpm, 3/4, violin'.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan = sub.add_parser("plan", help="write a plan (melody, chords, bass, comping, drums) as MIDI",
                          description="Write the structure model's plan for a prompt as a MIDI file, "
                          "without rendering audio.")
    plan.add_argument("prompt", help="e.g. 'D minor, 96 bpm, 3/4, violin' (key, tempo, meter, instrument, seconds, seed)")
    plan.add_argument("-o", "--output", required=True, help="MIDI file to write")
    plan.add_argument("--bars", type=int, help="length in bars (default: from the prompt's seconds, at least 4)")
    plan.add_argument("--seed", type=int, help="random seed (default: the prompt's, else random and printed)")
    plan.add_argument("--steps", type=int, default=32, help="diffusion sampling steps (default 32)")
    plan.add_argument("--no-drums", action="store_true", help="leave out the drum track")
    plan.add_argument("--from", dest="source", metavar="FILE.mid", help="start from an existing plan/MIDI file")
    plan.add_argument("--keep-bars", help="with --from: bars to keep, e.g. 1-4,9 (others are regenerated)")
    plan.add_argument("--extend", type=int, help="with --from: add this many new bars at the end")
    plan.add_argument("--structure", help="structure checkpoint (default: the one shipped with the package)")
    plan.add_argument("--force", action="store_true", help="overwrite the output file")
    plan.set_defaults(run=cmd_plan)

    gen = sub.add_parser("generate", help="prompt -> WAV (plan, then audio)",
                         description="Generate audio for a prompt: the structure model writes a plan, the "
                         "acoustic model renders it. Writes the WAV and a sidecar <name>.json (prompt "
                         "fields, seed, plan) next to it; prints the path, key, tempo, meter, length and seed.")
    gen.add_argument("prompt", help="e.g. 'D minor, 96 bpm, 3/4, violin' (key, tempo, meter, instrument, "
                     "seconds, seed)")
    gen.add_argument("-o", "--output", required=True, help="WAV file to write (24 kHz, 16 bit)")
    gen.add_argument("--seconds", type=float, help="length in seconds, 1..600 (default: the prompt's, else 10)")
    gen.add_argument("--seed", type=int, help="random seed (default: the prompt's, else random and printed)")
    _sampler_args(gen)
    gen.add_argument("--plan-out", metavar="FILE.mid", help="also write the plan that was rendered as MIDI")
    gen.add_argument("--plot", metavar="FILE.png", help="also write a PNG: the plan over the mel spectrogram")
    _model_args(gen)
    gen.add_argument("--force", action="store_true", help="overwrite existing output files")
    gen.set_defaults(run=cmd_generate)

    ren = sub.add_parser("render", help="MIDI plan -> WAV",
                         description="Render a MIDI file (e.g. from 'audiodiff plan', or your own) with the "
                         "acoustic model. Programs the model was not trained on are mapped to the nearest one "
                         "it knows, and off-grid notes are quantized to 16ths (both with a warning).")
    ren.add_argument("plan", help="MIDI file to render")
    ren.add_argument("-o", "--output", required=True, help="WAV file to write (24 kHz, 16 bit)")
    ren.add_argument("--seconds", type=float, help="cut the audio to this length (default: the whole plan + 1 s)")
    ren.add_argument("--seed", type=int, help="random seed (default: random and printed)")
    _sampler_args(ren, structure=False)
    ren.add_argument("--plot", metavar="FILE.png", help="also write a PNG: the plan over the mel spectrogram")
    _model_args(ren, structure=False)
    ren.add_argument("--force", action="store_true", help="overwrite existing output files")
    ren.set_defaults(run=cmd_render)

    bat = sub.add_parser("batch", help="many prompts -> WAVs + MIDI + annotations + manifest (a dataset)",
                         description="Render every row of a CSV/JSONL file of prompts (columns: prompt, or key, "
                         "bpm, meter, instrument; optional seed, seconds), or a --grid of all 24 keys x tempos x "
                         "meters x instruments x seeds, into DIR: audio/, midi/, annotations/, manifest.jsonl, "
                         "manifest.csv, errors.jsonl. Rows without a seed get one derived from their index and "
                         "content. Bad rows go to errors.jsonl and the rest go on. Exit status 0: all rows "
                         "written; 1: some rows failed; 2: usage error. Under torchrun each process does "
                         "its share of the rows (RANK, WORLD_SIZE, LOCAL_RANK).")
    bat.add_argument("source", nargs="?", metavar="PROMPTS", help="prompts.csv or prompts.jsonl")
    bat.add_argument("--out", required=True, metavar="DIR", help="output directory (new or empty, or a batch to "
                     "--resume)")
    bat.add_argument("--grid", action="store_true", help="render a grid instead of a file: all 24 keys x --bpm x "
                     "--meters x --instruments x --seeds")
    bat.add_argument("--bpm", help="with --grid: START:STOP:STEP (stop included), e.g. 60:180:20, or 60,90,120 "
                     "(default 100)")
    bat.add_argument("--meters", help="with --grid: e.g. 2/4,3/4,4/4,6/8 (default 4/4)")
    bat.add_argument("--instruments", help="with --grid: e.g. piano,violin,flute (default piano)")
    bat.add_argument("--seeds", type=_positive, help="with --grid: seeds 0..N-1 per combination (default 1)")
    bat.add_argument("--seconds", type=float, help="with --grid: length of each clip (default 10)")
    _sampler_args(bat)
    bat.add_argument("--batch-size", type=_positive, default=1, help="rows per forward pass (default 1; more is "
                     "faster on a GPU; results then agree with batch size 1 up to rounding)")
    bat.add_argument("--workers", type=_positive, default=1, help="processes on this machine, each loading the "
                     "models once, with 1 torch thread unless --threads (default 1)")
    bat.add_argument("--device", help="torch device for the acoustic model and codec (default cpu; under "
                      "torchrun cuda:LOCAL_RANK when CUDA is available)")
    _model_args(bat)
    bat.add_argument("--resume", action="store_true", help="finish a batch in DIR: skip finished rows, redo "
                     "partial and failed ones")
    bat.add_argument("--no-progress", action="store_true", help="no progress bar")
    bat.set_defaults(run=cmd_batch)

    ev = sub.add_parser("evaluate", help="score WAVs against their prompts (key, tempo, plan)",
                        description="Estimate key and tempo of each clip and compare with its labels (key exact, "
                        "exact or relative, tempo within 4 %%, tempo bin, bin +-1); where a plan is known, "
                        "also onset F1 (50 ms) and chroma agreement with it. SOURCE is a directory of WAVs with "
                        "the sidecar JSONs 'generate' writes, or a JSONL/CSV manifest with columns audio, key, "
                        "bpm (optional mode, meter, plan; paths relative to the manifest).")
    ev.add_argument("source", metavar="DIR_OR_MANIFEST", help="directory of WAVs + sidecars, or .jsonl / .csv")
    ev.add_argument("--json", metavar="FILE.json", help="also write every clip's scores and the summary as JSON")
    ev.add_argument("--force", action="store_true", help="overwrite the JSON file")
    ev.set_defaults(run=cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        code = args.run(args)
    except (CliError, ValueError, OSError) as exc:  # OSError: missing files, permissions, a full disk
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
