"""ArrayDataset: (N, C, T) arrays with explicit fs and leads."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest
import torch

from ecgfm.data import ArrayDataset
from ecgfm.signal import ECGRecord


def _x(n: int = 4, c: int = 2, t: int = 300, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.5, size=(n, c, t)).astype(np.float32)


def test_items_carry_signal_ids_labels() -> None:
    x = _x()
    y = np.array([0, 2, 1, 2])
    ds = ArrayDataset(x, 250, ["ii", "AVR"], labels=y, record_ids=["a", "b", "c", "d"])
    assert len(ds) == 4 and ds.fs == 250.0 and ds.leads == ("II", "aVR")
    for i in range(4):
        rec = ds[i]
        assert isinstance(rec, ECGRecord)
        np.testing.assert_array_equal(rec.signal, x[i])
        assert rec.labels == y[i] and rec.record_id == "abcd"[i] and rec.patient_id is None
        assert rec.meta["index"] == i and rec.meta["nonfinite_repaired"] == 0
    assert ds.record_ids == ("a", "b", "c", "d")
    labels, classes = ds.labels()
    np.testing.assert_array_equal(labels, y)
    assert classes is None
    np.testing.assert_array_equal(ds.load_all(), x)


def test_defaults_and_torch_input() -> None:
    x = torch.from_numpy(_x(3))
    ds = ArrayDataset(x, 500, ["I", "II"], labels=torch.eye(3), classes=["a", "b", "c"])
    assert ds.record_ids == ("0", "1", "2")
    np.testing.assert_array_equal(ds[1].labels, np.eye(3, dtype=np.float32)[1])
    np.testing.assert_array_equal(ds.load_all(), x.numpy())
    assert ds.labels()[1] == ("a", "b", "c")
    with pytest.raises(ValueError, match="without labels"):
        ArrayDataset(x, 500, ["I", "II"]).labels()


def test_units_and_adc_counts_are_converted() -> None:
    x = _x(2)
    ds = ArrayDataset(x * 1000, 100, ["I", "II"], units="uV")
    np.testing.assert_allclose(ds.load_all(), x, rtol=1e-6)
    counts = np.round(x * 200).astype(np.int16) + 5
    adc = ArrayDataset(counts, 100, ["I", "II"], gain=200.0, baseline=5)
    np.testing.assert_array_equal(
        adc[0].signal, ((counts[0].astype(np.float64) - 5) / 200).astype(np.float32)
    )
    with pytest.raises(TypeError, match="gain="):
        ArrayDataset(counts, 100, ["I", "II"])


def test_items_are_copies() -> None:
    ds = ArrayDataset(_x(2), 100, ["I", "II"])
    ds[0].signal[:] = 99.0
    assert ds[0].signal.max() < 99.0


def test_nonfinite_values(caplog: pytest.LogCaptureFixture) -> None:
    x = _x(3)
    x[1, 0, [5, 6]] = np.nan
    x[2, 1, 0] = np.inf
    with pytest.raises(ValueError, match="3 NaN/Inf"):
        ArrayDataset(x, 100, ["I", "II"])
    with caplog.at_level(logging.WARNING):
        ds = ArrayDataset(x, 100, ["I", "II"], nan_policy="zero")
    assert "replaced 3 NaN/Inf values by 0" in caplog.text
    assert [ds[i].meta["nonfinite_repaired"] for i in range(3)] == [0, 2, 1]
    assert ds[1].signal[0, 5] == 0.0 and np.isfinite(ds.load_all()).all()


def test_transform_is_applied() -> None:
    def crop(rec: ECGRecord) -> ECGRecord:
        return rec.with_signal(rec.signal[:, :100])

    ds = ArrayDataset(_x(2), 100, ["I", "II"], transform=crop)
    assert ds[0].signal.shape == (2, 100) and ds.load_all().shape == (2, 2, 100)
    bad = ArrayDataset(_x(2), 100, ["I", "II"], transform=lambda r: r.signal)
    with pytest.raises(TypeError, match="expected an ECGRecord"):
        bad[0]
    with pytest.raises(TypeError, match="transform must be a callable"):
        ArrayDataset(_x(2), 100, ["I", "II"], transform="crop")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("x", "kwargs", "error", "match"),
    [
        (np.zeros((2, 300), np.float32), {}, ValueError, r"\(N, C, T\)"),
        (np.zeros((0, 2, 300), np.float32), {}, ValueError, "at least one record"),
        (np.zeros((2, 300, 2), np.float32), {}, ValueError, r"looks like \(T, C\)"),
        (_x(2), {"labels": [1, 2, 3]}, ValueError, "labels has 3 entries for 2"),
        (_x(2), {"labels": 1}, TypeError, "one entry per record"),
        (_x(2), {"record_ids": ["a"]}, ValueError, "record_ids has 1 entries"),
        (_x(2), {"record_ids": ["a", None]}, ValueError, "must not contain None"),
        (_x(2), {"patient_ids": ["p"]}, ValueError, "patient_ids has 1 entries"),
        (_x(2) * 1e4, {}, ValueError, "implausible"),
        (_x(2), {"units": "adu"}, ValueError, "unknown units"),
        ([[[1.0, 2.0]], [[1.0]]], {}, TypeError, "ragged|cannot convert"),
    ],
)
def test_bad_input(x: object, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        ArrayDataset(x, 100, ["I", "II"], **kwargs)  # type: ignore[arg-type]


def test_bad_fs_and_leads() -> None:
    with pytest.raises(ValueError, match="positive"):
        ArrayDataset(_x(2), 0, ["I", "II"])
    with pytest.raises(ValueError, match=r"2 lead names .* for 3 channels"):
        ArrayDataset(_x(2, c=3), 100, ["I", "II"])


def test_load_all_progress_bar(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("tqdm")
    x = _x(3)

    def ident(rec: ECGRecord) -> ECGRecord:
        return rec  # a transform forces the item-by-item path of load_all

    ds = ArrayDataset(x, 100, ["I", "II"], transform=ident)
    np.testing.assert_array_equal(ds.load_all(progress=True), x)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # as if tqdm were not installed
    with caplog.at_level(logging.WARNING):
        np.testing.assert_array_equal(ds.load_all(progress=True), x)
    assert "pip install 'ecgfm[progress]'" in caplog.text
