"""Input validation and small helpers shared by the functional preprocessing modules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import torch

__all__: list[str] = []  # private module

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def is_torch(x: object) -> bool:
    return isinstance(x, torch.Tensor)


def check_signal(x: object, *, name: str = "x", what: str = "this step") -> int:
    """Validate a float ``(C, T)`` / ``(B, C, T)`` signal without NaN/Inf; return ``T``."""
    if isinstance(x, torch.Tensor):
        is_float = x.is_floating_point()
        kind = str(x.dtype).replace("torch.", "")
        complex_or_bool = x.is_complex() or x.dtype == torch.bool
    elif isinstance(x, np.ndarray):
        is_float = np.issubdtype(x.dtype, np.floating)
        kind = str(x.dtype)
        complex_or_bool = np.iscomplexobj(x) or x.dtype == np.bool_
    else:
        raise TypeError(
            f"{name} must be a numpy array or torch tensor, got {type(x).__name__}; convert "
            "lists with ecgfm.as_signal(x, fs, leads) first"
        )
    if not is_float:
        if complex_or_bool:
            hint = "pass the real-valued signal in float millivolts"
        else:
            hint = (
                "integer samples look like raw ADC counts: convert them to float millivolts "
                "with ecgfm.as_signal(x, fs, leads, gain=...)"
            )
        raise TypeError(f"{name} has dtype {kind}; {what} needs floating point input — {hint}")
    if x.ndim not in (2, 3):
        hint = " (for a single lead use x[None, :])" if x.ndim == 1 else ""
        raise ValueError(
            f"{name} must be a signal (C, T) or a batch (B, C, T), got shape {tuple(x.shape)}{hint}"
        )
    n_ch, n_t = int(x.shape[-2]), int(x.shape[-1])
    if n_t == 0 or n_ch == 0 or (x.ndim == 3 and x.shape[0] == 0):
        raise ValueError(
            f"{name} is empty (shape {tuple(x.shape)}); check the reader or drop the record"
        )
    if n_t < n_ch:
        raise ValueError(
            f"{name} has shape {tuple(x.shape)}: fewer samples ({n_t}) than channels ({n_ch}). "
            "This looks like a (T, C) array; ecgfm wants channels first — pass x.T "
            "(x.transpose(-1, -2) for a batch)"
        )
    finite = bool(torch.isfinite(x).all()) if is_torch(x) else bool(np.isfinite(x).all())
    if not finite:
        bad = int((~torch.isfinite(x)).sum()) if is_torch(x) else int((~np.isfinite(x)).sum())
        raise ValueError(
            f"{name} contains {bad} NaN/Inf values; {what} cannot process them. Repair first "
            "with ecgfm.transforms.functional.repair_nonfinite (sets them to 0, logged) or "
            "nan_policy='zero', or clean the record"
        )
    return n_t


def check_array(x: object, what: str) -> None:
    """Type, rank and non-emptiness only (length operations accept any values, even NaN)."""
    if not isinstance(x, (np.ndarray, torch.Tensor)):
        raise TypeError(
            f"{what} needs a numpy array or torch tensor, got {type(x).__name__}; convert "
            "lists with ecgfm.as_signal(x, fs, leads) first"
        )
    if x.ndim not in (2, 3):
        hint = " (for a single lead use x[None, :])" if x.ndim == 1 else ""
        raise ValueError(
            f"{what} needs a signal (C, T) or a batch (B, C, T), got shape {tuple(x.shape)}{hint}"
        )
    if 0 in tuple(x.shape):
        raise ValueError(
            f"{what} got an empty array (shape {tuple(x.shape)}); check the reader or drop "
            "the record"
        )


def check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer number of samples, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive number of samples, got {value}")
    return int(value)


def check_choice(value: object, name: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return str(value)


def work_dtype(x: torch.Tensor) -> torch.dtype:
    """float64 for accuracy, except on MPS which has no float64."""
    return torch.float32 if x.device.type == "mps" else torch.float64


def flatten(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    lead_shape = tuple(x.shape[:-1])
    return x.reshape(-1, x.shape[-1]), lead_shape
