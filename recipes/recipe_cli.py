"""The recipes' shared command line: arguments, config resolution, and the run itself.

A recipe names its config kind (``audiodiff/configs/<kind>/``) and a function building (config,
task) from the resolved JSON; :func:`run_recipe` parses the arguments, prints and saves the resolved config, and trains.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _parser(description: str, kind: str, export_name: str) -> argparse.ArgumentParser:
    from audiodiff.io.config import config_names

    names = ", ".join(config_names(kind))
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help=f"one of {names}, or a JSON file")
    parser.add_argument("--data", required=True, help="corpus folder made by recipes/prepare_data.py")
    parser.add_argument("--out", required=True, help=f"run folder: state, log.jsonl, config.json, {export_name}")
    parser.add_argument("--max-steps", type=int, help="override train.max_steps")
    parser.add_argument("--max-minutes", type=float, help="stop (and save) after this many minutes")
    parser.add_argument("--decay-steps", type=int,
                        help="cosine learning-rate decay to train.min_lr_ratio x lr at this step (override)")
    parser.add_argument("--batch-size", type=int, help="override train.batch_size (per process)")
    parser.add_argument("--num-workers", type=int, help="override train.num_workers")
    parser.add_argument("--init-from", help=f"exported {export_name} to fine-tune from")
    parser.add_argument("--threads", type=int, help="torch CPU threads (1 is fastest on a busy 2-core machine)")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="continue from <out>/train_state.pt when present (default: on)")
    return parser


def resolve_config(args: argparse.Namespace, kind: str) -> dict[str, Any]:
    """The config named by --config (its ``extends`` resolved) with the command-line overrides applied."""
    from audiodiff.io.config import load_config

    data = load_config(kind, args.config)
    train = data.setdefault("train", {})
    train["out_dir"] = args.out
    train["resume"] = args.resume
    for key in ("max_steps", "max_minutes", "decay_steps", "batch_size", "num_workers", "init_from"):
        value = getattr(args, key)
        if value is not None:
            train[key] = value
    return data


def run_recipe(description: str, kind: str, export_name: str,
               build: Callable[[dict[str, Any], str], tuple[Any, Any]]) -> int:
    """Parse the command line, build (config, task) with ``build(resolved_json, data_dir)``, train.

    Returns the process exit code; errors in the config or data are one line on stderr.
    """
    args = _parser(description, kind, export_name).parse_args()
    import torch

    from audiodiff.train.loop import train

    if args.threads:
        torch.set_num_threads(args.threads)
    rank0 = os.environ.get("RANK", "0") == "0"
    try:
        config, task = build(resolve_config(args, kind), args.data)
        resolved = json.dumps(config.to_dict(), indent=2)
        if rank0:
            print(resolved)
            Path(args.out).mkdir(parents=True, exist_ok=True)
            (Path(args.out) / "config.json").write_text(resolved + "\n")
        summary = train(task, config.train)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if rank0:
        losses = ", ".join(f"{k} {v:.4g}" for k, v in sorted(summary.losses.items()))
        print(f"stopped at step {summary.step} ({summary.stop_reason}) after {summary.seconds:.1f} s: {losses}")
        print(f"exported {summary.export_path}")
    return 0
