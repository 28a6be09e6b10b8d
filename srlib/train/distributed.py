"""Process-group set-up for `torchrun` (DistributedDataParallel); a plain run is world size 1.

`torchrun --nproc_per_node N -m srlib.cli train ...` sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR; we
then initialise the default process group (NCCL on CUDA, gloo on CPU), put each rank on `cuda:LOCAL_RANK`
(or the CPU), and shard every global batch by index arithmetic: rank r of W trains on items
`step * B + r * B / W + j` (j < B / W) of the pure-function dataset, so the union over ranks is exactly the
batch a single process would draw. DDP averages gradients over ranks, so the update equals the single-process
update of the global batch (up to float summation order; the models have no batch norm).
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


def env_info() -> DistInfo:
    """Rank info from torchrun's environment variables (world size 1 when not under torchrun)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def init(device_kind: str) -> DistInfo:
    """Initialise the process group when running under torchrun with WORLD_SIZE > 1."""
    info = env_info()
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" else "gloo"
        if device_kind == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend)
    return info


def barrier(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()


def mean_scalar(value: torch.Tensor, info: DistInfo) -> float:
    """The mean of a scalar tensor over all ranks (the global batch's loss)."""
    if not info.enabled:
        return float(value.detach())
    t = value.detach().float().reshape(1).clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t) / info.world_size


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def shard(global_batch: int, info: DistInfo) -> tuple[int, int]:
    """(offset, size) of this rank's share of a global batch; the batch must split evenly."""
    if global_batch % info.world_size:
        raise ValueError(
            f"global batch size {global_batch} does not split over {info.world_size} processes; "
            f"choose batch_size divisible by the number of processes"
        )
    size = global_batch // info.world_size
    return info.rank * size, size
