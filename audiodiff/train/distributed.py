"""The process group of a torchrun launch: rank, world size, device, and the collectives training uses.

Every helper is a no-op (or the identity) in a single process, so callers need no ``world > 1`` checks.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class DistContext:
    """This process's place in the run."""

    rank: int
    world: int
    device: torch.device
    owns_group: bool  # this process created the group, so it must destroy it


@contextmanager
def process_group(device_name: str) -> Iterator[DistContext]:
    """Join the torchrun process group when ``WORLD_SIZE`` > 1 (gloo on CPU, nccl on GPU), pick this
    rank's device (``device_name``: "auto", "cpu" or "cuda"), and leave the group on exit if joined here."""
    ctx = _setup(device_name)
    try:
        yield ctx
    finally:
        if ctx.owns_group:
            dist.destroy_process_group()


def _setup(device_name: str) -> DistContext:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")))
    use_cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
    device = torch.device("cuda", local_rank % max(1, torch.cuda.device_count())) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    owns_group = False
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
        owns_group = True
    if dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), device, owns_group)
    return DistContext(0, 1, device, owns_group)


def wrap_model(model: nn.Module, ctx: DistContext) -> nn.Module:
    """``model`` wrapped in DistributedDataParallel when there are several processes, else itself."""
    if ctx.world == 1:
        return model
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def barrier(ctx: DistContext) -> None:
    """Wait until every rank gets here."""
    if ctx.world > 1:
        dist.barrier()


def all_reduce(ctx: DistContext, tensor: torch.Tensor, op: dist.ReduceOp.RedOpType = dist.ReduceOp.SUM
               ) -> torch.Tensor:
    """``tensor`` (on the CPU) reduced over all ranks with ``op`` (returned on the CPU)."""
    if ctx.world == 1:
        return tensor
    tensor = tensor.to(ctx.device)
    dist.all_reduce(tensor, op=op)
    return tensor.cpu()


def all_gather_object(ctx: DistContext, obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (picklable objects)."""
    if ctx.world == 1:
        return [obj]
    gathered: list[Any] = [None] * ctx.world
    dist.all_gather_object(gathered, obj)
    return gathered
