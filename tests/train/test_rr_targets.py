"""RR-distillation targets: robust standardisation (checked on given raw features), the
round trip of their statistics, and, with the optional neurokit2, features of ECGs whose
rhythm is known."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from ecgfm.rhythm import RR_FEATURE_NAMES
from ecgfm.train import rr_targets as rt
from ecgfm.train.rr_targets import RR_TARGET_NAMES, RRTargets

HAVE_NK = importlib.util.find_spec("neurokit2") is not None
F = len(RR_TARGET_NAMES)


def _fake_raw(values: np.ndarray):
    def raw(windows, fs, *, nk=None):
        return values[: len(windows)]

    return raw


def test_targets_are_the_rr_features_without_the_failure_flag() -> None:
    assert RR_FEATURE_NAMES[:-1] == RR_TARGET_NAMES and F == 21
    assert "detection_failed" not in RR_TARGET_NAMES


def test_fit_uses_median_and_iqr_of_the_valid_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    raw = rng.normal(50.0, 7.0, (40, F))
    raw[:, 3] = 2.0  # constant feature: IQR and SD are 0 -> scale 1
    raw[:5, 4] = raw[5, 4]  # many ties but some spread: IQR may be 0, SD is not
    raw[[2, 9]] = np.nan  # two windows without R-peaks
    monkeypatch.setattr(rt, "raw_rr_features", _fake_raw(raw))
    t = RRTargets.fit(np.zeros((40, 100)), 500.0)
    good = raw[~np.isnan(raw).any(axis=1)]
    q75, q25 = np.percentile(good, [75, 25], axis=0)
    iqr_scale = (q75 - q25) / 1.349
    np.testing.assert_allclose(t.center, np.median(good, axis=0))
    np.testing.assert_allclose(t.scale[iqr_scale > 0], iqr_scale[iqr_scale > 0])
    assert t.scale[3] == 1.0
    # targets of new windows: (raw - median) / scale, clipped; invalid rows NaN and not valid
    new = rng.normal(50.0, 40.0, (6, F))
    new[4] = np.nan
    monkeypatch.setattr(rt, "raw_rr_features", _fake_raw(new))
    target, valid = t(torch.zeros(6, 1, 100))
    assert target.dtype == torch.float32 and target.shape == (6, F)
    assert valid.tolist() == [True, True, True, True, False, True]
    want = np.clip((new - t.center) / t.scale, -5.0, 5.0)
    np.testing.assert_allclose(target[valid].numpy(), want[valid.numpy()], rtol=1e-6, atol=1e-6)
    assert torch.isnan(target[4]).all()
    assert float(target[valid].abs().max()) <= 5.0


def test_fit_refuses_when_too_few_windows_have_r_peaks(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = np.full((20, F), np.nan)
    raw[:7] = 1.0
    monkeypatch.setattr(rt, "raw_rr_features", _fake_raw(raw))
    with pytest.raises(ValueError, match="only 7 of 20 windows"):
        RRTargets.fit(np.zeros((20, 100)), 500.0)


def test_state_round_trip() -> None:
    t = RRTargets(250.0, np.arange(F, dtype=float), np.arange(1, F + 1, dtype=float), clip=3.0)
    back = RRTargets.from_state(t.state())
    assert back.fs == 250.0 and back.clip == 3.0
    np.testing.assert_array_equal(back.center, t.center)
    np.testing.assert_array_equal(back.scale, t.scale)
    with pytest.raises(ValueError, match="names"):
        RRTargets.from_state({**t.state(), "names": ["x"] * F})


@pytest.mark.skipif(not HAVE_NK, reason="neurokit2 is not installed (optional)")
def test_simulated_ecgs_give_their_heart_rate() -> None:
    import neurokit2 as nk

    fs = 500
    windows = np.stack([
        nk.ecg_simulate(duration=10, sampling_rate=fs, heart_rate=hr, noise=0.0, random_state=i)
        for i, hr in enumerate((50, 70, 100, 130))
    ])  # fmt: skip
    raw = rt.raw_rr_features(windows, fs)
    assert np.isfinite(raw).all()
    hr = raw[:, RR_TARGET_NAMES.index("hr_mean_bpm")]
    np.testing.assert_allclose(hr, [50, 70, 100, 130], atol=3.0)
    # a flat line has no R-peaks: that window is invalid, not imputed
    flat = np.vstack([windows[:1], np.zeros((1, 10 * fs))])
    t = RRTargets(fs, np.zeros(F), np.ones(F))
    target, valid = t(torch.from_numpy(flat)[:, None].float())
    assert valid.tolist() == [True, False] and torch.isnan(target[1]).all()
