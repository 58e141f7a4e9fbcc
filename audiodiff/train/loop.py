"""One training loop for every recipe: DDP (torchrun), EMA, exact resume, JSONL log, progress bar.

A recipe hands :func:`train` a *task* (see :class:`Task`): the task knows the model, the data
and the loss; the loop knows optimisation, distribution, checkpointing and stopping.

Exact resume: ``<out_dir>/train_state.pt`` holds the model, EMA, optimizer, step, data position
and every rank's torch/numpy/python RNG state. Data order is a pure function of (seed, epoch) and
the learning rate a pure function of the step, so a run stopped at step k and resumed produces
the same losses as one that never stopped (same hardware, same number of processes).

The pieces live in :mod:`audiodiff.train.distributed` (process group, collectives), :mod:`audiodiff.train.sampler`
(sharded data order) and :mod:`audiodiff.train.state` (the state file and RNG states).
"""
from __future__ import annotations

import json
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset

from audiodiff.io.config import check_keys, to_json_dict
from audiodiff.train.distributed import DistContext, all_gather_object, all_reduce, barrier, process_group, wrap_model
from audiodiff.train.sampler import ShardSampler, batches_per_epoch, epoch_loader, to_device
from audiodiff.train.state import STATE_NAME, read_state, rng_state, seed_everything, set_rng_state, write_state

__all__ = ["LOG_NAME", "STATE_NAME", "ShardSampler", "Task", "TrainConfig", "TrainSummary", "train"]

LOG_NAME = "log.jsonl"


def learning_rate(config: TrainConfig, step: int) -> float:
    """The learning rate of ``step`` (0-based): linear warm-up over ``warmup_steps``, times a cosine
    from 1 down to ``min_lr_ratio`` reached at ``decay_steps`` (when set), constant after."""
    lr = config.lr * min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else config.lr
    if config.decay_steps:
        progress = min(step, config.decay_steps) / config.decay_steps
        lr *= config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return lr


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping settings shared by every recipe."""

    out_dir: str = "runs/train"
    batch_size: int = 8  # per process
    lr: float = 3e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    warmup_steps: int = 0  # linear warm-up, then constant (or decaying with decay_steps)
    decay_steps: int = 0  # cosine decay to min_lr_ratio x lr at this step, constant after (0: no decay)
    min_lr_ratio: float = 0.1
    max_steps: int = 10_000
    max_minutes: float | None = None  # wall-clock budget of this invocation
    grad_clip: float = 1.0  # max global grad norm; 0 disables
    ema_decay: float = 0.999
    ckpt_every: int = 250  # steps between training-state checkpoints
    log_every: int = 25  # steps averaged per log line
    seed: int = 0
    init_from: str | None = None  # exported inference checkpoint to fine-tune from (ignored on resume)
    resume: bool = True  # continue from <out_dir>/train_state.pt when present
    num_workers: int = 0  # DataLoader worker processes
    device: str = "auto"  # "auto" (CUDA when available), "cpu" or "cuda"

    def __post_init__(self) -> None:
        self.betas = (float(self.betas[0]), float(self.betas[1]))
        if self.decay_steps < 0 or not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"decay_steps must be >= 0 and min_lr_ratio in [0, 1], got {self.decay_steps}"
                             f" and {self.min_lr_ratio}")
        for name in ("batch_size", "max_steps", "ckpt_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict; unknown keys are errors that list the allowed ones."""
        check_keys(cls, data, "train config")
        return cls(**data)

    def updated(self, data: dict[str, Any]) -> TrainConfig:
        """This config with the settings in ``data`` replaced; unknown keys are errors."""
        return TrainConfig.from_dict({**asdict(self), **data})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return to_json_dict(self)


