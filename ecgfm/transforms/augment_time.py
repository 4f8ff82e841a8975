"""Time-axis augmentations: random time warp, crop-and-resize, shift and cutout.

All keep the length ``T`` and act on all leads of a record alike (the leads of an ECG are
simultaneous). Warp and crop resample by linear interpolation at positions computed in
float64 on the draw device, so every device interpolates at the same points.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ecgfm.transforms import _random as R
from ecgfm.transforms.augment_base import (
    Augmentation,
    RemapAugmentation,
    interval_index,
    put_rows_,
    take_rows,
    write_interval_,
)

__all__ = ["Cutout", "TimeCrop", "TimeShift", "TimeWarp", "interval_length"]


def interval_length(fraction: torch.Tensor, n_t: int) -> torch.Tensor:
    """Interval lengths in samples for per-record ``fraction`` of ``n_t``: in ``[1, n_t]``."""
    return torch.round(fraction * n_t).to(torch.int64).clamp(1, n_t)


class TimeWarp(RemapAugmentation):
    """Smooth, monotone random time warp that keeps the length and both end points.

    The local playback speed is ``exp(sigma * k(t))`` with ``k`` a linear interpolation of
    ``n_knots`` standard normal knots and ``sigma`` drawn per record from ``strength``; the
    cumulative speed, rescaled to ``[0, T - 1]``, gives the sampling positions. Heart rate and
    intervals change locally by about ``exp(±sigma)``.

    Args:
        p: probability per record.
        strength: ``(low, high)`` range of ``sigma`` (default ``(0.0, 0.25)``).
        n_knots: number of random knots (>= 2) along the record.
    """

    def __init__(
        self,
        p: float = 0.5,
        strength: float | tuple[float, float] = (0.0, 0.25),
        n_knots: int = 4,
    ) -> None:
        super().__init__(p)
        self.strength = R.check_range(strength, "strength", low=0.0, high=5.0)
        if isinstance(n_knots, bool) or not isinstance(n_knots, int) or n_knots < 2:
            raise ValueError(f"n_knots must be an integer >= 2, got {n_knots!r}")
        self.n_knots = n_knots

    def draw(self, n: int, n_t: int, generator: torch.Generator | None) -> tuple[torch.Tensor, ...]:
        """``(sigma (n, 1, 1), knots (n, 1, K))`` float64 on the draw device."""
        sigma = R.uniform(*self.strength, (n, 1, 1), generator)
        knots = torch.randn(
            (n, 1, self.n_knots),
            generator=generator,
            device=R.draw_device(generator),
            dtype=torch.float64,
        )
        return sigma, knots

    def positions_from(self, params: tuple[torch.Tensor, ...], n_t: int) -> torch.Tensor:
        """Sampling positions ``(k, 1, T)`` float64 (on the draw device)."""
        sigma, knots = params
        curve = knots @ _hat_basis(self.n_knots, n_t, knots.device)  # linear interpolation
        speed = curve.mul_(sigma).exp_()
        pos = torch.cumsum(speed, dim=-1).sub_(speed[..., :1])
        return pos.div_(pos[..., -1:].clone()).mul_(n_t - 1)


def _hat_basis(n_knots: int, n_t: int, device: torch.device) -> torch.Tensor:
    """``(K, T)`` float64 weights of linear interpolation from ``K`` knots to ``T`` samples.

    ``knots (n, 1, K) @ basis`` equals ``F.interpolate(knots, T, mode="linear",
    align_corners=True)`` (to rounding) and is several times faster on the CPU: the knots
    are few, the samples many.
    """
    key = (n_knots, n_t, str(device))
    basis = _BASES.get(key)
    if basis is None:
        eye = torch.eye(n_knots, dtype=torch.float64, device=device).unsqueeze(1)  # (K, 1, K)
        basis = F.interpolate(eye, size=n_t, mode="linear", align_corners=True).squeeze(1)
        if len(_BASES) >= 16:
            _BASES.clear()
        _BASES[key] = basis
    return basis


_BASES: dict[tuple[int, int, str], torch.Tensor] = {}


class TimeCrop(RemapAugmentation):
    """Crop a random window and stretch it back to the full length (linear interpolation).

    The window covers a fraction ``scale`` of the record, drawn per record, at a uniformly
    random position. Stretching slows the rhythm by ``1 / scale``.

    Args:
        p: probability per record.
        scale: ``(low, high)`` range of the window fraction in ``(0, 1]`` (default
            ``(0.5, 1.0)``).
    """

    def __init__(self, p: float = 0.5, scale: float | tuple[float, float] = (0.5, 1.0)) -> None:
        super().__init__(p)
        self.scale = R.check_range(scale, "scale", low=0.0, high=1.0, low_open=True)

    def draw(self, n: int, n_t: int, generator: torch.Generator | None) -> tuple[torch.Tensor, ...]:
        """``(window fraction (n, 1, 1), relative start (n, 1, 1))`` float64, draw device."""
        return R.uniform(*self.scale, (n, 1, 1), generator), R.rand((n, 1, 1), generator)

    def positions_from(self, params: tuple[torch.Tensor, ...], n_t: int) -> torch.Tensor:
        """Sampling positions ``(k, 1, T)`` float64 (on the draw device)."""
        fraction, u = params
        span = fraction * (n_t - 1)
        start = u * ((n_t - 1) - span)
        k = torch.arange(n_t, dtype=torch.float64, device=span.device)
        return torch.addcmul(start, k, span / (n_t - 1))


class TimeShift(Augmentation):
    """Shift each chosen record in time by a whole number of samples (ST-MEM's "shift").

    Args:
        p: probability per record.
        shift: ``(low, high)`` range of the shift as a fraction of the length, in ``[-1, 1]``
            (default ``(-0.2, 0.2)``); positive delays the signal.
        circular: wrap samples around; otherwise the vacated samples are zero.
    """

    def __init__(
        self,
        p: float = 0.5,
        shift: float | tuple[float, float] = (-0.2, 0.2),
        circular: bool = False,
    ) -> None:
        super().__init__(p)
        self.shift = R.check_range(shift, "shift", low=-1.0, high=1.0)
        self.circular = bool(circular)

    def _apply_rows_(self, x: torch.Tensor, idx: torch.Tensor, generator) -> None:
        n, c, n_t = idx.numel(), x.shape[1], x.shape[-1]
        shift = torch.round(R.uniform(*self.shift, (n, 1, 1), generator) * n_t).to(torch.int64)
        src = torch.arange(n_t, device=shift.device) - shift  # (n, 1, T)
        valid = (src >= 0) & (src < n_t)
        src = src % n_t
        rows = take_rows(x, idx)
        out = rows.gather(-1, R.index_on(src, x).expand(n, c, n_t))
        if not self.circular:
            out.mul_(valid.to(device=x.device, dtype=x.dtype))
        put_rows_(x, idx, out)


class Cutout(Augmentation):
    """Zero one random interval, across all leads, of each chosen record (ST-MEM's "cutout").

    Args:
        p: probability per record.
        fraction: ``(low, high)`` range of the interval length as a fraction of the record
            (default ``(0.05, 0.2)``); at least one sample is cut.
    """

    def __init__(self, p: float = 0.5, fraction: float | tuple[float, float] = (0.05, 0.2)) -> None:
        super().__init__(p)
        self.fraction = R.check_range(fraction, "fraction", low=0.0, high=1.0)

    def _apply_rows_(self, x: torch.Tensor, idx: torch.Tensor, generator) -> None:
        n, n_t = idx.numel(), x.shape[-1]
        length = interval_length(R.uniform(*self.fraction, (n,), generator).cpu(), n_t)
        start = R.randint(0, n_t - length + 1, (n,), generator).cpu()
        pos, _, _ = interval_index(start, length)
        write_interval_(x, idx, pos, None, accumulate=False)
