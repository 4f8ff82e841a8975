"""Presets: official pipelines step by step, prepare() on real PTB-XL records, configs."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import torch

from ecgfm.leads import CANONICAL_LEADS
from ecgfm.signal import as_signal
from ecgfm.transforms.preprocessing import (
    BandPass,
    Compose,
    HighPass,
    LowPass,
    Notch,
    RemoveBaseline,
    Resample,
    ZScore,
)
from ecgfm.transforms.presets import Preset, UnknownPresetError, get_preset, list_presets

wfdb = pytest.importorskip("wfdb")

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
PTBXL = SHARED / "data" / "ptbxl"
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _read(record: str) -> tuple[np.ndarray, float, list[str]]:
    path = PTBXL / record
    if not path.with_suffix(".hea").exists():
        pytest.fail(f"PTB-XL record missing: {path} (expected ../shared next to the repo)")
    rec = wfdb.rdrecord(str(path))
    assert rec.units == ["mV"] * 12
    return rec.p_signal.T.copy(), float(rec.fs), list(rec.sig_name)


@pytest.fixture(scope="module")
def hr1() -> tuple[np.ndarray, float, list[str]]:
    return _read("records500/00000/00001_hr")


@pytest.fixture(scope="module")
def hr_batch() -> tuple[np.ndarray, float, list[str]]:
    recs = [_read(f"records500/00000/0000{i}_hr") for i in (1, 2, 3)]
    return np.stack([r[0] for r in recs]), recs[0][1], recs[0][2]


# ----------------------------------------------------------------------------- registry


def test_list_and_get() -> None:
    assert list_presets() == ["dualview", "ecgfounder", "hl", "selfmis", "st_mem"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a canonical name never warns
        for name in list_presets():
            assert get_preset(name).name == name


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("ST-MEM", "st_mem"),
        ("stmem", "st_mem"),
        ("st-mem", "st_mem"),
        ("stmemvit", "st_mem"),
        ("ECGFounder", "ecgfounder"),
        ("hybrid", "hl"),
        ("HybridLearning", "hl"),
        ("dual-view", "dualview"),
    ],
)
def test_aliases_resolve_with_a_deprecation_warning_naming_the_canonical_name(
    alias: str, canonical: str
) -> None:
    with pytest.warns(DeprecationWarning, match=f"use '{canonical}'") as record:
        assert get_preset(alias, leads=("I",)).name == canonical
    assert record[0].filename == __file__  # points at the caller, not at ecgfm


def test_unknown_preset_lists_close_matches() -> None:
    with pytest.raises(UnknownPresetError, match="did you mean 'st_mem'") as info:
        get_preset("stmen")
    assert isinstance(info.value, KeyError)
    assert "available presets: dualview, ecgfounder" in str(info.value)


def test_overrides() -> None:
    one = get_preset("selfmis", leads=("lead I",))
    assert one.leads == ("I",) and one.fs == 500.0
    fast = get_preset("dualview", fs=100, length=1000)
    assert (fast.fs, fast.length, fast.duration) == (100.0, 1000, 10.0)
    with pytest.raises(TypeError, match="unknown overrides"):
        get_preset("hl", sampling_rate=250)
    with pytest.raises(ValueError, match="may not contain Resample"):
        get_preset("hl", filters=Compose([Resample(100)]))


@pytest.mark.parametrize("name", ["dualview", "ecgfounder", "hl", "selfmis", "st_mem"])
def test_config_json_round_trip(name: str) -> None:
    preset = get_preset(name)
    cfg = json.loads(json.dumps(preset.to_config()))
    rebuilt = Preset.from_config(cfg)
    assert rebuilt == preset
    assert rebuilt.to_config() == preset.to_config()
    with pytest.raises(ValueError, match="unknown keys"):
        Preset.from_config({**cfg, "sample_rate": 1})
    cfg.pop("fs")
    with pytest.raises(ValueError, match="missing keys"):
        Preset.from_config(cfg)


def test_official_pipelines_step_by_step() -> None:
    ecgf = get_preset("ecgfounder")
    assert (ecgf.fs, ecgf.length, ecgf.leads) == (500.0, 5000, CANONICAL_LEADS)
    assert ecgf.filters == Compose(
        [Notch(50.0, 30.0), BandPass(0.67, 40.0, 4), RemoveBaseline(kernel_seconds=0.402)]
    )
    assert ecgf.normalize == Compose([ZScore("all", 1e-8)])
    selfmis = get_preset("selfmis")
    assert selfmis.filters == ecgf.filters and selfmis.nan_policy == "zero"
    st = get_preset("st_mem")
    assert (st.fs, st.length, st.resample_method, st.num_spaced) == (250.0, 2250, "fft", 3)
    assert st.filters == Compose([HighPass(0.67, 5), LowPass(40.0, 5)])
    assert st.normalize == Compose([ZScore("all", 0.0)])
    hl = get_preset("hl")
    assert (hl.fs, hl.length, len(hl.filters), len(hl.normalize)) == (250.0, 2500, 0, 0)
    dv = get_preset("dualview")
    assert (dv.fs, dv.length) == (500.0, 5000) and dv.normalize == Compose([ZScore("lead")])


# ----------------------------------------------------------------------------- prepare


@pytest.mark.parametrize(
    ("name", "n_windows", "length"),
    [("ecgfounder", 1, 5000), ("selfmis", 1, 5000), ("st_mem", 2, 2250), ("hl", 1, 2500),
     ("dualview", 1, 5000)],
)  # fmt: skip
def test_prepare_shapes_on_ptbxl(name: str, n_windows: int, length: int, hr1) -> None:
    x, fs, leads = hr1
    windows, index = get_preset(name).prepare(x, fs, leads)
    assert windows.shape == (n_windows, 12, length) and windows.dtype == torch.float32
    assert index.dtype == torch.long and index.tolist() == [0] * n_windows
    assert torch.isfinite(windows).all()


def test_ecgfounder_equals_hand_written_scipy_pipeline(hr1) -> None:
    x, fs, leads = hr1
    windows, _ = get_preset("ecgfounder").prepare(x, fs, leads)
    x32 = x.astype(np.float32).astype(np.float64)  # prepare validates to float32 first
    b, a = scipy.signal.iirnotch(50.0, 30.0, fs=500)
    y = scipy.signal.filtfilt(b, a, x32, axis=-1)
    sos = scipy.signal.butter(4, [0.67, 40.0], btype="bandpass", fs=500, output="sos")
    y = scipy.signal.sosfiltfilt(sos, y, axis=-1)
    y = y - np.stack([scipy.signal.medfilt(row, 201) for row in y])
    y = (y - y.mean()) / (y.std() + 1e-8)
    np.testing.assert_allclose(windows[0].numpy(), y, atol=2e-5)


def test_st_mem_eval_crops_equal_hand_written_pipeline(hr1) -> None:
    x, fs, leads = hr1
    windows, index = get_preset("st_mem").prepare(x, fs, leads, windows="spaced")
    assert windows.shape == (3, 12, 2250) and index.tolist() == [0, 0, 0]
    y = scipy.signal.resample(x.astype(np.float32), 2500, axis=-1)
    for btype, cut in (("highpass", 0.67), ("lowpass", 40.0)):
        sos = scipy.signal.butter(5, cut, btype=btype, fs=250, output="sos")
        y = scipy.signal.sosfiltfilt(sos, y, axis=-1)
    for k, start in enumerate((0, 125, 250)):
        crop = y[:, start : start + 2250]
        ref = (crop - crop.mean()) / crop.std()
        np.testing.assert_allclose(windows[k].numpy(), ref, atol=2e-5)


def test_st_mem_random_windows_are_seeded(hr_batch) -> None:
    x, fs, leads = hr_batch
    preset = get_preset("st_mem")
    a, ia = preset.prepare(
        x, fs, leads, windows="random", generator=torch.Generator().manual_seed(0)
    )
    b, _ = preset.prepare(
        x, fs, leads, windows="random", generator=torch.Generator().manual_seed(0)
    )
    assert a.shape == (3, 12, 2250) and ia.tolist() == [0, 1, 2] and torch.equal(a, b)


def test_hl_keeps_millivolts(hr1) -> None:
    x, fs, leads = hr1
    windows, _ = get_preset("hl").prepare(x, fs, leads)
    ref = scipy.signal.resample_poly(x.astype(np.float32), 1, 2, axis=-1)
    np.testing.assert_allclose(windows[0].numpy(), ref, atol=1e-5)


def test_dualview_is_per_lead_standardised(hr1) -> None:
    x, fs, leads = hr1
    windows, _ = get_preset("dualview").prepare(x, fs, leads)
    np.testing.assert_allclose(windows[0].mean(-1).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(windows[0].std(-1, correction=0).numpy(), 1.0, atol=1e-4)


@pytest.mark.parametrize("name", ["ecgfounder", "st_mem", "dualview"])
def test_batch_equals_per_record(name: str, hr_batch) -> None:
    x, fs, leads = hr_batch
    preset = get_preset(name)
    windows, index = preset.prepare(x, fs, leads)
    per = [preset.prepare(x[b], fs, leads) for b in range(3)]
    assert torch.equal(windows, torch.cat([w for w, _ in per]))
    expected_index = torch.cat([torch.full_like(i, b) for b, (_, i) in enumerate(per)])
    assert torch.equal(index, expected_index)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["ecgfounder", "st_mem", "hl"])
def test_numpy_and_torch_paths_agree(name: str, device: str, hr1) -> None:
    x, fs, leads = hr1
    preset = get_preset(name)
    ref, ref_index = preset.prepare(x, fs, leads)
    out, index = preset.prepare(torch.as_tensor(x, device=device), fs, leads)
    assert out.device.type == device and index.device.type == device
    assert torch.equal(index.cpu(), ref_index)
    np.testing.assert_allclose(out.cpu().numpy(), ref.numpy(), atol=5e-5)


def test_resampled_100hz_record_matches_500hz_record(hr1) -> None:
    x_hr, fs_hr, leads = hr1
    x_lr, fs_lr, leads_lr = _read("records100/00000/00001_lr")
    preset = get_preset("ecgfounder")
    hr, _ = preset.prepare(x_hr, fs_hr, leads)
    lr, _ = preset.prepare(x_lr, fs_lr, leads_lr)
    assert lr.shape == hr.shape == (1, 12, 5000)
    inner = slice(200, -200)
    for lead in range(12):
        r = np.corrcoef(hr[0, lead, inner].numpy(), lr[0, lead, inner].numpy())[0, 1]
        assert r > 0.98, (CANONICAL_LEADS[lead], r)


def test_lead_order_and_derived_limb_leads(hr1) -> None:
    x, fs, leads = hr1
    preset = get_preset("ecgfounder")
    ref, _ = preset.prepare(x, fs, leads)
    perm = np.random.default_rng(0).permutation(12)
    shuffled, _ = preset.prepare(x[perm], fs, [leads[i] for i in perm])
    assert torch.equal(shuffled, ref)
    keep = [0, 1, 6, 7, 8, 9, 10, 11]  # I, II, V1-V6: III, aVR, aVL, aVF derived
    derived, _ = preset.prepare(x[keep], fs, [leads[i] for i in keep])
    # PTB-XL's own limb leads are derived from I and II up to 1.5 uV of quantisation
    np.testing.assert_allclose(derived.numpy(), ref.numpy(), atol=0.03)


def test_long_record_windows(hr1) -> None:
    x, fs, leads = hr1
    long = np.concatenate([x, x, x[:, :2500]], axis=-1)  # 25 s
    preset = get_preset("dualview")
    windows, index = preset.prepare(long, fs, leads)  # "all": 0, 10 s and the last 10 s
    assert windows.shape == (3, 12, 5000) and index.tolist() == [0, 0, 0]
    ref, _ = preset.prepare(x, fs, leads)
    assert torch.allclose(windows[0], ref[0], atol=1e-5)
    assert torch.allclose(windows[1], ref[0], atol=1e-5)
    disjoint, _ = preset.prepare(long, fs, leads, windows="disjoint")
    assert disjoint.shape[0] == 2
    for mode in ("center", "first"):
        assert preset.prepare(long, fs, leads, windows=mode)[0].shape == (1, 12, 5000)


def test_short_records_padded_or_rejected(hr1, caplog) -> None:
    x, fs, leads = hr1
    preset = get_preset("ecgfounder")
    with caplog.at_level(logging.WARNING):
        windows, _ = preset.prepare(x[:, :3500], fs, leads)  # 7 s >= min 5 s: padded
    assert windows.shape == (1, 12, 5000) and "zero-padded" in caplog.text
    assert torch.all(windows[0, :, 3500:] == 0)
    body = windows[0, :, :3500]
    assert abs(float(body.mean())) < 1e-5 and abs(float(body.std(correction=0)) - 1) < 1e-4
    with pytest.raises(ValueError, match="min_length"):
        preset.prepare(x[:, :2000], fs, leads)
    assert get_preset("ecgfounder", min_length=1000).prepare(x[:, :2000], fs, leads)[0].shape == (
        1,
        12,
        5000,
    )
    with pytest.raises(ValueError, match="Drop this record"):
        get_preset("st_mem").prepare(x[:, :4000], fs, leads)  # 8 s < 9 s window


def test_nan_policy(hr1, caplog) -> None:
    x, fs, leads = hr1
    bad = x.copy()
    bad[4, 100:110] = np.nan
    with caplog.at_level(logging.WARNING):
        windows, _ = get_preset("selfmis").prepare(bad, fs, leads)  # default: zero
    assert torch.isfinite(windows).all() and "replaced 10 NaN/Inf" in caplog.text
    with pytest.raises(ValueError, match="nan_policy='zero'"):
        get_preset("st_mem").prepare(bad, fs, leads)  # default: raise
    with pytest.raises(ValueError, match="nan_policy='zero'"):
        get_preset("selfmis").prepare(bad, fs, leads, nan_policy="raise")
    assert get_preset("st_mem").prepare(bad, fs, leads, nan_policy="zero")[0].shape[0] == 2


def test_prepare_rejects_microvolts_and_bad_windows(hr1) -> None:
    x, fs, leads = hr1
    with pytest.raises(ValueError, match="units='uV'"):
        get_preset("hl").prepare(x * 1000, fs, leads)
    converted = as_signal(x * 1000, fs, leads, units="uV")  # the fix the message suggests
    np.testing.assert_allclose(
        get_preset("hl").prepare(converted, fs, leads)[0],
        get_preset("hl").prepare(x, fs, leads)[0],
        atol=1e-5,
    )
    with pytest.raises(ValueError, match="windows must be one of"):
        get_preset("hl").prepare(x, fs, leads, windows="sliding")
