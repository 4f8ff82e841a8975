"""Naive, loop-based references for the losses (float64, one pair at a time).

Written straight from the formulas in docs/losses.md with explicit Python loops over pairs and
patches (no matrix products, masks, chunking or gathering), so that a bug in the vectorised code
cannot be repeated here. They take tensors, so autograd gives reference gradients too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def _unit(rows: torch.Tensor) -> list[torch.Tensor]:
    return [r / torch.sqrt((r * r).sum()) for r in rows]


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum()


def _neg_log_sigmoid(x: torch.Tensor) -> torch.Tensor:
    # -log(1 / (1 + exp(-x))) written to avoid overflow for large |x|.
    if float(x.detach()) >= 0:
        return torch.log1p(torch.exp(-x))
    return -x + torch.log1p(torch.exp(x))


def _log_sum_exp(values: Sequence[torch.Tensor]) -> torch.Tensor:
    top = max(float(v.detach()) for v in values)
    return top + torch.log(sum(torch.exp(v - top) for v in values))


def siglip(
    z0: torch.Tensor,
    z1: torch.Tensor,
    scale: float | torch.Tensor,
    bias: float | torch.Tensor,
    normalize: bool = True,
) -> torch.Tensor:
    """-(1/B) sum_i sum_j log sigmoid(z_ij (scale <a_i, b_j> + bias)), z = +1 iff i == j."""
    a = _unit(z0) if normalize else list(z0)
    b = _unit(z1) if normalize else list(z1)
    n = len(a)
    total = torch.zeros((), dtype=z0.dtype)
    for i in range(n):
        for j in range(n):
            label = 1.0 if i == j else -1.0
            logit = scale * _dot(a[i], b[j]) + bias
            total = total + _neg_log_sigmoid(label * logit)
    return total / n


def _softmax_rows(
    anchors: list[torch.Tensor],
    candidates: list[list[torch.Tensor]],
    positives: list[list[int]],
    temperature: float,
) -> torch.Tensor:
    """Mean over anchors of lse(candidates) - mean(positive logits)."""
    total = torch.zeros((), dtype=anchors[0].dtype)
    for i, anchor in enumerate(anchors):
        logits = [_dot(anchor, c) / temperature for c in candidates[i]]
        positive = sum(logits[j] for j in positives[i]) / len(positives[i])
        total = total + _log_sum_exp(logits) - positive
    return total / len(anchors)


def infonce(
    z0: torch.Tensor,
    z1: torch.Tensor,
    temperature: float,
    *,
    symmetric: bool = True,
    include_intra_view: bool = False,
    negatives: torch.Tensor | None = None,
) -> torch.Tensor:
    """InfoNCE with one positive (the other view of the same row)."""
    ids = list(range(z0.shape[0]))
    return _two_view(
        z0, z1, ids, temperature, symmetric=symmetric, intra=include_intra_view, negatives=negatives
    )


def patient(
    z0: torch.Tensor,
    z1: torch.Tensor,
    patient_ids: Sequence[int],
    temperature: float,
    *,
    include_intra_view: bool = False,
) -> torch.Tensor:
    """Multi-positive InfoNCE: every candidate of the same patient is a positive."""
    return _two_view(
        z0, z1, list(patient_ids), temperature, symmetric=True, intra=include_intra_view
    )


def _two_view(
    z0: torch.Tensor,
    z1: torch.Tensor,
    ids: list,
    temperature: float,
    *,
    symmetric: bool,
    intra: bool,
    negatives: torch.Tensor | None = None,
) -> torch.Tensor:
    a, b = _unit(z0), _unit(z1)
    extra = [] if negatives is None else _unit(negatives)
    n = len(a)

    def direction(own: list[torch.Tensor], other: list[torch.Tensor]) -> torch.Tensor:
        candidates, positives = [], []
        for i in range(n):
            cands, pos = [], []
            for j in range(n):
                if ids[j] == ids[i]:
                    pos.append(len(cands))
                cands.append(other[j])
            if intra:
                for j in range(n):
                    if j == i:
                        continue
                    if ids[j] == ids[i]:
                        pos.append(len(cands))
                    cands.append(own[j])
            cands.extend(extra)
            candidates.append(cands)
            positives.append(pos)
        return _softmax_rows(own, candidates, positives, temperature)

    loss = direction(a, b)
    if symmetric:
        loss = (loss + direction(b, a)) / 2
    return loss


def masked_reconstruction(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None,
    metric: str,
    norm_pix: bool = False,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Loop over patches: mean error per value, averaged over masked patches."""
    p = pred.shape[-1]
    flat_pred = pred.reshape(-1, p)
    flat_target = target.reshape(-1, p)
    flat_mask = [True] * flat_pred.shape[0] if mask is None else mask.reshape(-1).tolist()
    total = torch.zeros((), dtype=torch.float64)
    count = 0
    for k in range(flat_pred.shape[0]):
        if not flat_mask[k]:
            continue
        t = [float(v) for v in flat_target[k]]
        if norm_pix:
            mean = sum(t) / p
            var = sum((v - mean) ** 2 for v in t) / (p - 1)
            t = [(v - mean) / math.sqrt(var + eps) for v in t]
        err = torch.zeros((), dtype=torch.float64)
        for q in range(p):
            d = flat_pred[k, q].double() - t[q]
            err = err + (d * d if metric == "mse" else abs(d))
        total = total + err / p
        count += 1
    return total / count
