"""Bad inputs of the SelfMIS RR-distillation pieces (the regression loss, RR targets, the
objective's regression term, the method's rr_weight): each fails with the right error type and
a message that says what to do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from _catalogue import advice_test, unique_ids_test

from ecgfm.losses import FeatureRegressionLoss, SigLIPLoss
from ecgfm.methods import SelfMISMethod
from ecgfm.models import create_model
from ecgfm.models.selfmis import SelfMIS
from ecgfm.train.objectives import SelfMISObjective
from ecgfm.train.rr_targets import RRTargets
from ecgfm.train.single_lead import SingleLeadRecords
from ecgfm.transforms.presets import get_preset

F = 21
P = torch.zeros(4, 3)
LEAD_I = get_preset("selfmis", leads=("I",))
TINY = {"model": "net1d_small", "model_args": {"in_channels": 1}, "teacher": "random",
        "teacher_arch": "net1d_small"}  # fmt: skip
OK = (500.0, np.zeros(F), np.ones(F))


def _objective(**kw: Any) -> SelfMISObjective:
    student = create_model("net1d_small", in_channels=1, filter_list=(16, 32, 32, 48, 48, 64, 32))
    return SelfMISObjective(SelfMIS(student, create_model("net1d_small")), SigLIPLoss(), **kw)


def _regress(obj: SelfMISObjective, **kw: Any) -> Any:
    x = torch.randn(2, 12, 400)
    return obj(obj.pair.cut_student_view(x), teacher_x=x, **kw)


def _method_rr(**kw: Any) -> Any:
    m = SelfMISMethod(**TINY, **kw)  # type: ignore[arg-type]
    return m.training_loss(m.objective, torch.randn(2, 12, 400), rr_windows=torch.randn(2, 1, 300))


def _recs() -> SingleLeadRecords:
    return SingleLeadRecords(np.zeros(600, np.float32), np.array([0, 600]), ["a"], ["a"], ["t"],
                             LEAD_I)  # fmt: skip


# (id, call, expected exception, phrase of the message that says what to do)
BAD: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
    ("loss-pred-1d", lambda: FeatureRegressionLoss()(torch.zeros(4), P), ValueError,
     r"float tensor \(B, F\)"),
    ("loss-pred-int", lambda: FeatureRegressionLoss()(P.long(), P), ValueError, "float tensor"),
    ("loss-pred-list", lambda: FeatureRegressionLoss()([[0.0]], P), ValueError, "float tensor"),
    ("loss-width-mismatch", lambda: FeatureRegressionLoss()(P, torch.zeros(4, 2)), ValueError,
     "head's width must equal the number of target features"),
    ("loss-valid-float", lambda: FeatureRegressionLoss()(P, P, torch.ones(4)), ValueError,
     r"valid must be a bool tensor \(4,\)"),
    ("loss-valid-length", lambda: FeatureRegressionLoss()(P, P, torch.ones(3, dtype=torch.bool)),
     ValueError, r"\(4,\)"),
    ("loss-nan-pred", lambda: FeatureRegressionLoss()(torch.full((4, 3), float("nan")), P),
     ValueError, "NaN"),
    ("loss-nan-valid-target", lambda: FeatureRegressionLoss()(P, torch.full((4, 3), float("nan"))),
     ValueError, "NaN/Inf"),
    ("targets-fs-zero", lambda: RRTargets(0.0, np.zeros(F), np.ones(F)), ValueError,
     "positive sampling rate"),
    ("targets-center-shape", lambda: RRTargets(500.0, np.zeros(3), np.ones(F)), ValueError,
     r"shape \(21,\)"),
    ("targets-scale-zero", lambda: RRTargets(500.0, np.zeros(F), np.zeros(F)), ValueError,
     "scale finite and > 0"),
    ("targets-clip-zero", lambda: RRTargets(*OK, clip=0.0), ValueError, "clip must be > 0"),
    ("targets-windows-int", lambda: RRTargets(*OK)(np.zeros((2, 100), np.int16)), TypeError,
     "float array/tensor"),
    ("targets-windows-12-lead", lambda: RRTargets(*OK)(np.zeros((2, 12, 100))), ValueError,
     r"pass one lead \(x\[:, :1\]\)"),
    ("targets-windows-empty", lambda: RRTargets(*OK)(np.zeros((0, 100))), ValueError,
     "B, T >= 1"),
    ("targets-fit-fs-bool", lambda: RRTargets.fit(np.zeros((8, 100)), True), ValueError,
     "positive sampling rate"),
    ("targets-state-names", lambda: RRTargets.from_state({"names": ["x"]}), ValueError,
     "names differ"),
    ("objective-regression-dim-missing", lambda: _objective(regression=FeatureRegressionLoss()),
     ValueError, "number of target features"),
    ("objective-regression-weight-zero", lambda: _objective(
        regression=FeatureRegressionLoss(), regression_weight=0.0, regression_dim=F),
     ValueError, "regression_weight must be > 0"),
    ("objective-regression-not-a-loss", lambda: _objective(
        regression=torch.nn.MSELoss(), regression_dim=F), TypeError, "FeatureRegressionLoss"),
    ("objective-x-without-term", lambda: _regress(
        _objective(), regression_x=torch.randn(2, 1, 300), regression_target=torch.zeros(2, F)),
     ValueError, r"regression=\.\.\."),
    ("objective-x-without-target", lambda: _regress(
        _objective(regression=FeatureRegressionLoss(), regression_dim=F),
        regression_x=torch.randn(2, 1, 300)), ValueError, "needs regression_target"),
    ("method-rr-weight-negative", lambda: SelfMISMethod(**TINY, rr_weight=-1.0), ValueError,
     "rr_weight must be >= 0"),
    ("method-rr-weight-string", lambda: SelfMISMethod(**TINY, rr_weight="1"), TypeError,
     "rr_weight must be a number"),
    ("method-rr-lead-ii-student", lambda: SelfMISMethod(
        **{**TINY, "model_args": {"in_channels": 1, "in_leads": ("II",)}}, rr_weight=1.0),
     ValueError, "use a lead-I student or contrast_weight=0 and rr_weight=0"),
    ("method-rr-windows-without-term", lambda: _method_rr(), ValueError,
     "build it with rr_weight > 0"),
    ("method-rr-windows-without-targets", lambda: _method_rr(rr_weight=1.0), ValueError,
     r"need rr_target and rr_valid"),
    ("method-rr-fit-sample-small", lambda: SelfMISMethod(**TINY, rr_weight=1.0).rr_targets(
        _recs(), np.array([0]), sample=4), ValueError, "sample must be an int >= 8"),
    ("windows-length-zero", lambda: _recs().random_windows([0], 0, torch.Generator()),
     ValueError, "positive int"),
    ("windows-recording-too-short", lambda: _recs().random_windows([0], 601, torch.Generator()),
     ValueError, "lengths >= length"),
]  # fmt: skip


test_catalogue_ids_are_unique = unique_ids_test(BAD, at_least=25)


test_bad_input_fails_with_advice = advice_test(BAD)
