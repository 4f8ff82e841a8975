"""R-peaks and RR-interval / heart-rate-variability features of single-lead signals.

The one implementation behind the classical RR baseline of ``ecgfm probe --baselines rr``
(:mod:`ecgfm.eval.rr_features`, per record) and the RR-distillation targets of SelfMIS
training (:mod:`ecgfm.train.rr_targets`, per window):

- :func:`detect_r_peaks`: R-peak sample indices of one lead by NeuroKit2 (optional, imported
  lazily; ``pip install neurokit2``): ``ecg_clean(method="neurokit")`` then
  ``ecg_peaks(method="neurokit", correct_artifacts=False)``.
- :func:`rr_features`: the :data:`RR_FEATURE_NAMES` of peak times (one array, or one per
  segment: RR intervals and their successive differences are formed within a segment).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Sequence
from types import ModuleType

import numpy as np

__all__ = [
    "MIN_INTERVALS",
    "RR_FEATURE_NAMES",
    "detect_r_peaks",
    "require_neurokit2",
    "rr_features",
]

MIN_INTERVALS = 3
_PNN_THRESHOLDS_MS = (20.0, 50.0)
_OUTLIER_FRACTION = 0.2
_ENTROPY_BINS = 16
_EQUAL_MS = 1e-6  # ms; RR differences below this are float noise of equal intervals

RR_FEATURE_NAMES: tuple[str, ...] = (
    "hr_mean_bpm",  # 60000 / mean RR
    "peak_rate_bpm",  # 60 * peaks / seconds of signal (sees missed and extra beats)
    "rr_mean_ms",
    "rr_median_ms",
    "rr_min_ms",
    "rr_max_ms",
    "rr_sdnn_ms",  # standard deviation of RR (ddof 1)
    "rr_cv",  # sdnn / mean
    "rr_iqr_ms",  # 75th - 25th percentile (linear interpolation)
    "rr_mad_ms",  # median |RR - median RR|
    "rr_rmssd_ms",  # sqrt(mean(d^2)), d = successive differences
    "rr_sdsd_ms",  # standard deviation of d (ddof 1)
    "rr_cvsd",  # rmssd / mean
    "rr_pnn20",  # fraction of |d| > 20 ms
    "rr_pnn50",  # fraction of |d| > 50 ms
    "rr_sd1_ms",  # Poincare: sqrt(var(d) / 2)
    "rr_sd2_ms",  # Poincare: sqrt(2 sdnn^2 - sd1^2)
    "rr_sd1_sd2",  # sd1 / sd2 (0 when sd2 = 0)
    "rr_outlier_frac",  # fraction of RR off the median by more than 20 %
    "rr_turning_point_ratio",  # interior RR that are a strict local max or min
    "rr_entropy_bits",  # Shannon entropy of a 16-bin histogram of RR over [min, max]
    "detection_failed",  # 1 where the features were imputed (see the module docstring)
)


def require_neurokit2(what: str = "the RR-interval baseline") -> ModuleType:
    """Import NeuroKit2 or raise an ``ImportError`` that says how to install it."""
    try:
        return importlib.import_module("neurokit2")
    except ImportError as err:
        raise ImportError(
            f"{what} detects R-peaks with the optional package neurokit2, which is not "
            "installed (ecgfm does not depend on it): pip install neurokit2"
        ) from err


def _peak_list(peak_times: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    if isinstance(peak_times, np.ndarray) and peak_times.ndim == 1:
        peak_times = [peak_times]
    if isinstance(peak_times, (str, bytes)) or not isinstance(peak_times, (Sequence, np.ndarray)):
        raise TypeError(
            "peak_times must be a 1-D array of R-peak times in seconds or a list of such "
            f"arrays (one per segment), got {type(peak_times).__name__}"
        )
    out = []
    for i, seq in enumerate(peak_times):
        a = np.asarray(seq, dtype=np.float64)
        if a.ndim != 1:
            raise ValueError(f"peak_times[{i}] must be 1-D (seconds), got shape {a.shape}")
        if a.size and not (np.isfinite(a).all() and (np.diff(a) > 0).all()):
            raise ValueError(f"peak_times[{i}] must be finite and strictly increasing (seconds)")
        out.append(a)
    return out


def rr_features(peak_times: Sequence[np.ndarray] | np.ndarray, *, seconds: float) -> np.ndarray:
    """The :data:`RR_FEATURE_NAMES` of one record, float64 ``(F,)``.

    Args:
        peak_times: R-peak times in seconds ``(P,)``, or a list of such arrays, one per
            segment of the record. RR intervals are the differences within a segment;
            successive differences of RR and turning points are formed within a segment.
        seconds: duration of the analysed signal (all segments), for ``peak_rate_bpm``.

    Returns:
        The features; all NaN except ``detection_failed`` = 1 when no segment has at least
        :data:`MIN_INTERVALS` RR intervals.
    """
    times = _peak_list(peak_times)
    seqs = [np.diff(p) for p in times]
    if isinstance(seconds, bool) or not (
        isinstance(seconds, (int, float, np.floating)) and np.isfinite(seconds) and seconds > 0
    ):
        raise ValueError(f"seconds must be the positive duration of the signal, got {seconds!r}")
    out = np.full(len(RR_FEATURE_NAMES), np.nan)
    out[-1] = 1.0
    if not any(s.size >= MIN_INTERVALS for s in seqs):
        return out
    rr = np.concatenate(seqs) * 1000.0
    d = np.concatenate([np.diff(s * 1000.0) for s in seqs])
    peaks = sum(p.size for p in times)
    mean, median = rr.mean(), np.median(rr)
    sdnn = rr.std(ddof=1)
    rmssd = np.sqrt(np.mean(d**2))
    sd1 = np.sqrt(np.var(d, ddof=1) / 2.0)
    sd2 = np.sqrt(max(2.0 * sdnn**2 - sd1**2, 0.0))
    turns = []  # strict local extrema; steps under _EQUAL_MS (float noise) count as flat
    for s in seqs:
        if s.size >= 3:
            step = np.diff(s * 1000.0)
            step[np.abs(step) <= _EQUAL_MS] = 0.0
            turns.append(step[:-1] * step[1:] < 0)
    entropy = 0.0
    spread = rr.max() - rr.min()
    if spread > _EQUAL_MS:  # equal-width bins over [min, max], the maximum in the last bin
        bins = np.minimum(((rr - rr.min()) / spread * _ENTROPY_BINS).astype(np.int64),
                          _ENTROPY_BINS - 1)  # fmt: skip
        p = np.bincount(bins, minlength=_ENTROPY_BINS) / rr.size
        p = p[p > 0]
        entropy = float(-(p * np.log2(p)).sum())
    values = [
        60000.0 / mean,
        60.0 * peaks / seconds,
        mean,
        median,
        rr.min(),
        rr.max(),
        sdnn,
        sdnn / mean,
        np.percentile(rr, 75) - np.percentile(rr, 25),
        np.median(np.abs(rr - median)),
        rmssd,
        np.std(d, ddof=1),
        rmssd / mean,
        np.mean(np.abs(d) > _PNN_THRESHOLDS_MS[0]),
        np.mean(np.abs(d) > _PNN_THRESHOLDS_MS[1]),
        sd1,
        sd2,
        sd1 / sd2 if sd2 > 0 else 0.0,
        np.mean(np.abs(rr - median) > _OUTLIER_FRACTION * median),
        float(np.concatenate(turns).mean()),
        entropy,
        0.0,
    ]
    return np.asarray(values, dtype=np.float64)


def detect_r_peaks(signal: np.ndarray, fs: float, *, nk: ModuleType | None = None) -> np.ndarray:
    """R-peak sample indices ``(P,)`` of a single-lead ``signal`` ``(T,)`` in mV at ``fs`` Hz
    (NeuroKit2 ``ecg_clean`` + ``ecg_peaks``, method ``"neurokit"``, no artefact correction).

    Raises:
        ImportError: NeuroKit2 is not installed (the message says ``pip install neurokit2``).
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"signal must be one lead (T,), got shape {x.shape}; pass x[lead]")
    if not np.isfinite(x).all():
        raise ValueError("signal contains NaN/Inf; repair it first (ecgfm.as_signal nan_policy)")
    if isinstance(fs, bool) or not (isinstance(fs, (int, float)) and np.isfinite(fs) and fs > 0):
        raise ValueError(f"fs must be a positive sampling rate in Hz, got {fs!r}")
    nk = nk or require_neurokit2()
    rate = round(float(fs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = nk.ecg_clean(x, sampling_rate=rate, method="neurokit")
        _, info = nk.ecg_peaks(clean, sampling_rate=rate, method="neurokit",
                               correct_artifacts=False)  # fmt: skip
    return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)
