"""Bad inputs of ecgfm.methods.selfmis.SelfMISMethod: each fails with the right error type and a
message that says what to do (in the method's own argument names)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import torch
from _catalogue import advice_test, unique_ids_test

from ecgfm.methods.selfmis import SelfMISMethod

TINY: dict[str, Any] = {"model": "net1d_small", "model_args": {"in_channels": 1},
                        "teacher": "random", "teacher_arch": "net1d_small"}  # fmt: skip


def _method(**kw: Any) -> SelfMISMethod:
    return SelfMISMethod(**{**TINY, **kw})


@cache
def _built() -> SelfMISMethod:
    return _method()


def _x(channels: int = 12) -> torch.Tensor:
    return torch.randn(2, channels, 400)


def _loss(**kw: Any) -> Any:
    m = _built()
    return m.training_loss(m.objective, kw.pop("x", _x()), **kw)


# (id, call, expected exception, phrase of the message that says what to do)
BAD: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
    ("crop-negative", lambda: _method(crop_samples=-1), ValueError, "0 \\(whole window\\)"),
    ("crop-longer-than-window", lambda: _method(crop_samples=5001), ValueError, "at most"),
    ("crop-float", lambda: _method(crop_samples=500.0), TypeError, "must be an int"),
    ("contrast-weight-negative", lambda: _method(contrast_weight=-1.0), ValueError,
     "contrast_weight must be >= 0"),
    ("contrast-seconds-zero", lambda: _method(contrast_seconds=0.0), ValueError,
     "contrast_seconds must be > 0"),
    ("teacher-none", lambda: _method(teacher=None), TypeError, "'random' or the 12-lead"),
    ("two-lead-student", lambda: _method(model_args={"in_channels": 2, "in_leads": ["I", "II"]}),
     ValueError, "in_channels=1"),
    ("contrast-with-lead-ii-student", lambda: _method(
        model_args={"in_channels": 1, "in_leads": ["II"]}, contrast_weight=1.0),
     ValueError, "lead-I student or contrast_weight=0"),
    ("x-single-lead", lambda: _loss(x=_x(1)), ValueError, r"\(B, 12, T\)"),
    ("x-numpy", lambda: _loss(x=_x().numpy()), ValueError, "must be a tensor"),
    ("teacher-emb-width", lambda: _loss(teacher_emb=torch.zeros(2, 3)), ValueError,
     "teacher_embeddings"),
    ("views-without-contrast", lambda: _loss(views=(_x(1), _x(1))), ValueError,
     "contrast_weight > 0 or leave views out"),
    ("validation-no-batches", lambda: _built().validation_metrics([]), ValueError,
     "no validation windows"),
    ("validation-cache-rows", lambda: _built().validation_metrics(
        [_x()], teacher_emb=torch.zeros(3, _built().teacher.num_features)), ValueError,
     "records of batches, in order"),
    ("contrast-recordings-nothing", lambda: _built().contrast_recordings(), ValueError,
     "cinc_root and/or records"),
]  # fmt: skip


test_catalogue_ids_are_unique = unique_ids_test(BAD)


test_bad_input_fails_with_advice = advice_test(BAD)
