"""Sampling rates of views and augmentations: no default rate, one resolution rule.

An array carries no sampling rate. A view generator gets it from an ECGRecord, from ``fs=``
with the call, or from its own ``fs=``; with none it refuses the array (it used to assume
500 Hz: on 100 Hz data the Dual-View band-pass then cut everything above ~10 Hz and the views
were labelled 500 Hz). Augmentations built for a rate check a record's rate or a call's
``fs=`` against theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from ecgfm.leads import CANONICAL_LEADS
from ecgfm.signal import ECGRecord
from ecgfm.transforms.augment import (
    AmplitudeScale,
    AugmentationPipeline,
    GaussianNoise,
    RandomBandPass,
    dual_view_ops,
    moco_ops,
)
from ecgfm.transforms.views import CMSC, Interleave, MultiView, SelfCut, Stochastic
from ecgfm.transforms.views_data import ViewCollate, ViewDataset, _seed


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def record(fs: float, seconds: float = 4.0, seed: int = 0) -> ECGRecord:
    rng = np.random.default_rng(seed)
    n_t = round(fs * seconds)
    x = (rng.standard_normal((12, n_t)).cumsum(-1) * 0.03).astype(np.float32)
    return ECGRecord(x, fs, CANONICAL_LEADS, record_id=f"r{seed}")


GENERATORS: list[Callable[[], Any]] = [
    SelfCut,
    CMSC,
    Interleave,
    Stochastic,
    lambda: MultiView(AmplitudeScale(1.0)),  # rate-free ops: the views still need a label
]
IDS = ["SelfCut", "CMSC", "Interleave", "Stochastic", "MultiView"]


@pytest.mark.parametrize("make", GENERATORS, ids=IDS)
@pytest.mark.parametrize("kind", ["numpy", "torch", "torch-batch"])
def test_generators_refuse_arrays_without_a_rate(make: Callable[[], Any], kind: str) -> None:
    x = record(100.0).signal
    arr = {"numpy": x, "torch": torch.from_numpy(x), "torch-batch": torch.from_numpy(x)[None]}
    with pytest.raises(ValueError, match=r"carries no sampling rate.*pass fs="):
        make()(arr[kind])


@pytest.mark.parametrize("make", GENERATORS, ids=IDS)
def test_generators_label_views_with_the_resolved_rate(make: Callable[[], Any]) -> None:
    rec = record(100.0)
    factor = 2 if make is Interleave else 1
    from_record = make()(rec, generator=gen(1))
    from_call = make()(rec.signal, fs=100.0, generator=gen(1))
    assert all(v.fs == 100.0 / factor for v in (*from_record, *from_call))
    for a, b in zip(from_record, from_call, strict=True):
        assert np.array_equal(a.x, b.x)  # same draws, same result: the source does not matter


def test_stochastic_default_pool_is_built_for_the_inputs_rate() -> None:
    rec = record(100.0)
    views = Stochastic()(rec, generator=gen(3))
    # the same as the Dual-View pool explicitly built for 100 Hz, applied twice
    ref = MultiView(AugmentationPipeline(dual_view_ops(100.0)))(rec.signal, generator=gen(3))
    for a, b in zip(views, ref, strict=True):
        assert a.fs == b.fs == 100.0 and np.array_equal(a.x, b.x)
    (pool,) = set(Stochastic().transforms_for(100.0))
    band = [op for op in pool.ops if isinstance(op, RandomBandPass)]
    assert len(band) == 1 and band[0].fs == 100.0 and band[0].high_hz[1] < 50.0
    # built for a rate: the pool is that rate's, and other rates are refused
    assert Stochastic(fs=100.0).ops.fs == 100.0
    with pytest.raises(ValueError, match=r"sampled at 100 Hz.*fs=100"):
        Stochastic(fs=500.0)(rec)


def test_rate_sources_must_agree() -> None:
    rec = record(100.0)
    with pytest.raises(ValueError, match="leave out fs="):
        CMSC()(rec, fs=500.0)
    with pytest.raises(ValueError, match=r"built for fs=500 Hz but fs=250 was passed"):
        CMSC(fs=500.0)(rec.signal, fs=250.0)
    with pytest.raises(ValueError, match="built for fs=500 Hz but the record is sampled at 100"):
        SelfCut(fs=500.0)(rec)
    a, _ = CMSC(fs=100.0)(rec.signal, fs=100.0)  # agreeing sources are fine
    assert a.fs == 100.0
    with pytest.raises(TypeError, match="fs must be a number"):
        CMSC()(rec.signal, fs="100")


def test_multiview_and_stochastic_take_the_rate_of_their_augmentations() -> None:
    rec = record(100.0)
    mv = MultiView(AugmentationPipeline(moco_ops(100.0)))
    assert mv.fs == 100.0
    assert all(v.fs == 100.0 for v in mv(rec.signal, generator=gen()))
    with pytest.raises(ValueError, match=r"fs=100 too"):
        MultiView(AugmentationPipeline(moco_ops(500.0)), fs=100.0)
    st = Stochastic(dual_view_ops(500.0))
    assert st.fs == 500.0
    with pytest.raises(ValueError, match=r"build its augmentations with fs=100"):
        st(rec)
    with pytest.raises(ValueError, match="different sampling rates"):
        MultiView([AugmentationPipeline(moco_ops(500.0)), AugmentationPipeline(moco_ops(100.0))])


def test_pipeline_rate_is_the_common_rate_of_its_ops() -> None:
    assert AugmentationPipeline(dual_view_ops(250.0)).fs == 250.0
    assert AugmentationPipeline([GaussianNoise(), AmplitudeScale()]).fs is None
    with pytest.raises(ValueError, match="different sampling rates 100, 500 Hz"):
        AugmentationPipeline([*dual_view_ops(500.0), *dual_view_ops(100.0)])


def test_augmentations_take_records_and_check_their_rate() -> None:
    rec = record(100.0)
    before = rec.signal.copy()
    op = RandomBandPass(100.0, p=1.0)
    out = op(rec, generator=gen(4))
    assert isinstance(out, ECGRecord) and out is not rec and out.fs == 100.0
    assert out.record_id == rec.record_id and out.leads == rec.leads
    assert np.array_equal(out.signal, op(before, generator=gen(4)))
    assert np.array_equal(rec.signal, before), "the input record is left as it was"
    with pytest.warns(DeprecationWarning, match="RandomBandPass"):
        same = op(rec, generator=gen(4), inplace=True)
    assert same is rec and np.array_equal(rec.signal, out.signal)
    with pytest.raises(ValueError, match=r"RandomBandPass\(fs=100"):
        RandomBandPass(500.0)(rec)
    with pytest.raises(ValueError, match=r"dual_view_ops\(100\)"):
        AugmentationPipeline(dual_view_ops(500.0))(rec.signal, fs=100.0)
    # ops that do not depend on the rate take any record and any fs=
    assert GaussianNoise(1.0)(record(250.0), generator=gen()).fs == 250.0
    assert GaussianNoise(1.0)(rec.signal, fs=77.0).shape == rec.signal.shape


def test_view_data_pipelines_pass_each_records_rate() -> None:
    recs = [record(100.0, seed=i) for i in range(4)]
    a, b, _ = ViewCollate(Stochastic(), seed=0)(recs)
    assert a.fs == b.fs == 100.0 and a.x.shape == (4, 12, 400)
    batch = torch.stack([torch.from_numpy(r.signal) for r in recs])
    ref_a, _ = Stochastic(fs=100.0)(batch, generator=gen(_seed(0, 0, -1, 0)))
    assert torch.equal(a.x, ref_a.x)
    item = ViewDataset(recs, Interleave(), seed=0)[1]
    assert item[0].fs == 50.0 and item[-1]["record_id"] == "r1"
    with pytest.raises(ValueError, match="carries no sampling rate"):
        ViewCollate(CMSC())([r.signal for r in recs])
    with pytest.raises(ValueError, match="carries no sampling rate"):
        ViewDataset([r.signal for r in recs], CMSC())[0]
    with pytest.raises(ValueError, match="differ in sampling rate"):
        ViewCollate(CMSC())([record(100.0), record(125.0, seconds=3.2)])
    with pytest.raises(ValueError, match="mixes ECGRecords and plain arrays"):
        ViewCollate(CMSC())([recs[0], recs[1].signal])
    a, _, _ = ViewCollate(CMSC(fs=100.0))([recs[0], recs[1].signal])  # the rate is given
    assert a.fs == 100.0
