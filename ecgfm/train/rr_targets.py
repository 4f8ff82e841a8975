"""Standardised RR / heart-rate-variability features of single-lead windows: the targets of
SelfMIS's optional RR-distillation term (``SelfMISMethod(rr_weight=...)``).

A hand-made "teacher": for each training window (``(B, 1, T)`` lead I at the preset's rate)
:class:`RRTargets` detects R-peaks with NeuroKit2 (optional: ``pip install neurokit2``) and
computes the 21 RR features of :data:`RR_TARGET_NAMES` (:func:`ecgfm.rhythm.rr_features`:
:data:`ecgfm.rhythm.RR_FEATURE_NAMES` without ``detection_failed``). The features are
standardised robustly with statistics fitted once on a sample of the training windows
(:meth:`RRTargets.fit`: per feature ``(f - median) / (IQR / 1.349)``, clipped to
``[-clip, clip]``; a feature with zero IQR uses its standard deviation, and 1 if that is zero
too). Windows where detection fails (fewer than :data:`ecgfm.rhythm.MIN_INTERVALS` intervals,
or NeuroKit2 raised) are returned as **invalid** (NaN targets, ``valid = False``) and left out
of the loss rather than imputed; their count is reported by the caller.

No label is read: the targets are a deterministic function of the window's own signal.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ecgfm.rhythm import RR_FEATURE_NAMES, detect_r_peaks, require_neurokit2, rr_features

__all__ = ["RR_TARGET_NAMES", "RRTargets"]

logger = logging.getLogger(__name__)

RR_TARGET_NAMES: tuple[str, ...] = RR_FEATURE_NAMES[:-1]
_IQR_TO_SD = 1.349  # IQR of a standard normal distribution
_MIN_FIT_WINDOWS = 8


def _as_windows(windows: object) -> np.ndarray:
    """``(B, T)`` float64 of ``(B, T)`` or ``(B, 1, T)`` arrays/tensors."""
    if isinstance(windows, torch.Tensor):
        windows = windows.detach().to("cpu", torch.float64).numpy()
    if not isinstance(windows, np.ndarray) or not np.issubdtype(windows.dtype, np.floating):
        raise TypeError(
            "windows must be a float array/tensor (B, T) or (B, 1, T) of single-lead windows, "
            f"got {type(windows).__name__}"
            + (f" of {windows.dtype}" if isinstance(windows, np.ndarray) else "")
        )
    x = windows[:, 0] if windows.ndim == 3 and windows.shape[1] == 1 else windows
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(
            f"windows must be (B, T) or (B, 1, T) single-lead windows with B, T >= 1, got "
            f"shape {tuple(windows.shape)}; pass one lead (x[:, :1])"
        )
    return x.astype(np.float64, copy=False)


def _check_fs(fs: object) -> float:
    if isinstance(fs, bool) or not isinstance(fs, (int, float)) or not np.isfinite(fs) or fs <= 0:
        raise ValueError(f"fs must be the windows' positive sampling rate in Hz, got {fs!r}")
    return float(fs)


def raw_rr_features(windows: object, fs: float, *, nk: Any = None) -> np.ndarray:
    """Unstandardised :data:`RR_TARGET_NAMES` of every window, ``(B, 21)`` float64 (NaN rows
    where detection failed or NeuroKit2 raised)."""
    x, rate = _as_windows(windows), _check_fs(fs)
    nk = nk or require_neurokit2("RR-distillation targets (rr_weight > 0)")
    out = np.full((x.shape[0], len(RR_TARGET_NAMES)), np.nan)
    seconds = x.shape[1] / rate
    for i, w in enumerate(x):
        if not np.isfinite(w).all():
            raise ValueError(f"window {i} contains NaN/Inf; repair the signal first")
        try:
            peaks = detect_r_peaks(w, rate, nk=nk)
        except (ValueError, IndexError, ZeroDivisionError) as err:  # degenerate window
            logger.debug("R-peak detection raised on window %d: %s", i, err)
            continue
        feats = rr_features(peaks / rate, seconds=seconds)
        if feats[-1] == 0.0:  # detection_failed is 0: the features are defined
            out[i] = feats[:-1]
    return out


class RRTargets:
    """Standardised RR features of windows (see the module docstring).

    Args:
        fs: sampling rate of the windows (Hz).
        center, scale: ``(21,)`` per-feature robust location and scale (:meth:`fit`).
        clip: standardised values are clipped to ``[-clip, clip]``.
    """

    def __init__(self, fs: float, center: object, scale: object, *, clip: float = 5.0) -> None:
        self.fs = _check_fs(fs)
        f = len(RR_TARGET_NAMES)
        c, s = np.asarray(center, dtype=np.float64), np.asarray(scale, dtype=np.float64)
        if c.shape != (f,) or s.shape != (f,):
            raise ValueError(f"center and scale must have shape ({f},), got {c.shape}, {s.shape}")
        if not (np.isfinite(c).all() and np.isfinite(s).all() and (s > 0).all()):
            raise ValueError("center must be finite and scale finite and > 0")
        if isinstance(clip, bool) or not isinstance(clip, (int, float)) or not clip > 0:
            raise ValueError(f"clip must be > 0, got {clip!r}")
        self.center, self.scale, self.clip = c, s, float(clip)

    @property
    def num_features(self) -> int:
        """Width of the targets (21)."""
        return len(RR_TARGET_NAMES)

    @classmethod
    def fit(cls, windows: object, fs: float, *, clip: float = 5.0) -> RRTargets:
        """Statistics from the valid windows of a sample ``(N, T)`` / ``(N, 1, T)``.

        Raises:
            ValueError: fewer than 8 windows with detected R-peaks (check units and rate).
        """
        raw = raw_rr_features(windows, fs)
        ok = np.isfinite(raw).all(axis=1)
        if ok.sum() < _MIN_FIT_WINDOWS:
            raise ValueError(
                f"R-peaks were found in only {int(ok.sum())} of {len(raw)} windows, fewer than "
                f"{_MIN_FIT_WINDOWS}: check that the windows are ECG at fs={fs} Hz"
            )
        good = raw[ok]
        center = np.median(good, axis=0)
        q75, q25 = np.percentile(good, [75, 25], axis=0)
        scale = (q75 - q25) / _IQR_TO_SD
        sd = good.std(axis=0)
        scale = np.where(scale > 0, scale, np.where(sd > 0, sd, 1.0))
        logger.info("RR targets fitted on %d of %d windows (detection failed on %d)",
                    int(ok.sum()), len(raw), int((~ok).sum()))  # fmt: skip
        return cls(fs, center, scale, clip=clip)

    def __call__(self, windows: object) -> tuple[torch.Tensor, torch.Tensor]:
        """``(targets (B, 21) float32, valid (B,) bool)``; invalid rows hold NaN."""
        raw = raw_rr_features(windows, self.fs)
        valid = np.isfinite(raw).all(axis=1)
        z = np.clip((raw - self.center) / self.scale, -self.clip, self.clip)
        z[~valid] = np.nan
        return torch.from_numpy(z.astype(np.float32)), torch.from_numpy(valid)

    def state(self) -> dict[str, Any]:
        """JSON-able statistics (for the run record; :meth:`from_state` rebuilds them)."""
        return {
            "fs": self.fs,
            "clip": self.clip,
            "names": list(RR_TARGET_NAMES),
            "center": [float(v) for v in self.center],
            "scale": [float(v) for v in self.scale],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> RRTargets:
        """Inverse of :meth:`state`."""
        if list(state.get("names", [])) != list(RR_TARGET_NAMES):
            raise ValueError("the stored RR target names differ from RR_TARGET_NAMES")
        return cls(state["fs"], state["center"], state["scale"], clip=state["clip"])
