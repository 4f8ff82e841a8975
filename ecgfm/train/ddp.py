"""Process-group setup for the training loops: ``torchrun`` environment, backend, DDP.

``torchrun --nproc_per_node N script.py ...`` (or ``python -m torch.distributed.run``) sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init_distributed` reads them, picks **gloo on CPU and nccl on CUDA**, and returns a
:class:`DistInfo`. Without those variables the same script runs as a single process (no
process group at all), so every loop works with and without ``torchrun``.

Rank and world size come from :mod:`ecgfm.distributed`, the module the losses use for their
autograd-aware gather (``gather_distributed=True``). Until ecgfm 0.1 this module was
``ecgfm.train.distributed`` (still importable, with a ``DeprecationWarning``, until 0.2.0).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

from ecgfm import distributed as _dist

__all__ = [
    "DistInfo",
    "all_reduce_mean",
    "barrier",
    "cleanup_distributed",
    "init_distributed",
    "unwrap",
    "wrap_ddp",
]

logger = logging.getLogger(__name__)

# Long enough for rank 0 to build a preprocessing cache while the other ranks wait.
_DEFAULT_TIMEOUT = timedelta(hours=2)


@dataclass(frozen=True)
class DistInfo:
    """Where this process runs.

    Attributes:
        rank, world_size, local_rank: from the process group (0, 1, 0 without one).
        device: the device this rank computes on.
        backend: ``"gloo"``, ``"nccl"`` or ``None`` (single process, no group).
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the rank that writes logs, checkpoints and caches)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer") from None


def _resolve_device(device: str | torch.device | None, local_rank: int) -> torch.device:
    if device is None or str(device) == "auto":
        return (
            torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
        )
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r} requested but CUDA is not available")
        if dev.index is None:
            dev = torch.device("cuda", local_rank)
    return dev


def init_distributed(
    device: str | torch.device | None = None,
    *,
    backend: str | None = None,
    timeout: timedelta = _DEFAULT_TIMEOUT,
) -> DistInfo:
    """Initialise the default process group from the ``torchrun`` environment, if present.

    Args:
        device: ``None``/``"auto"`` (CUDA device ``LOCAL_RANK`` if CUDA is available, else
            CPU), or an explicit device (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        backend: override the backend (default: ``"nccl"`` for CUDA, ``"gloo"`` for CPU).
        timeout: collective timeout (default 2 h: caches may be built while others wait).

    Returns:
        A :class:`DistInfo`. Single process when ``WORLD_SIZE`` is unset or 1.

    Raises:
        ValueError: inconsistent environment (rank outside the world, partial variables).
        RuntimeError: nccl without CUDA, or a process group already initialised differently.
    """
    world = _env_int("WORLD_SIZE")
    rank = _env_int("RANK")
    local_rank = _env_int("LOCAL_RANK")
    if world is None or world == 1:
        dev = _resolve_device(device, local_rank or 0)
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        return DistInfo(0, 1, 0, dev, None)
    if rank is None or local_rank is None:
        raise ValueError(
            f"WORLD_SIZE={world} but RANK/LOCAL_RANK are not set; launch with torchrun "
            "(python -m torch.distributed.run --nproc_per_node N script.py ...)"
        )
    if not 0 <= rank < world:
        raise ValueError(f"RANK={rank} is outside WORLD_SIZE={world}")
    dev = _resolve_device(device, local_rank)
    chosen = backend or ("nccl" if dev.type == "cuda" else "gloo")
    if chosen == "nccl" and dev.type != "cuda":
        raise RuntimeError("the nccl backend needs CUDA devices; use gloo on CPU")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if dist.is_initialized():
        if dist.get_world_size() != world or dist.get_rank() != rank:
            raise RuntimeError("a process group is already initialised with another rank/world")
    else:
        dist.init_process_group(backend=chosen, timeout=timeout)
    logger.info("rank %d/%d on %s (backend %s)", rank, world, dev, chosen)
    return DistInfo(_dist.get_rank(), _dist.get_world_size(), local_rank, dev, chosen)


def cleanup_distributed() -> None:
    """Destroy the default process group if one exists (call at the end of a run)."""
    if _dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if _dist.get_world_size() > 1:
        dist.barrier()


def all_reduce_mean(value: float | torch.Tensor, device: torch.device | None = None) -> float:
    """Mean of a scalar over ranks (the value itself in a single process)."""
    if _dist.get_world_size() == 1:
        return float(value)
    t = torch.as_tensor(float(value), dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t) / _dist.get_world_size()


def wrap_ddp(model: nn.Module, info: DistInfo, **kwargs: object) -> nn.Module:
    """``DistributedDataParallel(model)`` when running distributed, else ``model`` itself.

    The model must already be on ``info.device``. Frozen parameters (``requires_grad=False``)
    are ignored by DDP's gradient synchronisation.
    """
    if not info.distributed:
        return model
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("wrap_ddp: the model has no trainable parameter")
    ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, **kwargs)  # type: ignore[arg-type]


def unwrap(model: nn.Module) -> nn.Module:
    """The bare module inside a DDP wrapper (or ``model`` itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
