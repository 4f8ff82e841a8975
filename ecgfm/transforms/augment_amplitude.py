"""Amplitude augmentations: scaling, polarity flip, lead erasing and random sample dropping."""

from __future__ import annotations

import torch

from ecgfm.transforms import _random as R
from ecgfm.transforms.augment_base import (
    Augmentation,
    put_rows_,
    scale_rows_,
    take_rows,
    zero_leads_,
)

__all__ = ["AmplitudeScale", "Flip", "LeadErase", "RandomDrop"]


class AmplitudeScale(Augmentation):
    """Multiply each chosen record by a random factor, log-uniform in ``scale``.

    Args:
        p: probability per record.
        scale: ``(low, high)`` factor range, both positive (default ``(0.8, 1.25)``, symmetric
            in log scale), or one number for a fixed factor.
        per_lead: draw one factor per lead instead of one per record.
    """

    def __init__(
        self,
        p: float = 0.5,
        scale: float | tuple[float, float] = (0.8, 1.25),
        per_lead: bool = False,
    ) -> None:
        super().__init__(p)
        self.scale = R.check_range(scale, "scale", low=0.0, low_open=True)
        self.per_lead = bool(per_lead)

    def _apply_rows_(self, x: torch.Tensor, idx: torch.Tensor, generator) -> None:
        n_leads = x.shape[1] if self.per_lead else 1
        factor = R.log_uniform(*self.scale, (idx.numel(), n_leads, 1), generator)
        scale_rows_(x, idx, factor)


class Flip(Augmentation):
    """Invert the polarity of each chosen record (``x -> -x``, all leads).

    ST-MEM's MoCo v3 "flip": "randomly inverting the signal vertically". The paper notes that
    it does not preserve the meaning of an ECG (inverted leads map to other lead positions).
    """

    def _apply_rows_(self, x: torch.Tensor, idx: torch.Tensor, generator) -> None:
        scale_rows_(x, idx, torch.full((idx.numel(), 1, 1), -1.0, dtype=torch.float64))


class LeadErase(Augmentation):
    """Zero randomly chosen whole leads of each chosen record (ST-MEM's "erase").

    Args:
        p: probability per record.
        n_leads: number of leads erased per record, or an inclusive ``(low, high)`` range
            drawn per record (default 1). Must not exceed the number of leads.
    """

    def __init__(self, p: float = 0.5, n_leads: int | tuple[int, int] = 1) -> None:
        super().__init__(p)
        low, high = R.check_range(n_leads, "n_leads", low=0)
        if low != int(low) or high != int(high):
            raise ValueError(f"n_leads must be whole numbers, got {n_leads!r}")
        self.n_leads = (int(low), int(high))

    def check_input(self, x: torch.Tensor) -> None:
        super().check_input(x)
        if self.n_leads[1] > x.shape[1]:
            raise ValueError(
                f"LeadErase(n_leads={self.n_leads}) cannot erase more leads than the "
                f"{x.shape[1]} the signal has; lower n_leads"
            )

    def _apply_rows_(self, x: torch.Tensor, idx: torch.Tensor, generator) -> None:
        n, c = idx.numel(), x.shape[1]
        count = R.randint(self.n_leads[0], self.n_leads[1] + 1, (n, 1), generator).cpu()
        rank = R.rand((n, c), generator).cpu().argsort(dim=1).argsort(dim=1)
        rec, lead = (rank < count).nonzero(as_tuple=True)
        zero_leads_(x, idx[rec], lead)


class RandomDrop(Augmentation):
    """Zero random individual samples of each chosen record (ST-MEM's "drop").

    Every sample of every lead is zeroed independently with a rate drawn per record.

    Args:
        p: probability per record.
        rate: ``(low, high)`` range of the per-record drop rate in ``[0, 1]`` (default
            ``(0.0, 0.1)``).
    """

    def __init__(self, p: float = 0.5, rate: float | tuple[float, float] = (0.0, 0.1)) -> None:
        super().__init__(p)
        self.rate = R.check_range(rate, "rate", low=0.0, high=1.0)

    def _apply_rows_(self, x: torch.Tensor, idx: torch.Tensor, generator) -> None:
        n = idx.numel()
        rate = R.uniform(*self.rate, (n, 1, 1), generator).to(torch.float32)
        field = torch.rand((n, *x.shape[1:]), generator=generator, device=R.draw_device(generator))
        drop = (field < rate).to(x.device)
        rows = take_rows(x, idx)
        rows.masked_fill_(drop, 0.0)
        put_rows_(x, idx, rows)
