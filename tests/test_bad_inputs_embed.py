"""Catalogue of bad inputs to ``PretrainedEncoder.embed`` / ``prepare`` / ``forward`` and to
the datasets' indexing (issue 13): each fails with the right error type and advice that names
what the embed interface takes, or is embedded with an :class:`ECGQualityWarning`. Nothing
passes silently.

The model is the ``dualview-small-cmsc`` checkpoint (12 leads, 100 Hz, 5 s windows; kept in
artifacts/ since it left the registry, loaded from its directory); the raw
``forward`` case of the issue ("patch size 75") uses ``st-mem-tiny``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from _catalogue import advice_test, unique_ids_test

from ecgfm.data import ArrayDataset
from ecgfm.hub import PretrainedEncoder, from_pretrained
from ecgfm.leads import CANONICAL_LEADS
from ecgfm.signal import ECGQualityWarning, ECGRecord

L12 = list(CANONICAL_LEADS)
FS = 100


DUALVIEW = str(Path(__file__).resolve().parents[1] / "artifacts/dualview-small-cmsc/checkpoint")


@cache
def _model(name: str = DUALVIEW) -> PretrainedEncoder:
    return from_pretrained(name)


def _ecg(n_ch: int = 12, n_t: int = 1000, seed: int = 0) -> np.ndarray:
    """Plausible ECG-scale signal in mV (random walk, about +-1 mV), 10 s at 100 Hz."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n_ch, n_t)).cumsum(-1) * 0.03).astype(np.float32)


def _embed(x: Any, *args: Any, **kwargs: Any) -> Any:
    return _model().embed(x, *args, **kwargs)


def _with(value: float, lead: int = 1, at: int = 500) -> np.ndarray:
    x = _ecg()
    x[lead, at] = value
    return x


def _flat_lead_i() -> np.ndarray:
    x = _ecg()
    x[0] = 0.0
    return x


def _records(*signals: np.ndarray) -> list[ECGRecord]:
    return [ECGRecord(s, FS, L12, record_id=f"r{i}") for i, s in enumerate(signals)]


