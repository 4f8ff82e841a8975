"""Multi-positive softmax cross-entropy between anchor rows and candidate columns.

The kernel behind :class:`~ecgfm.losses.InfoNCELoss` and
:class:`~ecgfm.losses.PatientContrastiveLoss`. For anchor ``i`` with logits
``l_ij = s * <a_i, c_j>`` over the candidate columns ``j`` that are not excluded,

    loss_i = logsumexp_j l_ij - mean_{j in P(i)} l_ij,

where ``P(i) = {j : column_ids[j] == anchor_ids[i]}`` (minus the excluded column). With one
positive per row this is the usual InfoNCE cross-entropy.

Two implementations give the same value and gradient:

- the plain one materialises the ``(M, N)`` logits under autograd;
- the chunked one walks over blocks of ``chunk_size`` columns with an online log-sum-exp and
  recomputes each block in backward, so memory is ``O(M * chunk_size)`` instead of ``O(M * N)``
  in forward *and* backward (autograd alone would keep every block's logits until backward).
"""

from __future__ import annotations

import torch


def _block(
    anchors: torch.Tensor,
    columns: torch.Tensor,
    anchor_ids: torch.Tensor,
    column_ids: torch.Tensor,
    exclude: torch.Tensor | None,
    scale: float,
    start: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked logits ``(M, C)`` (excluded entries -inf) and the positive mask ``(M, C)``."""
    logits = (anchors @ columns.T).mul_(scale)
    positive = anchor_ids[:, None] == column_ids[None, :]
    if exclude is not None:
        index = torch.arange(start, start + columns.shape[0], device=columns.device)
        excluded = exclude[:, None] == index[None, :]
        logits = logits.masked_fill(excluded, float("-inf"))
        positive &= ~excluded
    return logits, positive


def _plain(
    anchors: torch.Tensor,
    columns: torch.Tensor,
    anchor_ids: torch.Tensor,
    column_ids: torch.Tensor,
    exclude: torch.Tensor | None,
    scale: float,
) -> torch.Tensor:
    logits, positive = _block(anchors, columns, anchor_ids, column_ids, exclude, scale, 0)
    log_norm = torch.logsumexp(logits, dim=1)
    positive_sum = logits.masked_fill(~positive, 0.0).sum(dim=1)
    count = positive.sum(dim=1).clamp_min(1)
    return log_norm - positive_sum / count


class _ChunkedSoftmaxCE(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx,
        anchors: torch.Tensor,
        columns: torch.Tensor,
        anchor_ids: torch.Tensor,
        column_ids: torch.Tensor,
        exclude: torch.Tensor | None,
        scale: float,
        chunk_size: int,
    ) -> torch.Tensor:
        m = anchors.shape[0]
        run_max = anchors.new_full((m,), float("-inf"))
        run_sum = anchors.new_zeros(m)
        positive_sum = anchors.new_zeros(m)
        count = anchors.new_zeros(m)
        for start in range(0, columns.shape[0], chunk_size):
            stop = start + chunk_size
            logits, positive = _block(
                anchors,
                columns[start:stop],
                anchor_ids,
                column_ids[start:stop],
                exclude,
                scale,
                start,
            )
            positive_sum += logits.masked_fill(~positive, 0.0).sum(dim=1)
            count += positive.sum(dim=1)
            new_max = torch.maximum(run_max, logits.amax(dim=1))
            # A row whose columns so far are all excluded has max -inf; shift by 0 there.
            shift = torch.where(torch.isfinite(new_max), new_max, torch.zeros_like(new_max))
            run_sum = run_sum * torch.exp(run_max - shift) + torch.exp(logits - shift[:, None]).sum(
                dim=1
            )
            run_max = new_max
        shift = torch.where(torch.isfinite(run_max), run_max, torch.zeros_like(run_max))
        log_norm = shift + torch.log(run_sum)
        count = count.clamp_min(1)
        ctx.save_for_backward(anchors, columns, anchor_ids, column_ids, exclude, log_norm, count)
        ctx.scale = scale  # type: ignore[attr-defined]
        ctx.chunk_size = chunk_size  # type: ignore[attr-defined]
        return log_norm - positive_sum / count

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, grad_out: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        anchors, columns, anchor_ids, column_ids, exclude, log_norm, count = ctx.saved_tensors  # type: ignore[attr-defined]
        scale: float = ctx.scale  # type: ignore[attr-defined]
        chunk_size: int = ctx.chunk_size  # type: ignore[attr-defined]
        need_a, need_c = ctx.needs_input_grad[0], ctx.needs_input_grad[1]  # type: ignore[attr-defined]
        grad_a = torch.zeros_like(anchors) if need_a else None
        grad_c = torch.empty_like(columns) if need_c else None
        weight = (grad_out * scale)[:, None]
        per_positive = (grad_out * scale / count)[:, None]
        for start in range(0, columns.shape[0], chunk_size):
            stop = start + chunk_size
            block = columns[start:stop]
            logits, positive = _block(
                anchors, block, anchor_ids, column_ids[start:stop], exclude, scale, start
            )
            # d loss_i / d <a_i, c_j> = s * (softmax_ij - [j in P(i)] / |P(i)|)
            g = torch.exp(logits - log_norm[:, None]).mul_(weight)
            g -= positive * per_positive
            if grad_a is not None:
                grad_a.addmm_(g, block)
            if grad_c is not None:
                grad_c[start:stop] = g.T @ anchors
        return grad_a, grad_c, None, None, None, None, None


def softmax_cross_entropy(
    anchors: torch.Tensor,
    columns: torch.Tensor,
    anchor_ids: torch.Tensor,
    column_ids: torch.Tensor,
    exclude: torch.Tensor | None,
    scale: float,
    chunk_size: int | None,
) -> torch.Tensor:
    """Per-anchor loss ``(M,)``.

    Args:
        anchors: ``(M, D)`` anchor rows (already L2-normalised by the caller).
        columns: ``(N, D)`` candidates.
        anchor_ids: ``(M,)`` int64; column ``j`` is a positive of anchor ``i`` when
            ``column_ids[j] == anchor_ids[i]``. Every anchor must have at least one positive.
        column_ids: ``(N,)`` int64 (use an id no anchor has, e.g. -1, for pure negatives).
        exclude: ``(M,)`` int64 column index left out of anchor ``i``'s row (its own
            embedding), -1 for none; or None.
        scale: multiplier of the dot products (``1 / temperature``).
        chunk_size: columns per block, or None for the plain implementation.
    """
    if chunk_size is None or chunk_size >= columns.shape[0]:
        return _plain(anchors, columns, anchor_ids, column_ids, exclude, scale)
    return _ChunkedSoftmaxCE.apply(
        anchors, columns, anchor_ids, column_ids, exclude, scale, chunk_size
    )
