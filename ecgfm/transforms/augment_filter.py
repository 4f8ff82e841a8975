"""Band-pass augmentation with random cut-offs, applied in the frequency domain.

The exact Butterworth filters of preprocessing (``ecgfm.transforms.functional.bandpass``,
scipy-equivalent ``sosfiltfilt``) run per cut-off pair; an augmentation draws new cut-offs for
every record, so here the zero-phase response is applied directly as a gain on the rFFT of
the records drawn for the op: ``|H(f)|^2`` of an order-``n`` (analog) Butterworth high-pass
times low-pass, the magnitude response of forward-backward (filtfilt) filtering.

Edges: an FFT filters circularly. Instead of padding (which costs a longer, often slower FFT
length), the straight line through each lead's first and last sample is removed first, so
the periodic extension has no jump; the line is added back multiplied by the DC gain (0 with
a high-pass part, 1 without), which is exactly how a zero-phase (symmetric) filter acts on a
straight line.
"""

from __future__ import annotations

import torch

from ecgfm.signal import check_fs
from ecgfm.transforms import _random as R
from ecgfm.transforms._rows import pieces, use_row_loops
from ecgfm.transforms.augment_base import Augmentation, put_rows_, take_rows

__all__ = ["RandomBandPass", "bandpass_gain", "zero_phase_bandpass"]


def bandpass_gain(
    n_t: int,
    fs: float,
    low: torch.Tensor,
    high: torch.Tensor,
    order: int,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Zero-phase gain ``(n, 1, T // 2 + 1)`` on the rFFT bins of an ``n_t``-sample record.

    ``|H(f)|^2`` of an order-``order`` Butterworth high-pass (cut-off ``low (n,)`` Hz, 0 = none)
    times low-pass (``high (n,)`` Hz): ``1 / ((1 + (f/high)^2k) (1 + (low/f)^2k))^2`` with
    ``k = order``, computed in ``dtype`` on ``low``'s device (a few in-place passes).
    """
    freqs = torch.fft.rfftfreq(n_t, d=1.0 / fs, dtype=dtype, device=low.device)
    inv_f = freqs.reciprocal()
    inv_f[0] = 0.0  # the DC bin is set below
    lo = low.to(dtype).view(-1, 1, 1)
    hi = high.to(dtype).view(-1, 1, 1)
    den = _int_pow(freqs / hi, 2 * order).add_(1.0)  # low-pass part
    den.mul_(_int_pow(lo * inv_f, 2 * order).add_(1.0))  # high-pass part
    gain = den.mul_(den).reciprocal_()  # forward-backward filtering squares the magnitude
    gain[..., 0] = (lo[..., 0] == 0).to(dtype)  # DC: kept without a high-pass part, else 0
    return gain


def _int_pow(t: torch.Tensor, k: int) -> torch.Tensor:
    """``t ** k`` for an integer ``k >= 1`` by repeated squaring (a new tensor)."""
    out, base = None, t
    while k:
        if k & 1:
            out = base.clone() if out is None else out.mul_(base)
        k >>= 1
        if k:
            base = base * base
    assert out is not None
    return out


def zero_phase_bandpass(
    x: torch.Tensor,
    fs: float,
    low: torch.Tensor,
    high: torch.Tensor,
    order: int,
    *,
    overwrite: bool = False,
    gain: torch.Tensor | None = None,
) -> torch.Tensor:
    """Filter ``x (n, C, T)`` with per-record cut-offs ``low, high (n,)`` Hz (zero phase).

    ``low == 0`` disables the high-pass part. Returns a new tensor of ``x``'s dtype;
    ``overwrite=True`` lets the function use ``x`` as scratch space (saves one copy).
    ``gain`` may pass :func:`bandpass_gain` of these cut-offs, already on ``x``'s device in
    its working dtype (saves recomputing it chunk by chunk).
    """
    n_t = x.shape[-1]
    work = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    xw = x.to(work)
    start = xw[..., :1].clone()
    slope = xw[..., -1:] - start
    ramp = torch.linspace(0.0, 1.0, n_t, dtype=work, device=x.device)
    detrended = xw.sub_(start) if (overwrite or xw is not x) else xw - start
    detrended.addcmul_(slope, ramp, value=-1.0)
    if gain is None:
        gain = bandpass_gain(n_t, fs, low.cpu(), high.cpu(), order, work)
    spec = torch.fft.rfft(detrended)
    spec.mul_(gain.to(device=x.device, dtype=work))
    out = torch.fft.irfft(spec, n=n_t)
    if bool((low == 0).any()):
        lo = low.to(torch.float64).view(-1, 1, 1)
        dc = (lo == 0).to(device=x.device, dtype=work)  # DC gain per record: 1 or 0
        out.addcmul_(dc, start).addcmul_(dc * slope, ramp)
    return out.to(x.dtype)


class RandomBandPass(Augmentation):
    """Zero-phase Butterworth-shaped band-pass with cut-offs drawn per record.

    Args:
        fs: sampling rate of the input in Hz.
        p: probability per record.
        low_hz: ``(low, high)`` range of the high-pass cut-off in Hz (default ``(0.05, 0.7)``);
            0 disables the high-pass part.
        high_hz: ``(low, high)`` range of the low-pass cut-off in Hz, below ``fs / 2`` (default
            ``(25.0, 45.0)``).
        order: Butterworth order of each part (the applied magnitude is squared, as with
            ``filtfilt``).
    """

    def __init__(
        self,
        fs: float,
        p: float = 0.5,
        low_hz: float | tuple[float, float] = (0.05, 0.7),
        high_hz: float | tuple[float, float] = (25.0, 45.0),
        order: int = 2,
    ) -> None:
        super().__init__(p)
        self.fs = check_fs(fs)
        self.low_hz = R.check_range(low_hz, "low_hz", low=0.0)
        self.high_hz = R.check_range(high_hz, "high_hz", low=0.0, low_open=True)
        if self.high_hz[1] >= self.fs / 2:
            raise ValueError(
                f"high_hz={high_hz!r} must stay below the Nyquist frequency {self.fs / 2:g} Hz "
                f"(fs = {self.fs:g} Hz)"
            )
        if self.low_hz[1] >= self.high_hz[0]:
            raise ValueError(
                f"low_hz {self.low_hz} must lie below high_hz {self.high_hz}: the band would "
                "be empty"
            )
        if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= 10:
            raise ValueError(f"order must be an integer in [1, 10], got {order!r}")
        self.order = order

    def _apply_rows_(self, x: torch.Tensor, idx: torch.Tensor, generator) -> None:
        n = idx.numel()
        low = R.uniform(*self.low_hz, (n,), generator).cpu()
        high = R.uniform(*self.high_hz, (n,), generator).cpu()
        if not use_row_loops(x):
            rows = take_rows(x, idx)
            # `rows` is a gathered copy, or `x` itself, which the result overwrites anyway
            out = zero_phase_bandpass(rows, self.fs, low, high, self.order, overwrite=True)
            put_rows_(x, idx, out)
            return
        work = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
        gain = bandpass_gain(x.shape[-1], self.fs, low, high, self.order, work)
        # in place, cache-sized slices of the runs of `idx` (see ecgfm.transforms._rows)
        for first, stop, k in pieces(idx, x[0].numel()):
            rows, end = x[first:stop], k + stop - first  # scratch space, then the result
            out = zero_phase_bandpass(
                rows, self.fs, low[k:end], high[k:end], self.order, overwrite=True, gain=gain[k:end]
            )
            rows.copy_(out)
