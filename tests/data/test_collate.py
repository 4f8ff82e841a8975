"""collate_records / ECGBatch with torch DataLoader on real and in-memory datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Subset

from ecgfm.data import PTBXL, ArrayDataset, CinC2017, ECGBatch, collate_records
from ecgfm.signal import ECGRecord


def _records(n: int, t: int = 200, labels: list | None = None) -> list[ECGRecord]:
    rng = np.random.default_rng(0)
    return [
        ECGRecord(
            rng.normal(0, 0.3, size=(2, t)).astype(np.float32),
            100,
            ("I", "II"),
            record_id=f"r{i}",
            patient_id=f"p{i // 2}",
            labels=None if labels is None else labels[i],
            meta={"i": i},
        )
        for i in range(n)
    ]


def test_ptbxl_batches_through_dataloader(data_dir: Path) -> None:
    ds = PTBXL(data_dir / "ptbxl", folds=[9])
    idx = [0, 5, 17, 40, 41]
    loader = DataLoader(Subset(ds, idx), batch_size=3, collate_fn=collate_records)
    batches = list(loader)
    assert [b.signal.shape for b in batches] == [(3, 12, 1000), (2, 12, 1000)]
    first = batches[0]
    assert isinstance(first, ECGBatch) and first.signal.dtype == torch.float32
    assert first.fs == 100.0 and first.leads == ds.leads
    y, _ = ds.labels()
    torch.testing.assert_close(first.labels, torch.from_numpy(y[idx[:3]]))
    np.testing.assert_array_equal(first.signal[1].numpy(), ds[5].signal)
    assert first.record_ids == [ds.record_ids[i] for i in idx[:3]]
    assert first.patient_ids == [ds.patient_ids[i] for i in idx[:3]]
    assert [m["ecg_id"] for m in first.meta] == [int(ds.ecg_ids[i]) for i in idx[:3]]


def test_cinc_segments_batch_with_integer_targets(data_dir: Path) -> None:
    ds = CinC2017(data_dir / "cinc2017", segment_seconds=10.0)
    batch = next(iter(DataLoader(Subset(ds, range(6)), batch_size=6, collate_fn=collate_records)))
    assert batch.signal.shape == (6, 1, 3000)
    assert batch.labels.dtype == torch.int64
    torch.testing.assert_close(batch.labels, torch.from_numpy(ds.targets[:6]))
    assert batch.record_ids == list(ds.record_ids[:6])
    whole = CinC2017(data_dir / "cinc2017")
    first = whole[0]
    other = next(r for r in whole if r.num_samples != first.num_samples)
    with pytest.raises(ValueError, match="num_samples"):
        collate_records([first, other])  # variable-length records: crop first


def test_label_kinds() -> None:
    assert collate_records(_records(2)).labels is None
    floats = collate_records(_records(2, labels=[0.5, 1.0])).labels
    assert floats.dtype == torch.float32 and floats.tolist() == [0.5, 1.0]
    ints = collate_records(_records(2, labels=[np.int64(3), 1])).labels
    assert ints.dtype == torch.int64 and ints.tolist() == [3, 1]
    multi = collate_records(_records(2, labels=[np.array([1, 0]), np.array([0, 1])])).labels
    assert multi.dtype == torch.int64 and multi.shape == (2, 2)
    mixed = collate_records(_records(2, labels=["N", "A"])).labels
    assert mixed == ["N", "A"]
    ragged = collate_records(_records(2, labels=[np.zeros(2), np.zeros(3)])).labels
    assert isinstance(ragged, list) and len(ragged) == 2


def test_bad_batches() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        collate_records([])
    with pytest.raises(TypeError, match="item 1 of the batch is ndarray"):
        collate_records([_records(1)[0], np.zeros((2, 200))])  # type: ignore[list-item]
    a, b = _records(1)[0], _records(1, t=150)[0]
    with pytest.raises(ValueError, match="crop before stacking"):
        collate_records([a, b])
    other_fs = ECGRecord(a.signal, 250, a.leads)
    with pytest.raises(ValueError, match="fs"):
        collate_records([a, other_fs])


def test_to_device_and_workers() -> None:
    x = np.random.default_rng(1).normal(0, 0.3, size=(6, 2, 100)).astype(np.float32)
    ds = ArrayDataset(x, 100, ["I", "II"], labels=np.arange(6))
    loader = DataLoader(ds, batch_size=4, num_workers=1, collate_fn=collate_records)
    batches = list(loader)
    np.testing.assert_array_equal(torch.cat([b.signal for b in batches]).numpy(), x)
    assert torch.cat([b.labels for b in batches]).tolist() == list(range(6))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    moved = batches[0].to(device)
    assert moved.signal.device.type == device and moved.labels.device.type == device
    assert moved.record_ids == batches[0].record_ids
    if torch.cuda.is_available():
        assert batches[0].pin_memory().signal.is_pinned()
