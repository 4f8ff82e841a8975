"""Per-record normalisation (z-score) and repair of non-finite samples."""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import torch

from ecgfm.signal import repair_nonfinite as _repair_nonfinite
from ecgfm.transforms.functional._checks import ArrayT, check_choice, check_signal, is_torch

__all__ = ["repair_nonfinite", "zscore"]

# the logger of the public module, as before the split into private modules
logger = logging.getLogger("ecgfm.transforms.functional")


def repair_nonfinite(x: ArrayT, *, what: str = "signal") -> tuple[ArrayT, int]:
    """Replace NaN/±Inf by 0 and return ``(x, count)``; logs a warning with the count.

    Thin wrapper of :func:`ecgfm.signal.repair_nonfinite` (the ECGFounder / SelfMIS rule) that
    also validates the type. An entirely non-finite input raises ``ValueError``.
    """
    if not isinstance(x, (np.ndarray, torch.Tensor)):
        raise TypeError(f"{what} must be a numpy array or torch tensor, got {type(x).__name__}")
    return _repair_nonfinite(x, what=what)


def zscore(x: ArrayT, axis_mode: Literal["all", "lead"] = "all", eps: float = 1e-8) -> ArrayT:
    """Standardise each record: ``(x - mean) / (std + eps)`` (population std, ddof 0).

    Args:
        x: ``(C, T)`` or ``(B, C, T)`` float signal.
        axis_mode: ``"all"`` = one mean/std per record over leads and time together
            (ECGFounder, SelfMIS, ST-MEM); ``"lead"`` = per record and per lead (Dual-View).
        eps: added to the std (not the variance), as in ECGFounder's code.

    Exactly constant leads (``"lead"``) or records (``"all"``) have no scale: they are set to
    0 (instead of rounding noise divided by ``eps``) and a warning is logged.
    """
    mode = check_choice(axis_mode, "axis_mode", ("all", "lead"))
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise ValueError(f"eps must be a non-negative number, got {eps!r}")
    check_signal(x, what="z-score")
    dims = (-2, -1) if mode == "all" else (-1,)
    if is_torch(x):
        mean = x.mean(dim=dims, keepdim=True)
        std = x.std(dim=dims, keepdim=True, correction=0)
        flat = x.amax(dim=dims, keepdim=True) == x.amin(dim=dims, keepdim=True)
        out = (x - mean) / (std + eps)
        n_flat = int(flat.sum())
        if n_flat:
            out = out.masked_fill(flat, 0.0)
    else:
        mean = x.mean(axis=dims, keepdims=True)
        std = x.std(axis=dims, keepdims=True)
        flat = x.max(axis=dims, keepdims=True) == x.min(axis=dims, keepdims=True)
        out = ((x - mean) / (std + eps)).astype(x.dtype, copy=False)
        n_flat = int(flat.sum())
        if n_flat:
            out = np.where(flat, np.zeros((), dtype=x.dtype), out)
    if n_flat:
        unit = "records" if mode == "all" else "leads"
        logger.warning("z-score: %d constant %s have no scale and were set to 0", n_flat, unit)
    return out
