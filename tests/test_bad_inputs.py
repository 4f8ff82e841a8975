"""Catalogue of bad inputs: each one must fail with the right error type and a message that
says what to do, or be repaired in a documented way with a logged warning. Nothing passes
silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from _catalogue import advice_test, unique_ids_test

from ecgfm.leads import CANONICAL_LEADS, MissingLeadError, select_leads
from ecgfm.signal import ECGRecord, as_signal, repair_nonfinite
from ecgfm.transforms import functional as Fn
from ecgfm.transforms.preprocessing import RemoveBaseline, Step, ZScore
from ecgfm.transforms.presets import Preset, UnknownPresetError, get_preset

L12 = CANONICAL_LEADS
FS = 500.0


def _ecg(n_ch: int = 12, n_t: int = 1000, seed: int = 0) -> np.ndarray:
    """Plausible ECG-scale signal in mV (random walk, about +-1 mV)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n_ch, n_t)).cumsum(-1) * 0.03).astype(np.float32)


def _with(value: float, where: tuple[int, int] = (2, 50)) -> np.ndarray:
    x = _ecg()
    x[where] = value
    return x


def _ragged() -> Any:
    return [[0.1, 0.2, 0.3], [0.1, 0.2]]


def _object_array() -> np.ndarray:
    arr = np.empty(2, dtype=object)
    arr[0], arr[1] = np.zeros(10), np.zeros(8)
    return arr


