"""model.embed on bad, partial and degenerate input; the input conventions of embed/prepare.

Issue 13: volts passed silently (defect 4), one bad record killed a batch without saying which
(defect 5), degenerate records gave embeddings with only a log line (defect 7), advice named
arguments embed does not take (defect 1), and the API frictions (torch in -> torch out,
``Prepared`` unpacking, 0-d ``fs``, raw ``forward`` on unprepared input).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from _signals import band_limited_ecg as _ecg
from _tolerance import close_after_reordering, network_reduction_lengths

from ecgfm.signal import ECGQualityWarning, ECGRecord

LEADS = ["I", "II", "V1"]


def _close(model, got: np.ndarray, ref: np.ndarray, windows: int = 3) -> None:
    """Equal up to float32 reordering: the encoder's reductions, its time mean, the window mean."""
    lengths = (*network_reduction_lengths(model.encoder), model.card.input.length, windows)
    close_after_reordering(torch.as_tensor(got), torch.as_tensor(ref), *lengths)


# ---------------------------------------------------------------- defect 4: volts


def test_volts_passed_as_millivolts_are_refused(model) -> None:
    x = _ecg(10, 100)
    with pytest.raises(ValueError, match=r"probably in volts \(pass units='V'\)"):
        model.embed(x * 1e-3, fs=100, leads=LEADS)
    in_volts = model.embed(x * 1e-3, fs=100, leads=LEADS, units="V")
    _close(model, in_volts, model.embed(x, fs=100, leads=LEADS))
    with pytest.raises(ValueError, match=r"^record 1: .*volts"):  # judged per record
        model.embed(np.stack([x, x * 1e-3]), fs=100, leads=LEADS)


# ---------------------------------------------------------------- defect 5: partial results


def test_a_bad_record_is_named_and_collect_embeds_the_others(model) -> None:
    good = [_ecg(10, 100, seed=s) for s in range(3)]
    short = _ecg(1, 100, seed=7)  # 100 samples; the preset needs 200
    batch = [good[0], short, good[1], good[2] * 1e-3]
    with pytest.raises(ValueError, match=r"^record 1: .*needs at least.*errors='collect'"):
        model.embed(batch, fs=100, leads=LEADS)

    res = model.embed(batch, fs=100, leads=LEADS, errors="collect")
    assert res.indices.tolist() == [0, 2] and res.failed_indices == [1, 3]
    assert res.num_records == 4 and not res.ok
    assert "needs at least" in res.failures[0].reason
    assert "units='V'" in res.failures[1].reason and isinstance(res.failures[1].error, ValueError)
    assert "errors='collect'" not in res.failures[0].message  # no advice to do what was done
    for row, i in enumerate(res.indices):
        _close(model, res.embeddings[row], model.embed(batch[i], fs=100, leads=LEADS))
    full = res.full()
    assert full.shape == (4, 8) and np.isnan(full[[1, 3]]).all()
    np.testing.assert_array_equal(full[[0, 2]], res.embeddings)

    # rows of a (B, C, T) array and ids of ECGRecords are named too
    stacked = np.stack([good[0], good[1] * 1000.0, good[2]])
    with pytest.raises(ValueError, match=r"^record 1: amplitudes are implausible"):
        model.embed(stacked, fs=100, leads=LEADS)
    assert model.embed(stacked, fs=100, leads=LEADS, errors="collect").indices.tolist() == [0, 2]
    records = [
        ECGRecord(good[0], 100, LEADS, record_id="a"),
        ECGRecord(short, 100, LEADS, record_id="b"),
    ]
    with pytest.raises(ValueError, match=r"^record 1 \(b\): "):
        model.embed(records)
    res = model.embed(records, errors="collect")
    assert [(f.index, f.record_id) for f in res.failures] == [(1, "b")]


