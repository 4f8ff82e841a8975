"""Single-lead recordings for the CMSC term: CinC 2017 preprocessing/cache, lead I of PTB-XL,
and where the two views of a recording lie."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ecgfm.data import CinC2017
from ecgfm.train.pretrain_data import PretrainData
from ecgfm.train.single_lead import SingleLeadRecords
from ecgfm.transforms.preprocessing import Compose
from ecgfm.transforms.presets import get_preset

PRESET = get_preset("selfmis", leads=("I",))
RAW = dataclasses.replace(PRESET, normalize=Compose([]))  # views keep their sample values


def _ramp(lengths: list[int]) -> SingleLeadRecords:
    """Recordings whose sample values are their global positions (0, 1, 2, ...)."""
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    ids = [f"r{i}" for i in range(len(lengths))]
    sig = np.arange(offsets[-1], dtype=np.float32)
    return SingleLeadRecords(sig, offsets, ids, ids, ["test"] * len(ids), RAW)


def test_views_are_disjoint_windows_of_the_same_recording() -> None:
    length = 50
    recs = _ramp([100, 250, 75, 50, 1000])
    assert recs.pair_counts(length) == {"disjoint": 3, "overlapping": 2, "too_short": 0}
    g = torch.Generator().manual_seed(0)
    orders = set()
    for _ in range(40):
        v0, v1 = recs.pair_views([0, 1, 2, 3, 4], length, g)
        assert v0.shape == v1.shape == (5, 1, length)
        for i, (a, b) in enumerate(zip(v0[:, 0], v1[:, 0], strict=True)):
            lo, hi = recs.offsets[i], recs.offsets[i + 1]
            for w in (a, b):  # a contiguous window inside recording i
                assert lo <= w[0] and w[-1] < hi
                torch.testing.assert_close(w, w[0] + torch.arange(length, dtype=torch.float32))
            first, second = sorted((float(a[0]), float(b[0])))
            n = int(hi - lo)
            if n >= 2 * length:
                assert second - first >= length  # no shared sample
            else:  # one to two windows long: the first and the last window
                assert (first, second) == (lo, hi - length)
            orders.add(float(a[0]) < float(b[0]))
    assert orders == {True, False}  # which window is view 0 is drawn too
    # a record of exactly two windows gives its two halves
    v0, v1 = recs.pair_views([0], length, g)
    assert sorted((float(v0[0, 0, 0]), float(v1[0, 0, 0]))) == [0.0, 50.0]


def test_views_get_the_presets_normalisation_and_short_records_are_refused() -> None:
    x = np.random.default_rng(0).normal(3.0, 2.0, 600).astype(np.float32)
    recs = SingleLeadRecords(x, np.array([0, 600]), ["a"], ["p"], ["test"], PRESET)
    v0, v1 = recs.pair_views([0], 250, torch.Generator().manual_seed(0))
    for v in (v0, v1):  # z-score per window
        assert abs(float(v.mean())) < 1e-5 and abs(float(v.std(unbiased=False)) - 1) < 1e-4
    with pytest.raises(ValueError, match="fewer than one"):
        recs.pair_views([0], 601, torch.Generator())
    assert recs.pair_counts(601)["too_short"] == 1


def test_lead_one_of_pretrain_data_and_concat(stmem_data: PretrainData) -> None:
    preset = get_preset("st_mem", leads=("I",))
    recs = SingleLeadRecords.from_pretrain(stmem_data, [3, 1], preset)
    want = stmem_data.records([3, 1])[:, stmem_data.leads.index("I")]
    torch.testing.assert_close(torch.from_numpy(recs.signals).view(2, -1), want)
    assert recs.patient_ids == (stmem_data.patient_ids[3], stmem_data.patient_ids[1])
    both = SingleLeadRecords.concat([recs, recs])
    assert len(both) == 4 and both.lengths.tolist() == [want.shape[1]] * 4
    np.testing.assert_array_equal(
        both.signals[both.offsets[2] : both.offsets[3]], recs.signals[:2500]
    )
    with pytest.raises(ValueError, match="lead I"):
        SingleLeadRecords.from_pretrain(stmem_data, [0], get_preset("st_mem"))
    with pytest.raises(ValueError, match="Hz"):
        SingleLeadRecords.from_pretrain(stmem_data, [0], PRESET)


def _cinc_subset(data_dir: Path, dst: Path, names: list[str]) -> Path:
    root = data_dir / "cinc2017"
    dst.mkdir()
    for name in names:
        for ext in (".hea", ".mat"):
            (dst / (name + ext)).symlink_to(root / (name + ext))
    (dst / "RECORDS").write_text("\n".join(names) + "\n")
    ref = [ln for ln in (root / "REFERENCE-v3.csv").read_text().splitlines() if ln[:6] in names]
    (dst / "REFERENCE-v3.csv").write_text("\n".join(ref) + "\n")
    return dst


def test_cinc_recordings_are_preprocessed_whole_and_cached_without_labels(
    data_dir: Path, tmp_path: Path
) -> None:
    names = ["A00001", "A05499", "A00004"]  # A05499: 2742 samples at 300 Hz, under 10 s
    root = _cinc_subset(data_dir, tmp_path / "cinc", names)
    cache = tmp_path / "cache"
    recs = SingleLeadRecords.from_cinc2017(root, PRESET, cache_dir=cache)
    assert recs.record_ids == tuple(names) and recs.counts() == {"cinc2017": 3}
    assert recs.patient_ids == tuple(f"cinc2017-{n}" for n in names)
    ds = CinC2017(root)
    for i in range(3):
        rec = ds[i]
        n_out = -(-rec.num_samples * 5 // 3)  # polyphase 300 -> 500 Hz: ceil(T * 5 / 3)
        whole = dataclasses.replace(PRESET, length=n_out, normalize=Compose([]), min_length=None)
        want, _ = whole.prepare(rec.signal, rec.fs, rec.leads, windows="first")
        got = recs.signals[recs.offsets[i] : recs.offsets[i + 1]]
        np.testing.assert_array_equal(got, want[0, 0].numpy())
    assert recs.pair_counts(2500) == {"disjoint": 2, "overlapping": 1, "too_short": 0}
    meta = (recs.cache_path / "meta.json").read_text()
    assert "label" not in json.loads(meta) and '"N"' not in meta  # no label stored
    again = SingleLeadRecords.from_cinc2017(root, PRESET, cache_dir=cache)
    assert again.cache_path == recs.cache_path
    np.testing.assert_array_equal(again.signals, recs.signals)
    first = SingleLeadRecords.from_cinc2017(root, PRESET, max_records=1, use_cache=False)
    assert len(first) == 1 and first.cache_path is None
    np.testing.assert_array_equal(first.signals, recs.signals[: recs.offsets[1]])


def test_random_windows_lie_inside_their_recording_and_cover_it() -> None:
    length = 40
    recs = _ramp([100, 40, 65])
    g = torch.Generator().manual_seed(0)
    starts: dict[int, set[int]] = {0: set(), 1: set(), 2: set()}
    for _ in range(250):  # seeded: 26 positions, each drawn with p = 1/26 per call
        w = recs.random_windows([0, 1, 2], length, g)
        assert w.shape == (3, 1, length) and w.dtype == torch.float32
        for i in range(3):
            lo, hi = int(recs.offsets[i]), int(recs.offsets[i + 1])
            a = int(w[i, 0, 0])
            assert lo <= a and a + length <= hi  # inside recording i, contiguous
            torch.testing.assert_close(w[i, 0], a + torch.arange(length, dtype=torch.float32))
            starts[i].add(a - lo)
    assert starts[1] == {0}  # exactly one window long: its only window
    assert starts[2] == set(range(26))  # every start position 0..n-length is drawn
    assert len(starts[0]) > 30
    with pytest.raises(ValueError, match="fewer than one"):
        recs.random_windows([1], 41, g)
    with pytest.raises(IndexError, match="out of range"):
        recs.random_windows([3], 10, g)


def test_random_windows_get_the_presets_normalisation() -> None:
    x = np.random.default_rng(1).normal(3.0, 2.0, 600).astype(np.float32)
    recs = SingleLeadRecords(x, np.array([0, 600]), ["a"], ["a"], ["t"], PRESET)
    w = recs.random_windows([0, 0], 300, torch.Generator().manual_seed(0))
    for row in w[:, 0]:  # the selfmis preset z-scores each window
        assert abs(float(row.mean())) < 1e-5 and abs(float(row.std(unbiased=False)) - 1) < 1e-4
