"""View generators: SelfCut, CMSC, Interleave, RLM, MultiView, Stochastic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ecgfm.leads import CANONICAL_LEADS, MissingLeadError
from ecgfm.signal import ECGRecord
from ecgfm.transforms.augment import AmplitudeScale, AugmentationPipeline, GaussianNoise
from ecgfm.transforms.views import (
    CMSC,
    Interleave,
    MultiView,
    RandomLeadMasking,
    SelfCut,
    Stochastic,
    View,
)

FS = 500.0


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def batch(b: int = 3, c: int = 12, t: int = 1000, seed: int = 0) -> torch.Tensor:
    return torch.randn((b, c, t), generator=gen(seed)) + 3.0  # no exact zeros


# -------------------------------------------------------------------------- SelfCut


@settings(max_examples=20, deadline=None)
@given(b=st.integers(1, 5), t=st.integers(12, 300), batched=st.booleans())
def test_selfcut_view_is_lead_one_exactly(b: int, t: int, batched: bool) -> None:
    x = batch(b, 12, t)
    x_in = x if batched else x[0]
    single, full = SelfCut(fs=FS)(x_in)
    assert isinstance(single, View) and single.leads == ("I",) and full.leads == CANONICAL_LEADS
    assert torch.equal(single.x[..., 0, :], x_in[..., 0, :])
    assert single.x.shape[-2] == 1
    assert torch.equal(full.x, x_in) and full.x.data_ptr() == x_in.data_ptr()  # no copy
    assert single.fs == full.fs == 500.0


def test_selfcut_other_lead_order_alias_and_derivation() -> None:
    x = batch(2, 3, 200)
    single, _ = SelfCut("lead I", leads=["II", "I", "V1"])(x, fs=FS)
    assert torch.equal(single.x[:, 0], x[:, 1])
    single, _ = SelfCut("V1", leads=["II", "I", "V1"])(x, fs=FS)
    assert torch.equal(single.x[:, 0], x[:, 2]) and single.leads == ("V1",)
    derived, _ = SelfCut("I", leads=["II", "III"], derive=True, fs=FS)(x[:, :2])
    torch.testing.assert_close(derived.x[:, 0], x[:, 0] - x[:, 1])  # I = II - III
    with pytest.raises(MissingLeadError, match="derive=True"):
        SelfCut("I", leads=["II", "III"])
    with pytest.raises(MissingLeadError, match="cannot be derived"):
        SelfCut("V2", leads=["I", "II"], derive=True)
    with pytest.raises(ValueError, match="unknown lead"):
        SelfCut("Z9")


def test_selfcut_numpy_and_record_input() -> None:
    x = batch(1, 12, 500)[0].numpy()
    single, _full = SelfCut(fs=FS)(x)
    assert isinstance(single.x, np.ndarray) and np.array_equal(single.x[0], x[0])
    rec = ECGRecord(x, 500.0, CANONICAL_LEADS, record_id="r1")
    single, _ = SelfCut()(rec)
    assert np.array_equal(single.x[0], x[0])
    with pytest.raises(ValueError, match="fs=250"):
        SelfCut(fs=FS)(ECGRecord(x, 250.0, CANONICAL_LEADS))
    with pytest.raises(ValueError, match="channels"):
        SelfCut(fs=FS)(x[:6])


# ----------------------------------------------------------------- CMSC / Interleave


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 5), h=st.integers(3, 80), b=st.integers(1, 3), c=st.integers(1, 6))
def test_cmsc_segments_concatenate_to_input(n: int, h: int, b: int, c: int) -> None:
    x = batch(b, c, n * h)
    leads = CANONICAL_LEADS[:c]
    views = CMSC(n, leads=leads, fs=FS)(x)
    assert len(views) == n and all(v.x.shape == (b, c, h) for v in views)
    assert torch.equal(torch.cat([v.x for v in views], dim=-1), x)
    assert all(v.fs == 500.0 and v.leads == leads for v in views)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 5), h=st.integers(3, 80), b=st.integers(1, 3), c=st.integers(1, 6))
def test_interleaved_views_reinterleave_to_input(n: int, h: int, b: int, c: int) -> None:
    x = batch(b, c, n * h)
    views = Interleave(n, leads=CANONICAL_LEADS[:c], fs=500.0)(x)
    assert all(v.x.shape == (b, c, h) and v.fs == 500.0 / n for v in views)
    for k, v in enumerate(views):
        assert torch.equal(v.x, x[..., k::n])
    assert torch.equal(torch.stack([v.x for v in views], dim=-1).flatten(-2), x)


@pytest.mark.parametrize("cls", [CMSC, Interleave])
def test_split_remainder_and_length_errors(cls) -> None:
    x = batch(2, 12, 999)
    with pytest.raises(ValueError, match="remainder='drop'"):
        cls(2, fs=FS)(x)
    views = cls(2, remainder="drop", fs=FS)(x)
    assert all(v.x.shape[-1] == 499 for v in views)
    with pytest.raises(ValueError, match="integer >= 2"):
        cls(1)
    with pytest.raises(ValueError, match="shorter than one sample"):
        cls(4, leads=["I"], fs=FS)(torch.ones(1, 1, 3))
    with pytest.raises(ValueError, match="remainder"):
        cls(2, remainder="pad")
    with pytest.raises(TypeError, match="rlm"):
        cls(2, rlm="yes")


@pytest.mark.parametrize("cls", [CMSC, Interleave])
def test_split_rlm_masks_whole_leads_per_view(cls) -> None:
    x = batch(200, 12, 100)
    views = cls(2, rlm=0.5, fs=FS)(x, generator=gen(1))
    plain = cls(2, fs=FS)(x)
    masks = []
    for v, ref in zip(views, plain, strict=True):
        zero = (v.x == 0).all(-1)  # (B, C)
        untouched = (v.x == ref.x).all(-1)
        assert (zero | untouched).all(), "a lead is either zeroed entirely or left as is"
        masks.append(zero)
    rate = float(torch.stack(masks).float().mean())
    assert abs(rate - 0.5) < 0.02  # 4800 Bernoulli draws: sigma = 0.007
    # the views are masked independently
    assert abs(float((masks[0] & masks[1]).float().mean()) - 0.25) < 0.03
    # the input is never modified without inplace
    assert torch.equal(x, batch(200, 12, 100))


@pytest.mark.parametrize("cls", [CMSC, Interleave])
def test_split_inplace_matches_copy_and_overwrites_input(cls) -> None:
    x = batch(8, 12, 300)
    ref = cls(3, rlm=0.4, fs=FS)(x, generator=gen(2))
    y = x.clone()
    with pytest.warns(DeprecationWarning, match="ViewCollate"):
        out = cls(3, rlm=0.4, fs=FS)(y, generator=gen(2), inplace=True)
    for a, b in zip(out, ref, strict=True):
        assert torch.equal(a.x, b.x)
    assert not torch.equal(y, x)  # masked leads were zeroed in the input


def test_split_numpy_and_single_record() -> None:
    x = batch(1, 12, 400)[0].numpy()
    a, b = CMSC(rlm=0.5, fs=FS)(x, generator=gen())
    assert isinstance(a.x, np.ndarray) and a.x.shape == (12, 200)
    a, b = Interleave(fs=FS)(x)
    assert np.array_equal(a.x, x[:, 0::2]) and np.array_equal(b.x, x[:, 1::2])


# ------------------------------------------------------------------------------- RLM


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_rlm_empirical_rate_matches_p(p: float) -> None:
    x = batch(1000, 12, 16)
    y = RandomLeadMasking(p)(x, generator=gen(3))
    zero = (y == 0).all(-1)
    assert abs(float(zero.float().mean()) - p) < 0.015  # 12000 draws: sigma <= 0.0046
    assert torch.equal(y[~zero], x[~zero])


def test_rlm_keep_one_and_rate() -> None:
    x = batch(4000, 3, 16)
    p = 0.8
    y = RandomLeadMasking(p, keep_one=True)(x, generator=gen(4))
    zero = (y == 0).all(-1)
    assert not zero.all(-1).any(), "no record may lose every lead"
    expected = p - p**3 / 3
    assert abs(float(zero.float().mean()) - expected) < 0.015


def test_rlm_on_views_inplace_and_errors() -> None:
    x = batch(50, 12, 64)
    views = CMSC(fs=FS)(x.clone())
    masked = RandomLeadMasking(0.5)(views, generator=gen(5))
    assert isinstance(masked, tuple) and all(isinstance(v, View) for v in masked)
    one = RandomLeadMasking(0.5)(views[0], generator=gen(5))
    assert torch.equal(one.x, masked[0].x)
    y = x.clone()
    with pytest.warns(DeprecationWarning, match="RandomLeadMasking"):
        RandomLeadMasking(0.5)(y, generator=gen(6), inplace=True)
    assert torch.equal(y, RandomLeadMasking(0.5)(x, generator=gen(6)))
    for bad in (-0.1, 1.1, float("nan")):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            RandomLeadMasking(bad)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        CMSC(rlm=2.0)


# -------------------------------------------------------------------------- seeding


@pytest.mark.parametrize(
    "make",
    [
        lambda: CMSC(rlm=0.5, fs=FS),
        lambda: Interleave(rlm=RandomLeadMasking(0.5, keep_one=True), fs=FS),
        lambda: Stochastic(fs=FS),
        lambda: MultiView([AugmentationPipeline([GaussianNoise(1.0)]), AmplitudeScale(1.0)], fs=FS),
    ],
)
def test_same_seed_same_views_and_per_record_randomness(make) -> None:
    x = batch(1, 12, 1000).expand(16, 12, 1000).contiguous()  # 16 copies of one record
    a = make()(x, generator=gen(7))
    b = make()(x, generator=gen(7))
    c = make()(x, generator=gen(8))
    assert all(torch.equal(u.x, v.x) for u, v in zip(a, b, strict=True))
    assert any(not torch.equal(u.x, v.x) for u, v in zip(a, c, strict=True))
    first = a[0].x
    assert any(not torch.equal(first[0], first[i]) for i in range(1, 16)), "per-record draws"


def test_stochastic_views_full_length_finite_and_different() -> None:
    x = batch(8, 12, 2500)
    v1, v2 = Stochastic(fs=250.0)(x, generator=gen(1))
    assert v1.x.shape == v2.x.shape == x.shape and v1.fs == 250.0
    assert torch.isfinite(v1.x).all() and torch.isfinite(v2.x).all()
    assert not torch.equal(v1.x, v2.x)
    before = x.clone()
    Stochastic(fs=250.0)(x)
    assert torch.equal(x, before)
    with pytest.warns(DeprecationWarning, match="Stochastic"):
        views = Stochastic(n_views=3, fs=250.0)(x, generator=gen(1), inplace=True)
    assert len(views) == 3 and views[-1].x.data_ptr() == x.data_ptr()


def test_multiview_pipelines_and_errors() -> None:
    x = batch(4, 12, 200)
    v1, v2 = MultiView([AmplitudeScale(1.0, scale=2.0), lambda t: t * 0.5], fs=FS)(x)
    torch.testing.assert_close(v1.x, 2 * x)
    torch.testing.assert_close(v2.x, 0.5 * x)
    (v,) = MultiView(lambda t: View(t[:, :1], 500.0, ("I",)), n_views=1, fs=FS)(x)
    assert v.leads == ("I",) and v.x.shape == (4, 1, 200)
    with pytest.raises(ValueError, match="n_views=3"):
        MultiView([AmplitudeScale(), AmplitudeScale()], n_views=3)
    with pytest.raises(ValueError, match="must return"):
        MultiView(lambda t: t[..., :10], fs=FS)(x)
    with pytest.raises(TypeError, match="not callable"):
        MultiView([1, 2])


def test_view_batch_errors() -> None:
    with pytest.raises(ValueError, match="NaN"):
        bad = batch(2, 12, 100)
        bad[1, 1, 1] = float("inf")
        CMSC(fs=FS)(bad)
    with pytest.raises(TypeError, match="Generator"):
        CMSC(fs=FS)(batch(), generator=1)
    with pytest.raises(ValueError, match="positive"):
        CMSC(fs=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_views_identical_on_cuda_with_cpu_generator() -> None:
    x = batch(8, 12, 1000)
    for make in (
        lambda: CMSC(rlm=0.5, fs=FS),
        lambda: Interleave(rlm=0.5, fs=FS),
        lambda: Stochastic(fs=FS),
    ):
        cpu = make()(x, generator=gen(3))
        cuda = make()(x.cuda(), generator=gen(3))
        for a, b in zip(cpu, cuda, strict=True):
            assert b.x.device.type == "cuda"
            torch.testing.assert_close(b.x.cpu(), a.x, atol=1e-4, rtol=1e-4)
