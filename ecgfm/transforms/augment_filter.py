"""Band-pass augmentation with random cut-offs, applied in the frequency domain.

The exact Butterworth filters of preprocessing (``ecgfm.transforms.functional.bandpass``,
scipy-equivalent ``sosfiltfilt``) run per cut-off pair; an augmentation draws new cut-offs for
every record, so here the zero-phase response is applied directly as a gain on the rFFT of
the records drawn for the op: ``|H(f)|^2`` of an order-``n`` Butterworth high-pass times
low-pass, which is the magnitude response of forward-backward (filtfilt) filtering. The record
is extended by odd reflection first (as ``filtfilt`` does) to limit wrap-around at the edges.
"""

from __future__ import annotations

import math

import torch

from ecgfm.signal import check_fs
from ecgfm.transforms import _random as R
from ecgfm.transforms.augment_base import Augmentation, put_rows_, take_rows

__all__ = ["BandPass", "fft_length", "zero_phase_bandpass"]


def fft_length(n: int) -> int:
    """Smallest 5-smooth integer ``>= n`` (a length the FFT handles fast)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _odd_extend(x: torch.Tensor, left: int, right: int) -> torch.Tensor:
    """Odd reflection about the end points: continuous value and slope at the joins."""
    parts = [x]
    if left:
        parts.insert(0, 2 * x[..., :1] - x[..., 1 : left + 1].flip(-1))
    if right:
        parts.append(2 * x[..., -1:] - x[..., -right - 1 : -1].flip(-1))
    return torch.cat(parts, dim=-1)


def zero_phase_bandpass(
    x: torch.Tensor,
    fs: float,
    low: torch.Tensor,
    high: torch.Tensor,
    order: int,
    pad: int,
) -> torch.Tensor:
    """Filter ``x (n, C, T)`` with per-record cut-offs ``low, high (n,)`` Hz (zero phase).

    ``low == 0`` disables the high-pass part. ``pad`` samples (< T) of odd reflection are
    added on each side at least; the total is rounded up to a fast FFT length.
    """
    n_t = x.shape[-1]
    pad = min(pad, n_t - 1)
    m = fft_length(n_t + 2 * pad)
    left = (m - n_t) // 2
    right = m - n_t - left
    if max(left, right) > n_t - 1:  # short signals: reflect at most T - 1 samples
        left = right = 0
        m = n_t
    work = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    ext = _odd_extend(x.to(work), left, right)
    freqs = torch.fft.rfftfreq(m, d=1.0 / fs, dtype=torch.float64)
    lo = low.to(torch.float64).view(-1, 1, 1)
    hi = high.to(torch.float64).view(-1, 1, 1)
    lowpass = 1.0 / (1.0 + (freqs / hi) ** (2 * order))
    ratio = torch.where(freqs > 0, lo / freqs.clamp_min(1e-300), torch.where(lo > 0, math.inf, 0))
    highpass = 1.0 / (1.0 + ratio ** (2 * order))
    gain = (lowpass * highpass) ** 2  # forward-backward filtering squares the magnitude
    spec = torch.fft.rfft(ext, n=m)
    spec.mul_(gain.to(device=x.device, dtype=work))
    out = torch.fft.irfft(spec, n=m)[..., left : left + n_t]
    return out.to(x.dtype)


class BandPass(Augmentation):
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
        pad_seconds: odd-reflection padding on each side before the FFT (default 0.25 s).
    """

    def __init__(
        self,
        fs: float,
        p: float = 0.5,
        low_hz: float | tuple[float, float] = (0.05, 0.7),
        high_hz: float | tuple[float, float] = (25.0, 45.0),
        order: int = 2,
        pad_seconds: float = 0.25,
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
        if not (isinstance(pad_seconds, (int, float)) and 0 <= pad_seconds < math.inf):
            raise ValueError(f"pad_seconds must be a non-negative number, got {pad_seconds!r}")
        self.pad_seconds = float(pad_seconds)

    def _apply_rows_(self, x: torch.Tensor, idx: torch.Tensor, generator) -> None:
        n = idx.numel()
        low = R.uniform(*self.low_hz, (n,), generator).cpu()
        high = R.uniform(*self.high_hz, (n,), generator).cpu()
        rows = take_rows(x, idx)
        pad = round(self.pad_seconds * self.fs)
        out = zero_phase_bandpass(rows, self.fs, low, high, self.order, pad)
        put_rows_(x, idx, out)
