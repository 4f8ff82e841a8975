"""Fixtures of the evaluation tests."""

from __future__ import annotations

import importlib.machinery
import sys
import types

import numpy as np
import pytest


class _ThresholdDetector(types.ModuleType):
    """Stand-in for the optional neurokit2 in tests of the RR baseline's wiring: R-peaks are
    the local maxima above half the signal's maximum; ``ecg_clean`` returns its input."""

    __version__ = "stand-in"

    def __init__(self) -> None:
        super().__init__("neurokit2")
        self.__spec__ = importlib.machinery.ModuleSpec("neurokit2", None)

    @staticmethod
    def ecg_clean(x: np.ndarray, sampling_rate: int, method: str) -> np.ndarray:
        return x

    @staticmethod
    def ecg_peaks(x: np.ndarray, sampling_rate: int, method: str, correct_artifacts: bool):
        mid = x[1:-1]
        top = (mid > 0.5 * x.max()) & (mid >= x[:-2]) & (mid > x[2:])
        return None, {"ECG_R_Peaks": np.flatnonzero(top) + 1}


@pytest.fixture
def stand_in_neurokit2(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import neurokit2`` gives :class:`_ThresholdDetector` for the test."""
    monkeypatch.setitem(sys.modules, "neurokit2", _ThresholdDetector())
