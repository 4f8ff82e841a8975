"""Zero-phase filters: Butterworth band-/high-/low-pass, notch, and running-median baseline.

numpy input goes to scipy (``sosfiltfilt``, ``filtfilt``, ``ndimage.median_filter``). torch
input never leaves its device: after the same odd extension of ``padlen`` samples, a causal
IIR filter started from its steady state ``zi * x[0]`` equals the convolution of
``x - x[0]`` with the filter's impulse response plus ``x[0]`` times the DC gain (linearity).
The first ``N`` outputs of a causal filter only need the first ``N`` impulse-response
samples, so the convolution is computed exactly by zero-padded FFT; the backward pass repeats
this on the reversed output. Only filter coefficients and the impulse response (a 1-D array
computed once per filter and length) are made by scipy on the CPU. Filtering runs in float64
(float32 on MPS) and is cast back to the input dtype. The running median of a torch input is
computed from ``unfold`` windows, a bounded number of elements at a time.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.signal
import torch
import torch.nn.functional as F

from ecgfm.signal import check_fs
from ecgfm.transforms.functional._checks import (
    ArrayT,
    check_choice,
    check_positive_int,
    check_signal,
    flatten,
    is_torch,
    work_dtype,
)

__all__ = [
    "DEFAULT_BASELINE_KERNEL_S",
    "bandpass",
    "highpass",
    "lowpass",
    "notch",
    "remove_baseline",
]

# Default median kernel: 201 samples at 500 Hz (ECGFounder), i.e. 0.402 s.
DEFAULT_BASELINE_KERNEL_S = 201 / 500
#: elements materialised at once by the torch running median (bounds memory on large batches)
MEDIAN_BLOCK_ELEMENTS = 1 << 24


# ----------------------------------------------------------------------------- IIR filters


@functools.lru_cache(maxsize=64)
def _butter_sos(order: int, cutoff: tuple[float, ...], btype: str, fs: float) -> np.ndarray:
    wn = cutoff[0] if len(cutoff) == 1 else list(cutoff)
    return scipy.signal.butter(order, wn, btype=btype, fs=fs, output="sos")


def _sos_padlen(sos: np.ndarray) -> int:
    """Default ``padlen`` of ``scipy.signal.sosfiltfilt``."""
    ntaps = 2 * sos.shape[0] + 1
    ntaps -= min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return 3 * ntaps


@functools.lru_cache(maxsize=64)
def _impulse_response(kind: str, coeffs: tuple[float, ...], n: int) -> np.ndarray:
    """First ``n`` samples of the impulse response of an SOS (``kind='sos'``) or b/a filter."""
    impulse = np.zeros(n)
    impulse[0] = 1.0
    arr = np.asarray(coeffs)
    if kind == "sos":
        return scipy.signal.sosfilt(arr.reshape(-1, 6), impulse)
    n_b = int(arr[0])
    return scipy.signal.lfilter(arr[1 : 1 + n_b], arr[1 + n_b :], impulse)


def _odd_extension(x: torch.Tensor, n: int) -> torch.Tensor:
    """``scipy.signal._arraytools.odd_ext`` along the last axis."""
    left = 2 * x[..., :1] - x[..., 1 : n + 1].flip(-1)
    right = 2 * x[..., -1:] - x[..., -n - 1 : -1].flip(-1)
    return torch.cat([left, x, right], dim=-1)


def _causal_filter_from_steady_state(
    z: torch.Tensor, h_fft: torch.Tensor, n_fft: int, gain: float
) -> torch.Tensor:
    """``lfilter(z, zi=zi_steady * z[0])`` as ``conv(h, z - z[0]) + z[0] * gain`` (exact)."""
    z0 = z[..., :1]
    conv = torch.fft.irfft(torch.fft.rfft(z - z0, n=n_fft, dim=-1) * h_fft, n=n_fft, dim=-1)
    return conv[..., : z.shape[-1]] + z0 * gain


def _filtfilt_torch(
    x: torch.Tensor, kind: str, coeffs: tuple[float, ...], gain: float, padlen: int
) -> torch.Tensor:
    work = work_dtype(x)
    ext = _odd_extension(x.to(work), padlen)
    n = ext.shape[-1]
    n_fft = scipy.fft.next_fast_len(2 * n - 1, real=True)  # linear, not circular, conv
    h = torch.as_tensor(_impulse_response(kind, coeffs, n), dtype=work, device=x.device)
    h_fft = torch.fft.rfft(h, n=n_fft)
    forward = _causal_filter_from_steady_state(ext, h_fft, n_fft, gain)
    backward = _causal_filter_from_steady_state(forward.flip(-1), h_fft, n_fft, gain).flip(-1)
    return backward[..., padlen : n - padlen].to(x.dtype)


def _check_padlen(n_t: int, padlen: int, fs: float, label: str) -> None:
    if n_t <= padlen:
        raise ValueError(
            f"the signal has {n_t} samples ({n_t / fs:.3g} s at {fs:g} Hz) but the zero-phase "
            f"{label} needs more than {padlen} for its edge padding (3 x filter taps, as "
            "scipy's filtfilt). Use a longer recording, lower the filter order, or pad the "
            "signal first (ecgfm.transforms.functional.pad(..., mode='reflect'))"
        )


def _apply_sos(x: ArrayT, sos: np.ndarray, fs: float, label: str) -> ArrayT:
    n_t = check_signal(x, what=label)
    padlen = _sos_padlen(sos)
    _check_padlen(n_t, padlen, fs, label)
    if is_torch(x):
        gain = float(np.prod(sos[:, :3].sum(axis=1) / sos[:, 3:].sum(axis=1)))
        return _filtfilt_torch(x, "sos", tuple(sos.ravel().tolist()), gain, padlen)
    return scipy.signal.sosfiltfilt(sos, x, axis=-1).astype(x.dtype, copy=False)


def _check_order(order: object) -> int:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"filter order must be a positive integer, got {order!r}")
    if order > 16:
        raise ValueError(
            f"filter order {order} is too high for a stable zero-phase Butterworth filter "
            "(at most 16); ECG pipelines use 2-5"
        )
    return int(order)


def _check_cutoff(value: object, fs: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a frequency in Hz, got {value!r}")
    value = float(value)
    nyquist = fs / 2
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive frequency in Hz, got {value}")
    if value >= nyquist:
        raise ValueError(
            f"{name}={value:g} Hz is not below the Nyquist frequency fs/2 = {nyquist:g} Hz; "
            f"choose {name} < {nyquist:g} Hz or resample to a higher rate first"
        )
    return value


def bandpass(x: ArrayT, fs: float, low: float = 0.67, high: float = 40.0, order: int = 4) -> ArrayT:
    """Zero-phase Butterworth band-pass, ``sosfiltfilt(butter(order, [low, high], 'bandpass'))``.

    Args:
        x: ``(C, T)`` or ``(B, C, T)`` float signal sampled at ``fs`` Hz.
        low, high: pass band in Hz, ``0 < low < high < fs / 2`` (default 0.67-40 Hz).
        order: Butterworth order of the prototype (the band-pass has ``2 * order`` poles);
            applied forward and backward, so the magnitude response is squared.

    Raises:
        ValueError: bad band, or ``T`` not longer than the padding ``3 * (2 * order + 1)``.
    """
    fs = check_fs(fs)
    order = _check_order(order)
    low = _check_cutoff(low, fs, "low")
    high = _check_cutoff(high, fs, "high")
    if low >= high:
        raise ValueError(
            f"band-pass needs low < high, got low={low:g} Hz and high={high:g} Hz; swap them "
            "or use highpass()/lowpass() for a one-sided filter"
        )
    sos = _butter_sos(order, (low, high), "bandpass", fs)
    return _apply_sos(x, sos, fs, f"band-pass {low:g}-{high:g} Hz (order {order})")


def highpass(x: ArrayT, fs: float, cutoff: float = 0.67, order: int = 4) -> ArrayT:
    """Zero-phase Butterworth high-pass at ``cutoff`` Hz (``sosfiltfilt``); removes DC/drift."""
    fs = check_fs(fs)
    order = _check_order(order)
    cutoff = _check_cutoff(cutoff, fs, "cutoff")
    sos = _butter_sos(order, (cutoff,), "highpass", fs)
    return _apply_sos(x, sos, fs, f"high-pass {cutoff:g} Hz (order {order})")


def lowpass(x: ArrayT, fs: float, cutoff: float = 40.0, order: int = 4) -> ArrayT:
    """Zero-phase Butterworth low-pass at ``cutoff`` Hz (``sosfiltfilt``)."""
    fs = check_fs(fs)
    order = _check_order(order)
    cutoff = _check_cutoff(cutoff, fs, "cutoff")
    sos = _butter_sos(order, (cutoff,), "lowpass", fs)
    return _apply_sos(x, sos, fs, f"low-pass {cutoff:g} Hz (order {order})")


def notch(x: ArrayT, fs: float, freq: float = 50.0, q: float = 30.0) -> ArrayT:
    """Zero-phase notch: ``filtfilt(*iirnotch(freq, q, fs))`` (default 50 Hz, Q 30).

    Use ``freq=60.0`` for North-American mains. ``T`` must exceed ``padlen = 9`` samples.
    """
    fs = check_fs(fs)
    freq = _check_cutoff(freq, fs, "freq")
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not math.isfinite(q) or q <= 0:
        raise ValueError(f"notch quality factor q must be a positive number, got {q!r}")
    b, a = scipy.signal.iirnotch(freq, float(q), fs=fs)
    label = f"notch {freq:g} Hz (Q {q:g})"
    n_t = check_signal(x, what=label)
    padlen = 3 * max(len(a), len(b))
    _check_padlen(n_t, padlen, fs, label)
    if is_torch(x):
        coeffs = (float(len(b)), *b.tolist(), *a.tolist())
        return _filtfilt_torch(x, "ba", coeffs, float(b.sum() / a.sum()), padlen)
    return scipy.signal.filtfilt(b, a, x, axis=-1).astype(x.dtype, copy=False)


# ----------------------------------------------------------------------------- baseline


def median_kernel(fs: float, kernel_size: int | None, kernel_seconds: float | None) -> int:
    if kernel_size is not None and kernel_seconds is not None:
        raise ValueError("give either kernel_size (samples) or kernel_seconds, not both")
    if kernel_size is None:
        seconds = DEFAULT_BASELINE_KERNEL_S if kernel_seconds is None else kernel_seconds
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise ValueError(f"kernel_seconds must be a positive duration, got {seconds!r}")
        size = round(seconds * fs)
        size += 1 - size % 2  # nearest odd length at or above
        return max(size, 3)
    size = check_positive_int(kernel_size, "kernel_size")
    if size % 2 == 0 or size < 3:
        raise ValueError(
            f"median kernel_size must be odd and >= 3 so that it is centred, got {size}; "
            f"use {max(3, size + 1)}"
        )
    return size


def median_filter_torch(
    x: torch.Tensor, size: int, mode: str, *, max_elements: int = MEDIAN_BLOCK_ELEMENTS
) -> torch.Tensor:
    """Running median of odd length ``size`` along the last axis of ``x`` ``(..., T)``.

    ``mode`` is ``"zeros"``, ``"nearest"`` or ``"mirror"`` (``scipy.ndimage`` names). The
    windows are materialised in time blocks of at most ``max_elements`` elements (at least one
    sample per block); the result does not depend on the block size.
    """
    flat, lead_shape = flatten(x)
    half = size // 2
    if mode == "zeros":
        padded = F.pad(flat, (half, half))
    else:  # torch "reflect" is scipy.ndimage "mirror"; "replicate" is "nearest"
        padded = F.pad(
            flat[:, None, :], (half, half), mode={"mirror": "reflect"}.get(mode, "replicate")
        )[:, 0]
    n_rows, n_t = flat.shape
    block = max(1, max_elements // (n_rows * size))
    parts = []
    for t0 in range(0, n_t, block):
        t1 = min(n_t, t0 + block)
        windows = padded[:, t0 : t1 + size - 1].unfold(-1, size, 1)
        parts.append(windows.median(dim=-1).values)
    return torch.cat(parts, dim=-1).reshape(*lead_shape, n_t)


def remove_baseline(
    x: ArrayT,
    fs: float,
    kernel_size: int | None = None,
    *,
    kernel_seconds: float | None = None,
    mode: Literal["zeros", "nearest", "mirror"] = "zeros",
) -> ArrayT:
    """Subtract a running-median baseline: ``x - medfilt(x, kernel)`` along time.

    Args:
        x: ``(C, T)`` or ``(B, C, T)`` float signal.
        fs: sampling rate in Hz (used for ``kernel_seconds``).
        kernel_size: odd median length in samples (ECGFounder: 201 at 500 Hz).
        kernel_seconds: length in seconds instead (rounded to the nearest odd sample count at
            or above). With neither given, 0.402 s (= 201 samples at 500 Hz) is used.
        mode: edge handling of the running median. ``"zeros"`` is
            ``scipy.signal.medfilt`` (zero padding; ECGFounder), ``"nearest"`` repeats the
            edge sample, ``"mirror"`` reflects without repeating it (``scipy.ndimage`` names).

    Raises:
        ValueError: ``T`` shorter than the kernel.
    """
    fs = check_fs(fs)
    mode = check_choice(mode, "mode", ("zeros", "nearest", "mirror"))
    size = median_kernel(fs, kernel_size, kernel_seconds)
    n_t = check_signal(x, what="baseline removal")
    if n_t < size:
        raise ValueError(
            f"the signal has {n_t} samples but the median baseline kernel is {size} samples "
            f"({size / fs:.3g} s at {fs:g} Hz); use a longer recording or a shorter kernel"
        )
    if is_torch(x):
        return x - median_filter_torch(x, size, mode)
    footprint = (1,) * (x.ndim - 1) + (size,)
    nd_mode = "constant" if mode == "zeros" else mode
    baseline = scipy.ndimage.median_filter(x, size=footprint, mode=nd_mode, cval=0.0)
    return (x - baseline).astype(x.dtype, copy=False)
