"""model.embed / ecgfm.hub.embed: preprocessing travels with the weights."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from _signals import band_limited_ecg as _ecg

from ecgfm.hub import embed, save_pretrained
from ecgfm.leads import MissingLeadError
from ecgfm.signal import ECGQualityWarning, ECGRecord

LEADS = ["I", "II", "V1"]
REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("ECGFM_SHARED", REPO.parent / "shared"))


def _reference(model, x: np.ndarray, fs: float, leads) -> np.ndarray:
    """Independent path: the preset's windows, the bare encoder, a plain mean."""
    windows, index = model.preset.prepare(x, fs, leads)
    with torch.no_grad():
        emb = model.encoder.forward_embedding(windows).numpy()
    return np.stack([emb[index.numpy() == i].mean(0) for i in range(int(index.max()) + 1)])


def test_shapes_for_single_batch_list_and_records(model) -> None:
    x = _ecg(10, 100)
    single = model.embed(x, fs=100, leads=LEADS)
    assert single.shape == (8,) and single.dtype == np.float32
    batch = model.embed(np.stack([x, _ecg(10, 100, seed=1)]), fs=100, leads=LEADS)
    assert batch.shape == (2, 8)
    varied = model.embed([x, _ecg(6, 100, seed=2), _ecg(25, 100, seed=3)], fs=100, leads=LEADS)
    assert varied.shape == (3, 8)
    rec = ECGRecord(x, 100, LEADS, record_id="r")
    np.testing.assert_array_equal(model.embed(rec), single)
    recs = [rec, ECGRecord(_ecg(12, 250, seed=4), 250, LEADS)]
    assert model.embed(recs).shape == (2, 8)
    pt = model.embed(x, fs=100, leads=LEADS, return_tensors="pt")
    assert isinstance(pt, torch.Tensor) and pt.dtype == torch.float32
    np.testing.assert_array_equal(pt.numpy(), single)


def test_matches_an_independent_reference(model) -> None:
    xs = [_ecg(10, 100, seed=s) for s in range(3)]
    got = model.embed(xs, fs=100, leads=LEADS)
    ref = np.concatenate([_reference(model, x, 100, LEADS) for x in xs])
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_batch_rows_equal_single_records_and_batch_size(model) -> None:
    xs = np.stack([_ecg(9, 100, seed=s) for s in range(4)])
    batch = model.embed(xs, fs=100, leads=LEADS, batch_size=64)
    by_one = model.embed(xs, fs=100, leads=LEADS, batch_size=1)
    np.testing.assert_allclose(batch, by_one, atol=1e-6)
    for i in range(4):
        np.testing.assert_allclose(model.embed(xs[i], fs=100, leads=LEADS), batch[i], atol=1e-6)


def test_deterministic(model) -> None:
    x = _ecg(20, 100)
    a = model.embed(x, fs=100, leads=LEADS)
    b = model.embed(x, fs=100, leads=LEADS)
    np.testing.assert_array_equal(a, b)


def test_lead_order_aliases_and_units(model) -> None:
    x = _ecg(10, 100)
    ref = model.embed(x, fs=100, leads=LEADS)
    perm = [2, 0, 1]
    shuffled = model.embed(x[perm], fs=100, leads=["V1", "lead i", "MLII"])
    np.testing.assert_array_equal(shuffled, ref)
    microvolts = model.embed(x * 1000.0, fs=100, leads=LEADS, units="uV")
    np.testing.assert_allclose(microvolts, ref, atol=1e-5)
    extra = np.concatenate([x, _ecg(10, 100, seed=9, leads=2)])  # extra leads are ignored
    np.testing.assert_array_equal(model.embed(extra, fs=100, leads=[*LEADS, "V2", "V3"]), ref)


def test_limb_leads_are_derived(model) -> None:
    x = _ecg(10, 100)
    ref = model.embed(x, fs=100, leads=LEADS)
    lead_iii = x[1] - x[0]  # III = II - I
    given = np.stack([x[0], lead_iii, x[2]])
    np.testing.assert_allclose(model.embed(given, fs=100, leads=["I", "III", "V1"]), ref,
                               atol=1e-5)  # fmt: skip
    with pytest.raises(MissingLeadError, match="V1"):
        model.embed(x[:2], fs=100, leads=["I", "II"])


def test_resampling_to_the_card_rate(model) -> None:
    """The same band-limited ECG at 200 and 500 Hz embeds like its 100 Hz version."""
    ref = model.embed(_ecg(8, 100), fs=100, leads=LEADS)
    other = model.embed(_ecg(8, 100, seed=5), fs=100, leads=LEADS)
    for fs in (200, 500):
        got = model.embed(_ecg(8, fs), fs=fs, leads=LEADS)
        err = np.abs(got - ref).max()
        assert err < 0.05 * np.abs(ref - other).max(), (fs, err)


