"""Argument and input validation shared by the losses (clear errors, one host sync at most)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def check_positive(name: str, value: Any, *, loss: str) -> float:
    """A finite, strictly positive real hyper-parameter (temperature, scale, eps)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{loss}: {name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{loss}: {name} must be finite and > 0, got {value}")
    return value


def check_finite_real(name: str, value: Any, *, loss: str) -> float:
    """A finite real hyper-parameter of any sign (bias)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{loss}: {name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{loss}: {name} must be finite, got {value}")
    return value


def check_chunk_size(chunk_size: Any, *, loss: str) -> int | None:
    """``None`` (no chunking) or a positive int."""
    if chunk_size is None:
        return None
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)):
        raise TypeError(
            f"{loss}: chunk_size must be a positive int or None, got {type(chunk_size).__name__}"
        )
    if chunk_size <= 0:
        raise ValueError(f"{loss}: chunk_size must be >= 1 (or None to disable), got {chunk_size}")
    return int(chunk_size)


def check_gather_available(gather_distributed: bool, *, loss: str) -> bool:
    if not isinstance(gather_distributed, bool):
        raise TypeError(f"{loss}: gather_distributed must be a bool, got {gather_distributed!r}")
    if gather_distributed and not torch.distributed.is_available():
        raise ValueError(
            f"{loss}: gather_distributed=True but this torch build has no torch.distributed; "
            "use gather_distributed=False"
        )
    return gather_distributed


def check_embeddings(loss: str, **tensors: torch.Tensor) -> None:
    """Each tensor is a floating ``(B, D)`` batch; all share shape and device.

    Keyword names are used in the messages (``z0=..., z1=...``).
    """
    ref_name, ref = None, None
    for name, z in tensors.items():
        if not isinstance(z, torch.Tensor):
            raise TypeError(f"{loss}: {name} must be a torch.Tensor (B, D), got {type(z).__name__}")
        if not z.is_floating_point():
            raise TypeError(
                f"{loss}: {name} must be a floating tensor (float32/float64/bf16/fp16), got "
                f"{z.dtype}"
            )
        if z.ndim != 2:
            hint = " — add a batch axis with z[None]" if z.ndim == 1 else ""
            hint = hint or (" — pool or flatten the tokens first" if z.ndim > 2 else "")
            raise ValueError(f"{loss}: {name} must be 2-D (B, D), got shape {tuple(z.shape)}{hint}")
        if z.shape[0] == 0:
            raise ValueError(f"{loss}: {name} is an empty batch (B = 0); skip the step instead")
        if z.shape[1] == 0:
            raise ValueError(f"{loss}: {name} has embedding dimension D = 0")
        if ref is None:
            ref_name, ref = name, z
            continue
        if z.shape != ref.shape:
            raise ValueError(
                f"{loss}: {name} has shape {tuple(z.shape)} but {ref_name} has "
                f"{tuple(ref.shape)}; the two views must be paired row by row"
            )
        if z.device != ref.device:
            raise ValueError(
                f"{loss}: {name} is on {z.device} but {ref_name} is on {ref.device}; move both "
                "to the same device"
            )


def check_all_finite(loss: str, **tensors: torch.Tensor | None) -> None:
    """Raise if any value is NaN/Inf (one host synchronisation for all tensors)."""
    present = {k: v for k, v in tensors.items() if v is not None}
    if not present:
        return
    flags = torch.stack([torch.isfinite(v.detach()).all() for v in present.values()])
    if bool(flags.all()):
        return
    bad = [k for k, ok in zip(present, flags.tolist(), strict=True) if not ok]
    raise ValueError(
        f"{loss}: non-finite values (NaN/Inf) in {', '.join(bad)}; check the encoder output "
        "(diverged training, or NaN in the input signal — see ecgfm.signal.repair_nonfinite). "
        "Pass check_finite=False to skip this check."
    )


def _stable_hash(key: str) -> int:
    # Python's hash() is salted per process; ranks must agree on the code of a patient.
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def patient_codes(patient_ids: Any, batch: int, device: torch.device, *, loss: str) -> torch.Tensor:
    """Patient identifiers as an int64 tensor ``(B,)`` on ``device``.

    Accepts an integer tensor/array ``(B,)`` or a sequence of ints or strings. Strings are mapped
    through a process-independent 64-bit hash so that all ranks give a patient the same code.
    """
    if isinstance(patient_ids, np.ndarray):
        patient_ids = torch.from_numpy(patient_ids)
    if isinstance(patient_ids, torch.Tensor):
        if patient_ids.is_floating_point() or patient_ids.is_complex():
            raise TypeError(
                f"{loss}: patient_ids must be integers, got {patient_ids.dtype}; if they were "
                "read as floats (e.g. PTB-XL's patient_id column) convert with .long()"
            )
        if patient_ids.dtype == torch.bool:
            raise TypeError(f"{loss}: patient_ids must be integers, got a bool tensor")
        codes = patient_ids.to(device=device, dtype=torch.long)
    elif isinstance(patient_ids, Sequence) and not isinstance(patient_ids, (str, bytes)):
        values = list(patient_ids)
        if all(isinstance(v, str) for v in values):
            codes_list = [_stable_hash(v) for v in values]
        elif all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
            codes_list = [int(v) for v in values]
        else:
            kinds = sorted({type(v).__name__ for v in values})
            raise TypeError(
                f"{loss}: patient_ids must be all ints or all strings, got types {kinds}"
            )
        codes = torch.tensor(codes_list, dtype=torch.long, device=device)
    else:
        raise TypeError(
            f"{loss}: patient_ids must be an integer tensor (B,) or a sequence of ints/strings, "
            f"got {type(patient_ids).__name__}"
        )
    if codes.ndim != 1 or codes.shape[0] != batch:
        raise ValueError(
            f"{loss}: patient_ids must have shape ({batch},) — one id per row of the "
            f"embeddings — got {tuple(codes.shape)}"
        )
    return codes
