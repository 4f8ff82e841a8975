"""Embedding preparation shared by the contrastive losses: dtype, unit norm, gathering."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ecgfm import distributed

# Smallest norm divided by in L2 normalisation: a zero embedding stays zero (all its logits
# are the bias) instead of becoming NaN.
_NORM_EPS = 1e-12


def compute_dtype(*tensors: torch.Tensor | None) -> torch.dtype:
    """The dtype the loss is computed in: the promoted input dtype, at least float32.

    bf16/fp16 embeddings are upcast so the logits, log-sum-exp and their gradients are computed
    in float32 (autograd casts the gradient back to each input's dtype); float64 stays float64.
    """
    dtype = torch.float32
    for z in tensors:
        if z is not None:
            dtype = torch.promote_types(dtype, z.dtype)
    return dtype


def prepare(z: torch.Tensor, dtype: torch.dtype, normalize: bool = True) -> torch.Tensor:
    """``z`` ``(B, D)`` cast to ``dtype`` and L2-normalised along ``D`` when ``normalize``."""
    z = z.to(dtype)
    return F.normalize(z, dim=1, eps=_NORM_EPS) if normalize else z


def gather_columns(z: torch.Tensor, *, enabled: bool) -> tuple[torch.Tensor, int, int]:
    """``(all_ranks_z, offset_of_local_rows, world_size)``; identity when not ``enabled``.

    Goes through autograd only when ``z`` requires grad (a frozen teacher needs none).
    """
    if not enabled:
        return z, 0, 1
    gathered, offset = distributed.gather(z, with_grad=True)
    return gathered, offset, distributed.get_world_size()


def gather_ids(ids: torch.Tensor, *, enabled: bool) -> torch.Tensor:
    """Integer ids ``(B,)`` of all ranks, in rank order (no autograd)."""
    if not enabled:
        return ids
    gathered, _ = distributed.gather(ids, with_grad=False)
    return gathered
