"""Bad-input catalogue of the external evaluation baselines (RR features, OpenECG adapter):
each case fails with the right error type and a message that says what to do."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from _catalogue import advice_test, unique_ids_test

from ecgfm.eval.baseline_openecg import OpenECGEncoder, openecg_preset, require_openecg
from ecgfm.eval.rr_features import (
    detect_r_peaks,
    record_rr_features,
    require_neurokit2,
    rr_features,
)


def _without(module: str, call: Callable[[], Any]) -> Callable[[], Any]:
    """``call`` run as if ``module`` were not installed."""

    def run() -> Any:
        saved = sys.modules.get(module, ...)
        sys.modules[module] = None  # type: ignore[assignment]
        try:
            return call()
        finally:
            if saved is ...:
                del sys.modules[module]
            else:
                sys.modules[module] = saved

    return run


PEAKS = np.array([0.2, 1.0, 1.8, 2.6])

# (id, call, expected exception, phrase of the message that says what to do)
BAD: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
    ("rr-2d-peaks", lambda: rr_features([np.zeros((2, 3))], seconds=10.0), ValueError,
     "must be 1-D"),
    ("rr-unsorted-peaks", lambda: rr_features(PEAKS[::-1], seconds=10.0), ValueError,
     "strictly increasing"),
    ("rr-nan-peak", lambda: rr_features(np.r_[PEAKS, np.nan], seconds=10.0), ValueError,
     "finite"),
    ("rr-string", lambda: rr_features("0.2,1.0", seconds=10.0), TypeError,
     "list of such arrays"),
    ("rr-zero-seconds", lambda: rr_features(PEAKS, seconds=0.0), ValueError,
     "positive duration"),
    ("rr-bool-seconds", lambda: rr_features(PEAKS, seconds=True), ValueError,
     "positive duration"),
    ("peaks-2d-signal", lambda: detect_r_peaks(np.zeros((2, 1000)), 300.0), ValueError,
     r"pass x\[lead\]"),
    ("peaks-nan-signal", lambda: detect_r_peaks(np.full(1000, np.nan), 300.0), ValueError,
     "repair it first"),
    ("peaks-zero-fs", lambda: detect_r_peaks(np.zeros(1000), 0.0), ValueError,
     "positive sampling rate"),
    ("peaks-no-neurokit2", _without("neurokit2", lambda: detect_r_peaks(np.zeros(1000), 300.0)),
     ImportError, "pip install neurokit2"),
    ("rr-no-neurokit2", _without("neurokit2", require_neurokit2), ImportError,
     "pip install neurokit2"),
    ("rr-record-not-taskdata", lambda: record_rr_features(np.zeros((2, 1, 100))), TypeError,
     r"Task.load\(root\)"),
    ("openecg-lead-not-a-name", lambda: openecg_preset(1), TypeError, "one lead name"),
    ("openecg-missing", _without("openecg", require_openecg), ImportError,
     "pip install openecg"),
    ("openecg-encoder-missing", _without("openecg", OpenECGEncoder), ImportError,
     "pip install openecg"),
]  # fmt: skip


test_catalogue_ids_are_unique = unique_ids_test(BAD)


test_bad_input_fails_with_advice = advice_test(BAD)
