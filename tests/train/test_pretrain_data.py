"""PretrainData: equals the preset on raw records, caches once, held-aside split by patient."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from ecgfm.data import PTBXL
from ecgfm.train.pretrain_data import (
    DEFAULT_PRETRAIN_FOLDS,
    DataSources,
    PretrainData,
    same_patient_partners,
)
from ecgfm.transforms.presets import get_preset


def _raw(root: Path, n: int) -> tuple[np.ndarray, PTBXL]:
    ds = PTBXL(root, 100, folds=DEFAULT_PRETRAIN_FOLDS, labels=None)
    return np.stack([ds[i].signal for i in range(n)]), ds


@pytest.mark.parametrize("crop", ["random", "center"])
def test_windows_equal_the_preset_on_raw_records(
    stmem_data: PretrainData, ptbxl_root: Path, crop: str
) -> None:
    raw, ds = _raw(ptbxl_root, 12)
    idx = [3, 0, 7, 11]
    got = stmem_data.windows(idx, crop=crop, generator=torch.Generator().manual_seed(4))
    want, _ = get_preset("st_mem").prepare(
        raw[idx], 100, ds.leads, windows=crop, generator=torch.Generator().manual_seed(4)
    )
    assert got.shape == (4, 12, 2250) and got.dtype == torch.float32
    torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-5)


def test_ids_sources_and_training_folds_only(stmem_data: PretrainData, ptbxl_root: Path) -> None:
    _, ds = _raw(ptbxl_root, 12)
    assert stmem_data.record_ids == ds.record_ids[:12]
    assert stmem_data.patient_ids == tuple(f"ptbxl-{p}" for p in ds.patient_ids[:12])
    assert stmem_data.counts() == {"ptbxl": 12} and stmem_data.record_length == 2500
    assert set(ds.strat_folds[:12].tolist()) <= set(DEFAULT_PRETRAIN_FOLDS)


def test_cache_is_reused_and_keyed(
    stmem_data: PretrainData, ptbxl_root: Path, train_cache: Path
) -> None:
    assert stmem_data.cache_path is not None and stmem_data.cache_path.parent.parent == train_cache
    sources = DataSources(ptbxl_root=str(ptbxl_root), max_ptbxl=12)
    again = PretrainData.build(sources, get_preset("st_mem"), cache_dir=train_cache)
    assert isinstance(again.signals, np.memmap) and again.cache_key == stmem_data.cache_key
    np.testing.assert_array_equal(np.asarray(again.signals), np.asarray(stmem_data.signals))
    other = dataclasses.replace(sources, folds=(1, 2))
    assert PretrainData.build(other, get_preset("hl"), use_cache=False).cache_key != again.cache_key


def test_float16_storage_is_close(ptbxl_root: Path, tmp_path: Path) -> None:
    sources = DataSources(ptbxl_root=str(ptbxl_root), max_ptbxl=3)
    exact = PretrainData.build(sources, get_preset("hl"), use_cache=False)
    half = PretrainData.build(
        sources, get_preset("hl"), cache_dir=tmp_path, storage_dtype="float16"
    )
    assert half.signals.dtype == np.float16 and half.cache_key != exact.cache_key
    a, b = exact.windows([0, 1, 2], crop="center"), half.windows([0, 1, 2], crop="center")
    assert torch.all((a - b).abs() <= 2**-11 * a.abs() + 1e-4)


def test_holdout_keeps_patients_apart_and_takes_the_last_ones(ptbxl_root: Path) -> None:
    sources = DataSources(ptbxl_root=str(ptbxl_root), max_ptbxl=300)
    data = PretrainData.build(sources, get_preset("hl"), use_cache=False)
    train, val = data.holdout(40)
    assert len(val) >= 40 and len(train) + len(val) == 300
    assert not {data.patient_ids[i] for i in train} & {data.patient_ids[i] for i in val}
    val_last = min(
        max(data.ecg_ids[j] for j in range(300) if data.patient_ids[j] == p)
        for p in {data.patient_ids[i] for i in val}
    )
    train_last = max(
        max(data.ecg_ids[j] for j in range(300) if data.patient_ids[j] == p)
        for p in {data.patient_ids[i] for i in train}
    )
    assert val_last > train_last  # the last patients (by their latest ECG) are held aside
    assert data.holdout(0)[1].size == 0
    with pytest.raises(ValueError, match="hold aside"):
        data.holdout(300)


def test_synthetic_records(ptbxl_root: Path, train_cache: Path) -> None:
    from ecgfm.data import DeepfakeECG

    sources = DataSources(ptbxl_root=str(ptbxl_root), max_ptbxl=2, synthetic=3, synthetic_seed=5)
    data = PretrainData.build(sources, get_preset("hl"), cache_dir=train_cache)
    assert data.counts() == {"ptbxl": 2, "deepfake": 3}
    assert data.record_ids[2:] == ("deepfake-5-0", "deepfake-5-1", "deepfake-5-2")
    assert data.patient_ids[2:] == data.record_ids[2:]
    fake = DeepfakeECG(3, seed=5, cache_dir=train_cache / "deepfake")
    want, _ = get_preset("hl").prepare(fake.signal(1), 500, fake[1].leads, windows="first")
    torch.testing.assert_close(data.windows([3], crop="center"), want, atol=1e-5, rtol=1e-5)
    idx = np.arange(5)
    batches = list(data.center_batches(idx, 2))
    assert [len(b) for b in batches] == [2, 2, 1]
    assert torch.equal(torch.cat(batches), data.windows(idx, crop="center"))
    with pytest.raises(ValueError, match="batch_size"):
        next(data.center_batches(idx, 0))
    _, val = data.holdout(1)  # PTB-XL present: the held-aside record is real
    assert [data.sources[i] for i in val] == ["ptbxl"]
    only_fake = dataclasses.replace(sources, ptbxl_root=None)
    data = PretrainData.build(only_fake, get_preset("hl"), cache_dir=train_cache)
    assert data.holdout(2)[1].tolist() == [1, 2]


def test_same_patient_partners() -> None:
    pids = ["a", "a", "b", "c", "c", "c", "d"]
    pool = np.arange(7)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        out = same_patient_partners(torch.tensor([0, 3, 2, 6]), pids, pool, g).tolist()
        assert out[0] == 1 and out[1] in (4, 5)  # another ECG of the same patient
        assert pids[out[2]] != "b" and pids[out[3]] != "d"  # no partner: another patient
    with pytest.raises(ValueError, match="2 records"):
        same_patient_partners(torch.tensor([0]), pids, [0], g)


def test_bad_sources_and_requests(stmem_data: PretrainData) -> None:
    with pytest.raises(ValueError, match="no pre-training data"):
        DataSources()
    with pytest.raises(ValueError, match="ptbxl_fs"):
        DataSources(ptbxl_root="x", ptbxl_fs=250)
    with pytest.raises(TypeError, match="synthetic"):
        DataSources(synthetic=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="requested"):
        stmem_data.windows([0], length=3000)
    with pytest.raises(IndexError):
        stmem_data.windows([12])
    with pytest.raises(ValueError, match="1-D"):
        stmem_data.windows([[0]])
    with pytest.raises(TypeError, match="Preset"):
        PretrainData.build(DataSources(synthetic=1), "hl")  # type: ignore[arg-type]
