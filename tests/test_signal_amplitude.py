"""Amplitude plausibility (units) and content quality of ECG input (issue 13, defects 4 and 7).

The bounds are judged on :func:`lead_amplitude` (99th percentile of ``|x - median|`` per lead)
of a record's largest lead. On every real record shipped in ../shared/data (1732 PTB-XL records
at 100 Hz, 422 at 500 Hz, 4280 CinC 2017 records) it lies in [0.128, 10.23] mV; the records at
both ends are checked here, in mV, in volts and in microvolts. The full sweep is the slow tests
``test_every_record_reads_at_both_rates`` / ``test_every_record_and_segment_reads`` (reading
a record runs the same check).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from ecgfm.data import read_wfdb
from ecgfm.leads import CANONICAL_LEADS
from ecgfm.signal import (
    ECGQualityWarning,
    ECGRecord,
    as_signal,
    check_fs,
    check_quality,
    lead_amplitude,
)

# (path under data/, the header's channel renaming): the lowest and highest largest-lead
# amplitude of the shipped real data, and the PTB-XL record with the smallest single lead.
EXTREMES = [
    ("cinc2017/A00818", {"ECG": "I"}),  # largest lead 0.128 mV (the minimum)
    ("ptbxl/records100/00000/00710_lr", None),  # 10.23 mV (the maximum)
    ("ptbxl/records100/00000/00773_lr", None),  # one lead at 0.079 mV
]


def _ecg(n_ch: int = 12, n_t: int = 2000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n_ch, n_t)).cumsum(-1) * 0.03).astype(np.float32)


@pytest.mark.parametrize(("name", "rename"), EXTREMES, ids=[e[0] for e in EXTREMES])
def test_real_extremes_pass_and_their_unit_mistakes_do_not(
    data_dir: Path, name: str, rename: dict[str, str] | None
) -> None:
    rec = read_wfdb(data_dir / name, rename=rename)  # reading runs as_signal's check
    amp = lead_amplitude(rec.signal)
    assert amp.min() > 0.07 and 0.12 < amp.max() < 10.5
    for scale, units in ((1e-3, "V"), (1e3, "uV")):
        with pytest.raises(ValueError, match=f"units='{units}'"):
            as_signal(rec.signal * scale, rec.fs, rec.leads)
        back = as_signal(rec.signal * scale, rec.fs, rec.leads, units=units)
        np.testing.assert_allclose(back, rec.signal, rtol=4 * np.finfo(np.float32).eps, atol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ECGQualityWarning)  # no flat lead, no spike
        check_quality(rec.signal, rec.leads)


def test_lead_amplitude_is_robust_and_per_lead() -> None:
    x = _ecg(3, 4000)
    ref = lead_amplitude(x)
    shifted = x + np.float32(40.0)  # a baseline offset does not count
    np.testing.assert_allclose(lead_amplitude(shifted), ref, rtol=1e-4)
    spiky = x.copy()
    spiky[1, 100] = 500.0  # one sample does not move a 99th percentile much
    assert abs(lead_amplitude(spiky)[1] - ref[1]) < 0.05 * ref[1]
    np.testing.assert_allclose(lead_amplitude(torch.from_numpy(x)), ref, rtol=1e-12)
    batch = lead_amplitude(np.stack([x, 2 * x]))
    assert batch.shape == (2, 3)
    np.testing.assert_allclose(batch[1], 2 * ref, rtol=1e-6)


def test_lower_bound_is_per_record_and_flat_leads_do_not_count() -> None:
    x = _ecg()
    x[3:] = 0.0  # nine flat leads: the record is judged on its largest lead
    assert as_signal(x, 500, CANONICAL_LEADS).shape == (12, 2000)
    with pytest.raises(ValueError, match=r"batch rows \[1\] \(1 of 3\).*units='V'"):
        as_signal(np.stack([x, x * 1e-3, x]), 500, CANONICAL_LEADS)
    with pytest.raises(ValueError, match=r"batch rows \[0, 2\] \(2 of 3\).*units='uV'"):
        as_signal(np.stack([x * 1e3, x, x * 1e3]), 500, CANONICAL_LEADS)
    # a record whose leads are all constant says nothing about units (check_quality refuses it)
    assert as_signal(np.zeros((12, 100), np.float32), 500, CANONICAL_LEADS).shape == (12, 100)
    assert as_signal(x * 1e-3, 500, CANONICAL_LEADS, check_amplitude=False).shape == (12, 2000)


def test_advice_matches_the_interface_used() -> None:
    x = _ecg()
    with pytest.raises(ValueError, match=r"pass units='V'.*check_amplitude=False"):
        as_signal(x * 1e-3, 500, CANONICAL_LEADS)
    with pytest.raises(ValueError, match=r"ECGRecord\.from_array\(x, fs, leads, units='V'\)"):
        ECGRecord(x * 1e-3, 500, CANONICAL_LEADS)
    with pytest.raises(ValueError, match=r"pass units='V'\), or the record is flat") as err:
        ECGRecord.from_array(x * 1e-3, 500, CANONICAL_LEADS)
    assert "check_amplitude" not in str(err.value)  # from_array has no such argument
    rec = ECGRecord.from_array(x * 1e-3, 500, CANONICAL_LEADS, units="V")
    np.testing.assert_allclose(rec.signal, x, rtol=4 * np.finfo(np.float32).eps)


FS_VALUES = [
    500, 500.0, np.float32(500), np.int64(500), np.array(500), np.array(500.0),
    torch.tensor(500), torch.tensor(500.0),
]  # fmt: skip


@pytest.mark.parametrize("fs", FS_VALUES, ids=lambda v: f"{type(v).__name__}-{v!r}")
def test_check_fs_accepts_scalars_and_0d_arrays(fs: object) -> None:
    assert check_fs(fs) == 500.0 and type(check_fs(fs)) is float


def test_check_quality_policy() -> None:
    x = _ecg(3, 2000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ECGQualityWarning)
        clean = check_quality(x, ["I", "II", "V1"])
    assert clean.flat_leads == () and clean.spikes == {} and clean.problems() == []
    x[0] = 0.0
    x[2, 7] = -600.0
    with pytest.warns(ECGQualityWarning) as seen:
        q = check_quality(torch.from_numpy(x), ["I", "II", "V1"], what="rec 9")
    assert q.flat_leads == ("I",) and list(q.spikes) == ["V1"]
    assert [str(w.message)[:30] for w in seen] == [
        "rec 9: lead(s) ['I'] are flat ",
        "rec 9: samples more than 25 mV",
    ]
    with pytest.raises(ValueError, match=r"every lead .* is flat"):
        check_quality(np.full((2, 100), 0.3, np.float32), ["I", "II"])
