"""Masked mean squared error between predicted and target feature vectors.

The distillation term of a hand-made "teacher": an encoder's linear head predicts
signal-derived features of its input (e.g. standardised RR-interval / heart-rate-variability
features, :mod:`ecgfm.train.rr_targets`), so that those features become linearly readable
from the frozen embedding. Rows whose targets are undefined (R-peak detection failed) are
masked out instead of imputed.
"""

from __future__ import annotations

import torch
from torch import nn

from ecgfm.losses._checks import check_all_finite

__all__ = ["FeatureRegressionLoss"]

_NAME = "FeatureRegressionLoss"


class FeatureRegressionLoss(nn.Module):
    """``mean over valid rows and features of (pred - target)^2``.

    ``forward(pred, target, valid=None)``:

    - ``pred (B, F)``: predictions (any float dtype; computed in float32 or wider);
    - ``target (B, F)``: targets, finite on valid rows (invalid rows may hold NaN);
    - ``valid (B,)`` bool: rows that count (``None``: all).

    Returns a scalar. A batch without a valid row gives ``0 * pred.sum()``: zero, still
    connected to the graph (every DDP rank must run the same backward).

    Args:
        check_finite: raise on NaN/Inf in ``pred`` or in the valid rows of ``target``.
    """

    def __init__(self, *, check_finite: bool = True) -> None:
        super().__init__()
        self.check_finite = bool(check_finite)

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None
    ) -> torch.Tensor:
        for name, t in (("pred", pred), ("target", target)):
            if not isinstance(t, torch.Tensor) or t.ndim != 2 or not t.is_floating_point():
                shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise ValueError(f"{_NAME}: {name} must be a float tensor (B, F), got {shape}")
        if pred.shape != target.shape:
            raise ValueError(
                f"{_NAME}: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ; "
                "the head's width must equal the number of target features"
            )
        if valid is None:
            valid = torch.ones(len(pred), dtype=torch.bool, device=pred.device)
        if not isinstance(valid, torch.Tensor) or valid.dtype != torch.bool or valid.shape != (
            len(pred),
        ):  # fmt: skip
            shape = tuple(valid.shape) if isinstance(valid, torch.Tensor) else type(valid).__name__
            raise ValueError(f"{_NAME}: valid must be a bool tensor ({len(pred)},), got {shape}")
        if self.check_finite:
            check_all_finite(_NAME, pred=pred, target=target[valid])
        dtype = torch.promote_types(pred.dtype, torch.float32)
        if not bool(valid.any()):
            return pred.sum().to(dtype) * 0.0
        diff = pred[valid].to(dtype) - target[valid].to(dtype)
        return diff.pow(2).mean()
