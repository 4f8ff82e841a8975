"""Resampling: polyphase (``scipy.signal.resample_poly``) and Fourier (``scipy.signal.resample``).

numpy input goes to scipy; torch input stays on its device: the polyphase filter runs as one
``conv1d`` with a channel per phase, the Fourier method with ``torch.fft``; both reproduce
scipy's output lengths and edge handling.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import Literal

import numpy as np
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
)

__all__ = ["ResampleMethod", "resample", "resample_ratio"]

ResampleMethod = Literal["polyphase", "fft"]


def resample_ratio(fs_in: float, fs_out: float, *, max_denominator: int = 1000) -> tuple[int, int]:
    """``(up, down)`` with ``up / down == fs_out / fs_in`` in lowest terms.

    Raises ``ValueError`` when the ratio is not a fraction with a denominator of at most
    ``max_denominator`` (to within 1e-9 relative), e.g. 500 -> 499.99; use the FFT method then.
    """
    fs_in = check_fs(fs_in, name="fs_in")
    fs_out = check_fs(fs_out, name="fs_out")
    max_denominator = check_positive_int(max_denominator, "max_denominator")
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
    flat, lead_shape = flatten(x)
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
    method = check_choice(method, "method", ("polyphase", "fft"))
    n_t = check_signal(x, what="resample")
    if fs_in == fs_out:
        return x.clone() if is_torch(x) else x.copy()
    if method == "fft":
        # floor, as ST-MEM's official Resample (int(T * fs_out / fs_in)); the epsilon keeps
        # exact ratios such as 5000 * 250 / 500 from rounding down to 2499.
        num = math.floor(n_t * fs_out / fs_in + 1e-9)
        if num < 1:
            raise ValueError(
                f"resampling {n_t} samples from {fs_in:g} to {fs_out:g} Hz leaves no sample; "
                "use a longer signal"
            )
        if is_torch(x):
            return _resample_fft_torch(x, num)
        return scipy.signal.resample(x, num, axis=-1).astype(x.dtype, copy=False)
    up, down = resample_ratio(fs_in, fs_out, max_denominator=max_denominator)
    if is_torch(x):
        return _resample_poly_torch(x, up, down)
    return scipy.signal.resample_poly(x, up, down, axis=-1).astype(x.dtype, copy=False)
