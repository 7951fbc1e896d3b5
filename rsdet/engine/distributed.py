"""The little DistributedDataParallel needs: who am I, and do all processes agree.

``torchrun --nproc_per_node N $(which rsdet) train ...`` sets ``WORLD_SIZE``, ``RANK``
and ``LOCAL_RANK``; with ``WORLD_SIZE > 1`` the engine joins a process group (NCCL on
CUDA, gloo on CPU), wraps the model in DDP and lets rank 0 alone log and write files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

__all__ = ["Distributed", "any_true", "setup_distributed"]


@dataclass(frozen=True)
class Distributed:
    """This process's place in the job.

    Attributes:
        rank: global process index (0 writes files).
        world: number of processes (1 = no DDP).
        device: the device this process trains on.
    """

    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        """True on the process that logs and writes checkpoints."""
        return self.rank == 0


def setup_distributed(device: torch.device) -> Distributed:
    """Join the process group when launched by torchrun; pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed(0, 1, device)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # Rank 0 validates alone while the others wait at a barrier: allow for long
        # validation sets (the default timeout of 10-30 minutes would kill the job).
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=timedelta(hours=4))
    return Distributed(dist.get_rank(), world, device)


def any_true(flag: bool, ctx: Distributed) -> bool:
    """True when ``flag`` is true on any process (every process must call this)."""
    if ctx.world == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)
