"""Shared plumbing of the view generators and augmentations: input batching and random draws.

Randomness contract (every op in :mod:`ecgfm.transforms.views` / ``augment``):

- Random numbers are drawn on the device of the ``torch.Generator`` passed in, **CPU by
  default** (``generator=None`` uses torch's global CPU generator). They are then moved to the
  data's device. With a CPU generator the same seed therefore gives the same random decisions
  (masked leads, crop windows, warp knots, noise samples) bit for bit whether the data live on
  the CPU or on a GPU; the arithmetic applied afterwards (FFT, interpolation) agrees to float
  rounding. A CUDA generator draws on the GPU instead: faster for the ops that need a
  full-size random field (noise, drop), reproducible on that device, but a different stream.
- Draws are per record: every record of a batch gets its own parameters. Draw order is fixed
  (gate, then parameters of the chosen records), so the same seed and batch size reproduce.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch

__all__: list[str] = []  # private module

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)
Restore = Callable[[torch.Tensor], Any]


def check_generator(generator: object) -> torch.Generator | None:
    """Return ``generator`` if it is ``None`` or a ``torch.Generator``; raise ``TypeError``."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    hint = (
        " (pass torch.Generator().manual_seed(seed), not the seed itself)"
        if isinstance(generator, (int, np.integer))
        else ""
    )
    raise TypeError(f"generator must be a torch.Generator or None, got {generator!r}{hint}")


def draw_device(generator: torch.Generator | None) -> torch.device:
    """Device on which random numbers are drawn: the generator's, CPU when ``None``."""
    return torch.device("cpu") if generator is None else generator.device


def rand(shape: Sequence[int], generator: torch.Generator | None) -> torch.Tensor:
    """Uniform ``[0, 1)`` float64 draws on the generator's device."""
    return torch.rand(
        tuple(shape), generator=generator, device=draw_device(generator), dtype=torch.float64
    )


def uniform(
    low: float, high: float, shape: Sequence[int], generator: torch.Generator | None
) -> torch.Tensor:
    """Uniform ``[low, high)`` float64 draws (``low == high`` gives a constant)."""
    return low + (high - low) * rand(shape, generator)


def log_uniform(
    low: float, high: float, shape: Sequence[int], generator: torch.Generator | None
) -> torch.Tensor:
    """Draws whose logarithm is uniform in ``[log low, log high)`` (both positive)."""
    return torch.exp(uniform(float(np.log(low)), float(np.log(high)), shape, generator))


