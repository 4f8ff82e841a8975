"""Process-group helpers: rank, world size and an autograd-aware all-gather.

The contrastive losses of :mod:`ecgfm.losses` compare every local embedding with the embeddings
of all ranks. A plain :func:`torch.distributed.all_gather` returns tensors that are cut from the
autograd graph, so the other ranks' losses would never send gradient back to the rank that
produced an embedding. :func:`gather` fixes that: its backward sums the gradient of the gathered
tensor over all ranks (every rank's loss may depend on every shard) and hands each rank the
slice that belongs to its own shard.

Shards may have different lengths on different ranks (e.g. a short last batch): the lengths are
exchanged first and the shards padded to a common length for the collective.

When ``torch.distributed`` is available but no process group is initialised, everything here
behaves as a single process of world size 1 (the gather is the identity), so the same training
script runs on one device without changes.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

__all__ = ["gather", "get_rank", "get_world_size", "is_initialized"]


def is_initialized() -> bool:
    """True when ``torch.distributed`` is built in and a default process group exists."""
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    """Number of processes in the default group (1 without an initialised group)."""
    return dist.get_world_size() if is_initialized() else 1


def get_rank() -> int:
    """Rank of this process in the default group (0 without an initialised group)."""
    return dist.get_rank() if is_initialized() else 0


def _shard_sizes(n: int, device: torch.device) -> list[int]:
    """Length of the leading axis on every rank, in rank order."""
    local = torch.tensor([n], dtype=torch.long, device=device)
    sizes = [torch.zeros_like(local) for _ in range(get_world_size())]
    dist.all_gather(sizes, local)
    return [int(s.item()) for s in sizes]


def _all_gather_cat(x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """Concatenate the shards ``x`` of all ranks along axis 0 (no autograd)."""
    longest = max(sizes)
    if x.shape[0] < longest:
        pad = x.new_zeros((longest - x.shape[0], *x.shape[1:]))
        x = torch.cat([x, pad], dim=0)
    buffers = [torch.empty_like(x) for _ in sizes]
    dist.all_gather(buffers, x.contiguous())
    return torch.cat([buf[:n] for buf, n in zip(buffers, sizes, strict=True)], dim=0)


class _GatherWithGrad(torch.autograd.Function):
    """All-gather whose backward returns the all-rank sum of the gradient of the local slice."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx,
        x: torch.Tensor,
        sizes: list[int],
        offset: int,
    ) -> torch.Tensor:
        ctx.offset = offset  # type: ignore[attr-defined]
        ctx.length = x.shape[0]  # type: ignore[attr-defined]
        return _all_gather_cat(x.detach(), sizes)

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor
    ) -> tuple[torch.Tensor, None, None]:
        # Every rank's loss may use every shard, so the gradient of this rank's shard is the sum
        # over ranks of d(loss_r)/d(shard). All ranks must run backward (DDP does).
        total = grad.contiguous().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        start = ctx.offset  # type: ignore[attr-defined]
        return total[start : start + ctx.length], None, None  # type: ignore[attr-defined]


def gather(x: torch.Tensor, *, with_grad: bool = True) -> tuple[torch.Tensor, int]:
    """Concatenate ``x`` of every rank along axis 0.

    Args:
        x: this rank's shard ``(B_r, ...)``; ``B_r`` may differ between ranks, the trailing
            shape, dtype and device must not.
        with_grad: keep the result in the autograd graph. The backward of rank ``r`` receives
            ``sum over ranks r' of d(loss_r')/d(x_r)``. Use ``False`` for tensors that need no
            gradient (a frozen teacher's embeddings, integer ids): one collective fewer in
            backward.

    Returns:
        ``(gathered, offset)``: ``gathered`` is ``(sum_r B_r, ...)`` in rank order and
        ``gathered[offset : offset + B_r]`` is this rank's shard. Without an initialised process
        group: ``(x, 0)``.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"gather: expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim == 0:
        raise ValueError("gather: expected a tensor with a leading batch axis, got a scalar")
    if get_world_size() == 1:
        return x, 0
    sizes = _shard_sizes(x.shape[0], x.device)
    offset = sum(sizes[: get_rank()])
    if with_grad and x.requires_grad:
        return _GatherWithGrad.apply(x, sizes, offset), offset
    return _all_gather_cat(x.detach(), sizes), offset
