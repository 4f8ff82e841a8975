"""Patient-level contrastive loss: CLOCS CMSC, and HL's patient-level InfoNCE."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecgfm.losses._checks import (
    check_all_finite,
    check_chunk_size,
    check_embeddings,
    check_gather_available,
    check_positive,
    patient_codes,
)
from ecgfm.losses._embeddings import compute_dtype, gather_ids, prepare
from ecgfm.losses._two_view import contrast_two_views

__all__ = ["PatientContrastiveLoss"]

_NAME = "PatientContrastiveLoss"


class PatientContrastiveLoss(nn.Module):
    """Multi-positive InfoNCE where every view of the same patient is a positive.

    CLOCS (Kiyasseh et al., ICML 2021) "CMSC": two views per ECG (e.g. adjacent non-overlapping
    segments); all cross-view pairs that share a ``patient_id`` are positives, cosine
    similarity over temperature 0.1. HL (Song et al., KDD 2025) uses the same idea for its
    patient-level term (positives: different ECGs of the same patient).

    With ``l_ij = <z0_i, z1_j> / temperature`` on L2-normalised embeddings and
    ``P(i) = {j : patient_ids[j] == patient_ids[i]}`` (always contains ``i``), each anchor gets

        loss_i = logsumexp_j l_ij - (1 / |P(i)|) * sum_{j in P(i)} l_ij,

    the mean of ``-log softmax`` over its positives (SupCon's "L_out" form). The loss averages
    over anchors and over both directions ``z0 -> z1`` and ``z1 -> z0`` (symmetric).
    Implementations differ in how they average the positive terms (CLOCS's code averages the
    diagonal and the off-diagonal same-patient terms as separate groups); the per-anchor mean
    used here gives every anchor the same weight. It has not been checked against CLOCS's code
    numerically.

    A batch without repeated patients has ``P(i) = {i}``: the loss is then exactly
    :class:`~ecgfm.losses.InfoNCELoss` with the same temperature (sample level).

    ``include_intra_view=True`` also compares each anchor with the other embeddings of its own
    view: same-patient ones become positives, the rest negatives, the anchor itself is excluded
    (SupCon over all ``2B`` views). Without repeated patients this equals
    ``InfoNCELoss(include_intra_view=True)`` (NT-Xent).

    **Distributed** (``gather_distributed=True``): embeddings and patient ids are gathered from
    all ranks, so a patient whose ECGs land on different ranks still has all its positives.
    Same convention as :class:`~ecgfm.losses.InfoNCELoss`: the mean over ranks of the per-rank
    losses equals the single-process loss on the concatenated batch, and the local shard's
    gradient is ``world_size`` times the single-process one (DDP averaging makes it exact).

    ``chunk_size``: memory-bounded blocks over the candidates with identical value/gradient.
    bf16/fp16 inputs are computed in float32 (float64 stays float64).

    Args:
        temperature: ``tau > 0`` (default 0.1, CLOCS / fairseq-signals).
        include_intra_view: also contrast within each view (see above).
        chunk_size: candidates per block, or None.
        gather_distributed: gather embeddings and patient ids across ranks.
        check_finite: raise on NaN/Inf inputs (one host sync per call; False to skip).
    """

    def __init__(
        self,
        temperature: float = 0.1,
        *,
        include_intra_view: bool = False,
        chunk_size: int | None = None,
        gather_distributed: bool = False,
        check_finite: bool = True,
    ) -> None:
        super().__init__()
        self.temperature = check_positive("temperature", temperature, loss=_NAME)
        self.include_intra_view = bool(include_intra_view)
        self.chunk_size = check_chunk_size(chunk_size, loss=_NAME)
        self.gather_distributed = check_gather_available(gather_distributed, loss=_NAME)
        self.check_finite = bool(check_finite)

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature:.6g}, include_intra_view={self.include_intra_view}, "
            f"chunk_size={self.chunk_size}, gather_distributed={self.gather_distributed}"
        )

    def forward(self, z0: torch.Tensor, z1: torch.Tensor, patient_ids: Any) -> torch.Tensor:
        """Loss of two views of ``B`` ECGs with their patients.

        Args:
            z0: ``(B, D)`` embeddings of view 0 of each ECG.
            z1: ``(B, D)`` embeddings of view 1; ``z0[i]`` and ``z1[i]`` come from ECG ``i``.
            patient_ids: ``(B,)`` patient of each ECG: an integer tensor/array, or a sequence
                of ints or strings (strings are hashed with a process-independent 64-bit hash).

        Returns:
            scalar (float32, or float64 for float64 inputs), mean over anchors of both
            directions.
        """
        check_embeddings(_NAME, z0=z0, z1=z1)
        codes = patient_codes(patient_ids, z0.shape[0], z0.device, loss=_NAME)
        if self.check_finite:
            check_all_finite(_NAME, z0=z0, z1=z1)
        with torch.autocast(device_type=z0.device.type, enabled=False):
            all_codes = gather_ids(codes, enabled=self.gather_distributed)
            dtype = compute_dtype(z0, z1)
            return contrast_two_views(
                (prepare(z0, dtype), prepare(z1, dtype)),
                ids=(codes, all_codes),
                extra=None,
                scale=1.0 / self.temperature,
                symmetric=True,
                include_intra_view=self.include_intra_view,
                chunk_size=self.chunk_size,
                gather=self.gather_distributed,
            )
