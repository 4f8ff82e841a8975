"""Additive augmentations: Gaussian noise (SNR-based), sines, baseline wander, power line.

Amplitudes are relative to each lead's own standard deviation over time (or set by a
signal-to-noise ratio in dB), so the ops behave the same on millivolts and on z-scored
signals. A lead that is entirely zero (e.g. masked by RLM) stays zero under the SNR- and
std-relative ops. Waveforms are computed in float64 on the draw device and cast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ecgfm.signal import check_fs
from ecgfm.transforms import _random as R
from ecgfm.transforms._rows import chunks, runs, use_row_loops
from ecgfm.transforms.augment_base import (
    Augmentation,
    add_outer_rows_,
    interval_index,
    lead_std,
    put_rows_,
    take_rows,
    write_interval_,
)
from ecgfm.transforms.augment_time import interval_length

__all__ = [
    "AddSine",
    "BaselineWander",
    "GaussianNoise",
    "PartialSine",
    "PartialWhiteNoise",
    "PowerlineNoise",
]


def _noise_scale(std: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
    """Noise standard deviation giving ``snr_db`` (power ratio) against signal std ``std``."""
    return std * torch.pow(10.0, -snr_db / 20.0)


def _check_band(value: object, name: str, fs: float) -> tuple[float, float]:
    band = R.check_range(value, name, low=0.0)
    if band[1] >= fs / 2:
        raise ValueError(
            f"{name}={value!r} reaches the Nyquist frequency fs/2 = {fs / 2:g} Hz at "
            f"fs = {fs:g} Hz; choose frequencies below it"
        )
    return band


def _sine(freq: torch.Tensor, phase: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    """``sin(2 pi f t + phase)`` for ``freq, phase (n, 1, 1)`` and ``times (..., L)``."""
    return torch.sin((2.0 * math.pi) * freq * times + phase)


class GaussianNoise(Augmentation):
    """Add white Gaussian noise at a signal-to-noise ratio drawn per record.

    Each lead gets independent noise with standard deviation ``std_lead / 10**(snr / 20)``.

    Args:
        p: probability per record.
        snr_db: ``(low, high)`` SNR range in dB (default ``(15.0, 35.0)``).
    """

    def __init__(self, p: float = 0.5, snr_db: float | tuple[float, float] = (15.0, 35.0)) -> None:
        super().__init__(p)
        self.snr_db = R.check_range(snr_db, "snr_db", low=-60.0, high=200.0)

    def _apply_rows_(self, x: torch.Tensor, idx: torch.Tensor, generator) -> None:
        n, shape = idx.numel(), x.shape[1:]
        snr = R.uniform(*self.snr_db, (n, 1, 1), generator).cpu()
        # The field is drawn chunk by chunk (the same stream on every device, see _rows).
        parts = list(chunks(n, x[0].numel()))
        sigma = _noise_scale(lead_std(x, idx), snr)
        if use_row_loops(x):  # per chunk: draw, then add in place run by run (no copies)
            sig = R.param(sigma, x, *sigma.shape)
            for part in parts:
                sub, at = idx[part], part.start
                noise = R.randn((sub.numel(), *shape), generator).to(x)
                for first, stop, k in runs(sub):
                    end = k + stop - first
                    x[first:stop].addcmul_(noise[k:end], sig[at + k : at + end])
            return
        fields = [R.randn((p.stop - p.start, *shape), generator) for p in parts]
        noise = torch.cat(fields).to(device=x.device, dtype=x.dtype)
        rows = take_rows(x, idx)
        rows.addcmul_(noise, R.param(sigma, x, *sigma.shape))  # the same arithmetic as above
        put_rows_(x, idx, rows)


class PartialWhiteNoise(Augmentation):
    """Add white Gaussian noise inside one random interval (ST-MEM's "partial white noise").

    Args:
        p: probability per record.
        fraction: ``(low, high)`` interval length as a fraction of the record (default
            ``(0.05, 0.2)``).
        snr_db: ``(low, high)`` SNR range in dB relative to each lead's power over the whole
            record (default ``(0.0, 20.0)``).
    """

    def __init__(
        self,
        p: float = 0.5,
        fraction: float | tuple[float, float] = (0.05, 0.2),
        snr_db: float | tuple[float, float] = (0.0, 20.0),
    ) -> None:
        super().__init__(p)
        self.fraction = R.check_range(fraction, "fraction", low=0.0, high=1.0)
        self.snr_db = R.check_range(snr_db, "snr_db", low=-60.0, high=200.0)

    def _apply_rows_(self, x: torch.Tensor, idx: torch.Tensor, generator) -> None:
        n, c, n_t = idx.numel(), x.shape[1], x.shape[-1]
        length = interval_length(R.uniform(*self.fraction, (n,), generator).cpu(), n_t)
        start = R.randint(0, n_t - length + 1, (n,), generator).cpu()
        snr = R.uniform(*self.snr_db, (n, 1, 1), generator).cpu()
        pos, valid, max_len = interval_index(start, length)
        noise = R.randn((n, c, max_len), generator).cpu().to(torch.float64)
        values = noise * _noise_scale(lead_std(x, idx), snr) * valid
        write_interval_(x, idx, pos, values, accumulate=True)


class AddSine(Augmentation):
    """Add a sine wave to the whole record (ST-MEM's "sine").

    One frequency and phase per record, shared by the leads; the amplitude of each lead is a
    drawn fraction of that lead's standard deviation.

    Args:
        fs: sampling rate of the input in Hz.
        p: probability per record.
        frequency: ``(low, high)`` range in Hz, below ``fs / 2`` (default ``(0.5, 5.0)``).
        amplitude: ``(low, high)`` range relative to the lead std (default ``(0.0, 0.3)``).
    """

    def __init__(
        self,
        fs: float,
        p: float = 0.5,
        frequency: float | tuple[float, float] = (0.5, 5.0),
        amplitude: float | tuple[float, float] = (0.0, 0.3),
    ) -> None:
        super().__init__(p)
        self.fs = check_fs(fs)
        self.frequency = _check_band(frequency, "frequency", self.fs)
        self.amplitude = R.check_range(amplitude, "amplitude", low=0.0)

    def _apply_rows_(self, x: torch.Tensor, idx: torch.Tensor, generator) -> None:
        n, c, n_t = idx.numel(), x.shape[1], x.shape[-1]
        freq = R.uniform(*self.frequency, (n, 1, 1), generator).cpu()
        phase = R.uniform(0.0, 2 * math.pi, (n, 1, 1), generator).cpu()
        amp = R.uniform(*self.amplitude, (n, c, 1), generator).cpu() * lead_std(x, idx)
        times = torch.arange(n_t, dtype=torch.float64) / self.fs
        add_outer_rows_(x, idx, amp, _sine(freq, phase, times))


class PartialSine(Augmentation):
    """Add a sine wave inside one random interval (ST-MEM's "partial sine").

    Args:
        fs: sampling rate of the input in Hz.
        p: probability per record.
        fraction: ``(low, high)`` interval length as a fraction of the record (default
            ``(0.05, 0.2)``).
        frequency: ``(low, high)`` range in Hz, below ``fs / 2`` (default ``(1.0, 20.0)``).
        amplitude: ``(low, high)`` range relative to the lead std (default ``(0.0, 0.5)``).
    """

    def __init__(
        self,
        fs: float,
        p: float = 0.5,
        fraction: float | tuple[float, float] = (0.05, 0.2),
        frequency: float | tuple[float, float] = (1.0, 20.0),
        amplitude: float | tuple[float, float] = (0.0, 0.5),
    ) -> None:
        super().__init__(p)
        self.fs = check_fs(fs)
        self.fraction = R.check_range(fraction, "fraction", low=0.0, high=1.0)
        self.frequency = _check_band(frequency, "frequency", self.fs)
        self.amplitude = R.check_range(amplitude, "amplitude", low=0.0)

    def _apply_rows_(self, x: torch.Tensor, idx: torch.Tensor, generator) -> None:
        n, c, n_t = idx.numel(), x.shape[1], x.shape[-1]
        length = interval_length(R.uniform(*self.fraction, (n,), generator).cpu(), n_t)
        start = R.randint(0, n_t - length + 1, (n,), generator).cpu()
        freq = R.uniform(*self.frequency, (n, 1, 1), generator).cpu()
        phase = R.uniform(0.0, 2 * math.pi, (n, 1, 1), generator).cpu()
        amp = R.uniform(*self.amplitude, (n, c, 1), generator).cpu() * lead_std(x, idx)
        pos, valid, _ = interval_index(start, length)
        wave = _sine(freq, phase, pos.to(torch.float64) / self.fs) * valid
        write_interval_(x, idx, pos, amp * wave, accumulate=True)


class BaselineWander(Augmentation):
    """Add slow baseline drift: a sum of low-frequency sines with random phases.

    The drift waveform is shared by the leads of a record; each lead scales it by a drawn
    fraction of its own standard deviation with a random sign.

    Args:
        fs: sampling rate of the input in Hz.
        p: probability per record.
        frequency: ``(low, high)`` range in Hz of each component (default ``(0.05, 0.5)``,
            respiration and body movement).
        amplitude: ``(low, high)`` peak range relative to the lead std (default ``(0.1, 0.5)``).
        n_components: number of summed sines.
    """

    def __init__(
        self,
        fs: float,
        p: float = 0.5,
        frequency: float | tuple[float, float] = (0.05, 0.5),
        amplitude: float | tuple[float, float] = (0.1, 0.5),
        n_components: int = 2,
    ) -> None:
        super().__init__(p)
        self.fs = check_fs(fs)
        self.frequency = _check_band(frequency, "frequency", self.fs)
        self.amplitude = R.check_range(amplitude, "amplitude", low=0.0)
        if isinstance(n_components, bool) or not isinstance(n_components, int) or n_components < 1:
            raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
        self.n_components = n_components

    def _apply_rows_(self, x: torch.Tensor, idx: torch.Tensor, generator) -> None:
        n, c, n_t = idx.numel(), x.shape[1], x.shape[-1]
        k = self.n_components
        freq = R.uniform(*self.frequency, (n, k, 1), generator).cpu()
        phase = R.uniform(0.0, 2 * math.pi, (n, k, 1), generator).cpu()
        sign = torch.where(R.rand((n, c, 1), generator).cpu() < 0.5, -1.0, 1.0)
        amp = R.uniform(*self.amplitude, (n, c, 1), generator).cpu() * sign * lead_std(x, idx)
        times = torch.arange(n_t, dtype=torch.float64) / self.fs
        wave = _sine(freq, phase, times).mean(dim=1, keepdim=True)  # (n, 1, T)
        add_outer_rows_(x, idx, amp, wave)


class PowerlineNoise(Augmentation):
    """Add mains interference: a sine at the mains frequency (and optional harmonics).

    The interference is common to the leads (one phase per record); its amplitude in each lead
    is set by an SNR drawn per record against that lead's power. Harmonic ``k`` has amplitude
    ``1/k`` of the fundamental.

    Args:
        fs: sampling rate of the input in Hz.
        p: probability per record.
        frequency: mains frequency in Hz, or a sequence of choices drawn uniformly per record
            (default 50.0; e.g. ``(50.0, 60.0)``). Every harmonic must lie below ``fs / 2``.
        snr_db: ``(low, high)`` SNR range in dB (default ``(20.0, 40.0)``).
        harmonics: number of harmonics including the fundamental.
    """

    def __init__(
        self,
        fs: float,
        p: float = 0.5,
        frequency: float | Sequence[float] = 50.0,
        snr_db: float | tuple[float, float] = (20.0, 40.0),
        harmonics: int = 1,
    ) -> None:
        super().__init__(p)
        self.fs = check_fs(fs)
        if isinstance(harmonics, bool) or not isinstance(harmonics, int) or harmonics < 1:
            raise ValueError(f"harmonics must be a positive integer, got {harmonics!r}")
        choices = (frequency,) if isinstance(frequency, (int, float)) else tuple(frequency)
        if not choices or not all(
            isinstance(f, (int, float)) and not isinstance(f, bool) and math.isfinite(f) and f > 0
            for f in choices
        ):
            raise ValueError(f"frequency must be positive Hz value(s), got {frequency!r}")
        top = max(choices) * harmonics
        if top >= self.fs / 2:
            raise ValueError(
                f"power-line harmonic at {top:g} Hz is not below the Nyquist frequency "
                f"{self.fs / 2:g} Hz (fs = {self.fs:g} Hz); lower `harmonics`, or leave out "
                "PowerlineNoise at this sampling rate"
            )
        self.frequency = tuple(float(f) for f in choices)
        self.snr_db = R.check_range(snr_db, "snr_db", low=-60.0, high=200.0)
        self.harmonics = harmonics

    def _apply_rows_(self, x: torch.Tensor, idx: torch.Tensor, generator) -> None:
        n, n_t = idx.numel(), x.shape[-1]
        pick = R.randint(0, len(self.frequency), (n,), generator).cpu()
        base = torch.tensor(self.frequency, dtype=torch.float64)[pick].view(n, 1, 1)
        phase = R.uniform(0.0, 2 * math.pi, (n, self.harmonics, 1), generator).cpu()
        snr = R.uniform(*self.snr_db, (n, 1, 1), generator).cpu()
        k = torch.arange(1, self.harmonics + 1, dtype=torch.float64).view(1, -1, 1)
        times = torch.arange(n_t, dtype=torch.float64) / self.fs
        wave = (_sine(base * k, phase, times) / k).sum(dim=1, keepdim=True)  # (n, 1, T)
        # Normalise the waveform to unit RMS so that the SNR sets the lead amplitude exactly.
        rms = torch.sqrt(0.5 * (1.0 / k**2).sum())
        amp = _noise_scale(lead_std(x, idx), snr) / rms
        add_outer_rows_(x, idx, amp, wave)
