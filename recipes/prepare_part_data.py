"""Build the acoustic model's per-part training data: pieces whose parts are each rendered alone by
FluidSynth and by the sketch synth, both encoded by the codec (see audiodiff/corpus/part_data.py).

    python recipes/prepare_part_data.py --out runs/parts --shards 0:120 --workers 2
    python recipes/prepare_part_data.py --out runs/parts_mine --midi-dir my_midi/
    python recipes/prepare_part_data.py --out runs/part_audio --shards 500:540 --audio-only   # codec decoder data
    python recipes/prepare_part_data.py --out runs/parts --resketch   # after the sketch synth changed

Pieces are random arrangements of the training seed stream (shard i holds --shard-size of them),
or with --midi-dir the MIDI files of a folder (and its subfolders), played as written and cut into
spans of at most 30 s. Shards already built are skipped, so a killed run resumes where it stopped;
a shard is complete when its folder has parts.json. ``--codec`` names the codec whose latents are
made (default: the shipped one; the acoustic model must be trained with the same codec).
``--resketch`` rewrites the sketch latents of the shards in --out with today's sketch synth (shards
made before it changed are refused by training until then) and builds nothing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _work(args: tuple[str, list[int], int, str | None, str | None, bool]) -> int:
    out, shards, size, codec_path, midi_dir, audio_only = args
    import torch

    from audiodiff.codec.model import load_codec
    from audiodiff.corpus.part_data import arrangement_pieces, build_shard, midi_pieces, write_part_audio
    from audiodiff.corpus.render import Renderer
    from audiodiff.io.atomic import write_text_atomic
    from audiodiff.io.checkpoint import default_checkpoint
    from audiodiff.io.manifest import jsonl_text

    torch.set_num_threads(1)
    codec = load_codec(codec_path or default_checkpoint("codec")).eval()
    renderer = Renderer()
    files = _midi_files(midi_dir) if midi_dir else []
    for index in shards:
        if midi_dir:
            pieces = midi_pieces(files[index * size:(index + 1) * size])
        else:
            pieces = arrangement_pieces(index, size)
        if audio_only:
            done = Path(out) / "rows" / f"shard-{index:05d}.jsonl"
            if not done.is_file():
                done.parent.mkdir(parents=True, exist_ok=True)
                write_text_atomic(done, jsonl_text(write_part_audio(out, index, pieces, renderer)))
        else:
            build_shard(out, index, pieces, renderer, codec)
        print(f"shard {index} done", flush=True)
    return len(shards)


def _resketch(out: str, codec_path: str | None) -> int:
    import torch
    from tqdm import tqdm

    from audiodiff.acoustic.data import complete_shards
    from audiodiff.codec.model import load_codec
    from audiodiff.corpus.part_data import resketch_shard
    from audiodiff.io.checkpoint import default_checkpoint

    torch.set_num_threads(1)
    codec = load_codec(codec_path or default_checkpoint("codec")).eval()
    shards = complete_shards(out)
    done = sum(resketch_shard(shard, codec) for shard in tqdm(shards, desc="resketch"))
    print(f"{done} of {len(shards)} shards re-sketched ({len(shards) - done} were current)")
    return 0


def _midi_files(folder: str) -> list[Path]:
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".mid", ".midi") and p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder of the shards")
    parser.add_argument("--shards", default="0:120", help="arrangement shards FIRST:END to build (default 0:120)")
    parser.add_argument("--shard-size", type=int, default=16, help="pieces (arrangements or files) per shard")
    parser.add_argument("--midi-dir", help="build from the MIDI files of this folder instead of arrangements")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--codec", help="codec checkpoint (default: the shipped one)")
    parser.add_argument("--audio-only", action="store_true",
                        help="write the parts' FluidSynth audio as a codec corpus (train.jsonl) instead of shards")
    parser.add_argument("--resketch", action="store_true",
                        help="rewrite the sketches of the shards in --out with today's sketch synth, build nothing")
    args = parser.parse_args()
    if args.resketch:
        if not Path(args.out).is_dir():
            print(f"error: --out {args.out}: not a folder", file=sys.stderr)
            return 2
        try:
            return _resketch(args.out, args.codec)
        except (OSError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    if args.workers < 1 or args.shard_size < 1:
        print("error: --workers and --shard-size must be >= 1", file=sys.stderr)
        return 2
    if args.midi_dir:
        if not Path(args.midi_dir).is_dir():
            print(f"error: --midi-dir {args.midi_dir}: not a folder", file=sys.stderr)
            return 2
        count = len(_midi_files(args.midi_dir))
        if not count:
            print(f"error: --midi-dir {args.midi_dir}: no .mid or .midi files", file=sys.stderr)
            return 2
        first, end = 0, -(-count // args.shard_size)
    else:
        try:
            first, end = (int(x) for x in args.shards.split(":"))
        except ValueError:
            print(f"error: --shards must be FIRST:END, got {args.shards!r}", file=sys.stderr)
            return 2
        if not 0 <= first < end:
            print(f"error: --shards needs 0 <= FIRST < END, got {args.shards!r}", file=sys.stderr)
            return 2
    jobs = [(args.out, list(range(first + w, end, args.workers)), args.shard_size, args.codec, args.midi_dir,
             args.audio_only) for w in range(args.workers)]
    if args.workers == 1:
        _work(jobs[0])
    else:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            pool.map(_work, jobs)
    if args.audio_only:  # the codec corpus's manifest: every shard's rows
        from audiodiff.io.atomic import write_text_atomic

        rows = sorted((Path(args.out) / "rows").glob("shard-*.jsonl"))
        write_text_atomic(Path(args.out) / "train.jsonl", "".join(p.read_text() for p in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
