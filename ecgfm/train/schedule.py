"""Learning-rate schedule: linear warm-up, then cosine decay to a floor.

``lr(step) = base_lr * factor(step)`` with

- ``factor = (step + 1) / warmup_steps`` for ``step < warmup_steps`` (the first optimiser step
  already uses a non-zero rate; warm-up ends at exactly ``base_lr``),
- then ``min_ratio + (1 - min_ratio) * (1 + cos(pi * progress)) / 2`` with
  ``progress = (step - warmup_steps) / (total_steps - warmup_steps)`` going from 0 to 1,
- and ``min_ratio`` after ``total_steps`` (training past the planned end keeps the floor).

``step`` counts optimiser steps already taken, so the scheduler is stepped once after every
``optimizer.step()``, the usual PyTorch order.
"""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["WarmupCosine", "warmup_cosine_factor"]


def _check(warmup_steps: int, total_steps: int, min_ratio: float) -> None:
    for name, value in (("warmup_steps", warmup_steps), ("total_steps", total_steps)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {value!r}")
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0 <= warmup_steps <= total_steps:
        raise ValueError(
            f"warmup_steps must be in [0, total_steps={total_steps}], got {warmup_steps}"
        )
    if not (isinstance(min_ratio, (int, float)) and 0.0 <= min_ratio <= 1.0):
        raise ValueError(f"min_ratio must be a number in [0, 1], got {min_ratio!r}")


def warmup_cosine_factor(
    step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.0
) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` (see the module doc)."""
    _check(warmup_steps, total_steps, min_ratio)
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be an int >= 0, got {step!r}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if step >= total_steps:
        return float(min_ratio)
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class WarmupCosine(LRScheduler):
    """:func:`warmup_cosine_factor` as a PyTorch scheduler (one ``step()`` per optimiser step).

    Args:
        optimizer: its param groups' ``lr`` at construction are the base rates.
        warmup_steps: linear warm-up length (0: start at the base rate).
        total_steps: planned number of optimiser steps (end of the cosine).
        min_ratio: floor of the cosine as a fraction of the base rate.

    The rate is a closed-form function of the step count, so ``state_dict`` /
    ``load_state_dict`` restore it exactly.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        warmup_steps: int,
        total_steps: int,
        min_ratio: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        _check(warmup_steps, total_steps, min_ratio)
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.min_ratio = float(min_ratio)
        super().__init__(optimizer, last_epoch)

    def jump_to(self, step: int) -> None:
        """Set the schedule to ``step`` optimiser steps done and write those rates into the
        optimiser (resuming: the rates follow from the step, whatever the saved state)."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"step must be an int >= 0, got {step!r}")
        self.last_epoch = step
        factor = warmup_cosine_factor(step, self.warmup_steps, self.total_steps, self.min_ratio)
        rates = [base * factor for base in self.base_lrs]
        for group, lr in zip(self.optimizer.param_groups, rates, strict=True):
            group["lr"] = lr
        self._last_lr = rates

    def get_lr(self) -> list[float]:  # type: ignore[override]
        factor = warmup_cosine_factor(
            max(self.last_epoch, 0), self.warmup_steps, self.total_steps, self.min_ratio
        )
        return [base * factor for base in self.base_lrs]
