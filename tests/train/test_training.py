"""The training loop on a toy task: loss falls, exact resume, DDP on 2 processes, init_from."""
from __future__ import annotations

import json
import os
import random
import signal
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import Dataset

from audiodiff.io.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from audiodiff.train.loop import STATE_NAME, TrainConfig, train
from audiodiff.train.sampler import ShardSampler


class ToyData(Dataset):
    """y = sin(x . w): 20 items, shifted a little per epoch so that set_epoch matters."""

    def __init__(self, size: int = 20) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(size, 4, generator=g)
        self.y = torch.sin(self.x @ torch.tensor([1.0, -2.0, 0.5, 1.5])).unsqueeze(1)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i] + 0.01 * self.epoch, self.y[i]


class ToyTask:
    """Uses torch, numpy and python RNGs in the loss, so resume must restore all three."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.dataset = ToyData()
        self.interrupt_at = interrupt_at
        self.model: nn.Module | None = None
        self.initial_state: dict[str, torch.Tensor] | None = None

    def build_model(self) -> nn.Module:
        return nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 1))

    def loss(self, model, batch, step):
        if self.initial_state is None:
            inner = getattr(model, "module", model)
            self.initial_state = {k: v.clone() for k, v in inner.state_dict().items()}
        self.model = model
        x, y = batch
        jitter = 1 + 0.01 * random.random() + 0.01 * float(np.random.rand())
        pred = model(x * jitter + 0.01 * torch.randn_like(x))
        loss = nn.functional.mse_loss(pred, y)
        if step == self.interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C or a scheduler's SIGTERM does
        return loss, {"mse": loss.item()}

    def export(self, ema_model, out_dir, metadata):
        return save_checkpoint(Path(out_dir) / "toy.safetensors", ema_model.state_dict(), kind="toy",
                               config={}, metadata=metadata)

    def load_weights(self, model, path):
        state, _, _ = load_checkpoint(path, kind="toy")
        model.load_state_dict(state)


def _config(out: Path, **overrides) -> TrainConfig:
    base = dict(out_dir=str(out), batch_size=4, lr=1e-2, max_steps=12, ckpt_every=4, log_every=1,
                ema_decay=0.9, seed=0, device="cpu")
    return TrainConfig(**{**base, **overrides})


def _losses(out: Path) -> dict[int, float]:
    lines = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return {line["step"]: line["loss"] for line in lines}


def test_loss_falls_and_outputs(tmp_path):
    summary = train(ToyTask(), _config(tmp_path, max_steps=150, log_every=10, ckpt_every=50))
    losses = _losses(tmp_path)
    assert summary.step == 150 and summary.stop_reason == "max_steps"
    assert losses[150] < 0.3 * losses[10]
    assert (tmp_path / STATE_NAME).exists()
    _, _, metadata = load_checkpoint(summary.export_path, kind="toy")
    assert metadata["steps"] == 150 and metadata["losses"]["loss"] == pytest.approx(losses[150])


@pytest.mark.parametrize("stop", ["max_steps", "signal"])
def test_resume_is_exact(tmp_path, stop):
    straight = train(ToyTask(), _config(tmp_path / "straight"))
    if stop == "max_steps":
        first = train(ToyTask(), _config(tmp_path / "resumed", max_steps=6))
    else:
        first = train(ToyTask(interrupt_at=5), _config(tmp_path / "resumed"))
    assert (first.step, first.stop_reason) == (6, stop)
    resumed = train(ToyTask(), _config(tmp_path / "resumed"))
    assert resumed.step == straight.step == 12
    assert _losses(tmp_path / "resumed") == _losses(tmp_path / "straight")  # exact float equality
    a = torch.load(tmp_path / "straight" / STATE_NAME, weights_only=True)
    b = torch.load(tmp_path / "resumed" / STATE_NAME, weights_only=True)
    for key in ("model", "ema"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key])
    with pytest.raises(ValueError, match="exists; resume it"):
        train(ToyTask(), _config(tmp_path / "resumed", resume=False))


def test_init_from_loads_exported_weights(tmp_path):
    exported = train(ToyTask(), _config(tmp_path / "a", max_steps=3)).export_path
    task = ToyTask()
    train(task, _config(tmp_path / "b", max_steps=1, init_from=str(exported)))
    state, _, _ = load_checkpoint(exported, kind="toy")
    assert all(torch.equal(task.initial_state[k], state[k]) for k in state)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        train(ToyTask(), _config(tmp_path / "c", init_from=str(tmp_path / "absent.safetensors")))


def test_shard_sampler_partitions_each_epoch():
    shards = [list(ShardSampler(10, batch_size=2, rank=r, world=2, seed=1, epoch=0)) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 4  # 5 per rank, 2 whole batches
    assert not set(shards[0]) & set(shards[1])
    assert list(ShardSampler(10, batch_size=2, rank=0, world=2, seed=1, epoch=0, skip_batches=1)) == shards[0][2:]
    assert shards[0] != list(ShardSampler(10, batch_size=2, rank=0, world=2, seed=1, epoch=1))


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    task = ToyTask()
    summary = train(task, _config(Path(out), max_steps=4, ckpt_every=2, log_every=2))
    assert summary.step == 4 and not torch.distributed.is_initialized()
    torch.save(task.model.module.state_dict(), Path(out) / f"rank{rank}.pt")


def test_ddp_two_processes_end_identical(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0])
    state = torch.load(tmp_path / STATE_NAME, weights_only=True)
    assert state["step"] == 4 and len(state["rng"]) == 2
    assert all(torch.equal(state["model"][k], ranks[0][k]) for k in ranks[0])
    assert sorted(_losses(tmp_path)) == [2, 4] and (tmp_path / "toy.safetensors").exists()


def test_learning_rate_warms_up_then_decays_by_a_cosine_to_its_floor():
    from audiodiff.train.loop import TrainConfig, learning_rate

    config = TrainConfig(lr=2.0, warmup_steps=10, decay_steps=100, min_lr_ratio=0.25)
    assert learning_rate(config, 0) == pytest.approx(2.0 / 10)  # warm-up, barely decayed
    assert learning_rate(config, 50) == pytest.approx(2.0 * (0.25 + 0.75 * 0.5))  # halfway down the cosine
    assert learning_rate(config, 100) == learning_rate(config, 1000) == pytest.approx(0.5)  # floor, then constant
    lrs = [learning_rate(config, s) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert learning_rate(TrainConfig(lr=2.0, warmup_steps=10), 5000) == 2.0  # no decay_steps: constant
    with pytest.raises(ValueError, match="decay_steps"):
        TrainConfig(decay_steps=-1)
