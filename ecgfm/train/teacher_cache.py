"""Precomputed embeddings of a frozen teacher (SelfMIS).

SelfMIS's teacher is frozen and its input is the un-augmented 12-lead window, so each record's
teacher embedding never changes during training. Computing them once turns every training step
into a student-only step (the 12-lead Net1D forward is about half the cost of a SelfMIS step).

The cache file ``<cache>/teacher/<key>.npy`` (``(N, D)`` float32, one row per record of the
:class:`~ecgfm.train.pretrain_data.PretrainData`) is keyed by the SHA-256 of the teacher's
weights, the data cache key, the window and the precision, so a different teacher checkpoint,
data set or preprocessing never reuses stale embeddings. Under ``torchrun`` every rank embeds a
strided share of the records and the shares are gathered.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ecgfm import distributed as _dist
from ecgfm.train.checkpoint import _umask_mode
from ecgfm.train.encoders import state_fingerprint
from ecgfm.train.loop import autocast
from ecgfm.train.pretrain_data import PretrainData, default_cache_dir

__all__ = ["teacher_cache_key", "teacher_embeddings"]

logger = logging.getLogger(__name__)


def teacher_cache_key(teacher: nn.Module, data: PretrainData, precision: str) -> str:
    """Hex key of the embeddings of ``teacher`` on ``data`` computed in ``precision``."""
    parts = [
        state_fingerprint(teacher),
        data.cache_key,
        str(len(data)),
        str(data.preset.length),
        precision,
        type(teacher).__name__,
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


@torch.inference_mode()
def _embed(
    teacher: nn.Module,
    data: PretrainData,
    index: np.ndarray,
    batch_size: int,
    device: torch.device,
    precision: str,
) -> torch.Tensor:
    rows = []
    t0 = time.monotonic()
    for start in range(0, len(index), batch_size):
        x = data.windows(index[start : start + batch_size], crop="center").to(device)
        with autocast(device, precision):
            rows.append(teacher.forward_embedding(x).float())
        done = start + len(x)
        if done == len(index) or (start // batch_size) % 10 == 0:
            rate = done / max(time.monotonic() - t0, 1e-9)
            logger.info(
                "teacher embeddings: %d/%d records (%.1f records/s)", done, len(index), rate
            )
    return torch.cat(rows) if rows else torch.empty(0, int(teacher.num_features), device=device)


def teacher_embeddings(
    teacher: nn.Module,
    data: PretrainData,
    *,
    device: torch.device,
    batch_size: int = 32,
    precision: str = "fp32",
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> torch.Tensor:
    """Teacher embeddings of every record of ``data``, ``(N, D)`` float32 on the CPU.

    The teacher sees the preset's window (``crop="center"``; the whole record for SelfMIS's
    10 s presets). Loaded from the cache when present; otherwise computed (shared between
    ranks under ``torchrun``) and written by rank 0.

    Args:
        teacher: the frozen encoder (put in eval mode here).
        data: the pre-training records.
        device: where the teacher runs.
        batch_size: records per forward pass.
        precision: ``"fp32"`` (default: exact) or ``"bf16"`` (faster on recent CPUs/GPUs).
        cache_dir: cache root (default :func:`~ecgfm.train.pretrain_data.default_cache_dir`).
        use_cache: read/write the cache file.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not hasattr(teacher, "forward_embedding") or not hasattr(teacher, "num_features"):
        raise TypeError(f"{type(teacher).__name__} is not an ecgfm encoder (forward_embedding)")
    teacher.eval()
    key = teacher_cache_key(teacher, data, precision)
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = root / "teacher" / f"{key}.npy"
    if use_cache and path.is_file():
        emb = np.load(path)
        if emb.shape[0] != len(data):
            raise ValueError(f"{path} has {emb.shape[0]} rows for {len(data)} records; delete it")
        logger.info("teacher embeddings loaded from %s", path)
        return torch.from_numpy(emb)
    rank, world = _dist.get_rank(), _dist.get_world_size()
    mine = np.arange(rank, len(data), world)
    local = _embed(teacher, data, mine, batch_size, device, precision)
    gathered, _ = _dist.gather(local, with_grad=False)
    # gathered rows are rank-major: rank r holds records r, r + world, ...; undo the striding
    order = np.concatenate([np.arange(r, len(data), world) for r in range(world)])
    emb = torch.empty(len(data), local.shape[1], dtype=torch.float32)
    emb[torch.from_numpy(order)] = gathered.float().cpu()
    if use_cache and rank == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npy", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            np.save(f, emb.numpy())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
        logger.info("teacher embeddings cached in %s", path)
    return emb
