"""Functional preprocessing: resampling, zero-phase filters, baseline removal, z-score, crops.

Every function takes a float signal ``(C, T)`` or a batch ``(B, C, T)`` (numpy array or torch
tensor) and returns the same kind of object, on the same device, with the same dtype and rank.
Time is always the last axis; every record of a batch is processed independently.

Implementation (see ``docs/input_contract.md``): numpy input is processed with scipy directly
(``resample_poly``, ``resample``, ``sosfiltfilt``, ``filtfilt``, ``ndimage.median_filter``);
torch input (CPU or CUDA) never leaves its device and reproduces scipy's algorithms (see the
private modules: ``_resample`` for resampling, ``_filters`` for the IIR filters and the
running-median baseline, ``_normalize`` for z-score and repair, ``_length`` for crops, pads
and windows).

Invalid input (wrong rank or dtype, NaN/Inf, signals shorter than a filter's padding, bad
cut-offs) raises an error that says what to do.
"""

from ecgfm.transforms.functional._checks import ArrayT
from ecgfm.transforms.functional._filters import (
    DEFAULT_BASELINE_KERNEL_S,
    bandpass,
    highpass,
    lowpass,
    notch,
    remove_baseline,
)
from ecgfm.transforms.functional._length import (
    CropMode,
    PadMode,
    PadSide,
    WindowMode,
    crop,
    extract_windows,
    fit_length,
    pad,
    window_starts,
)
from ecgfm.transforms.functional._normalize import repair_nonfinite, zscore
from ecgfm.transforms.functional._resample import ResampleMethod, resample, resample_ratio

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

# Also importable from here, as before the split (type aliases and the default kernel length;
# not part of ``from ... import *``).
_ALSO_EXPORTED = (
    ArrayT,
    CropMode,
    PadMode,
    PadSide,
    WindowMode,
    ResampleMethod,
    DEFAULT_BASELINE_KERNEL_S,
)
