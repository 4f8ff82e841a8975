"""Step objects: equality with the functional API, fs/lead bookkeeping, config round trips."""

from __future__ import annotations

import dataclasses
import json
import logging

import numpy as np
import pytest
import torch

from ecgfm.leads import CANONICAL_LEADS, MissingLeadError
from ecgfm.transforms import functional as Fn
from ecgfm.transforms.preprocessing import (
    BandPass,
    Compose,
    Crop,
    FitLength,
    HighPass,
    LowPass,
    Notch,
    Pad,
    RemoveBaseline,
    RepairNonFinite,
    Resample,
    SelectLeads,
    Step,
    ZScore,
)

FS = 500.0
LEADS = CANONICAL_LEADS


@pytest.fixture
def ecg() -> np.ndarray:
    """(2, 12, 3000) float32 random walk in mV-like units."""
    rng = np.random.default_rng(7)
    return (rng.standard_normal((2, 12, 3000)).cumsum(-1) * 0.02).astype(np.float32)


# Each step with the functional call it must equal.
STEP_CASES = [
    (BandPass(0.5, 45.0, order=3), lambda x: Fn.bandpass(x, FS, 0.5, 45.0, 3)),
    (HighPass(0.67, order=5), lambda x: Fn.highpass(x, FS, 0.67, 5)),
    (LowPass(40.0, order=5), lambda x: Fn.lowpass(x, FS, 40.0, 5)),
    (Notch(60.0, q=25.0), lambda x: Fn.notch(x, FS, 60.0, 25.0)),
    (RemoveBaseline(kernel_size=101), lambda x: Fn.remove_baseline(x, FS, 101)),
    (RemoveBaseline(kernel_seconds=0.2, mode="nearest"),
     lambda x: Fn.remove_baseline(x, FS, kernel_seconds=0.2, mode="nearest")),
    (ZScore("lead", eps=1e-6), lambda x: Fn.zscore(x, "lead", 1e-6)),
    (Crop(1000, "end"), lambda x: Fn.crop(x, 1000, "end")),
    (Pad(4000, "reflect", side="both"), lambda x: Fn.pad(x, 4000, "reflect", side="both")),
    (FitLength(2500), lambda x: Fn.fit_length(x, 2500)),
]  # fmt: skip


@pytest.mark.parametrize(("step", "fn"), STEP_CASES, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("as_torch", [False, True])
def test_step_equals_functional_and_passes_fs_leads(step, fn, ecg, as_torch) -> None:
    x = torch.from_numpy(ecg) if as_torch else ecg
    out, fs, leads = step(x, FS, LEADS)
    assert fs == FS and leads == LEADS
    assert type(out) is type(x)
    expected = fn(x)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(expected))


def test_resample_step_sets_fs(ecg: np.ndarray) -> None:
    out, fs, leads = Resample(250, "fft")(ecg, FS, LEADS)
    assert fs == 250.0 and leads == LEADS and out.shape == (2, 12, 1500)
    np.testing.assert_array_equal(out, Fn.resample(ecg, FS, 250, "fft"))


def test_select_leads_step_sets_leads_and_derives(ecg: np.ndarray) -> None:
    eight = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
    x8 = ecg[:, [0, 1, 6, 7, 8, 9, 10, 11]]
    out, fs, leads = SelectLeads(["aVF", "I", "III"])(x8, FS, eight)
    assert leads == ("aVF", "I", "III") and fs == FS
    np.testing.assert_allclose(out[:, 0], x8[:, 1] - x8[:, 0] / 2, atol=1e-6)
    np.testing.assert_allclose(out[:, 2], x8[:, 1] - x8[:, 0], atol=1e-6)
    with pytest.raises(MissingLeadError, match="derive=True"):
        SelectLeads(["III"], derive=False)(x8, FS, eight)
    with pytest.raises(ValueError, match="pass leads="):
        SelectLeads(["I"])(x8, FS, None)


def test_repair_step_zeroes_nonfinite_with_warning(ecg, caplog) -> None:
    bad = ecg.copy()
    bad[0, 3, 10:15] = np.nan
    bad[1, 0, 0] = np.inf
    with caplog.at_level(logging.WARNING):
        out, _, _ = RepairNonFinite()(bad, FS, LEADS)
    assert np.isfinite(out).all() and np.all(out[0, 3, 10:15] == 0)
    assert "replaced 6 NaN/Inf" in caplog.text