# (id, call, expected exception, phrase of the message that says what to do)
BAD: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
    # --- units: amplitude plausibility judged per record (defect 4)
    ("volts-as-mV", lambda: _embed(_ecg() * 1e-3, FS, L12), ValueError, r"pass units='V'"),
    ("microvolts-as-mV", lambda: _embed(_ecg() * 1e3, FS, L12), ValueError, r"pass units='uV'"),
    ("adc-counts-as-float", lambda: _embed(np.round(_ecg() * 200), FS, L12), ValueError,
     r"raw ADC counts \(embed takes physical units"),
    ("int16-counts-with-units", lambda: _embed((_ecg() * 1e3).astype(np.int16), FS, L12,
                                               units="uV"),
     TypeError, r"ECGRecord\.from_array\(x, fs, leads, gain=\.\.\., baseline=\.\.\.\)"),
    ("int-tensor-counts", lambda: _embed(torch.from_numpy((_ecg() * 1e3).astype(np.int32)), FS,
                                         L12),
     TypeError, r"x_mV = \(x - baseline\) / gain"),
    ("units-adu", lambda: _embed(_ecg(), FS, L12, units="adu"), ValueError,
     r"embed takes physical units"),
    ("units-mmHg", lambda: _embed(_ecg(), FS, L12, units="mmHg"), ValueError,
     "accepts mV, uV/µV, V or nV"),
    ("units-number", lambda: _embed(_ecg(), FS, L12, units=1000), TypeError,
     "string such as 'mV'"),
    ("volts-row-of-batch", lambda: _embed(np.stack([_ecg(), _ecg(seed=1) * 1e-3]), FS, L12),
     ValueError, r"^record 1: .*units='V'"),
    # --- containers that are not signals (defect 1: say how to read a file)
    ("path-string", lambda: _embed("records100/00000/00001_lr.hea"), TypeError,
     r"ecgfm\.data\.read_wfdb\(path\)"),
    ("path-object", lambda: _embed(Path("A00001")), TypeError, r"read_wfdb\(path\)"),
    ("list-of-paths", lambda: _embed(["A00001", "A00002"]), TypeError, "ecgfm embed NAME path"),
    ("pandas-frame", lambda: _embed(pd.DataFrame(_ecg().T, columns=L12), FS, L12), TypeError,
     r"df\.to_numpy\(dtype='float32'\)\.T with leads=list\(df\.columns\)"),
    ("dict-of-leads", lambda: _embed(dict(zip(L12, _ecg(), strict=True)), FS, L12), TypeError,
     r"np\.stack\(list\(d\.values\(\)\)\) with leads=list\(d\)"),
    ("generator", lambda: _embed((x for x in [_ecg()]), FS, L12), TypeError,
     r"pass list\(\.\.\.\)"),
    ("dataset-object", lambda: _embed(ArrayDataset(_ecg()[None], FS, L12)), TypeError,
     r"dataset\[0:100\]"),
    ("list-of-1d-leads", lambda: _embed([_ecg(2)[0], _ecg(2)[1]], FS, ["I", "II"]), ValueError,
     r"np\.stack\(leads_list\)"),
    ("ragged-nested-list", lambda: _embed([[0.1, 0.2, 0.3], [0.1, 0.2]], FS, ["I", "II"]),
     TypeError, r"rectangular \(C, T\) array"),
    ("mixed-records-and-arrays", lambda: _embed([*_records(_ecg()), _ecg()], FS, L12), TypeError,
     "not a mix"),
    ("empty-list", lambda: _embed([], FS, L12), ValueError, "pass at least one record"),
    ("empty-batch-array", lambda: _embed(np.zeros((0, 12, 1000), np.float32), FS, L12),
     ValueError, r"B = 0"),
    # --- shape, rate and lead names
    ("record-T-C", lambda: _embed(_ecg().T, FS, L12), ValueError, r"pass x\.T"),
    ("batch-B-T-C", lambda: _embed(np.stack([_ecg().T] * 2), FS, L12), ValueError,
     r"x\.swapaxes\(-1, -2\)"),
    ("fs-missing", lambda: _embed(_ecg()), ValueError, r"fs= \(Hz\) and leads="),
    ("fs-one-element-array", lambda: _embed(_ecg(), np.array([FS]), L12), TypeError,
     "pass a scalar such as fs=500"),
    ("fs-string", lambda: _embed(_ecg(), "100", L12), TypeError, r"must be a number \(Hz\)"),
    ("fs-bool-tensor", lambda: _embed(_ecg(), torch.tensor(True), L12), TypeError,
     r"must be a number \(Hz\)"),
    ("fs-zero-d-zero", lambda: _embed(_ecg(), np.array(0.0), L12), ValueError, "positive"),
    ("leads-comma-string", lambda: _embed(_ecg(2), FS, "I,II"), TypeError, "not the string"),
    ("leads-header-name-ECG", lambda: _embed(_ecg(1), 300, ["ECG"]), ValueError,
     "pass `leads=` explicitly"),
    ("leads-missing-precordial", lambda: _embed(_ecg(2), FS, ["I", "II"]), KeyError,
     "choose a model/preset that does not need it"),
    # --- records carry their own metadata
    ("record-with-fs", lambda: _embed(_records(_ecg())[0], fs=250), ValueError, "drop fs="),
    ("record-with-units", lambda: _embed(_records(_ecg())[0], units="uV"), ValueError,
     r"ECGRecord\.from_array\(\.\.\., units=\)"),
    # --- one bad record of many is named, and can be collected (defect 5)
    ("short-record-in-list", lambda: _embed([_ecg(), _ecg(n_t=100)], FS, L12), ValueError,
     r"^record 1: .*needs at least.*errors='collect'"),
    ("bad-row-of-batch", lambda: _embed(np.stack([_ecg(), _with(np.nan)]), FS, L12), ValueError,
     r"^record 1: 1 NaN/Inf values.*nan_policy='zero'"),
    ("bad-record-id", lambda: _embed(_records(_ecg(), _ecg(n_t=100))), ValueError,
     r"^record 1 \(r1\): "),
    ("errors-ignore", lambda: _embed(_ecg(), FS, L12, errors="ignore"), ValueError,
     "'collect' \\(embed the others"),
    ("call-error-not-collected", lambda: _embed([_ecg()], errors="collect"), ValueError,
     r"fs= \(Hz\) and leads= .* are required"),
    # --- degenerate content (defect 7)
    ("all-leads-flat", lambda: _embed(np.zeros((12, 1000), np.float32), FS, L12), ValueError,
     r"every lead \(I, II, .*\) is flat"),
    ("all-leads-constant-offset", lambda: _embed(np.full((12, 1000), 0.7, np.float32), FS, L12),
     ValueError, "there is no signal to embed"),
    ("complex", lambda: _embed(_ecg().astype(np.complex64), FS, L12), TypeError, r"x\.real"),
    ("bool", lambda: _embed(np.ones((12, 1000), bool), FS, L12), TypeError, "float32 millivolts"),
    # --- options
    ("return-tensors-tf", lambda: _embed(_ecg(), FS, L12, return_tensors="tf"), ValueError,
     r"None, 'np' or 'pt'"),
    ("windows-random", lambda: _embed(_ecg(), FS, L12, windows="random"), ValueError,
     "deterministic"),
    ("reduce-max", lambda: _embed(_ecg(), FS, L12, reduce="max"), ValueError, "'mean' or 'none'"),
    # --- raw forward on unprepared input (API friction)
    ("forward-raw-record", lambda: _model()(torch.from_numpy(_ecg())[None]), ValueError,
     r"\(B, 12, 500\) .*model\.embed\(x, fs=\.\.\., leads=\.\.\.\)"),
    ("forward-numpy", lambda: _model().forward_embedding(_ecg()[None]), TypeError,
     r"as a torch tensor.*model\.prepare"),
    ("forward-st-mem-10s", lambda: _model("st-mem-tiny")(torch.zeros(1, 12, 2500)), ValueError,
     r"\(B, 12, 2250\) = leads .* at 250 Hz, 2250 samples \(9 s\)"),
    # --- dataset indexing
    ("dataset-index-list", lambda: ArrayDataset(_ecg()[None], FS, L12)[[0]], TypeError,
     r"integers or slices.*\[ds\[i\] for i in indices\]"),
    ("dataset-index-float", lambda: ArrayDataset(_ecg()[None], FS, L12)[0.0], TypeError,
     "integers or slices"),
]  # fmt: skip


