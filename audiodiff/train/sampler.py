"""Training data order: per-epoch, per-rank shuffled batches that a resumed run continues exactly.

The order is a pure function of (seed, epoch), so a run can restart at any batch of any epoch.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from audiodiff.train.distributed import DistContext


def batches_per_epoch(size: int, *, batch_size: int, world: int) -> int:
    """Whole batches each rank gets from one epoch of ``size`` items (the same on every rank)."""
    return math.ceil(size / world) // batch_size


class ShardSampler(Sampler[int]):
    """This rank's indices for one epoch: a permutation seeded by (seed, epoch), cut into shards.

    The permutation is padded by wrap-around to a multiple of ``world`` so every rank gets the same
    number of whole batches; ``skip_batches`` resumes mid-epoch.
    """

    def __init__(self, size: int, *, batch_size: int, rank: int, world: int, seed: int, epoch: int,
                 skip_batches: int = 0) -> None:
        per_rank = math.ceil(size / world)
        order = np.random.default_rng([seed, epoch]).permutation(size)
        order = np.resize(order, per_rank * world)  # wraps around
        self.batches_per_epoch = batches_per_epoch(size, batch_size=batch_size, world=world)
        self.indices = order[rank::world][skip_batches * batch_size: self.batches_per_epoch * batch_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices.tolist())

    def __len__(self) -> int:
        return len(self.indices)


def epoch_loader(dataset: Dataset, ctx: DistContext, *, batch_size: int, seed: int, epoch: int,
                 skip_batches: int, num_workers: int) -> DataLoader:
    """This rank's batches of ``epoch`` after the first ``skip_batches``; calls ``dataset.set_epoch``
    first when the dataset has it."""
    set_epoch = getattr(dataset, "set_epoch", None)
    if set_epoch is not None:
        set_epoch(epoch)
    sampler = ShardSampler(len(dataset), batch_size=batch_size, rank=ctx.rank, world=ctx.world, seed=seed,
                           epoch=epoch, skip_batches=skip_batches)
    # The loader draws worker seeds from its own generator, so global RNG streams (which the
    # loss may use) do not depend on where an epoch's iteration started.
    generator = torch.Generator().manual_seed(seed * 1000 + epoch)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      drop_last=True, generator=generator, pin_memory=ctx.device.type == "cuda")


def to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` with every tensor in it (nested in dicts, lists and tuples) moved to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch
