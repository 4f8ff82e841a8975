"""Functional preprocessing: resampling, zero-phase filters, baseline removal, z-score, crops.

Every function takes a float signal ``(C, T)`` or a batch ``(B, C, T)`` (numpy array or torch
tensor) and returns the same kind of object, on the same device, with the same dtype and rank.
Time is always the last axis; every record of a batch is processed independently.

Implementation (see ``docs/input_contract.md``):

- numpy input is processed with scipy directly (``resample_poly``, ``resample``,
  ``sosfiltfilt``, ``filtfilt``, ``ndimage.median_filter``);
- torch input (CPU or CUDA) never leaves its device. Resampling re-implements scipy's
  polyphase and FFT algorithms with ``conv1d`` and ``torch.fft``. Zero-phase IIR filtering
  reproduces ``sosfiltfilt``/``filtfilt`` exactly: after the same odd extension of ``padlen``
  samples, a causal IIR filter started from its steady state ``zi * x[0]`` equals the
  convolution of ``x - x[0]`` with the filter's impulse response plus ``x[0]`` times the DC
  gain (linearity). The first ``N`` outputs of a causal filter only need the first ``N``
  impulse-response samples, so the convolution is computed exactly by zero-padded FFT; the
  backward pass repeats this on the reversed output. Only filter coefficients and the impulse
  response (a 1-D array computed once per filter and length) are made by scipy on the CPU.
  Filtering runs in float64 (float32 on MPS) and is cast back to the input dtype.

Invalid input (wrong rank or dtype, NaN/Inf, signals shorter than a filter's padding, bad
cut-offs) raises an error that says what to do.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Literal, TypeVar

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.signal
import torch
import torch.nn.functional as F

from ecgfm.signal import check_fs
from ecgfm.signal import repair_nonfinite as _repair_nonfinite

__all__ = [
    "bandpass",
    "crop",
    "extract_windows",
    "fit_length",
    "highpass",
    "lowpass",
    "notch",
    "pad",
    "remove_baseline",
    "repair_nonfinite",
    "resample",
    "resample_ratio",
    "window_starts",
    "zscore",
]

logger = logging.getLogger(__name__)

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)
ResampleMethod = Literal["polyphase", "fft"]
CropMode = Literal["center", "random", "start", "end"]
PadMode = Literal["zero", "edge", "reflect"]
PadSide = Literal["end", "start", "both"]
WindowMode = Literal["all", "disjoint", "center", "first", "spaced"]

# Default median kernel: 201 samples at 500 Hz (ECGFounder), i.e. 0.402 s.
DEFAULT_BASELINE_KERNEL_S = 201 / 500
# Elements materialised at once by the torch median filter (bounds memory on large batches).
_MEDIAN_CHUNK_ELEMENTS = 1 << 24


# ----------------------------------------------------------------------------- validation


def _is_torch(x: object) -> bool:
    return isinstance(x, torch.Tensor)


def _check_signal(x: object, *, name: str = "x", what: str = "this step") -> int:
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
    finite = bool(torch.isfinite(x).all()) if _is_torch(x) else bool(np.isfinite(x).all())
    if not finite:
        bad = int((~torch.isfinite(x)).sum()) if _is_torch(x) else int((~np.isfinite(x)).sum())
        raise ValueError(
            f"{name} contains {bad} NaN/Inf values; {what} cannot process them. Repair first "
            "with ecgfm.transforms.functional.repair_nonfinite (sets them to 0, logged) or "
            "nan_policy='zero', or clean the record"
        )
    return n_t


def _check_array(x: object, what: str) -> None:
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


def _check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer number of samples, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive number of samples, got {value}")
    return int(value)


def _check_choice(value: object, name: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return str(value)


def _work_dtype(x: torch.Tensor) -> torch.dtype:
    """float64 for accuracy, except on MPS which has no float64."""
    return torch.float32 if x.device.type == "mps" else torch.float64


def _flatten(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    lead_shape = tuple(x.shape[:-1])
    return x.reshape(-1, x.shape[-1]), lead_shape


# ----------------------------------------------------------------------------- repair


def repair_nonfinite(x: ArrayT, *, what: str = "signal") -> tuple[ArrayT, int]:
    """Replace NaN/±Inf by 0 and return ``(x, count)``; logs a warning with the count.

    Thin wrapper of :func:`ecgfm.signal.repair_nonfinite` (the ECGFounder / SelfMIS rule) that
    also validates the type. An entirely non-finite input raises ``ValueError``.
    """
    if not isinstance(x, (np.ndarray, torch.Tensor)):
        raise TypeError(f"{what} must be a numpy array or torch tensor, got {type(x).__name__}")
    return _repair_nonfinite(x, what=what)


# ----------------------------------------------------------------------------- resampling


def resample_ratio(fs_in: float, fs_out: float, *, max_denominator: int = 1000) -> tuple[int, int]:
    """``(up, down)`` with ``up / down == fs_out / fs_in`` in lowest terms.

    Raises ``ValueError`` when the ratio is not a fraction with a denominator of at most
    ``max_denominator`` (to within 1e-9 relative), e.g. 500 -> 499.99; use the FFT method then.
    """
    fs_in = check_fs(fs_in, name="fs_in")
    fs_out = check_fs(fs_out, name="fs_out")
    max_denominator = _check_positive_int(max_denominator, "max_denominator")
    ratio = fs_out / fs_in
    frac = Fraction(ratio).limit_denominator(max_denominator)
    if frac.numerator == 0 or abs(frac.numerator / frac.denominator - ratio) > 1e-9 * ratio:
        raise ValueError(
            f"cannot resample {fs_in:g} Hz -> {fs_out:g} Hz with a polyphase filter: the ratio "
            f"{ratio:.12g} is not a fraction with denominator <= {max_denominator}. Use "
            "method='fft' (for a preset: resample_method='fft'), round the sampling rates, "
            "or raise max_denominator"
        )
    return frac.numerator, frac.denominator


def _poly_output_len(len_h: int, n_in: int, up: int, down: int) -> int:
    return ((n_in - 1) * up + len_h - 1) // down + 1


@functools.lru_cache(maxsize=32)
def _polyphase_filter(up: int, down: int, n_in: int) -> tuple[np.ndarray, int, int]:
    """scipy.signal.resample_poly's default Kaiser(5) FIR and output bookkeeping.

    Returns ``(h, n_pre_remove, n_out)``: ``h`` already scaled by ``up`` and zero-padded so
    that output samples are centred, exactly as scipy builds it.
    """
    n_out = -(-n_in * up // down)
    max_rate = max(up, down)
    half_len = 10 * max_rate
    h = scipy.signal.firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * up
    n_pre_pad = down - half_len % down
    n_pre_remove = (half_len + n_pre_pad) // down
    n_post_pad = 0
    while _poly_output_len(h.size + n_pre_pad + n_post_pad, n_in, up, down) < n_out + n_pre_remove:
        n_post_pad += 1
    h = np.concatenate([np.zeros(n_pre_pad), h, np.zeros(n_post_pad)])
    return h, n_pre_remove, n_out


def _resample_poly_torch(x: torch.Tensor, up: int, down: int) -> torch.Tensor:
    """``upfirdn`` in polyphase form: output ``m`` of the full convolution of the zero-stuffed
    input with ``h`` is ``sum_q h[q * up + m % up] * x[m // up - q]``, i.e. one short
    convolution per phase ``m % up`` (one conv1d with ``up`` output channels), evaluated
    only at the indices ``(n_pre_remove + i) * down`` that scipy keeps."""
    flat, lead_shape = _flatten(x)
    n_in = flat.shape[-1]
    h_np, n_pre_remove, n_out = _polyphase_filter(up, down, n_in)
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    n_taps = -(-h_np.size // up)
    phases = np.zeros(n_taps * up)
    phases[: h_np.size] = h_np
    # weight[p, 0, j] = h[(n_taps - 1 - j) * up + p]: conv1d correlates, so flip each phase.
    weight = torch.as_tensor(phases.reshape(n_taps, up).T[:, ::-1].copy(), dtype=work)
    weight = weight.to(x.device)[:, None, :]
    padded = F.pad(flat.to(work)[:, None, :], (n_taps - 1, n_taps - 1))
    wanted = (n_pre_remove + torch.arange(n_out, device=x.device)) * down
    if up == 1:  # pure decimation: compute only every `down`-th output
        first = int(wanted[0])
        y = F.conv1d(padded[..., first:], weight, stride=down)[:, 0, :n_out]
    else:
        y = F.conv1d(padded, weight)[:, wanted % up, wanted // up]
    return y.to(x.dtype).reshape(*lead_shape, n_out)


def _resample_fft_torch(x: torch.Tensor, num: int) -> torch.Tensor:
    n_x = x.shape[-1]
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    spec = torch.fft.rfft(x.to(work), dim=-1)
    m = min(num, n_x)
    m2 = m // 2 + 1
    spec = spec[..., :m2]
    scale = torch.full((m2,), num / n_x, dtype=work, device=x.device)
    if m % 2 == 0 and num != n_x:  # the unpaired bin at m // 2 (scipy.signal.resample)
        scale[m // 2] *= 2.0 if num < n_x else 0.5
    spec = spec * scale
    if num % 2 == 0 and spec.shape[-1] == num // 2 + 1:
        # irfft treats the last bin as the real Nyquist term; make that explicit so CPU and
        # CUDA FFT back-ends agree (numpy also drops its imaginary part).
        nyq = spec[..., -1:]
        spec = torch.cat([spec[..., :-1], torch.complex(nyq.real, torch.zeros_like(nyq.real))], -1)
    return torch.fft.irfft(spec, n=num, dim=-1).to(x.dtype)


def resample(
    x: ArrayT,
    fs_in: float,
    fs_out: float,
    method: ResampleMethod = "polyphase",
    *,
    max_denominator: int = 1000,
) -> ArrayT:
    """Resample along time from ``fs_in`` to ``fs_out`` Hz.

    Args:
        x: ``(C, T)`` or ``(B, C, T)`` float signal.
        fs_in: sampling rate of ``x`` in Hz.
        fs_out: wanted sampling rate in Hz.
        method: ``"polyphase"`` = ``scipy.signal.resample_poly(x, up, down)`` with
            ``up/down = fs_out/fs_in`` reduced by :func:`resample_ratio` (default Kaiser(5)
            window, zero padding); output length ``ceil(T * up / down)``.
            ``"fft"`` = ``scipy.signal.resample(x, floor(T * fs_out / fs_in))`` (Fourier
            method, assumes a periodic signal; the ST-MEM choice, with its output length).
        max_denominator: largest ``down`` accepted by the polyphase method.

    Returns:
        Same type, device and dtype as ``x``; a copy when ``fs_in == fs_out``.
    """
    fs_in = check_fs(fs_in, name="fs_in")
    fs_out = check_fs(fs_out, name="fs_out")
    method = _check_choice(method, "method", ("polyphase", "fft"))
    n_t = _check_signal(x, what="resample")
    if fs_in == fs_out:
        return x.clone() if _is_torch(x) else x.copy()
    if method == "fft":
        # floor, as ST-MEM's official Resample (int(T * fs_out / fs_in)); the epsilon keeps
        # exact ratios such as 5000 * 250 / 500 from rounding down to 2499.
        num = math.floor(n_t * fs_out / fs_in + 1e-9)
        if num < 1:
            raise ValueError(
                f"resampling {n_t} samples from {fs_in:g} to {fs_out:g} Hz leaves no sample; "
                "use a longer signal"
            )
        if _is_torch(x):
            return _resample_fft_torch(x, num)
        return scipy.signal.resample(x, num, axis=-1).astype(x.dtype, copy=False)
    up, down = resample_ratio(fs_in, fs_out, max_denominator=max_denominator)
    if _is_torch(x):
        return _resample_poly_torch(x, up, down)
    return scipy.signal.resample_poly(x, up, down, axis=-1).astype(x.dtype, copy=False)


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
    work = _work_dtype(x)
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
    n_t = _check_signal(x, what=label)
    padlen = _sos_padlen(sos)
    _check_padlen(n_t, padlen, fs, label)
    if _is_torch(x):
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
    n_t = _check_signal(x, what=label)
    padlen = 3 * max(len(a), len(b))
    _check_padlen(n_t, padlen, fs, label)
    if _is_torch(x):
        coeffs = (float(len(b)), *b.tolist(), *a.tolist())
        return _filtfilt_torch(x, "ba", coeffs, float(b.sum() / a.sum()), padlen)
    return scipy.signal.filtfilt(b, a, x, axis=-1).astype(x.dtype, copy=False)


# ----------------------------------------------------------------------------- baseline


def _median_kernel(fs: float, kernel_size: int | None, kernel_seconds: float | None) -> int:
    if kernel_size is not None and kernel_seconds is not None:
        raise ValueError("give either kernel_size (samples) or kernel_seconds, not both")
    if kernel_size is None:
        seconds = DEFAULT_BASELINE_KERNEL_S if kernel_seconds is None else kernel_seconds
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise ValueError(f"kernel_seconds must be a positive duration, got {seconds!r}")
        size = round(seconds * fs)
        size += 1 - size % 2  # nearest odd length at or above
        return max(size, 3)
    size = _check_positive_int(kernel_size, "kernel_size")
    if size % 2 == 0 or size < 3:
        raise ValueError(
            f"median kernel_size must be odd and >= 3 so that it is centred, got {size}; "
            f"use {max(3, size + 1)}"
        )
    return size


def _median_filter_torch(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    flat, lead_shape = _flatten(x)
    half = size // 2
    if mode == "zeros":
        padded = F.pad(flat, (half, half))
    else:  # torch "reflect" is scipy.ndimage "mirror"; "replicate" is "nearest"
        padded = F.pad(
            flat[:, None, :], (half, half), mode={"mirror": "reflect"}.get(mode, "replicate")
        )[:, 0]
    n_rows, n_t = flat.shape
    block = max(1, _MEDIAN_CHUNK_ELEMENTS // (n_rows * size))
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
    mode = _check_choice(mode, "mode", ("zeros", "nearest", "mirror"))
    size = _median_kernel(fs, kernel_size, kernel_seconds)
    n_t = _check_signal(x, what="baseline removal")
    if n_t < size:
        raise ValueError(
            f"the signal has {n_t} samples but the median baseline kernel is {size} samples "
            f"({size / fs:.3g} s at {fs:g} Hz); use a longer recording or a shorter kernel"
        )
    if _is_torch(x):
        return x - _median_filter_torch(x, size, mode)
    footprint = (1,) * (x.ndim - 1) + (size,)
    nd_mode = "constant" if mode == "zeros" else mode
    baseline = scipy.ndimage.median_filter(x, size=footprint, mode=nd_mode, cval=0.0)
    return (x - baseline).astype(x.dtype, copy=False)


# ----------------------------------------------------------------------------- normalisation


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
    mode = _check_choice(axis_mode, "axis_mode", ("all", "lead"))
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise ValueError(f"eps must be a non-negative number, got {eps!r}")
    _check_signal(x, what="z-score")
    dims = (-2, -1) if mode == "all" else (-1,)
    if _is_torch(x):
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


# ----------------------------------------------------------------------------- length


def _random_starts(n_records: int, high: int, generator: torch.Generator | None) -> list[int]:
    device = generator.device if generator is not None else torch.device("cpu")
    draws = torch.randint(0, high + 1, (n_records,), generator=generator, device=device)
    return [int(v) for v in draws.tolist()]


def _gather_windows(x: ArrayT, starts: Sequence[int], length: int) -> ArrayT:
    """Per-record windows: record ``b`` of ``x`` ``(B, C, T)`` cut at ``starts[b]``."""
    if _is_torch(x):
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
    length = _check_positive_int(length, "length")
    mode = _check_choice(mode, "mode", ("center", "random", "start", "end"))
    _check_array(x, "crop")
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
    length = _check_positive_int(length, "length")
    mode = _check_choice(mode, "mode", ("zero", "edge", "reflect"))
    side = _check_choice(side, "side", ("end", "start", "both"))
    _check_array(x, "pad")
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
        return x.clone() if _is_torch(x) else x.copy()
    if mode == "zero":
        if _is_torch(x):
            return F.pad(x, (left, right))
        widths = [(0, 0)] * (x.ndim - 1) + [(left, right)]
        return np.pad(x, widths)
    idx = _pad_index(n_t, left, right, mode)
    if _is_torch(x):
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
    length = _check_positive_int(length, "length")
    _check_array(x, "fit_length")
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
    n_samples = _check_positive_int(n_samples, "n_samples")
    length = _check_positive_int(length, "length")
    mode = _check_choice(mode, "mode", ("all", "disjoint", "center", "first", "spaced"))
    if n_samples < length:
        raise ValueError(f"a record of {n_samples} samples has no window of {length}; pad it first")
    if mode == "first":
        return [0]
    if mode == "center":
        return [(n_samples - length) // 2]
    if mode == "spaced":
        num = _check_positive_int(num, "num")
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
    length = _check_positive_int(length, "length")
    _check_array(x, "extract_windows")
    n_t = int(x.shape[-1])
    starts = [int(s) for s in starts]
    if not starts:
        raise ValueError("starts is empty; give at least one window offset")
    if min(starts) < 0 or max(starts) + length > n_t:
        raise ValueError(f"window offsets {starts} do not fit {length} samples in {n_t}")
    batch = x if x.ndim == 3 else x[None]
    if _is_torch(batch):
        stacked = torch.stack([batch[..., s : s + length] for s in starts], dim=1)
    else:
        stacked = np.stack([batch[..., s : s + length] for s in starts], axis=1)
    return stacked.reshape(-1, batch.shape[1], length)
