"""Batched, seeded, device-agnostic ECG augmentations.

Every op is an :class:`Augmentation`: called on ``(C, T)`` or ``(B, C, T)`` numpy arrays or
torch tensors (CPU or CUDA), or on an :class:`~ecgfm.signal.ECGRecord`, it applies itself to
each record with probability ``p`` and draws its parameters per record from an optional
``torch.Generator`` (CPU by default, so the same seed gives the same draws on every device).
No Python loop over the batch. Ops with parameters in Hz are built for one sampling rate
(``op.fs``, their first argument): a record's rate, or ``fs=`` given with the call, must
match it; there is no default rate.

Pools:

- :func:`dual_view_ops`: the Dual-View paper's stochastic pool (time warp, time crop,
  band-pass, Gaussian noise, amplitude scale), each with ``p = 0.5``.
- :func:`moco_ops`: ST-MEM's MoCo v3 set (appendix B.2): erase, flip, drop, cutout, shift,
  sine, partial sine, partial white noise.
- :func:`artifact_ops`: baseline wander and power-line noise.
"""

from __future__ import annotations

from ecgfm.signal import check_fs
from ecgfm.transforms._random import check_probability
from ecgfm.transforms.augment_amplitude import AmplitudeScale, Flip, LeadErase, RandomDrop
from ecgfm.transforms.augment_base import Augmentation, AugmentationPipeline, RemapAugmentation
from ecgfm.transforms.augment_filter import RandomBandPass
from ecgfm.transforms.augment_noise import (
    AddSine,
    BaselineWander,
    GaussianNoise,
    PartialSine,
    PartialWhiteNoise,
    PowerlineNoise,
)
from ecgfm.transforms.augment_time import Cutout, TimeCrop, TimeShift, TimeWarp

__all__ = [
    "AddSine",
    "AmplitudeScale",
    "Augmentation",
    "AugmentationPipeline",
    "BaselineWander",
    "Cutout",
    "Flip",
    "GaussianNoise",
    "LeadErase",
    "PartialSine",
    "PartialWhiteNoise",
    "PowerlineNoise",
    "RandomBandPass",
    "RandomDrop",
    "RemapAugmentation",
    "TimeCrop",
    "TimeShift",
    "TimeWarp",
    "artifact_ops",
    "dual_view_ops",
    "moco_ops",
]


def dual_view_ops(fs: float, p: float = 0.5) -> list[Augmentation]:
    """The Dual-View stochastic pool, in order: warp, crop, band-pass, noise, scale."""
    fs, p = check_fs(fs), check_probability(p)
    return [
        TimeWarp(p),
        TimeCrop(p),
        RandomBandPass(fs, p, high_hz=(min(25.0, 0.4 * fs), min(45.0, 0.45 * fs))),
        GaussianNoise(p),
        AmplitudeScale(p),
    ]


def moco_ops(fs: float, p: float = 0.5) -> list[Augmentation]:
    """ST-MEM's MoCo v3 augmentations (appendix B.2), in the paper's order."""
    fs, p = check_fs(fs), check_probability(p)
    return [
        LeadErase(p),
        Flip(p),
        RandomDrop(p),
        Cutout(p),
        TimeShift(p),
        AddSine(fs, p, frequency=(0.5, min(5.0, 0.4 * fs))),
        PartialSine(fs, p, frequency=(1.0, min(20.0, 0.4 * fs))),
        PartialWhiteNoise(p),
    ]


def artifact_ops(fs: float, p: float = 0.5) -> list[Augmentation]:
    """Recording artifacts: baseline wander, and 50 Hz power-line noise if ``fs > 100`` Hz."""
    fs, p = check_fs(fs), check_probability(p)
    ops: list[Augmentation] = [BaselineWander(fs, p)]
    if fs > 100.0:
        ops.append(PowerlineNoise(fs, p))
    return ops