def test_window_policies(model) -> None:
    x = _ecg(10, 100)  # 1000 samples, windows of 400
    per_window, index = model.embed(x, fs=100, leads=LEADS, reduce="none")
    assert per_window.shape == (3, 8) and index.tolist() == [0, 0, 0]  # 0, 400, end-aligned 600
    np.testing.assert_allclose(per_window.mean(0), model.embed(x, fs=100, leads=LEADS), atol=1e-6)
    disjoint, _ = model.embed(x, fs=100, leads=LEADS, reduce="none", windows="disjoint")
    assert disjoint.shape == (2, 8)
    np.testing.assert_array_equal(disjoint, per_window[:2])
    first = model.embed(x, fs=100, leads=LEADS, windows="first")
    np.testing.assert_allclose(first, per_window[0], atol=1e-6)
    short = model.embed(_ecg(3, 100), fs=100, leads=LEADS)  # 300 samples: one padded window
    assert short.shape == (8,)
    _, idx = model.embed([x, _ecg(4, 100)], fs=100, leads=LEADS, reduce="none")
    assert idx.tolist() == [0, 0, 0, 1]


def test_bf16_close_to_fp32(model) -> None:
    x = np.stack([_ecg(10, 100, seed=s) for s in range(2)])
    fp32 = model.embed(x, fs=100, leads=LEADS)
    bf16 = model.embed(x, fs=100, leads=LEADS, precision="bf16")
    assert bf16.dtype == np.float32
    assert np.abs(bf16 - fp32).max() <= 0.05 * np.abs(fp32).max()


def test_model_state_is_restored(model) -> None:
    model.train()
    model.embed(_ecg(5, 100), fs=100, leads=LEADS)
    assert model.training and model.encoder.training


def test_input_validation(model) -> None:
    x = _ecg(10, 100)
    with pytest.raises(ValueError, match=r"fs= .* and leads= .* are required"):
        model.embed(x)
    with pytest.raises(ValueError, match=r"\(T, C\)"):
        model.embed(x.T, fs=100, leads=LEADS)
    with pytest.raises(ValueError, match="NaN"):
        bad = x.copy()
        bad[0, 10] = np.nan
        model.embed(bad, fs=100, leads=LEADS)
    with pytest.warns(ECGQualityWarning, match="1 NaN/Inf values replaced by 0"):
        repaired = model.embed(bad, fs=100, leads=LEADS, nan_policy="zero")
    assert np.isfinite(repaired).all()
    with pytest.raises(ValueError, match="needs at least"):
        model.embed(_ecg(1, 100), fs=100, leads=LEADS)
    with pytest.raises(ValueError, match="positive"):
        model.embed(x, fs=-1, leads=LEADS)
    with pytest.raises(ValueError, match="implausible"):
        model.embed(x * 1000, fs=100, leads=LEADS)  # microvolts passed as mV
    with pytest.raises(ValueError, match="random"):
        model.embed(x, fs=100, leads=LEADS, windows="random")
    with pytest.raises(ValueError, match="batch_size"):
        model.embed(x, fs=100, leads=LEADS, batch_size=0)
    with pytest.raises(ValueError, match="precision"):
        model.embed(x, fs=100, leads=LEADS, precision="int8")
    with pytest.raises(ValueError, match="return_tensors"):
        model.embed(x, fs=100, leads=LEADS, return_tensors="tf")
    with pytest.raises(ValueError, match="empty batch"):
        model.embed([], fs=100, leads=LEADS)
    rec = ECGRecord(x, 100, LEADS)
    with pytest.raises(ValueError, match="carries its own sampling rate"):
        model.embed(rec, fs=250)
    with pytest.raises(ValueError, match="already in mV"):
        model.embed(rec, units="uV")
    with pytest.raises(TypeError, match="mix"):
        model.embed([rec, x], fs=100, leads=LEADS)


def test_module_level_embed(model, tmp_path: Path) -> None:
    x = _ecg(10, 100)
    out = save_pretrained(model, tmp_path / "again")
    np.testing.assert_array_equal(embed(out, x, 100, LEADS), model.embed(x, fs=100, leads=LEADS))
    np.testing.assert_array_equal(embed(model, x, 100, LEADS), model.embed(x, 100, LEADS))
    with pytest.raises(ValueError, match="already loaded"):
        embed(model, x, 100, LEADS, device="cpu")


def test_real_ptbxl_record(model) -> None:
    from ecgfm.data import read_wfdb

    path = SHARED / "data" / "ptbxl" / "records100" / "00000" / "00001_lr"
    if not path.with_suffix(".hea").exists():
        pytest.skip(f"{path} not available") if os.environ.get(
            "ECGFM_ALLOW_MISSING_SHARED"
        ) == "1" else pytest.fail(f"{path} missing")
    rec = read_wfdb(path)
    emb = model.embed(rec)
    ref = _reference(model, rec.select(LEADS).signal, rec.fs, LEADS)[0]
    np.testing.assert_allclose(emb, ref, rtol=1e-5, atol=1e-6)