def test_collect_with_windows_single_records_and_nothing_left(model) -> None:
    x, short = _ecg(10, 100), _ecg(1, 100)
    res = model.embed([short, x], fs=100, leads=LEADS, reduce="none", errors="collect")
    assert res.embeddings.shape == (3, 8) and res.record_index.tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="reduce='mean'"):
        res.full()
    one = model.embed(x, fs=100, leads=LEADS, errors="collect")
    assert one.embeddings.shape == (1, 8) and one.ok  # always 2-D in a result
    none = model.embed([short, short], fs=100, leads=LEADS, errors="collect")
    assert none.embeddings.shape == (0, 8) and none.failed_indices == [0, 1]
    with pytest.raises(ValueError, match=r"'raise'.*'collect'"):
        model.embed(x, fs=100, leads=LEADS, errors="ignore")
    # errors of the call itself are not per-record: they raise in both modes
    with pytest.raises(ValueError, match=r"fs= .* required"):
        model.embed([x, x], errors="collect")


def test_prepare_collects_too(model) -> None:
    prepared = model.prepare([_ecg(10, 100), _ecg(1, 100)], fs=100, leads=LEADS,
                             errors="collect")  # fmt: skip
    assert prepared.succeeded == (0,) and [f.index for f in prepared.failures] == [1]
    assert prepared.record_index.tolist() == [0, 0, 0]


# ---------------------------------------------------------------- defect 7: degenerate input


def test_flat_leads_and_spikes_warn_an_all_flat_record_is_an_error(model) -> None:
    x = _ecg(10, 100)
    flat = x.copy()
    flat[0] = 0.0  # lead I disconnected
    with pytest.warns(ECGQualityWarning, match=r"record: lead\(s\) \['I'\] are flat"):
        emb = model.embed(flat, fs=100, leads=LEADS)
    assert np.isfinite(emb).all()
    spike = x.copy()
    spike[1, 500] = 500.0
    with pytest.warns(ECGQualityWarning, match=r"more than 25 mV .*\(II \d{3}(\.\d+)? mV\)"):
        model.embed(spike, fs=100, leads=LEADS)
    with pytest.raises(ValueError, match=r"every lead \(I, II, V1\) is flat"):
        model.embed(np.zeros_like(x), fs=100, leads=LEADS)
    # the leads the model sees decide: non-flat extra leads do not help
    extra = np.concatenate([np.zeros_like(x), _ecg(10, 100, seed=3, leads=2)])
    with pytest.raises(ValueError, match="every lead"):
        model.embed(extra, fs=100, leads=[*LEADS, "V2", "V3"])
    # a caller can turn them into errors, and collect lists them per record
    with warnings.catch_warnings():
        warnings.simplefilter("error", ECGQualityWarning)
        with pytest.raises(ECGQualityWarning):
            model.embed(flat, fs=100, leads=LEADS)
    with pytest.warns(ECGQualityWarning):
        res = model.embed([x, flat], fs=100, leads=LEADS, errors="collect")
    assert [(w.index, "flat" in w.message) for w in res.warnings] == [(1, True)]


def test_repaired_nan_is_a_quality_warning(model) -> None:
    x = _ecg(10, 100)
    x[2, 40:43] = np.nan
    with pytest.warns(ECGQualityWarning, match="3 NaN/Inf values replaced by 0"):
        out = model.embed(x, fs=100, leads=LEADS, nan_policy="zero")
    assert np.isfinite(out).all()


# ---------------------------------------------------------------- defect 1: advice in embed terms


def test_advice_names_what_embed_takes(model) -> None:
    x = _ecg(10, 100)
    counts = np.round(x * 1000).astype(np.int16)  # microvolt counts
    with pytest.raises(TypeError, match=r"ECGRecord\.from_array\(x, fs, leads, gain=") as err:
        model.embed(counts, fs=100, leads=LEADS, units="uV")
    assert "pass `gain=`" not in str(err.value)
    rec = ECGRecord.from_array(counts, 100, LEADS, units="uV", gain=1.0)  # the advice works
    assert model.embed(rec).shape == (8,)
    with pytest.raises(ValueError, match=r"ECGRecord\.from_array"):
        model.embed(x, fs=100, leads=LEADS, units="adu")
    for path in ("data/00001_lr.hea", Path("data/A00001"), ["a.hea", "b.hea"]):
        with pytest.raises(TypeError, match=r"not file names.*ecgfm\.data\.read_wfdb\(path\)"):
            model.embed(path)


