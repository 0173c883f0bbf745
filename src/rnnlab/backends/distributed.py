"""Data-parallel training: one process per device, started by `torchrun`.

    torchrun --nproc_per_node 2 -m rnnlab.cli train charlm --backend torch --batch-size 64 ...

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE (and MASTER_ADDR/PORT) in each process's
environment. When WORLD_SIZE > 1 the torch backend joins the process group (gloo on the
CPU, NCCL on CUDA, each process on GPU LOCAL_RANK), wraps the network in
DistributedDataParallel, and the language-model samplers give each rank its own
contiguous B/N of the batch columns:

    full batch (T, B):   | rank 0: columns 0..B/N-1 | rank 1: B/N..2B/N-1 | ... |

Every rank's loss is the mean over its own B/N columns and DDP averages the gradients
over the ranks, so the update is the single-process full-batch update: N processes with
batch B/N each end with the same weights as one process with batch B. Every rank
evaluates on all held-out data; only rank 0 writes the run folder.

Left out: gradient accumulation, sharded optimisers (ZeRO/FSDP), uneven last batches.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from rnnlab.errors import UsageError


@dataclass
class Context:
    """Where this process stands in a data-parallel job (rank 0 of 1 when there is none)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def context_from_environment() -> Context:
    """RANK / WORLD_SIZE / LOCAL_RANK as torchrun sets them (absent: a single process)."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as error:
        raise UsageError(f"bad torchrun environment (RANK/WORLD_SIZE/LOCAL_RANK): {error}") from None
    return Context(rank=rank, world_size=world_size, local_rank=local_rank)


def join(context: Context, device: torch.device) -> torch.device:
    """Join the process group (once per process) -> the device this rank trains on."""
    if device.type == "mps":
        raise UsageError("data-parallel training runs on CPUs (gloo) or CUDA GPUs (NCCL), not on mps")
    if device.type == "cuda":
        if context.local_rank >= torch.cuda.device_count():
            raise UsageError(
                f"rank {context.rank} wants GPU {context.local_rank}, but this machine has "
                f"{torch.cuda.device_count()}; use --nproc_per_node <= the number of GPUs"
            )
        torch.cuda.set_device(context.local_rank)
        device = torch.device("cuda", context.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if device.type == "cuda" else "gloo", rank=context.rank, world_size=context.world_size
        )
        atexit.register(_leave)
    return device


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap(network: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The network behind DistributedDataParallel: backward averages the gradients over the ranks."""
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda" else None)


def largest(values, device: torch.device) -> tuple:
    """The element-wise largest of `values` over all ranks, the same on every rank. What a rank
    decides from its clock or its signals (the time budget ran out, lr on a cosine over time,
    Ctrl-C) must be decided alike on all ranks: one rank stopping a step before the others leaves
    them waiting in their next all-reduce, and different learning rates make their weights part."""
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tuple(tensor.tolist())
