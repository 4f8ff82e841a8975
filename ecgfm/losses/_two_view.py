"""Two-view softmax contrast shared by InfoNCE and the patient-level loss (local rows against
all gathered candidates, scaled by ``world_size / N``)."""

from __future__ import annotations

import torch

from ecgfm.losses._embeddings import gather_columns
from ecgfm.losses._softmax_ce import softmax_cross_entropy


def contrast_two_views(
    local: tuple[torch.Tensor, torch.Tensor],
    *,
    ids: tuple[torch.Tensor, torch.Tensor] | None,
    extra: torch.Tensor | None,
    scale: float,
    symmetric: bool,
    include_intra_view: bool,
    chunk_size: int | None,
    gather: bool,
) -> torch.Tensor:
    """Two-view softmax contrast shared by InfoNCE and the patient-level loss.

    Args:
        local: this rank's unit-norm views ``(B, D)`` each.
        ids: ``(local_ids (B,), all_ranks_ids (N,))`` positive keys (patients), or None for
            "row ``i`` matches only row ``i``".
        extra: ``(K, D)`` negatives appended to every anchor's candidates, or None.
        scale: ``1 / temperature``.
        symmetric, include_intra_view, chunk_size: see :class:`~ecgfm.losses.InfoNCELoss`.
        gather: gather the views across ranks.

    Returns:
        scalar, ``world_size / N`` times the local sum of per-anchor losses (averaged
        over directions).
    """
    a_local, b_local = local
    a_all, offset, world = gather_columns(a_local, enabled=gather)
    b_all, _, _ = gather_columns(b_local, enabled=gather)
    n_total, batch = a_all.shape[0], a_local.shape[0]
    device = a_local.device
    if ids is None:
        anchor_ids = torch.arange(offset, offset + batch, device=device)
        column_ids = torch.arange(n_total, device=device)
    else:
        anchor_ids, column_ids = ids
    exclude = None
    if include_intra_view:
        # Candidates are [other view (N) | own view (N)]; the anchor itself sits at N + global row.
        exclude = torch.arange(offset, offset + batch, device=device) + n_total
        column_ids = torch.cat([column_ids, column_ids])
    if extra is not None:
        # Extra negatives get an id below every candidate id, hence below every anchor id
        # (each anchor's own partner is among the candidates).
        column_ids = torch.cat([column_ids, _non_matching_ids(column_ids, extra.shape[0])])

    def one_direction(
        anchors: torch.Tensor, own: torch.Tensor, other: torch.Tensor
    ) -> torch.Tensor:
        parts = [other, own] if include_intra_view else [other]
        if extra is not None:
            parts.append(extra)
        candidates = parts[0] if len(parts) == 1 else torch.cat(parts, dim=0)
        return softmax_cross_entropy(
            anchors, candidates, anchor_ids, column_ids, exclude, scale, chunk_size
        ).sum()

    total = one_direction(a_local, a_all, b_all)
    if symmetric:
        total = (total + one_direction(b_local, b_all, a_all)) * 0.5
    return total * (world / n_total)


def _non_matching_ids(column_ids: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` ids equal to none of ``column_ids`` (hence to no anchor id)."""
    sentinel = column_ids.min() - 1 if column_ids.numel() else column_ids.new_tensor(-1)
    return sentinel.expand(count)