# ---------------------------------------------------------------- API conventions


def test_torch_in_torch_out_numpy_in_numpy_out(model) -> None:
    x = _ecg(10, 100)
    ref = model.embed(x, fs=100, leads=LEADS)
    got = model.embed(torch.from_numpy(x), fs=100, leads=LEADS)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    _close(model, got.numpy(), ref)
    listed = model.embed([torch.from_numpy(x)] * 2, fs=100, leads=LEADS)
    assert isinstance(listed, torch.Tensor) and listed.shape == (2, 8)
    forced = model.embed(torch.from_numpy(x), fs=100, leads=LEADS, return_tensors="np")
    assert isinstance(forced, np.ndarray)
    assert isinstance(model.embed(x, fs=100, leads=LEADS, return_tensors="pt"), torch.Tensor)
    emb, index = model.embed(torch.from_numpy(x), fs=100, leads=LEADS, reduce="none")
    assert isinstance(emb, torch.Tensor) and isinstance(index, torch.Tensor)
    res = model.embed(torch.from_numpy(x), fs=100, leads=LEADS, errors="collect")
    assert isinstance(res.embeddings, torch.Tensor) and res.indices.tolist() == [0]


def test_prepared_unpacks_like_the_preset(model) -> None:
    x = _ecg(10, 100)
    windows, record_index = model.prepare(x, fs=100, leads=LEADS)
    ref_windows, ref_index = model.preset.prepare(x, 100, LEADS)
    torch.testing.assert_close(windows, ref_windows, rtol=0, atol=0)
    assert record_index.tolist() == ref_index.tolist() == [0, 0, 0]


@pytest.mark.parametrize("fs", [np.array(100), np.array(100.0), torch.tensor(100), np.int32(100)])
def test_fs_as_zero_d_array_or_tensor(model, fs) -> None:
    x = _ecg(10, 100)
    np.testing.assert_array_equal(model.embed(x, fs=fs, leads=LEADS),
                                  model.embed(x, fs=100, leads=LEADS))  # fmt: skip


def test_forward_on_unprepared_input_points_to_embed(model) -> None:
    raw = torch.from_numpy(_ecg(10, 100))[None]  # (1, 3, 1000): not a prepared window
    for call in (model, model.forward_embedding, model.forward_features):
        with pytest.raises(ValueError, match=r"\(B, 3, 400\).*model\.embed\(x, fs=\.\.\., lead"):
            call(raw)
    with pytest.raises(TypeError, match=r"as a torch tensor.*model\.prepare"):
        model(raw.numpy())
    windows, _ = model.prepare(raw[0], fs=100, leads=LEADS)
    torch.testing.assert_close(model(windows), model.encoder(windows), rtol=0, atol=0)


def test_other_containers_and_dtypes(model, tmp_path: Path) -> None:
    x = _ecg(10, 100)
    ref = model.embed(x, fs=100, leads=LEADS)
    # the same float32 values through other numpy containers: the same computation, exact
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=x.shape)
    mm[:] = x
    for same in (x.tolist(), mm, x.astype(np.float64)):
        np.testing.assert_array_equal(model.embed(same, fs=100, leads=LEADS), ref)
    # torch input is filtered by the torch implementation (scipy's to float precision)
    _close(model, model.embed(torch.from_numpy(x).double(), fs=100, leads=LEADS).numpy(), ref)
    # reduced precision: converted to float32 exactly, then the float32 computation
    x16 = x.astype(np.float16)
    ref16 = model.embed(x16.astype(np.float32), fs=100, leads=LEADS)
    np.testing.assert_array_equal(model.embed(x16, fs=100, leads=LEADS), ref16)
    xb = torch.from_numpy(x).bfloat16()
    refb = model.embed(xb.float(), fs=100, leads=LEADS)
    torch.testing.assert_close(model.embed(xb, fs=100, leads=LEADS), refb, rtol=0, atol=0)