class Task(Protocol):
    """What a recipe provides to :func:`train`."""

    dataset: Dataset  # items are tensors or (nested) tuples/lists/dicts of tensors

    def build_model(self) -> nn.Module:
        """A fresh model; must build the same architecture every call."""

    def loss(self, model: nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """Scalar loss to minimise and floats to log, for 0-based ``step``.

        ``model`` may be DDP-wrapped: call it (its forward) for everything that needs gradients.
        Randomness that decides *which* modules run must agree across ranks (derive it from step).
        """

    def export(self, ema_model: nn.Module, out_dir: Path, metadata: dict[str, Any]) -> Path:
        """Write the inference checkpoint (via audiodiff.io.checkpoint) into ``out_dir``; return its path."""

    def load_weights(self, model: nn.Module, path: Path) -> None:
        """Load an exported inference checkpoint into ``model`` (for ``init_from``)."""


@dataclass
class TrainSummary:
    """What a finished (or stopped) run did."""

    step: int
    epoch: int
    seconds: float  # wall time of this invocation
    stop_reason: str  # "max_steps", "max_minutes" or "signal"
    losses: dict[str, float]  # means over the last logged window
    state_path: Path
    export_path: Path | None  # set on rank 0


def train(task: Task, config: TrainConfig) -> TrainSummary:
    """Train ``task`` until ``max_steps``, ``max_minutes`` or SIGINT/SIGTERM, then save and export.

    Under torchrun (``WORLD_SIZE`` > 1) it joins the process group (gloo on CPU, nccl on GPU) and
    wraps the model in DistributedDataParallel; ``batch_size`` is per process. Rank 0 writes
    ``<out_dir>/train_state.pt`` every ``ckpt_every`` steps and on stop, appends averaged losses to
    ``<out_dir>/log.jsonl`` every ``log_every`` steps, and exports the EMA model at the end.
    """
    with process_group(config.device) as ctx:
        return _Run(task, config, ctx).run()


class _Run:
    """State of one invocation of :func:`train` (kept in one place so saving and resuming match)."""

    def __init__(self, task: Task, config: TrainConfig, ctx: DistContext) -> None:
        self.task, self.config, self.ctx = task, config, ctx
        self.out_dir = Path(config.out_dir)
        self.state_path = self.out_dir / STATE_NAME
        if ctx.rank == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        barrier(ctx)
        resuming = self.state_path.exists()
        if resuming and not config.resume:
            raise ValueError(f"{self.state_path} exists; resume it, or choose another out_dir")

        torch.manual_seed(config.seed)  # the same initial weights on every rank
        self.model = task.build_model().to(ctx.device)
        if config.init_from and not resuming:
            task.load_weights(self.model, Path(config.init_from))
        self.ema = task.build_model().to(ctx.device)
        self.ema.load_state_dict(self.model.state_dict())
        self.ema.requires_grad_(False).eval()
        self.param_names = {name for name, _ in self.model.named_parameters()}
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, betas=config.betas,
                                           weight_decay=config.weight_decay)
        self.step = self.epoch = self.batch_in_epoch = 0
        self.window: dict[str, float] = {}  # running sums of logged values since the last log line
        self.window_steps = 0
        self.elapsed_before = 0.0  # training seconds of earlier invocations
        self.last_losses: dict[str, float] = {}
        if resuming:
            self._load_state()
        else:
            seed_everything(config.seed * 1000 + ctx.rank)
        self.train_model = wrap_model(self.model, ctx)

    def run(self) -> TrainSummary:
        config, ctx = self.config, self.ctx
        steps_per_epoch = batches_per_epoch(len(self.task.dataset), batch_size=config.batch_size, world=ctx.world)
        if steps_per_epoch == 0:
            raise ValueError(
                f"dataset of {len(self.task.dataset)} items is too small for batch_size {config.batch_size}"
                f" x {ctx.world} processes"
            )
        from tqdm.auto import tqdm

        start = time.monotonic()
        reason = "max_steps" if self.step >= config.max_steps else None
        last_saved = self.step if reason else -1
        signalled = _SignalFlag()
        bar = tqdm(total=config.max_steps, initial=self.step, disable=ctx.rank != 0, dynamic_ncols=True,
                   desc="train", unit="step")
        with signalled:
            while reason is None:
                for batch in self._loader():
                    self._train_step(batch)
                    bar.update(1)
                    if self.step % config.log_every == 0:
                        self._log(start)
                        bar.set_postfix(loss=f"{self.last_losses.get('loss', float('nan')):.4g}")
                    reason = self._stop_reason(start, signalled.raised)
                    if reason is not None or self.step % config.ckpt_every == 0:
                        self._save_state(start)
                        last_saved = self.step
                    if reason is not None:
                        break
                if self.batch_in_epoch >= steps_per_epoch:
                    self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        bar.close()
        if last_saved != self.step:
            self._save_state(start)
        if self.window_steps:
            self._log(start)
        export_path = None
        if ctx.rank == 0:
            metadata = {"steps": self.step, "epochs": self.step / steps_per_epoch, "losses": self.last_losses,
                        "world_size": ctx.world, "train_config": config.to_dict()}
            export_path = self.task.export(self.ema, self.out_dir, metadata)
        barrier(ctx)
        return TrainSummary(step=self.step, epoch=self.epoch, seconds=time.monotonic() - start,
                            stop_reason=reason, losses=dict(self.last_losses),
                            state_path=self.state_path, export_path=export_path)

    def _loader(self) -> DataLoader:
        return epoch_loader(self.task.dataset, self.ctx, batch_size=self.config.batch_size, seed=self.config.seed,
                            epoch=self.epoch, skip_batches=self.batch_in_epoch, num_workers=self.config.num_workers)

    def _train_step(self, batch: Any) -> None:
        config = self.config
        lr = learning_rate(config, self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.train()
        loss, logs = self.task.loss(self.train_model, to_device(batch, self.ctx.device), self.step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        values = {"loss": loss.item(), **logs, "lr": lr}
        if config.grad_clip > 0:
            values["grad_norm"] = float(nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip))
        self.optimizer.step()
        # EMA warm-up: early averages would otherwise be dominated by the random init.
        self._update_ema(min(config.ema_decay, (1 + self.step) / (10 + self.step)))
        self.step += 1
        self.batch_in_epoch += 1
        for key, value in values.items():
            self.window[key] = self.window.get(key, 0.0) + float(value)
        self.window_steps += 1

    @torch.no_grad()
    def _update_ema(self, decay: float) -> None:
        current = self.model.state_dict()
        for name, tensor in self.ema.state_dict().items():
            if name in self.param_names and tensor.is_floating_point():
                tensor.lerp_(current[name], 1.0 - decay)
            else:  # buffers (e.g. RVQ codebooks, which are already moving averages)
                tensor.copy_(current[name])

    def _log(self, start: float) -> None:
        keys = sorted(self.window)
        sums = torch.tensor([self.window[k] for k in keys], dtype=torch.float64)
        sums = all_reduce(self.ctx, sums) / self.ctx.world  # mean over ranks
        self.last_losses = {k: float(v) / self.window_steps for k, v in zip(keys, sums)}
        if self.ctx.rank == 0:
            line = {"step": self.step, "epoch": self.epoch, "seconds": round(self._elapsed(start), 3),
                    "steps_averaged": self.window_steps, **self.last_losses}
            with open(self.out_dir / LOG_NAME, "a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")
        self.window, self.window_steps = {}, 0

    def _elapsed(self, start: float) -> float:
        return self.elapsed_before + time.monotonic() - start

    def _stop_reason(self, start: float, signalled: bool) -> str | None:
        """Decide together: every rank must stop at the same step or the collectives hang."""
        config = self.config
        minutes_up = config.max_minutes is not None and time.monotonic() - start >= 60 * config.max_minutes
        flags = torch.tensor([signalled, minutes_up, self.step >= config.max_steps], dtype=torch.int32)
        flags = all_reduce(self.ctx, flags, op=dist.ReduceOp.MAX)
        for flag, reason in zip(flags.tolist(), ("signal", "max_minutes", "max_steps")):
            if flag:
                return reason
        return None

    def _save_state(self, start: float) -> None:
        gathered = all_gather_object(self.ctx, rng_state())
        if self.ctx.rank != 0:
            return
        write_state(self.state_path, {
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "model": self.model.state_dict(), "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(), "rng": gathered,
            "window": dict(self.window), "window_steps": self.window_steps,
            "last_losses": dict(self.last_losses), "elapsed": self._elapsed(start),
            "config": self.config.to_dict(),
        })

    def _load_state(self) -> None:
        state = read_state(self.state_path)
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.window, self.window_steps = dict(state["window"]), state["window_steps"]
        self.last_losses, self.elapsed_before = dict(state["last_losses"]), state["elapsed"]
        if len(state["rng"]) == self.ctx.world:
            set_rng_state(state["rng"][self.ctx.rank])
        else:  # the number of processes changed: no state to continue, so start fresh streams
            seed_everything(self.config.seed * 1000 + self.ctx.rank + 7919 * self.step)


class _SignalFlag:
    """Context manager turning the first SIGINT/SIGTERM into a flag (a second SIGINT interrupts)."""

    def __init__(self) -> None:
        self.raised = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.raised and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.raised = True

    def __enter__(self) -> _SignalFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
