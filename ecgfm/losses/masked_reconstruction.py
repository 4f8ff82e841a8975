"""Reconstruction loss over masked patches (ST-MEM: MSE; HL: L1)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ecgfm.losses._checks import check_all_finite, check_positive

__all__ = ["MaskedReconstructionLoss", "masked_reconstruction_loss", "normalize_patches"]

_NAME = "MaskedReconstructionLoss"

Metric = Literal["mse", "l1"]


def normalize_patches(patches: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-patch standardisation ``(x - mean) / sqrt(var + eps)`` over the last axis.

    ``patches`` ``(..., P)``; the variance is the unbiased one, as in the official MAE / ST-MEM
    ``norm_pix_loss``. Used by :class:`MaskedReconstructionLoss` (``norm_pix=True``) and by the
    pre-training models' ``target`` (``norm_pix_loss``).
    """
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True)
    return (patches - mean) / torch.sqrt(var + eps)


def masked_reconstruction_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None, metric: Metric
) -> torch.Tensor:
    """Mean over masked patches of the per-patch mean squared / absolute error.

    The computation of :class:`MaskedReconstructionLoss` without its input checks (the
    pre-training models call it on tensors they built themselves).

    Args:
        pred, target: ``(B, *N, P)`` patches.
        mask: ``(B, *N)``, 1 = masked (counted); ``None`` counts every patch.
        metric: ``"mse"`` or ``"l1"``.
    """
    diff = pred - target
    if metric == "mse":
        err = diff.square().mean(dim=-1)
    elif metric == "l1":
        err = diff.abs().mean(dim=-1)
    else:
        raise ValueError(f"{_NAME}: metric must be 'mse' or 'l1', got {metric!r}")
    if mask is None:
        return err.mean()
    weight = mask.to(err.dtype)
    return (err * weight).sum() / weight.sum()


