"""Multi-process training set-up: DistributedDataParallel under ``torchrun``.

``torchrun --nproc_per_node N -m depthsnn.cli.main train ...`` (or ``depthsnn train --nproc N``,
which re-launches itself that way) sets RANK / WORLD_SIZE / LOCAL_RANK; this module reads them,
initialises the process group (gloo on CPU, nccl on CUDA) and tears it down.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_info_from_env() -> DistInfo:
    """Rank and world size as set by torchrun (single process when unset)."""
    return DistInfo(
        rank=int(os.environ.get("RANK", 0)),
        world_size=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def init_distributed(info: DistInfo, device: torch.device) -> None:
    """Join the process group when running under torchrun with more than one process."""
    if info.enabled and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def shutdown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()


def _comm_device(info: DistInfo) -> torch.device:
    # nccl only moves CUDA tensors; gloo works on CPU tensors.
    return torch.device("cuda", info.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")


def broadcast_float(value: float, info: DistInfo) -> float:
    """Rank 0's ``value`` on every rank (e.g. a stop flag or the best metric)."""
    if not (info.enabled and dist.is_initialized()):
        return value
    t = torch.tensor([value], dtype=torch.float64, device=_comm_device(info))
    dist.broadcast(t, src=0)
    return float(t.item())


def all_reduce_mean(values: list[float], info: DistInfo) -> list[float]:
    """Element-wise mean over ranks (for logging losses)."""
    if not (info.enabled and dist.is_initialized()):
        return values
    t = torch.tensor(values, dtype=torch.float64, device=_comm_device(info))
    dist.all_reduce(t)
    return (t / info.world_size).tolist()
