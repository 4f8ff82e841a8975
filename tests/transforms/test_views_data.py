"""DataLoader integration: ViewDataset + collate_views and the batched ViewCollate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ecgfm.leads import CANONICAL_LEADS
from ecgfm.signal import ECGRecord
from ecgfm.transforms.views import CMSC, Interleave, SelfCut, View
from ecgfm.transforms.views_data import ViewCollate, ViewDataset, collate_views


def records(n: int = 10, t: int = 400, fs: float = 500.0) -> list[ECGRecord]:
    rng = np.random.default_rng(0)
    return [
        ECGRecord(
            rng.standard_normal((12, t)).astype(np.float32) + 2.0,
            fs,
            CANONICAL_LEADS,
            record_id=f"r{i}",
            patient_id=f"p{i // 2}",
            labels=np.array([i % 2, 1 - i % 2], dtype=np.float32),
        )
        for i in range(n)
    ]


def test_view_dataset_with_collate_views() -> None:
    recs = records()
    ds = ViewDataset(recs, CMSC(rlm=0.5), seed=1)
    loader = DataLoader(ds, batch_size=4, collate_fn=collate_views)
    a, b, meta = next(iter(loader))
    assert isinstance(a, View) and a.x.shape == (4, 12, 200) and b.x.shape == (4, 12, 200)
    assert a.fs == 500.0 and a.leads == CANONICAL_LEADS
    assert meta["record_id"] == ["r0", "r1", "r2", "r3"]
    assert torch.equal(meta["index"], torch.arange(4))
    assert meta["labels"].shape == (4, 2)  # numpy labels are stacked by default_collate
    # every lead is either masked or the record's own half
    for i in range(4):
        half = torch.from_numpy(recs[i].signal[:, :200])
        assert ((a.x[i] == 0).all(-1) | (a.x[i] == half).all(-1)).all()
    # seeded: the same item gives the same views, whatever the order or worker
    again = ds[2]
    assert torch.equal(again[0].x, a.x[2]) and torch.equal(again[1].x, b.x[2])
    ds.set_epoch(1)
    assert not torch.equal(ds[2][0].x, a.x[2]) or not torch.equal(ds[2][1].x, b.x[2])


def test_view_collate_batched_and_reproducible() -> None:
    recs = records(12)
    collate = ViewCollate(Interleave(rlm=0.5), seed=3)
    loader = DataLoader(recs, batch_size=5, collate_fn=collate)
    first = [(a.x.clone(), b.x.clone()) for a, b, _ in loader]
    collate.set_epoch(0)
    second = [(a.x.clone(), b.x.clone()) for a, b, _ in loader]
    assert [x.shape for x, _ in first] == [(5, 12, 200), (5, 12, 200), (2, 12, 200)]
    assert all(
        torch.equal(p[0], q[0]) and torch.equal(p[1], q[1])
        for p, q in zip(first, second, strict=True)
    )
    collate.set_epoch(1)
    third = [a.x.clone() for a, _, _ in loader]
    assert not all(torch.equal(p[0], q) for p, q in zip(first, third, strict=True))
    # the source records are not modified by inplace masking of the stacked batch
    assert (records(12)[0].signal == recs[0].signal).all()
    a, _b, meta = next(iter(loader))
    assert a.fs == 250.0 and meta["patient_id"] == ["p0", "p0", "p1", "p1", "p2"]


def test_item_kinds_tuple_mapping_and_tensor() -> None:
    x = torch.randn(12, 300)
    tup = [(x, 1), (x, 0)]
    a, _b, meta = (
        DataLoader(ViewDataset(tup, SelfCut(fs=500.0)), batch_size=2, collate_fn=collate_views)
        .__iter__()
        .__next__()
    )
    assert a.x.shape == (2, 1, 300) and torch.equal(meta["target"], torch.tensor([1, 0]))
    maps = [{"signal": x.numpy(), "age": 60}, {"signal": x.numpy(), "age": 70}]
    a, _b, meta = ViewCollate(CMSC(fs=500.0))(maps)
    assert torch.equal(a.x[0], x[:, :150]) and torch.equal(meta["age"], torch.tensor([60, 70]))
    a, _b, meta = ViewCollate(CMSC(fs=500.0))([x, x])
    assert a.x.shape == (2, 12, 150) and meta == {}


def test_errors() -> None:
    with pytest.raises(TypeError, match="ViewGenerator"):
        ViewDataset(records(2), lambda v: v)
    with pytest.raises(ValueError, match="fs=250"):
        ViewDataset(records(2, fs=250.0), CMSC(fs=500.0))[0]
    with pytest.raises(ValueError, match="differ in shape"):
        ViewCollate(CMSC(fs=500.0))([torch.randn(12, 300), torch.randn(12, 200)])
    with pytest.raises(KeyError, match="signal"):
        ViewCollate(CMSC(fs=500.0))([{"x": torch.randn(12, 300)}])
    with pytest.raises(TypeError, match=r"\(C, T\)"):
        ViewCollate(CMSC(fs=500.0))([torch.randn(300)])
    v = View(torch.zeros(12, 10), 500.0, CANONICAL_LEADS)
    w = View(torch.zeros(12, 10), 250.0, CANONICAL_LEADS)
    with pytest.raises(ValueError, match="differs across the batch"):
        collate_views([(v, {}), (w, {})])


def test_view_collate_finite_check_can_be_skipped() -> None:
    bad = torch.randn(12, 300)
    bad[3, 7] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        ViewCollate(CMSC(rlm=0.5, fs=500.0))([bad, torch.randn(12, 300)])
    collate = ViewCollate(CMSC(rlm=0.5, fs=500.0), check_finite=False, seed=0)
    a, b, _ = collate([bad, torch.randn(12, 300)])
    assert a.x.shape == b.x.shape == (2, 12, 150)


def test_view_collate_in_a_worker_stacks_into_shared_memory() -> None:
    from ecgfm.transforms import _alloc
    from ecgfm.transforms.views_data import _seed

    recs = records(8)
    loader = DataLoader(
        recs, batch_size=4, num_workers=1, collate_fn=ViewCollate(CMSC(rlm=0.5), seed=1)
    )
    got = [(a.x, b.x) for a, b, _ in loader]
    for k, (a, b) in enumerate(got):
        batch = torch.stack([torch.from_numpy(r.signal) for r in recs[4 * k : 4 * k + 4]])
        g = torch.Generator().manual_seed(_seed(1, 0, 0, k))  # worker 0, batch k
        ref_a, ref_b = CMSC(rlm=0.5)(batch, fs=500.0, generator=g)
        assert torch.equal(a, ref_a.x) and torch.equal(b, ref_b.x)
    signals = [torch.from_numpy(r.signal) for r in recs[:3]]
    shared = _alloc.stack(signals, shared=True)
    assert shared.is_shared() and torch.equal(shared, torch.stack(signals))
    assert torch.equal(_alloc.stack(signals), torch.stack(signals))