ALL_STEPS = [
    RepairNonFinite(),
    SelectLeads(["I", "avr", "V6"], derive=False),
    Resample(250, "fft"),
    BandPass(),
    HighPass(0.5, 2),
    LowPass(35.0),
    Notch(60.0),
    RemoveBaseline(kernel_size=201),
    RemoveBaseline(kernel_seconds=0.3, mode="mirror"),
    ZScore("lead", 0.0),
    Crop(2250, "random"),
    Pad(5000, "edge", side="start"),
    FitLength(100, crop_mode="start", pad_mode="reflect", pad_side="both"),
    Compose([]),
    Compose([Notch(), Compose([BandPass(), ZScore()])]),
]


@pytest.mark.parametrize("step", ALL_STEPS, ids=repr)
def test_config_json_round_trip(step: Step) -> None:
    cfg = step.to_config()
    assert cfg["type"] == type(step).__name__
    rebuilt = Step.from_config(json.loads(json.dumps(cfg)))
    assert rebuilt == step and type(rebuilt) is type(step)
    assert rebuilt.to_config() == cfg


def test_repr_is_readable() -> None:
    assert repr(BandPass()) == "BandPass(low=0.67, high=40.0, order=4)"
    assert repr(SelectLeads(["avr"])) == "SelectLeads(leads=('aVR',), derive=True)"
    text = repr(Compose([Notch(50.0), Compose([ZScore()])]))
    assert text.splitlines()[0] == "Compose(["
    assert "    Notch(freq=50.0, q=30.0)," in text
    assert "        ZScore(axis_mode='all', eps=1e-08)," in text


def test_steps_are_frozen_and_hashable() -> None:
    step = BandPass()
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.low = 1.0  # type: ignore[misc]
    assert len({BandPass(), BandPass(), LowPass()}) == 2


def test_compose_applies_in_order_and_tracks_fs_leads(ecg: np.ndarray) -> None:
    pipe = Compose(
        [SelectLeads(["V1", "I"]), Resample(250), BandPass(order=2), ZScore("lead"), Crop(1000)]
    )
    out, fs, leads = pipe(ecg, FS, LEADS)
    assert fs == 250.0 and leads == ("V1", "I") and out.shape == (2, 2, 1000)
    manual = ecg[:, [6, 0]]
    manual = Fn.resample(manual, FS, 250)
    manual = Fn.crop(Fn.zscore(Fn.bandpass(manual, 250, order=2), "lead"), 1000)
    np.testing.assert_array_equal(out, manual)
    assert len(pipe) == 5 and isinstance(pipe[1], Resample) and list(pipe) == list(pipe.steps)


def test_compose_numpy_and_torch_agree(ecg: np.ndarray) -> None:
    pipe = Compose([Resample(360), Notch(60.0), BandPass(), RemoveBaseline(), ZScore("all")])
    out_np, _, _ = pipe(ecg, FS, LEADS)
    out_t, _, _ = pipe(torch.from_numpy(ecg), FS, LEADS)
    assert out_t.dtype == torch.float32
    np.testing.assert_allclose(out_t.numpy(), out_np, atol=2e-5)


def test_compose_forwards_generator(ecg: np.ndarray) -> None:
    pipe = Compose([Crop(500, "random"), ZScore()])
    x = torch.from_numpy(ecg)
    a, _, _ = pipe(x, FS, LEADS, generator=torch.Generator().manual_seed(1))
    b, _, _ = pipe(x, FS, LEADS, generator=torch.Generator().manual_seed(1))
    c, _, _ = pipe(x, FS, LEADS, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_step_validation_errors(ecg: np.ndarray) -> None:
    with pytest.raises(ValueError, match="low < high"):
        BandPass(40.0, 1.0)
    with pytest.raises(ValueError, match="positive integer"):
        LowPass(order=0)
    with pytest.raises(ValueError, match="odd"):
        RemoveBaseline(kernel_size=200)
    with pytest.raises(ValueError, match="axis_mode"):
        ZScore("time")
    with pytest.raises(ValueError, match="'fft'"):
        Resample(250, "linear")
    with pytest.raises(TypeError, match="list of steps"):
        Compose(BandPass())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not an ecgfm preprocessing Step"):
        Compose([lambda x: x])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="one name per channel"):
        ZScore()(ecg, FS, LEADS[:6])
    with pytest.raises(ValueError, match="Nyquist"):
        LowPass(300.0)(ecg, FS, LEADS)


def test_from_config_errors() -> None:
    with pytest.raises(KeyError, match="did you mean BandPass"):
        Step.from_config({"type": "Bandpass"})
    with pytest.raises(ValueError, match="parameters are"):
        Step.from_config({"type": "ZScore", "axis": "all"})
    with pytest.raises(ValueError, match="'type' key"):
        Step.from_config({"low": 1.0})
