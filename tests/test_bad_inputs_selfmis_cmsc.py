"""Bad inputs of the SelfMIS + CMSC pieces (single-lead recordings, the contrast term): each
fails with the right error type and a message that says what to do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from _catalogue import advice_test, unique_ids_test

from ecgfm.losses import PatientContrastiveLoss, SigLIPLoss
from ecgfm.models import create_model
from ecgfm.models.selfmis import SelfMIS
from ecgfm.train.objectives import SelfMISObjective
from ecgfm.train.single_lead import SingleLeadRecords
from ecgfm.transforms.presets import get_preset

LEAD_I = get_preset("selfmis", leads=("I",))


def _recs(lengths: tuple[int, ...] = (600, 300)) -> SingleLeadRecords:
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    ids = [f"r{i}" for i in range(len(lengths))]
    return SingleLeadRecords(
        np.zeros(offsets[-1], np.float32), offsets, ids, ids, ["t"] * len(ids), LEAD_I
    )


def _objective(**kw: Any) -> SelfMISObjective:
    student = create_model("net1d_small", in_channels=1, filter_list=(16, 32, 32, 48, 48, 64, 32))
    pair = SelfMIS(student, create_model("net1d_small"))
    return SelfMISObjective(pair, SigLIPLoss(), **kw)


def _views_without_contrast() -> Any:
    x = torch.randn(2, 12, 400)
    obj = _objective()
    return obj(obj.pair.cut_student_view(x), teacher_x=x, views=(x[:, :1], x[:, :1]))


def _views_without_ids() -> Any:
    x = torch.randn(2, 12, 400)
    obj = _objective(contrast=PatientContrastiveLoss())
    return obj(obj.pair.cut_student_view(x), teacher_x=x, views=(x[:, :1], x[:, :1]))


# (id, call, expected exception, phrase of the message that says what to do)
BAD: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
    ("twelve-lead-preset", lambda: SingleLeadRecords(
        np.zeros(4, np.float32), np.array([0, 4]), ["a"], ["a"], ["t"], get_preset("selfmis")),
     ValueError, r"leads=\('I',\)"),
    ("offsets-not-rising", lambda: SingleLeadRecords(
        np.zeros(4, np.float32), np.array([0, 3, 2, 4]), "abc", "abc", "ttt", LEAD_I),
     ValueError, "rise from 0"),
    ("ids-per-record", lambda: SingleLeadRecords(
        np.zeros(4, np.float32), np.array([0, 4]), ["a", "b"], ["a"], ["t"], LEAD_I),
     ValueError, "one entry per record"),
    ("view-length-zero", lambda: _recs().pair_views([0], 0, torch.Generator()),
     ValueError, "positive int"),
    ("view-index-out-of-range", lambda: _recs().pair_views([2], 100, torch.Generator()),
     IndexError, "out of range"),
    ("recording-shorter-than-a-view", lambda: _recs().pair_views([1], 400, torch.Generator()),
     ValueError, "leave it out"),
    ("concat-nothing", lambda: SingleLeadRecords.concat([]), ValueError, "at least one"),
    ("cinc-storage-dtype", lambda: SingleLeadRecords.from_cinc2017(
        ".", LEAD_I, storage_dtype="int8"), ValueError, "storage_dtype must be one of"),
    ("cinc-max-records", lambda: SingleLeadRecords.from_cinc2017(".", LEAD_I, max_records=0),
     ValueError, "max_records must be None or >= 1"),
    ("contrast-weight-zero", lambda: _objective(
        contrast=PatientContrastiveLoss(), contrast_weight=0.0), ValueError, "contrast_weight"),
    ("views-without-contrast", _views_without_contrast, ValueError, r"contrast=\.\.\."),
    ("patient-loss-without-ids", _views_without_ids, ValueError, "view_ids"),
]  # fmt: skip


test_catalogue_ids_are_unique = unique_ids_test(BAD)


test_bad_input_fails_with_advice = advice_test(BAD)
