"""Length operations: crop, pad, fit to a length, and cut windows (any values, even NaN)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ecgfm.transforms.functional._checks import (
    ArrayT,
    check_array,
    check_choice,
    check_positive_int,
    is_torch,
)

__all__ = [
    "CropMode",
    "PadMode",
    "PadSide",
    "WindowMode",
    "crop",
    "extract_windows",
    "fit_length",
    "pad",
    "window_starts",
]

CropMode = Literal["center", "random", "start", "end"]
PadMode = Literal["zero", "edge", "reflect"]
PadSide = Literal["end", "start", "both"]
WindowMode = Literal["all", "disjoint", "center", "first", "spaced"]


def _random_starts(n_records: int, high: int, generator: torch.Generator | None) -> list[int]:
    device = generator.device if generator is not None else torch.device("cpu")
    draws = torch.randint(0, high + 1, (n_records,), generator=generator, device=device)
    return [int(v) for v in draws.tolist()]


def _gather_windows(x: ArrayT, starts: Sequence[int], length: int) -> ArrayT:
    """Per-record windows: record ``b`` of ``x`` ``(B, C, T)`` cut at ``starts[b]``."""
    if is_torch(x):
        offsets = torch.as_tensor(list(starts), device=x.device, dtype=torch.long)
        idx = offsets[:, None] + torch.arange(length, device=x.device)
        return torch.gather(x, -1, idx[:, None, :].expand(x.shape[0], x.shape[1], length))
    idx = np.asarray(starts)[:, None] + np.arange(length)
    return np.take_along_axis(x, idx[:, None, :], axis=-1)


def crop(
    x: ArrayT,
    length: int,
    mode: CropMode = "center",
    *,
    start: int | None = None,
    generator: torch.Generator | None = None,
) -> ArrayT:
    """Cut ``length`` samples along time.

    Args:
        x: ``(C, T)`` or ``(B, C, T)``.
        length: samples kept, ``1 <= length <= T``.
        mode: ``"center"`` (offset ``(T - length) // 2``), ``"start"``, ``"end"`` or
            ``"random"`` (uniform offset, drawn per record of a batch with ``generator``).
        start: explicit offset (overrides ``mode``).
        generator: ``torch.Generator`` for ``"random"``; same seed, same crops.

    Raises:
        ValueError: ``T < length`` (pad first with :func:`pad` or use :func:`fit_length`).
    """
    length = check_positive_int(length, "length")
    mode = check_choice(mode, "mode", ("center", "random", "start", "end"))
    check_array(x, "crop")
    n_t = int(x.shape[-1])
    if n_t < length:
        raise ValueError(
            f"cannot crop {length} samples from a signal of {n_t}; pad it first "
            "(ecgfm.transforms.functional.pad / fit_length) or choose a shorter length"
        )
    if start is not None:
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
            raise TypeError(f"start must be an integer sample offset, got {start!r}")
        if not 0 <= start <= n_t - length:
            raise ValueError(f"start must be in [0, {n_t - length}] for this crop, got {start}")
        return x[..., int(start) : int(start) + length]
    if mode == "random":
        batched = x.ndim == 3
        starts = _random_starts(x.shape[0] if batched else 1, n_t - length, generator)
        out = _gather_windows(x if batched else x[None], starts, length)
        return out if batched else out[0]
    offset = {"center": (n_t - length) // 2, "start": 0, "end": n_t - length}[mode]
    return x[..., offset : offset + length]


def _pad_index(n_t: int, left: int, right: int, mode: str) -> np.ndarray:
    pos = np.arange(-left, n_t + right)
    if mode == "edge" or n_t == 1:
        return np.clip(pos, 0, n_t - 1)
    period = 2 * (n_t - 1)  # reflect about the edge samples without repeating them
    pos = np.mod(pos, period)
    return np.where(pos >= n_t, period - pos, pos)


def pad(x: ArrayT, length: int, mode: PadMode = "zero", *, side: PadSide = "end") -> ArrayT:
    """Pad along time to ``length`` samples.

    Args:
        x: ``(C, T)`` or ``(B, C, T)`` with ``T <= length``.
        length: target number of samples.
        mode: ``"zero"`` (zeros; after z-scoring zeros are the mean), ``"edge"`` (repeat the
            first/last sample) or ``"reflect"`` (mirror about the edge sample without
            repeating it, repeated as often as needed; ``np.pad(mode="reflect")``).
        side: where to add samples: ``"end"``, ``"start"`` or ``"both"`` (left gets
            ``(length - T) // 2``).

    Raises:
        ValueError: ``T > length`` (crop instead, or use :func:`fit_length`).
    """
    length = check_positive_int(length, "length")
    mode = check_choice(mode, "mode", ("zero", "edge", "reflect"))
    side = check_choice(side, "side", ("end", "start", "both"))
    check_array(x, "pad")
    n_t = int(x.shape[-1])
    if n_t > length:
        raise ValueError(
            f"cannot pad a signal of {n_t} samples to {length}; crop it instead "
            "(ecgfm.transforms.functional.crop / fit_length)"
        )
    extra = length - n_t
    left = {"end": 0, "start": extra, "both": extra // 2}[side]
    right = extra - left
    if extra == 0:
        return x.clone() if is_torch(x) else x.copy()
    if mode == "zero":
        if is_torch(x):
            return F.pad(x, (left, right))
        widths = [(0, 0)] * (x.ndim - 1) + [(left, right)]
        return np.pad(x, widths)
    idx = _pad_index(n_t, left, right, mode)
    if is_torch(x):
        return x.index_select(-1, torch.as_tensor(idx, device=x.device))
    return np.take(x, idx, axis=-1)


def fit_length(
    x: ArrayT,
    length: int,
    *,
    crop_mode: CropMode = "center",
    pad_mode: PadMode = "zero",
    pad_side: PadSide = "end",
    generator: torch.Generator | None = None,
) -> ArrayT:
    """Crop (``crop_mode``) a longer signal or pad (``pad_mode``/``pad_side``) a shorter one."""
    length = check_positive_int(length, "length")
    check_array(x, "fit_length")
    if x.shape[-1] >= length:
        return crop(x, length, crop_mode, generator=generator)
    return pad(x, length, pad_mode, side=pad_side)


# ----------------------------------------------------------------------------- windows


def window_starts(
    n_samples: int,
    length: int,
    mode: WindowMode = "all",
    *,
    num: int = 3,
) -> list[int]:
    """Offsets of the windows of ``length`` samples cut from a record of ``n_samples``.

    Modes:
        ``"all"``: disjoint windows ``0, L, 2L, ...`` plus, if samples remain, one last window
        ending at the record's end (it overlaps the previous one), so every sample is covered.
        ``"disjoint"``: disjoint windows only; a remainder shorter than ``L`` is dropped (the
        ST-MEM / HL evaluation protocol for long records).
        ``"center"``: one centred window. ``"first"``: one window at offset 0.
        ``"spaced"``: ``num`` equally spaced windows from the start to the end (ST-MEM eval:
        3 crops); offsets ``round(linspace(0, T - L, num))``.

    ``n_samples < length`` gives no valid window and raises ``ValueError``.
    """
    n_samples = check_positive_int(n_samples, "n_samples")
    length = check_positive_int(length, "length")
    mode = check_choice(mode, "mode", ("all", "disjoint", "center", "first", "spaced"))
    if n_samples < length:
        raise ValueError(f"a record of {n_samples} samples has no window of {length}; pad it first")
    if mode == "first":
        return [0]
    if mode == "center":
        return [(n_samples - length) // 2]
    if mode == "spaced":
        num = check_positive_int(num, "num")
        return [round(float(v)) for v in np.linspace(0, n_samples - length, num)]
    starts = list(range(0, n_samples - length + 1, length))
    if mode == "all" and starts[-1] + length < n_samples:
        starts.append(n_samples - length)
    return starts


def extract_windows(x: ArrayT, length: int, starts: Sequence[int]) -> ArrayT:
    """Cut windows at ``starts`` from every record: ``(B, C, T)`` -> ``(B * n, C, length)``.

    Windows of record ``b`` are rows ``b * n`` to ``b * n + n - 1`` (record-major order);
    a ``(C, T)`` input gives ``(n, C, length)``.
    """
    length = check_positive_int(length, "length")
    check_array(x, "extract_windows")
    n_t = int(x.shape[-1])
    starts = [int(s) for s in starts]
    if not starts:
        raise ValueError("starts is empty; give at least one window offset")
    if min(starts) < 0 or max(starts) + length > n_t:
        raise ValueError(f"window offsets {starts} do not fit {length} samples in {n_t}")
    batch = x if x.ndim == 3 else x[None]
    if is_torch(batch):
        stacked = torch.stack([batch[..., s : s + length] for s in starts], dim=1)
    else:
        stacked = np.stack([batch[..., s : s + length] for s in starts], axis=1)
    return stacked.reshape(-1, batch.shape[1], length)