def randint(
    low: int | torch.Tensor,
    high: int | torch.Tensor,
    shape: Sequence[int],
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Integers in ``[low, high)``; ``low``/``high`` may be tensors broadcastable to ``shape``."""
    u = rand(shape, generator)
    lo = torch.as_tensor(low, dtype=torch.float64, device=u.device)
    hi = torch.as_tensor(high, dtype=torch.float64, device=u.device)
    out = torch.floor(lo + u * (hi - lo)).to(torch.int64)
    return torch.minimum(out, (hi - 1).to(torch.int64))  # guard the u -> 1 rounding edge


def randn(
    shape: Sequence[int],
    generator: torch.Generator | None,
    *,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Standard normal draws on the generator's device (a full-size field for noise ops)."""
    return torch.randn(
        tuple(shape), generator=generator, device=draw_device(generator), dtype=dtype
    )


def gate(batch: int, p: float, generator: torch.Generator | None) -> torch.Tensor:
    """Indices ``(n,)`` (int64, CPU) of the records an op with probability ``p`` applies to.

    One uniform is drawn per record even when ``p`` is 0 or 1, so that the draws of later ops
    do not depend on ``p``.
    """
    chosen = rand((batch,), generator) < p
    return chosen.nonzero().flatten().cpu()


def check_probability(p: object, name: str = "p") -> float:
    """Validate a probability in ``[0, 1]``."""
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number in [0, 1], got {p!r}")
    value = float(p)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
    return value


def check_range(
    value: object,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> tuple[float, float]:
    """Validate a scalar or ``(low, high)`` pair and return it as an ordered float pair.

    ``low``/``high`` bound the allowed values (open bounds with ``low_open``/``high_open``).
    """
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        pair = (float(value), float(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        try:
            pair = (float(value[0]), float(value[1]))
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be a number or a (low, high) pair, got {value!r}"
            ) from None
    else:
        raise TypeError(f"{name} must be a number or a (low, high) pair, got {value!r}")
    if not all(np.isfinite(pair)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if pair[0] > pair[1]:
        raise ValueError(f"{name} must be (low, high) with low <= high, got {value!r}")
    if low is not None and (pair[0] < low or (low_open and pair[0] == low)):
        bound = ">" if low_open else ">="
        raise ValueError(f"{name} must be {bound} {low}, got {value!r}")
    if high is not None and (pair[1] > high or (high_open and pair[1] == high)):
        bound = "<" if high_open else "<="
        raise ValueError(f"{name} must be {bound} {high}, got {value!r}")
    return pair


def check_finite(x: torch.Tensor, what: str) -> None:
    """Raise ``ValueError`` if ``x`` holds NaN/Inf.

    Fast path: one sum in the input's dtype. NaN/Inf always make it non-finite; a finite sum
    therefore proves the input finite. A non-finite sum (NaN/Inf, or overflow of a huge but
    finite input) falls back to the exact element check.
    """
    if bool(torch.isfinite(x.sum())):
        return
    bad = int((~torch.isfinite(x)).sum())
    if bad == 0:
        return
    raise ValueError(
        f"{what}: input holds {bad} NaN/Inf values; augmentations need finite input. Repair "
        "them first (ecgfm.signal.repair_nonfinite or as_signal(..., nan_policy='zero')), or "
        "drop the record"
    )


def _container_hint(x: object) -> str:
    """What to do with a container that is not an array (for the error of :func:`as_batch`)."""
    if all(hasattr(x, k) for k in ("x", "fs", "leads")):  # a View
        return "; for a view pass its signal with its rate: (view.x, fs=view.fs)"
    if isinstance(x, (list, tuple)):
        if x and all(hasattr(r, "signal") and hasattr(r, "fs") for r in x):
            return (
                "; stack the records into a batch (np.stack([r.signal for r in records]), "
                "passing their fs=) or feed them through ViewCollate"
            )
        return "; convert it with np.asarray(x, dtype=np.float32) (channels first)"
    return ""


def as_batch(
    x: object,
    what: str,
    *,
    min_samples: int = 2,
    finite: bool = True,
    writable: bool = False,
) -> tuple[torch.Tensor, Restore]:
    """Turn ``(C, T)`` / ``(B, C, T)`` numpy or torch input into a ``(B, C, T)`` tensor.

    numpy input is wrapped without a copy (``torch.from_numpy``; a read-only array is copied
    unless ``writable`` asks to modify it, which raises). Returns the batch and a
    function that maps a ``(B, C', T')`` result back to the caller's kind and rank (numpy in,
    numpy out; ``(C, T)`` in, ``(C', T')`` out).
    """
    is_numpy = isinstance(x, np.ndarray)
    if is_numpy and not x.dtype.isnative:
        x = x.astype(x.dtype.newbyteorder("="))  # torch cannot wrap big-endian memory
    if is_numpy:
        if not (np.issubdtype(x.dtype, np.floating) and x.dtype.itemsize >= 2):
            raise TypeError(
                f"{what}: expected a floating-point signal, got numpy dtype {x.dtype}; convert "
                "with ecgfm.as_signal (float32 millivolts)"
            )
        if not x.flags.writeable:
            if writable:
                raise ValueError(
                    f"{what}: inplace=True on a read-only numpy array; pass a writable copy "
                    "(np.array(x)) or drop inplace= (deprecated)"
                )
            x = np.array(x)  # torch.from_numpy refuses read-only memory
        t = torch.from_numpy(x)
    elif isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            raise TypeError(
                f"{what}: expected a floating-point tensor, got {x.dtype}; convert with "
                "ecgfm.as_signal (float32 millivolts)"
            )
        t = x
    else:
        raise TypeError(
            f"{what}: expected a numpy array or torch tensor (C, T) or (B, C, T), got "
            f"{type(x).__name__}{_container_hint(x)}"
        )
    if t.ndim not in (2, 3):
        hint = " — for a single lead use x[None, :]" if t.ndim == 1 else ""
        raise ValueError(
            f"{what}: expected a signal (C, T) or a batch (B, C, T), got shape "
            f"{tuple(t.shape)}{hint}"
        )
    single = t.ndim == 2
    batch = t.unsqueeze(0) if single else t
    b, c, n = batch.shape
    if b == 0 or c == 0:
        raise ValueError(f"{what}: empty batch or no leads (shape {tuple(t.shape)})")
    if n < c:
        raise ValueError(
            f"{what}: shape {tuple(t.shape)} has fewer samples ({n}) than channels ({c}); this "
            "looks like a (T, C) array — ecgfm wants channels first, pass x.T "
            "(x.transpose(-1, -2) for a batch)"
        )
    if n < min_samples:
        raise ValueError(
            f"{what}: {n} samples is too short; at least {min_samples} are needed (shape "
            f"{tuple(t.shape)}); signals are channels first (C, T)"
        )
    if finite:
        check_finite(batch, what)

    def restore(y: torch.Tensor) -> Any:
        out = y[0] if single else y
        return out.numpy() if is_numpy else out

    return batch, restore


def param(values: torch.Tensor, like: torch.Tensor, *shape: int) -> torch.Tensor:
    """Move drawn parameters to ``like``'s device and dtype, reshaped to ``shape``."""
    return values.to(device=like.device, dtype=like.dtype).reshape(shape)


def index_on(idx: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """An index tensor on ``like``'s device."""
    return idx.to(like.device)


def deprecated_inplace(inplace: object, what: str, advice: str) -> bool:
    """The deprecated ``inplace=`` keyword of ``what``: warn when it is given, return its value.

    ``None`` (the keyword not given) means ``False``, without a warning.
    """
    if inplace is None:
        return False
    warnings.warn(
        f"{what}(..., inplace=...) is deprecated and will be removed in the next release; {advice}",
        DeprecationWarning,
        stacklevel=3,
    )
    return bool(inplace)
