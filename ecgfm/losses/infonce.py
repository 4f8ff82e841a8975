"""InfoNCE / NT-Xent: the sample-level contrastive loss (HL, Dual-View, CMSC baselines)."""

from __future__ import annotations

import torch
from torch import nn

from ecgfm.losses._checks import (
    check_all_finite,
    check_chunk_size,
    check_embeddings,
    check_gather_available,
    check_positive,
)
from ecgfm.losses._embeddings import compute_dtype, prepare
from ecgfm.losses._two_view import contrast_two_views

__all__ = ["InfoNCELoss"]

_NAME = "InfoNCELoss"


class InfoNCELoss(nn.Module):
    """Symmetric InfoNCE over cosine similarities (van den Oord et al. 2018; SimCLR's NT-Xent).

    Embeddings are L2-normalised and compared with ``l_ij = <z0_i, z1_j> / temperature``. The
    positive of ``z0_i`` is ``z1_i``; its negatives are the other ``z1_j`` (and, optionally, the
    other ``z0_j`` and extra negatives). Per anchor

        loss_i = -log( exp(l_ii) / sum_j exp(l_ij) ),

    averaged over anchors; ``symmetric=True`` averages the two directions ``z0 -> z1`` and
    ``z1 -> z0`` (CLIP's symmetric cross-entropy), so ``L(z0, z1) == L(z1, z0)``.

    ``include_intra_view=True`` gives SimCLR's NT-Xent: each of the ``2B`` embeddings is an
    anchor whose negatives are the other ``2B - 2`` embeddings of both views (itself excluded).

    With ``B = 1`` and no extra negatives the only candidate is the positive: the loss is 0 and
    its gradient is zero (nothing to contrast) — use larger batches.

    The HL paper (Eq. 2) does not state its temperature; the default 0.1 matches CLOCS and the
    patient-level loss.

    **Extra negatives** ``(K, D)`` (e.g. a MoCo queue or memory bank) are appended to the
    candidates of every anchor in both directions. They are not gathered across ranks: pass the
    same bank on every rank.

    **Distributed** (``gather_distributed=True``): both views are gathered from all ranks (with
    autograd); each rank scores only its local anchors against all gathered candidates, and the
    local sum is normalised by ``world_size / N`` (``N`` = global batch). The mean of the
    per-rank losses equals the single-process loss on the concatenated batch; each rank's local
    shard receives ``world_size`` times the single-process gradient, which DDP's gradient
    averaging brings back to exactly the single-process gradient.

    ``chunk_size`` walks over the candidates in blocks with an online log-sum-exp and recomputes
    each block in backward (custom autograd function): memory ``O(B x chunk_size)`` instead of
    ``O(B x N)``, same value and gradient.

    bf16/fp16 inputs are computed in float32 (autocast disabled inside; float64 stays float64);
    the result is a float32 scalar (float64 for float64 inputs).

    Args:
        temperature: ``tau > 0``, finite (default 0.1).
        symmetric: average both directions (default) or only ``z0 -> z1`` (MoCo-style query ->
            key with ``negatives`` as the queue).
        include_intra_view: also contrast against the other embeddings of the anchor's own view.
        chunk_size: candidates per block, or None (full logits).
        gather_distributed: gather both views across ranks.
        check_finite: raise on NaN/Inf inputs (one host sync per call; False to skip).
    """

    def __init__(
        self,
        temperature: float = 0.1,
        *,
        symmetric: bool = True,
        include_intra_view: bool = False,
        chunk_size: int | None = None,
        gather_distributed: bool = False,
        check_finite: bool = True,
    ) -> None:
        super().__init__()
        self.temperature = check_positive("temperature", temperature, loss=_NAME)
        self.symmetric = bool(symmetric)
        self.include_intra_view = bool(include_intra_view)
        self.chunk_size = check_chunk_size(chunk_size, loss=_NAME)
        self.gather_distributed = check_gather_available(gather_distributed, loss=_NAME)
        self.check_finite = bool(check_finite)

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature:.6g}, symmetric={self.symmetric}, "
            f"include_intra_view={self.include_intra_view}, chunk_size={self.chunk_size}, "
            f"gather_distributed={self.gather_distributed}"
        )

    def forward(
        self, z0: torch.Tensor, z1: torch.Tensor, negatives: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Loss of two views.

        Args:
            z0: ``(B, D)`` embeddings of view 0.
            z1: ``(B, D)`` embeddings of view 1; ``(z0[i], z1[i])`` is a positive pair.
            negatives: optional ``(K, D)`` extra negatives, same ``D`` and device.

        Returns:
            scalar (float32, or float64 for float64 inputs), the mean over anchors (over both
            directions when symmetric).
        """
        check_embeddings(_NAME, z0=z0, z1=z1)
        if negatives is not None:
            check_embeddings(_NAME, negatives=negatives)
            if negatives.shape[1] != z0.shape[1] or negatives.device != z0.device:
                raise ValueError(
                    f"{_NAME}: negatives must be (K, {z0.shape[1]}) on {z0.device}, got "
                    f"{tuple(negatives.shape)} on {negatives.device}"
                )
        if self.check_finite:
            check_all_finite(_NAME, z0=z0, z1=z1, negatives=negatives)
        with torch.autocast(device_type=z0.device.type, enabled=False):
            dtype = compute_dtype(z0, z1, negatives)
            local = (prepare(z0, dtype), prepare(z1, dtype))
            extra = None if negatives is None else prepare(negatives, dtype)
            return contrast_two_views(
                local,
                ids=None,
                extra=extra,
                scale=1.0 / self.temperature,
                symmetric=self.symmetric,
                include_intra_view=self.include_intra_view,
                chunk_size=self.chunk_size,
                gather=self.gather_distributed,
            )