# (id, call, expected exception, phrase of the message that says what to do)
BAD: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
    # --- as_signal: shape and leads
    ("1d-signal", lambda: as_signal(np.zeros(1000), FS, ["I"]), ValueError, r"x\[None, :\]"),
    ("4d-signal", lambda: as_signal(np.zeros((1, 1, 12, 1000)), FS, L12), ValueError,
     r"batch \(B, C, T\)"),
    ("T-C-transposed", lambda: as_signal(_ecg().T, FS, L12), ValueError, r"pass x\.T"),
    ("wrong-lead-count", lambda: as_signal(_ecg(), FS, L12[:8]), ValueError,
     "give one name per channel"),
    ("unknown-lead-name", lambda: as_signal(_ecg(2), FS, ["I", "lead Z"]), ValueError,
     "Rename the channel"),
    ("duplicate-leads", lambda: as_signal(_ecg(2), FS, ["II", "MLII"]), ValueError,
     "each lead may appear once"),
    ("leads-is-None", lambda: as_signal(_ecg(1), FS, None), TypeError,  # type: ignore[arg-type]
     r"such as \['I', 'II'\]"),
    ("leads-is-a-string", lambda: as_signal(_ecg(1), FS, "I"), TypeError, "not the string"),
    # --- sampling rate
    ("fs-zero", lambda: as_signal(_ecg(), 0, L12), ValueError, "positive, finite sampling rate"),
    ("fs-negative", lambda: as_signal(_ecg(), -500, L12), ValueError, "positive, finite"),
    ("fs-nan", lambda: as_signal(_ecg(), float("nan"), L12), ValueError, "positive, finite"),
    ("fs-string", lambda: as_signal(_ecg(), "500", L12), TypeError, r"must be a number \(Hz\)"),
    # --- values and dtypes
    ("all-nan", lambda: as_signal(np.full((12, 1000), np.nan), FS, L12, nan_policy="zero"),
     ValueError, "drop this record"),
    ("inf-raise", lambda: as_signal(_with(np.inf), FS, L12), ValueError, "nan_policy='zero'"),
    ("nan-raise", lambda: as_signal(_with(np.nan), FS, L12), ValueError, "nan_policy='zero'"),
    ("empty", lambda: as_signal(np.zeros((12, 0)), FS, L12), ValueError, "check the reader"),
    ("int-adc-no-gain", lambda: as_signal(np.zeros((12, 1000), np.int16), FS, L12), TypeError,
     "gain="),
    ("complex", lambda: as_signal(_ecg().astype(np.complex64), FS, L12), TypeError, r"x\.real"),
    ("bool", lambda: as_signal(np.ones((12, 1000), bool), FS, L12), TypeError,
     "float32 millivolts"),
    ("object-array", lambda: as_signal(_object_array(), FS, ["I", "II"]), TypeError,
     r"rectangular \(C, T\) array"),
    ("ragged-list", lambda: as_signal(_ragged(), FS, ["I", "II"]), TypeError, "rectangular"),
    ("microvolts-as-mV", lambda: as_signal(_ecg() * 1000, FS, L12), ValueError, "units='uV'"),
    ("adc-units", lambda: as_signal(_ecg(), FS, L12, units="adu"), ValueError, "gain="),
    # --- ECGRecord
    ("record-transposed", lambda: ECGRecord(_ecg().T.copy(), FS, L12), ValueError, r"pass x\.T"),
    ("record-batch", lambda: ECGRecord(np.zeros((2, 12, 1000), np.float32), FS, L12),
     ValueError, r"expected \(C, T\)"),
    ("record-int-no-gain", lambda: ECGRecord.from_array(np.zeros((12, 1000), np.int32), FS, L12),
     TypeError, "gain="),
    ("record-fs-negative", lambda: ECGRecord(_ecg(), -1, L12), ValueError, "positive"),
    # --- select_leads
    ("lead-not-derivable", lambda: select_leads(_ecg(2), ["I", "V1"], ["I", "II"]),
     MissingLeadError, "record it, or choose a model/preset"),
    ("lead-derive-off", lambda: select_leads(_ecg(2), ["I", "II"], ["III"], derive=False),
     MissingLeadError, "derive=True"),
    ("select-count-mismatch", lambda: select_leads(_ecg(3), L12, ["I"]), ValueError,
     r"transpose a \(T, C\) array"),
    # --- functional preprocessing
    ("resample-irrational-ratio", lambda: Fn.resample(_ecg(), 500, 500 * 2**0.5), ValueError,
     "method='fft'"),
    ("resample-fs-out-zero", lambda: Fn.resample(_ecg(), 500, 0), ValueError, "positive"),
    ("resample-list", lambda: Fn.resample(_ecg().tolist(), 500, 250), TypeError, "as_signal"),
    ("filter-high-above-nyquist", lambda: Fn.bandpass(_ecg(), 100, 0.5, 60.0), ValueError,
     "resample to a higher rate"),
    ("filter-low-above-high", lambda: Fn.bandpass(_ecg(), FS, 45.0, 40.0), ValueError,
     "swap them"),
    ("filter-signal-too-short", lambda: Fn.highpass(_ecg(12, 15), FS), ValueError,
     "Use a longer recording"),
    ("notch-signal-too-short", lambda: Fn.notch(_ecg(1, 9), FS), ValueError, "pad the signal"),
    ("filter-order-zero", lambda: Fn.lowpass(_ecg(), FS, order=0), ValueError, "positive integer"),
    ("filter-nan", lambda: Fn.bandpass(_with(np.nan), FS), ValueError, "repair_nonfinite"),
    ("filter-int", lambda: Fn.notch(np.zeros((1, 500), np.int16), FS), TypeError, "ADC"),
    ("filter-3-by-1000-transposed", lambda: Fn.lowpass(_ecg(3).T, FS), ValueError, r"pass x\.T"),
    ("median-too-long", lambda: Fn.remove_baseline(_ecg(1, 100), FS), ValueError,
     "shorter kernel"),
    ("median-even-kernel", lambda: RemoveBaseline(kernel_size=200), ValueError, "odd"),
    ("zscore-bad-mode", lambda: ZScore("time"), ValueError, "'all' or 'lead'"),
    ("zscore-inf", lambda: Fn.zscore(torch.from_numpy(_with(np.inf)), "all"), ValueError,
     "nan_policy='zero'"),
    ("crop-longer-than-signal", lambda: Fn.crop(_ecg(), 2000), ValueError, "pad it first"),
    ("pad-shorter-than-signal", lambda: Fn.pad(_ecg(), 500), ValueError, "crop it instead"),
    ("negative-length", lambda: Fn.fit_length(_ecg(), -10), ValueError, "positive"),
    ("crop-start-outside", lambda: Fn.crop(_ecg(), 100, start=950), ValueError, r"\[0, 900\]"),
    # --- presets and configs
    ("unknown-preset", lambda: get_preset("ecg_founder_v2"), UnknownPresetError,
     "did you mean 'ecgfounder'"),
    ("preset-bad-override", lambda: get_preset("st_mem", crop=2250), TypeError,
     "Preset fields are"),
    ("preset-negative-length", lambda: get_preset("hl", length=-5), ValueError, "positive"),
    ("preset-zero-spaced", lambda: get_preset("st_mem", num_spaced=0), ValueError, "positive"),
    ("prepare-too-short", lambda: get_preset("ecgfounder").prepare(_ecg(), FS, L12), ValueError,
     "Drop this record"),
    ("prepare-missing-leads", lambda: get_preset("ecgfounder").prepare(_ecg(1, 5000), FS, ["V1"]),
     MissingLeadError, "choose a model/preset"),
    ("prepare-transposed", lambda: get_preset("hl").prepare(_ecg(12, 5000).T, FS, L12),
     ValueError, r"pass x\.T"),
    ("prepare-nan-raise", lambda: get_preset("st_mem").prepare(
        np.pad(_with(np.nan), ((0, 0), (0, 4000)), mode="edge"), FS, L12),
     ValueError, "nan_policy='zero'"),
    ("prepare-bad-windows", lambda: get_preset("hl").prepare(_ecg(12, 5000), FS, L12,
                                                            windows="sliding"),
     ValueError, "windows must be one of"),
    ("prepare-microvolts", lambda: get_preset("hl").prepare(_ecg(12, 5000) * 1000, FS, L12),
     ValueError, "units='uV'"),
    ("step-unknown-config", lambda: Step.from_config({"type": "Bandpass"}), KeyError,
     "did you mean BandPass"),
    ("preset-config-missing-key", lambda: Preset.from_config({"name": "x"}), ValueError,
     "missing keys"),
]  # fmt: skip


