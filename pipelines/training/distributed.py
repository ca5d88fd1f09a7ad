"""Data-parallel training under `torchrun`: one process per GPU (or CPU share), gradients averaged over them.

torchrun starts every process with WORLD_SIZE, RANK and LOCAL_RANK in the environment; with
WORLD_SIZE above 1 `process_group` joins them (nccl on GPUs, gloo on CPUs) and each process
uses the GPU of its local rank. Without torchrun (or with one process) there is no process
group and every helper here is the identity, so single-process runs compute exactly what they
did before this module existed.

Rank 0 speaks for the run: it validates, writes checkpoints and logs and prints; the other
ranks only train. The helpers below are the few collectives the trainer needs for that.
"""

from __future__ import annotations

import hashlib
import math
import os
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, ContextManager, Iterator, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from pipelines.errors import BadInput

T = TypeVar("T")


def launched_rank() -> int:
    """This process's rank as torchrun set it (0 without torchrun); readable before the group exists."""
    return int(os.environ.get("RANK", "0"))


def _launched_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


@contextmanager
def process_group(device: torch.device) -> Iterator[torch.device]:
    """Join the other torchrun processes for the block; yields this process's device (cuda:LOCAL_RANK on GPUs)."""
    if _launched_world_size() == 1:
        yield device
        return
    if not dist.is_available():
        raise BadInput("this PyTorch build has no torch.distributed: run cmkt train without torchrun")
    if device.type == "cuda":
        if device.index is not None:
            raise BadInput(f"--device {device}: under torchrun each process uses the GPU of its local rank; "
                           "give --device cuda or auto")
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if local_rank >= torch.cuda.device_count():
            raise BadInput(f"local rank {local_rank} has no GPU ({torch.cuda.device_count()} visible): start at most "
                           "that many processes per node")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield device
    finally:
        dist.destroy_process_group()


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if world_size() > 1 else 0


def is_main() -> bool:
    return rank() == 0


def share() -> slice:
    """This rank's part of a global batch: items rank, rank + W, rank + 2W, ... (balanced however long it is)."""
    return slice(rank(), None, world_size())


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


class LossesAsForward(nn.Module):
    """`model.losses(...)` as `forward`: DDP syncs gradients only for what runs through its wrapped forward."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, *args: Any) -> dict[str, torch.Tensor]:
        return self.model.losses(*args)


def replicate(model: nn.Module, partly_unused: bool) -> nn.Module:
    """The module the trainer calls for the losses; under torchrun, DDP-wrapped so backward averages gradients.

    DDP rather than an all-reduce after backward: it reduces in buckets while backward still
    runs, which matters for the paper model (2 x 65 M parameters) across nodes, and its
    `no_sync` is exactly gradient accumulation. `partly_unused`: some parameters may get no
    gradient in a micro-batch (the text aligners, when none of a rank's crops has a
    transcript), which DDP stops on unless it looks for them: one more walk of the autograd
    graph per micro-batch, so only when needed. Optimiser, EMA, validation and checkpoints
    use `model` itself, so saved weights never carry DDP's `module.` prefix.
    """
    forward = LossesAsForward(model)
    if world_size() == 1:
        return forward
    device = next(model.parameters()).device
    return DistributedDataParallel(forward, device_ids=[device] if device.type == "cuda" else None,
                                   find_unused_parameters=partly_unused)


def deferred_sync(replica: nn.Module, defer: bool) -> ContextManager:
    """Around a micro-batch's forward and backward: with `defer`, its gradients stay local (all but a step's last)."""
    return replica.no_sync() if defer and isinstance(replica, DistributedDataParallel) else nullcontext()


def _collective_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def any_rank(flag: bool) -> bool:
    """True if it is true on any rank: decisions such as stopping on --max-time must be the same everywhere."""
    if world_size() == 1:
        return flag
    value = torch.tensor([float(flag)], device=_collective_device())
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def mean_over_ranks(values: dict[str, list[float]], names: list[str]) -> dict[str, float]:
    """Per name, the mean of the values every rank collected (names no rank has are left out).

    `names` fixes what is reduced and in which order, since a rank may lack a name another
    has (the text losses, when none of its crops has a transcript).
    """
    if world_size() == 1:
        return {name: float(np.mean(v)) for name, v in values.items() if v}
    totals = torch.tensor([[math.fsum(values.get(n, [])), len(values.get(n, []))] for n in names],
                          dtype=torch.float64, device=_collective_device())
    dist.all_reduce(totals)
    return {name: total / count for name, (total, count) in zip(names, totals.tolist()) if count}


def from_main(compute: Callable[[], T]) -> T:
    """`compute()` run on rank 0 only; every rank gets its result (the others wait for it)."""
    if world_size() == 1:
        return compute()
    result = [compute() if is_main() else None]
    dist.broadcast_object_list(result, src=0)
    return result[0]


def agreed_digest(model: nn.Module, generator: torch.Generator) -> str:
    """Under torchrun: a digest of the weights and the data-order generator, after checking all ranks hold the same.

    DDP keeps the replicas equal only while every rank applies the same averaged gradient
    and draws the same global batches; a rank that drifted would silently train a model
    other than the one rank 0 saves, so a mismatch is an error rather than a warning.
    """
    digest = hashlib.blake2b(digest_size=8)
    for parameter in model.parameters():
        digest.update(parameter.detach().reshape(-1).cpu().view(torch.uint8).numpy().tobytes())
    digest.update(generator.get_state().numpy().tobytes())
    everyone: list[Any] = [None] * world_size()
    dist.all_gather_object(everyone, digest.hexdigest())
    if len(set(everyone)) > 1:
        raise RuntimeError(f"the training processes ended with different weights or data order: {everyone}")
    return everyone[0]
