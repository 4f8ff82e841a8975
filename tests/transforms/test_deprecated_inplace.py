"""``inplace=`` of the views, augmentations and ViewCollate: deprecated for one release.

It is still accepted, with a ``DeprecationWarning`` that says what to do instead, and still
honoured; leaving it out warns nothing. ViewCollate keeps working in place on its own batch.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from ecgfm.transforms.augment import AmplitudeScale, AugmentationPipeline, dual_view_ops
from ecgfm.transforms.views import CMSC, RandomLeadMasking, Stochastic
from ecgfm.transforms.views_data import ViewCollate

FS = 500.0


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def batch() -> torch.Tensor:
    return torch.randn(6, 12, 400, generator=gen(9)) + 0.1


def test_leaving_inplace_out_warns_nothing_and_keeps_the_input() -> None:
    x = batch()
    before = x.clone()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CMSC(rlm=0.5, fs=FS)(x, generator=gen())
        RandomLeadMasking(0.5)(x, generator=gen())
        AmplitudeScale(1.0)(x, generator=gen())
        Stochastic(fs=FS)(x, generator=gen())
        ViewCollate(CMSC(rlm=0.5, fs=FS), seed=0)(list(x.unbind(0)))
    assert torch.equal(x, before)


@pytest.mark.parametrize(
    ("call", "who", "advice"),
    [
        (lambda x: CMSC(rlm=0.9, fs=FS)(x, generator=gen(), inplace=True), "CMSC", "ViewCollate"),
        (lambda x: RandomLeadMasking(0.9)(x, generator=gen(), inplace=True), "RandomLeadMasking",
         "ViewCollate"),
        (lambda x: AmplitudeScale(1.0)(x, generator=gen(), inplace=True), "AmplitudeScale",
         r"op\.apply_\(x\)"),
        (lambda x: AugmentationPipeline(dual_view_ops(FS, 1.0))(x, generator=gen(), inplace=True),
         "AugmentationPipeline", r"op\.apply_\(x\)"),
    ],
)  # fmt: skip
def test_inplace_true_warns_and_is_honoured(call, who: str, advice: str) -> None:
    x = batch()
    before = x.clone()
    with pytest.warns(DeprecationWarning, match=rf"{who}\(\.\.\., inplace=\.\.\.\).*{advice}"):
        call(x)
    assert not torch.equal(x, before), "inplace=True still modifies the input"


def test_inplace_false_warns_and_leaves_the_input() -> None:
    x = batch()
    before = x.clone()
    with pytest.warns(DeprecationWarning, match="deprecated"):
        out = AmplitudeScale(1.0)(x, generator=gen(), inplace=False)
    assert torch.equal(x, before) and not torch.equal(out, x)


def test_view_collate_inplace_keyword_is_deprecated_and_views_are_unchanged() -> None:
    records = list(batch().unbind(0))
    ref = ViewCollate(CMSC(rlm=0.5, fs=FS), seed=4)(records)
    for value in (True, False):
        with pytest.warns(DeprecationWarning, match="ViewCollate always works in place"):
            collate = ViewCollate(CMSC(rlm=0.5, fs=FS), seed=4, inplace=value)
        got = collate(records)
        assert all(torch.equal(a.x, b.x) for a, b in zip(got[:2], ref[:2], strict=True))