test_catalogue_is_large_and_ids_unique = unique_ids_test(BAD, at_least=30)


test_bad_input_fails_with_advice = advice_test(BAD)


# ----------------------------------------------------------------------------- repairs


def test_repair_nan_to_zero_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    x = _with(np.nan)
    x[5, 7] = -np.inf
    with caplog.at_level(logging.WARNING):
        out = as_signal(x, FS, L12, nan_policy="zero", what="rec-7")
    assert np.isfinite(out).all() and out[2, 50] == 0 and out[5, 7] == 0
    assert "rec-7: replaced 2 NaN/Inf values by 0" in caplog.text


def test_functional_repair_returns_count(caplog: pytest.LogCaptureFixture) -> None:
    x = torch.from_numpy(_with(np.nan))
    with caplog.at_level(logging.WARNING):
        out, count = Fn.repair_nonfinite(x)
        same, zero = repair_nonfinite(out)
    assert count == 1 and zero == 0 and same is out and torch.isfinite(out).all()
    assert caplog.text.count("replaced") == 1


def test_short_record_is_padded_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    x = _ecg(12, 3000)  # 6 s: above the 5 s minimum of a 10 s preset, below its window
    with caplog.at_level(logging.WARNING):
        windows, index = get_preset("dualview").prepare(x, FS, L12)
    assert windows.shape == (1, 12, 5000) and index.tolist() == [0]
    assert torch.all(windows[0, :, 3000:] == 0)
    assert "zero-padded at the end" in caplog.text


def test_flat_lead_is_zeroed_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    x = _ecg(12, 5000)
    x[7] = 0.25  # disconnected electrode: a constant lead
    with caplog.at_level(logging.WARNING):
        windows, _ = get_preset("dualview").prepare(x, FS, L12)
    assert torch.all(windows[0, 7] == 0) and torch.isfinite(windows).all()
    assert "1 constant leads have no scale" in caplog.text
