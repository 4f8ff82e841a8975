"""RR / HRV baseline: features against a naive computation, R-peaks of synthetic ECGs, failures.

Tests that need NeuroKit2 (an optional package ecgfm does not depend on) are skipped with the
reason when it is missing; the pooling / failure / imputation logic is tested in every
environment with a stand-in detector module (fixture ``stand_in_neurokit2``, conftest.py).
"""

from __future__ import annotations

import importlib.util
import math
import sys

import numpy as np
import pytest

from ecgfm.eval.rr_features import (
    MIN_INTERVALS,
    RR_FEATURE_NAMES,
    detect_r_peaks,
    record_rr_features,
    require_neurokit2,
    rr_features,
)
from ecgfm.eval.task_base import TaskData

HAVE_NK = importlib.util.find_spec("neurokit2") is not None
needs_nk = pytest.mark.skipif(
    not HAVE_NK, reason="neurokit2 is not installed (optional: pip install neurokit2)"
)

# Two segments of one record: RR intervals in ms (chosen off the 16 histogram bin edges).
# Each fills a 10 s segment (a detector finds noise peaks in a long empty stretch).
RR_A = [812.0, 853.0, 779.0, 905.0, 821.0, 604.0, 1107.0, 702.0, 760.0, 830.0, 795.0]
RR_B = [760.0, 830.0, 795.0, 1010.0, 690.0, 880.0, 910.0, 725.0, 845.0, 930.0, 770.0]