class MaskedReconstructionLoss(nn.Module):
    """Mean error of reconstructed patches, counted on masked patches only (MAE-style).

    For predicted and target patches ``(B, *N, P)`` (``*N`` any patch grid, e.g. ``(L, n)`` for
    ST-MEM's per-lead patches or ``(n,)`` for HL's all-lead patches; ``P`` values per patch) and
    a mask ``(B, *N)`` with 1/True on the patches the encoder did not see:

        err_k = mean_p e(pred_kp - target_kp),   e = square ("mse") or abs ("l1")
        L = sum_k mask_k * err_k / sum_k mask_k

    - ST-MEM: ``metric="mse", norm_pix=True`` (its official config has ``norm_pix_loss``).
    - HL: ``metric="l1"`` (the paper's Eq. 1 writes a sum of absolute errors and calls it the
      mean absolute error; the mean is used so the scale does not depend on the patch count).

    ``norm_pix=True`` normalises every target patch by its own mean and (unbiased, as in the MAE
    and ST-MEM code) variance: ``(t - mean) / sqrt(var + eps)``; needs ``P >= 2``.

    ``mask=None`` counts every patch (a reconstruction of the whole signal). A mask that selects
    no patch raises (the mean would be 0/0). Under DDP each rank averages its own masked
    patches; with a fixed masking ratio every rank has the same count and DDP's averaging gives
    the global mean.

    bf16/fp16 inputs are computed in float32 (float64 stays float64); the result is a float32
    scalar (float64 for float64 inputs).

    Args:
        metric: ``"mse"`` (default, ST-MEM) or ``"l1"`` (HL).
        norm_pix: per-patch normalised targets (default False).
        eps: variance floor for ``norm_pix`` (default 1e-6, as MAE / ST-MEM).
        check_finite: raise on NaN/Inf inputs (one host sync per call; False to skip).
    """

    def __init__(
        self,
        metric: Metric = "mse",
        *,
        norm_pix: bool = False,
        eps: float = 1e-6,
        check_finite: bool = True,
    ) -> None:
        super().__init__()
        if metric not in ("mse", "l1"):
            raise ValueError(f"{_NAME}: metric must be 'mse' or 'l1', got {metric!r}")
        self.metric: Metric = metric
        self.norm_pix = bool(norm_pix)
        self.eps = check_positive("eps", eps, loss=_NAME)
        self.check_finite = bool(check_finite)

    def extra_repr(self) -> str:
        return f"metric={self.metric!r}, norm_pix={self.norm_pix}, eps={self.eps:.3g}"

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Reconstruction error.

        Args:
            pred: ``(B, *N, P)`` reconstructed patches (float).
            target: ``(B, *N, P)`` original patches, same shape as ``pred``; treated as a
                constant (detached).
            mask: ``(B, *N)`` bool, or 0/1 numbers, 1 = masked (reconstructed, counted);
                None counts every patch.

        Returns:
            scalar (at least float32), the mean error per value over the masked patches.
        """
        self._check(pred, target, mask)
        with torch.autocast(device_type=pred.device.type, enabled=False):
            pred32, target32 = _upcast(pred), _upcast(target.detach())
            if self.norm_pix:
                target32 = normalize_patches(target32, self.eps)
            return masked_reconstruction_loss(pred32, target32, mask, self.metric)

    def _check(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> None:
        for name, x in (("pred", pred), ("target", target)):
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"{_NAME}: {name} must be a torch.Tensor, got {type(x).__name__}")
            if not x.is_floating_point():
                raise TypeError(f"{_NAME}: {name} must be a floating tensor, got {x.dtype}")
        if pred.ndim < 3:
            raise ValueError(
                f"{_NAME}: pred must be patches (B, *N, P) with at least 3 axes, got shape "
                f"{tuple(pred.shape)}; patchify the signal first"
            )
        if pred.shape != target.shape:
            raise ValueError(
                f"{_NAME}: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ; "
                "the target must be patchified exactly like the prediction"
            )
        if pred.device != target.device:
            raise ValueError(f"{_NAME}: pred on {pred.device} but target on {target.device}")
        if pred.numel() == 0:
            raise ValueError(f"{_NAME}: empty input of shape {tuple(pred.shape)}")
        if self.norm_pix and pred.shape[-1] < 2:
            raise ValueError(
                f"{_NAME}: norm_pix needs at least 2 values per patch, got P = {pred.shape[-1]}"
            )
        if mask is not None:
            if not isinstance(mask, torch.Tensor):
                raise TypeError(f"{_NAME}: mask must be a torch.Tensor, got {type(mask).__name__}")
            if mask.shape != pred.shape[:-1]:
                raise ValueError(
                    f"{_NAME}: mask must have shape {tuple(pred.shape[:-1])} (pred without its "
                    f"last, per-patch axis), got {tuple(mask.shape)}"
                )
            if mask.device != pred.device:
                raise ValueError(f"{_NAME}: mask on {mask.device} but pred on {pred.device}")
            if mask.is_complex():
                raise TypeError(f"{_NAME}: mask must be bool or 0/1 numbers, got {mask.dtype}")
        if self.check_finite:
            check_all_finite(_NAME, pred=pred, target=target)
        if mask is not None:
            _check_binary_nonempty(mask)


def _check_binary_nonempty(mask: torch.Tensor) -> None:
    """0/1 values with at least one 1 (one host sync)."""
    if mask.dtype == torch.bool:
        if not bool(mask.any()):
            raise ValueError(f"{_NAME}: the mask selects no patch; nothing to reconstruct")
        return
    binary = ((mask == 0) | (mask == 1)).all()
    any_masked = (mask == 1).any()
    ok = torch.stack([binary, any_masked]).tolist()
    if not ok[0]:
        raise ValueError(
            f"{_NAME}: mask values must be 0 or 1 (1 = masked patch), got other values; pass "
            "a bool mask"
        )
    if not ok[1]:
        raise ValueError(f"{_NAME}: the mask selects no patch; nothing to reconstruct")


def _upcast(x: torch.Tensor) -> torch.Tensor:
    """bf16/fp16 to float32; float32/float64 unchanged."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
