"""Synthetic test signals shared by several test modules (importable: tests/ is on sys.path)."""

from __future__ import annotations

import numpy as np

__all__ = ["band_limited_ecg"]


def band_limited_ecg(seconds: float, fs: float, seed: int = 0, leads: int = 3) -> np.ndarray:
    """Band-limited (< 15 Hz) multi-lead signal in mV, ``(leads, T)`` float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * fs)) / fs
    out = np.zeros((leads, t.size))
    for c in range(leads):
        for f in rng.uniform(0.8, 15.0, size=6):
            out[c] += rng.uniform(0.05, 0.4) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3))
    return out.astype(np.float32)
