"""Catalogue of bad inputs to view generators and augmentations (style of test_bad_inputs.py).

Each case must fail with the right error type and a message that says what to do, in the
Python interface the caller used. Most are about sampling rates: an array carries none and
ecgfm assumes none, so every transform whose result depends on the rate refuses an array
without one, and every source of a rate (record, ``fs=`` with the call, ``fs=`` of the
constructor, augmentations built for a rate) must agree with the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from _catalogue import advice_test, unique_ids_test

from ecgfm.leads import CANONICAL_LEADS
from ecgfm.signal import ECGRecord
from ecgfm.transforms import set_fast_paths
from ecgfm.transforms.augment import (
    AddSine,
    AmplitudeScale,
    AugmentationPipeline,
    BaselineWander,
    GaussianNoise,
    RandomBandPass,
    dual_view_ops,
    moco_ops,
)
from ecgfm.transforms.views import CMSC, Interleave, MultiView, SelfCut, Stochastic, View
from ecgfm.transforms.views_data import ViewCollate, ViewDataset

L12 = CANONICAL_LEADS


def _x(n_t: int = 1000, n_ch: int = 12) -> np.ndarray:
    """A plausible ECG-scale signal in mV (random walk), without a sampling rate."""
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n_ch, n_t)).cumsum(-1) * 0.03).astype(np.float32)


def _rec(fs: float, n_t: int = 1000, leads: tuple[str, ...] = L12) -> ECGRecord:
    return ECGRecord(_x(n_t, len(leads)), fs, leads)


_NO_RATE = r"carries no sampling rate.*pass fs= \(Hz\) with the call or to the constructor"

# (id, call, expected exception, phrase of the message that says what to do)
BAD: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
    # --- an array alone has no sampling rate
    ("cmsc-numpy-without-fs", lambda: CMSC()(_x()), ValueError, _NO_RATE),
    ("stochastic-tensor-without-fs", lambda: Stochastic()(torch.from_numpy(_x())), ValueError,
     _NO_RATE),
    ("selfcut-batch-without-fs", lambda: SelfCut()(_x()[None]), ValueError, _NO_RATE),
    ("interleave-without-fs", lambda: Interleave(rlm=0.5)(_x()), ValueError, _NO_RATE),
    ("multiview-rate-free-ops-without-fs", lambda: MultiView(AmplitudeScale())(_x()),
     ValueError, _NO_RATE),
    ("collate-arrays-without-fs", lambda: ViewCollate(CMSC())([_x(), _x()]), ValueError,
     _NO_RATE),
    ("dataset-array-without-fs", lambda: ViewDataset([_x()], CMSC())[0], ValueError,
     _NO_RATE),
    # --- sources of the rate disagree
    ("stochastic-500-on-100hz-record", lambda: Stochastic(fs=500)(_rec(100.0)), ValueError,
     r"sampled at 100 Hz; build the generator without fs= .* or with fs=100"),
    ("call-fs-contradicts-record", lambda: CMSC()(_rec(100.0), fs=500), ValueError,
     "leave out fs="),
    ("call-fs-contradicts-constructor", lambda: CMSC(fs=500)(_x(), fs=100), ValueError,
     r"fs=100 was passed with the call; .*with fs=100"),
    ("bandpass-500-on-100hz-record", lambda: RandomBandPass(500.0)(_rec(100.0)), ValueError,
     r"build it with fs=100 \(RandomBandPass\(fs=100"),
    ("sine-500-called-with-fs-100", lambda: AddSine(500.0)(_x(), fs=100), ValueError,
     r"AddSine\(fs=100"),
    ("pipeline-500-called-with-fs-100",
     lambda: AugmentationPipeline(dual_view_ops(500.0))(_x(), fs=100), ValueError,
     r"build its ops with fs=100 \(e\.g\. dual_view_ops\(100\)\)"),
    ("pipeline-ops-of-two-rates",
     lambda: AugmentationPipeline([RandomBandPass(500.0), BaselineWander(100.0)]), ValueError,
     "build them all with the fs= of the data"),
    ("multiview-fs-contradicts-ops",
     lambda: MultiView(AugmentationPipeline(moco_ops(500.0)), fs=100), ValueError,
     r"build them with fs=100 too"),
    ("stochastic-fs-contradicts-ops", lambda: Stochastic(dual_view_ops(500.0), fs=100),
     ValueError, r"build them with fs=100 too"),
    ("stochastic-500-ops-on-100hz-record",
     lambda: Stochastic(dual_view_ops(500.0))(_rec(100.0)), ValueError,
     r"build its augmentations with fs=100"),
    ("collate-records-of-two-rates",
     lambda: ViewCollate(CMSC())([_rec(100.0), _rec(125.0)]), ValueError,
     "resample them to one rate"),
    ("collate-records-and-arrays", lambda: ViewCollate(CMSC())([_rec(100.0), _x()]),
     ValueError, "make every item an ECGRecord, or build the generator with fs="),
    # --- the rate itself is malformed
    ("fs-as-string", lambda: CMSC()(_x(), fs="500"), TypeError, "fs must be a number"),
    ("fs-zero", lambda: Stochastic()(_x(), fs=0), ValueError, "positive, finite sampling rate"),
    ("fs-nan-in-constructor", lambda: CMSC(fs=float("nan")), ValueError,
     "positive, finite sampling rate"),
    # --- other containers and layouts
    ("view-as-input", lambda: CMSC()(View(torch.zeros(12, 100), 500.0, L12)), TypeError,
     r"\(view\.x, fs=view\.fs\)"),
    ("list-of-records", lambda: CMSC()([_rec(500.0), _rec(500.0)]), TypeError,
     "feed them through ViewCollate"),
    ("list-of-records-to-an-op", lambda: GaussianNoise()([_rec(500.0)]), TypeError,
     r"np\.stack\(\[r\.signal for r in records\]\)"),
    ("nested-list", lambda: CMSC(fs=500)(_x(20, 2).tolist()), TypeError,
     r"np\.asarray\(x, dtype=np\.float32\)"),
    ("int16-counts", lambda: CMSC()(_x().astype(np.int16), fs=500), TypeError,
     "convert with ecgfm.as_signal"),
    ("time-first-array", lambda: Interleave()(_x().T, fs=500), ValueError, r"pass x\.T"),
    ("record-with-other-leads", lambda: CMSC()(_rec(500.0, leads=("I", "II"))), ValueError,
     r"record\.select\(\.\.\.\) first, or build the generator with leads="),
    ("seed-instead-of-generator", lambda: Stochastic()(_rec(500.0), generator=0), TypeError,
     r"torch\.Generator\(\)\.manual_seed\(seed\)"),
    ("odd-length-record-interleaved", lambda: Interleave()(_rec(500.0, n_t=999)), ValueError,
     "remainder='drop'"),
    # --- the in-place call and the fast-path switch
    ("apply-in-place-on-numpy", lambda: AmplitudeScale(1.0).apply_(_x()[None]), TypeError,
     r"apply_ modifies a float torch tensor \(B, C, T\).*call the op itself, op\(x\)"),
    ("apply-in-place-on-one-signal", lambda: GaussianNoise().apply_(torch.from_numpy(_x())),
     TypeError, r"shape \(12, 1000\); call the op itself, op\(x\)"),
    ("apply-in-place-on-int-batch",
     lambda: AugmentationPipeline(moco_ops(500.0)).apply_(torch.zeros(2, 12, 99).short()),
     TypeError, r"torch\.int16 tensor.*op\(x\)"),
    ("fast-path-switch-not-bool", lambda: set_fast_paths(row_loops="off"), TypeError,
     r"set_fast_paths\(row_loops=\.\.\.\) takes True, False or None"),
]  # fmt: skip


test_catalogue_ids_unique = unique_ids_test(BAD)


test_bad_input_fails_with_advice = advice_test(BAD)
