"""Train the codec: parse, print and save the resolved config, call audiodiff.training.train.

    python recipes/train_codec.py --config cpu --data runs/data/cpu --out runs/codec_cpu
    torchrun --nproc_per_node 2 recipes/train_codec.py --config tiny --data runs/data/tiny --out runs/codec_tiny

``--config`` is a name in recipes/configs/codec/ (tiny, cpu, gpu) or a path to a JSON file.
A run whose --out already holds train_state.pt resumes from it unless --no-resume is given.
The exported codec is <out>/codec.safetensors.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent / "configs" / "codec"


def parse_args() -> argparse.Namespace:
    names = sorted(p.stem for p in CONFIG_DIR.glob("*.json"))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help=f"one of {', '.join(names)}, or a JSON file")
    parser.add_argument("--data", required=True, help="corpus folder holding train.jsonl")
    parser.add_argument("--out", required=True, help="run folder: state, log.jsonl, config.json, codec.safetensors")
    parser.add_argument("--max-steps", type=int, help="override train.max_steps")
    parser.add_argument("--max-minutes", type=float, help="stop (and save) after this many minutes")
    parser.add_argument("--batch-size", type=int, help="override train.batch_size (per process)")
    parser.add_argument("--num-workers", type=int, help="override train.num_workers")
    parser.add_argument("--threads", type=int, help="torch CPU threads per process (default: torch's choice)")
    parser.add_argument("--init-from", help="exported codec.safetensors to fine-tune from")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="continue from <out>/train_state.pt when present (default: on)")
    return parser.parse_args()


def resolve_config(args: argparse.Namespace) -> dict:
    path = Path(args.config)
    if not path.suffix:
        path = CONFIG_DIR / f"{args.config}.json"
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.json")))
        raise SystemExit(f"error: no config {args.config!r}; choose one of {names} or give a JSON file")
    data = json.loads(path.read_text())
    train = data.setdefault("train", {})
    train["out_dir"] = args.out
    train["resume"] = args.resume
    for key in ("max_steps", "max_minutes", "batch_size", "num_workers", "init_from"):
        value = getattr(args, key)
        if value is not None:
            train[key] = value
    return data


def main() -> int:
    args = parse_args()
    # encodec builds its convolutions with the deprecated weight_norm: one warning per layer.
    warnings.filterwarnings("ignore", message=".*torch.nn.utils.weight_norm. is deprecated", category=FutureWarning)
    import torch

    from audiodiff.codec_training import CodecTask, CodecTrainingConfig
    from audiodiff.training import train

    if args.threads:
        torch.set_num_threads(args.threads)

    rank0 = os.environ.get("RANK", "0") == "0"
    try:
        config = CodecTrainingConfig.from_dict(resolve_config(args))
        resolved = json.dumps(config.to_dict(), indent=2)
        if rank0:
            print(resolved)
            Path(args.out).mkdir(parents=True, exist_ok=True)
            (Path(args.out) / "config.json").write_text(resolved + "\n")
        summary = train(CodecTask(config, args.data), config.train)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if rank0:
        losses = ", ".join(f"{k} {v:.4g}" for k, v in sorted(summary.losses.items()))
        print(f"stopped at step {summary.step} ({summary.stop_reason}) after {summary.seconds:.1f} s: {losses}")
        print(f"exported {summary.export_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