test_catalogue_is_large_and_ids_unique = unique_ids_test(BAD, at_least=40)


test_bad_input_fails_with_advice = advice_test(BAD)


# (id, call, phrase of the ECGQualityWarning): embedded, and visible without reading logs
DEGENERATE: list[tuple[str, Callable[[], Any], str]] = [
    ("flat-lead-I", lambda: _embed(_flat_lead_i(), FS, L12), r"lead\(s\) \['I'\] are flat"),
    ("spike-500-mV", lambda: _embed(_with(500.0), FS, L12),
     r"more than 25 mV .*\(II \d{3}(\.\d+)? mV\)"),
    ("negative-saturation", lambda: _embed(_with(-40.0, lead=7), FS, L12),
     r"more than 25 mV .*\(V2 \d\d(\.\d+)? mV\)"),
    ("nan-repaired", lambda: _embed(_with(np.nan), FS, L12, nan_policy="zero"),
     "1 NaN/Inf values replaced by 0"),
    ("flat-record-in-batch", lambda: _embed(_records(_ecg(), _flat_lead_i()), errors="collect"),
     r"^record 1 \(r1\): lead\(s\) \['I'\] are flat"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("call", "phrase"), [c[1:] for c in DEGENERATE], ids=[c[0] for c in DEGENERATE]
)
def test_degenerate_input_warns(call: Callable[[], Any], phrase: str) -> None:
    with pytest.warns(ECGQualityWarning, match=phrase):
        out = call()
    emb = out.embeddings if hasattr(out, "embeddings") else out
    assert np.isfinite(np.asarray(emb)).all()
