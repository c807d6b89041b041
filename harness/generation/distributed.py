"""Data parallelism across processes started by ``accelerate launch`` or ``torchrun``.

Only rank and world size are needed (tasks are split, each rank writes a shard, rank 0 merges),
so a gloo process group is used for the two barriers on every device: no tensors travel, and
gloo's timeout is set long because ranks wait for the slowest one's whole share of generation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

_ENV_RANK = ("RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK")
_ENV_WORLD = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
_ENV_LOCAL = (
    "LOCAL_RANK",
    "MPI_LOCALRANKID",
    "OMPI_COMM_WORLD_LOCAL_RANK",
    "MV2_COMM_WORLD_LOCAL_RANK",
)


def _env_int(names: tuple[str, ...], default: int) -> int:
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            return int(value)
    return default


@dataclass(frozen=True)
class Dist:
    """This process's place among the launched ones."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False  # created here, so destroyed here (a caller's group is left alone)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()


def init_dist(timeout_hours: float = 72.0) -> Dist:
    """Read the launcher's environment; join a gloo group when there is more than one process."""
    world = _env_int(_ENV_WORLD, 1)
    if world <= 1:
        return Dist()
    rank = _env_int(_ENV_RANK, 0)
    local_rank = _env_int(_ENV_LOCAL, rank)
    import torch.distributed as dist

    if dist.is_initialized():
        return Dist(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=local_rank)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29500")
    dist.init_process_group(
        "gloo", rank=rank, world_size=world, timeout=timedelta(hours=timeout_hours)
    )
    return Dist(rank=rank, world=world, local_rank=local_rank, owns_group=True)


def close_dist(d: Dist) -> None:
    """Leave the group cleanly (avoids a warning at exit)."""
    if d.enabled and d.owns_group:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