def _percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    pos = (len(s) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _median(xs: list[float]) -> float:
    return _percentile(xs, 0.5)


def _std(xs: list[float]) -> float:
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def _naive(segments: list[list[float]], peaks: int, seconds: float) -> dict[str, float]:
    """Every feature by loops over the RR lists (ms), differences within a segment only."""
    rr = [x for seg in segments for x in seg]
    d = [seg[i + 1] - seg[i] for seg in segments for i in range(len(seg) - 1)]
    n, m = len(rr), len(d)
    mean, med = sum(rr) / n, _median(rr)
    sdnn, sdsd = _std(rr), _std(d)
    rmssd = math.sqrt(sum(v * v for v in d) / m)
    sd1 = math.sqrt(sdsd**2 / 2)
    sd2 = math.sqrt(2 * sdnn**2 - sd1**2)
    turns = interior = 0
    for seg in segments:
        for i in range(1, len(seg) - 1):
            interior += 1
            turns += (seg[i] - seg[i - 1]) * (seg[i + 1] - seg[i]) < 0
    lo, hi = min(rr), max(rr)
    counts = [0] * 16
    for x in rr:
        counts[min(int((x - lo) / (hi - lo) * 16), 15)] += 1
    entropy = -sum(c / n * math.log2(c / n) for c in counts if c)
    return {
        "hr_mean_bpm": 60000 / mean,
        "peak_rate_bpm": 60 * peaks / seconds,
        "rr_mean_ms": mean,
        "rr_median_ms": med,
        "rr_min_ms": lo,
        "rr_max_ms": hi,
        "rr_sdnn_ms": sdnn,
        "rr_cv": sdnn / mean,
        "rr_iqr_ms": _percentile(rr, 0.75) - _percentile(rr, 0.25),
        "rr_mad_ms": _median([abs(x - med) for x in rr]),
        "rr_rmssd_ms": rmssd,
        "rr_sdsd_ms": sdsd,
        "rr_cvsd": rmssd / mean,
        "rr_pnn20": sum(abs(v) > 20 for v in d) / m,
        "rr_pnn50": sum(abs(v) > 50 for v in d) / m,
        "rr_sd1_ms": sd1,
        "rr_sd2_ms": sd2,
        "rr_sd1_sd2": sd1 / sd2,
        "rr_outlier_frac": sum(abs(x - med) > 0.2 * med for x in rr) / n,
        "rr_turning_point_ratio": turns / interior,
        "rr_entropy_bits": entropy,
        "detection_failed": 0.0,
    }


def _times(rr_ms: list[float], start: float) -> np.ndarray:
    return start + np.concatenate([[0.0], np.cumsum(rr_ms)]) / 1000.0


def test_features_equal_a_naive_computation_with_segments_pooled() -> None:
    got = rr_features([_times(RR_A, 0.31), _times(RR_B, 0.52)], seconds=20.0)
    want = _naive([RR_A, RR_B], peaks=len(RR_A) + len(RR_B) + 2, seconds=20.0)
    assert list(want) == list(RR_FEATURE_NAMES)
    # float64 sums of <= 12 terms of ~1e3: relative error ~1e-15; 1e-12 is generous
    np.testing.assert_allclose(got, list(want.values()), rtol=1e-12, atol=1e-12)


def test_no_difference_is_formed_across_segments() -> None:
    split = rr_features([_times(RR_A, 0.0), _times(RR_B, 0.0)], seconds=20.0)
    joined = rr_features(_times(RR_A + RR_B, 0.0), seconds=20.0)
    i = RR_FEATURE_NAMES.index("rr_rmssd_ms")
    assert split[i] != pytest.approx(joined[i])  # the join adds the 702 -> 760 difference
    mean = RR_FEATURE_NAMES.index("rr_mean_ms")
    assert split[mean] == pytest.approx(joined[mean])


def test_regular_rhythm_has_zero_variability_and_defined_ratios() -> None:
    values = rr_features(_times([800.0] * 10, 0.2), seconds=10.0)
    f = dict(zip(RR_FEATURE_NAMES, values, strict=True))
    assert f["hr_mean_bpm"] == pytest.approx(75.0)
    # equal intervals up to float64 rounding of the peak times (~1e-16 s -> ~1e-13 ms)
    for name in ("rr_sdnn_ms", "rr_rmssd_ms", "rr_mad_ms", "rr_iqr_ms"):
        assert f[name] == pytest.approx(0.0, abs=1e-9)
    assert f["rr_entropy_bits"] == 0 and f["rr_outlier_frac"] == 0
    assert f["rr_turning_point_ratio"] == 0  # no noise turning points between equal intervals


@pytest.mark.parametrize("peaks_per_segment", [[0], [1], [3, 3], [MIN_INTERVALS, 2]])
def test_too_few_intervals_is_a_failure_not_a_number(peaks_per_segment: list[int]) -> None:
    segs = [np.arange(n) * 0.8 + 0.1 for n in peaks_per_segment]
    f = rr_features(segs, seconds=10.0 * len(segs))
    assert np.isnan(f[:-1]).all() and f[-1] == 1.0
    ok = rr_features([np.arange(MIN_INTERVALS + 1) * 0.8 + 0.1], seconds=10.0)
    assert np.isfinite(ok).all() and ok[-1] == 0.0


def _synthetic_ecg(fs: float, rr_ms: list[float], start: float = 0.4, seconds: float = 10.0):
    """Gaussian P, R (1 mV, sigma 10 ms), S and T waves around known R-peak samples, plus
    10 uV noise -> (signal (T,) float32 mV, R-peak samples)."""
    n = round(seconds * fs)
    t = np.arange(n) / fs
    peaks = np.round(_times(rr_ms, start) * fs).astype(np.int64)
    peaks = peaks[peaks < n - round(0.3 * fs)]
    x = 0.01 * np.random.default_rng(0).standard_normal(n)
    for p in peaks / fs:
        for shift, amp, width in ((-0.16, 0.1, 0.02), (0.0, 1.0, 0.01), (0.03, -0.15, 0.01),
                                  (0.25, 0.3, 0.04)):  # fmt: skip
            x += amp * np.exp(-0.5 * ((t - p - shift) / width) ** 2)
    return x.astype(np.float32), peaks


@needs_nk
@pytest.mark.parametrize("fs", [300.0, 500.0])
def test_neurokit2_finds_the_r_peaks_of_a_synthetic_ecg(fs: float) -> None:
    x, truth = _synthetic_ecg(fs, RR_A)
    np.testing.assert_array_equal(detect_r_peaks(x, fs), truth)


def _task(signals: np.ndarray, fs: float, item_record: list[int], split: list[str]) -> TaskData:
    r = max(item_record) + 1
    return TaskData(
        task="toy", signals=signals, fs=fs, leads=("I",),
        item_record=np.asarray(item_record), record_ids=tuple(f"r{i}" for i in range(r)),
        labels=np.arange(r) % 2, classes=("a", "b"), split=np.asarray(split),
    )  # fmt: skip


@needs_nk
def test_record_features_from_a_synthetic_signal_equal_the_naive_ones() -> None:
    fs = 300.0
    a, pa = _synthetic_ecg(fs, RR_A, start=0.31)
    b, pb = _synthetic_ecg(fs, RR_B, start=0.52)
    flat = np.zeros_like(a)
    data = _task(np.stack([a, b, flat])[:, None], fs, [0, 0, 1], ["train", "test"])
    out = record_rr_features(data)
    # the known RR intervals after rounding the peaks to samples
    segs = [list(np.diff(p) / fs * 1000.0) for p in (pa, pb)]
    want = list(_naive(segs, peaks=pa.size + pb.size, seconds=20.0).values())
    np.testing.assert_allclose(out.raw[0], want, rtol=1e-12, atol=1e-12)
    assert out.failed.tolist() == [False, True]
    assert out.failed_by_split == {"train": 0, "val": 0, "test": 1}


def _spikes(fs: float, peaks: list[int], n: int) -> np.ndarray:
    x = np.zeros(n, dtype=np.float32)
    x[peaks] = 1.0
    return x


@pytest.mark.usefixtures("stand_in_neurokit2")
def test_failed_records_are_kept_imputed_flagged_and_counted() -> None:
    fs, n = 100.0, 1000
    good1 = _spikes(fs, [50, 130, 215, 290, 380, 460], n)
    good2 = _spikes(fs, [20, 90, 170, 240, 330], n)
    good3 = _spikes(fs, [10, 110, 205, 300, 390, 500], n)
    few = _spikes(fs, [100, 200, 300], n)  # 2 intervals: below MIN_INTERVALS
    data = _task(np.stack([good1, good2, few, good3, few])[:, None], fs, [0, 1, 2, 3, 4],
                 ["train", "train", "val", "test", "test"])  # fmt: skip
    out = record_rr_features(data)
    assert out.failed.tolist() == [False, False, True, False, True]
    assert out.failed_by_split == {"train": 0, "val": 1, "test": 1}
    median = np.median(out.raw[[0, 1, 3], :-1], axis=0)
    for row in (2, 4):
        np.testing.assert_allclose(out.features[row, :-1], median.astype(np.float32))
        assert out.features[row, -1] == 1.0 and np.isnan(out.raw[row, :-1]).all()
    assert np.isfinite(out.features).all() and out.features.shape == (5, len(RR_FEATURE_NAMES))
    note = out.note()
    assert "for 2 of 5 records (train 0, val 1, test 1)" in note and "median" in note
    assert out.details()["failed_records"] == 2


@pytest.mark.usefixtures("stand_in_neurokit2")
def test_detection_failing_everywhere_is_an_error() -> None:
    data = _task(np.zeros((2, 1, 500), np.float32), 100.0, [0, 1], ["train", "test"])
    with pytest.raises(ValueError, match="failed on all 2 records"):
        record_rr_features(data)


def test_missing_neurokit2_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "neurokit2", None)  # import neurokit2 -> ImportError
    with pytest.raises(ImportError, match="pip install neurokit2"):
        require_neurokit2()
    with pytest.raises(ImportError, match="pip install neurokit2"):
        detect_r_peaks(np.zeros(1000), 100.0)
