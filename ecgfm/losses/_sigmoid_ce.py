"""Pairwise sigmoid (binary) cross-entropy between anchor rows and candidate columns.

The kernel behind :class:`~ecgfm.losses.SigLIPLoss`. With ``u_ij = scale * <a_i, c_j> + bias``
and ``z_ij = +1`` when ``column_ids[j] == anchor_ids[i]`` else ``-1``, anchor ``i`` gets

    loss_i = sum_j -log sigmoid(z_ij * u_ij) = sum_j softplus(-z_ij * u_ij).

The chunked implementation walks over blocks of columns in forward and recomputes each block in
backward (a custom autograd function), so neither pass holds more than ``M * chunk_size``
logits; autograd over per-block losses would keep every block alive until backward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _signs(anchor_ids: torch.Tensor, column_ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``(M, C)`` labels: +1 for matching ids, -1 otherwise."""
    match = anchor_ids[:, None] == column_ids[None, :]
    return match.to(dtype).mul_(2.0).sub_(1.0)


class _ChunkedSigmoidCE(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx,
        anchors: torch.Tensor,
        columns: torch.Tensor,
        scale: torch.Tensor,
        bias: torch.Tensor,
        anchor_ids: torch.Tensor,
        column_ids: torch.Tensor,
        chunk_size: int,
    ) -> torch.Tensor:
        out = anchors.new_zeros(anchors.shape[0])
        for start in range(0, columns.shape[0], chunk_size):
            stop = start + chunk_size
            logits = (anchors @ columns[start:stop].T).mul_(scale).add_(bias)
            signs = _signs(anchor_ids, column_ids[start:stop], logits.dtype)
            out += F.softplus(logits.mul_(signs).neg_()).sum(dim=1)
        ctx.save_for_backward(anchors, columns, scale, bias, anchor_ids, column_ids)
        ctx.chunk_size = chunk_size  # type: ignore[attr-defined]
        return out

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, grad_out: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        anchors, columns, scale, bias, anchor_ids, column_ids = ctx.saved_tensors  # type: ignore[attr-defined]
        chunk_size: int = ctx.chunk_size  # type: ignore[attr-defined]
        need = ctx.needs_input_grad  # type: ignore[attr-defined]
        grad_a = torch.zeros_like(anchors) if need[0] else None
        grad_c = torch.empty_like(columns) if need[1] else None
        grad_scale = torch.zeros_like(scale) if need[2] else None
        grad_bias = torch.zeros_like(bias) if need[3] else None
        for start in range(0, columns.shape[0], chunk_size):
            stop = start + chunk_size
            block = columns[start:stop]
            dots = anchors @ block.T
            signs = _signs(anchor_ids, column_ids[start:stop], dots.dtype)
            # d softplus(-z u) / du = -z * sigmoid(-z u)
            g = torch.sigmoid((dots * scale + bias).mul_(signs).neg_()).mul_(signs).neg_()
            g.mul_(grad_out[:, None])
            if grad_scale is not None:
                grad_scale += (g * dots).sum()
            if grad_bias is not None:
                grad_bias += g.sum()
            if grad_a is not None:
                grad_a.addmm_(g, block)
            if grad_c is not None:
                grad_c[start:stop] = (g.T @ anchors).mul_(scale)
        if grad_a is not None:
            grad_a.mul_(scale)
        return grad_a, grad_c, grad_scale, grad_bias, None, None, None


def _plain(
    anchors: torch.Tensor,
    columns: torch.Tensor,
    scale: torch.Tensor,
    bias: torch.Tensor,
    anchor_ids: torch.Tensor,
    column_ids: torch.Tensor,
) -> torch.Tensor:
    logits = scale * (anchors @ columns.T) + bias
    signs = _signs(anchor_ids, column_ids, logits.dtype)
    return -F.logsigmoid(signs * logits).sum(dim=1)


def sigmoid_cross_entropy(
    anchors: torch.Tensor,
    columns: torch.Tensor,
    scale: torch.Tensor,
    bias: torch.Tensor,
    anchor_ids: torch.Tensor,
    column_ids: torch.Tensor,
    chunk_size: int | None,
) -> torch.Tensor:
    """Per-anchor sum over columns ``(M,)``.

    Args:
        anchors: ``(M, D)`` rows (float32 or float64).
        columns: ``(N, D)`` candidates, same dtype.
        scale: 0-d tensor of that dtype, multiplier of the dot products (may require grad).
        bias: 0-d tensor of that dtype added to every logit (may require grad).
        anchor_ids: ``(M,)`` int64; ``(i, j)`` is a positive pair when the ids match.
        column_ids: ``(N,)`` int64.
        chunk_size: columns per block, or None for the plain implementation.
    """
    if chunk_size is None or chunk_size >= columns.shape[0]:
        return _plain(anchors, columns, scale, bias, anchor_ids, column_ids)
    return _ChunkedSigmoidCE.apply(
        anchors, columns, scale, bias, anchor_ids, column_ids, chunk_size
    )
