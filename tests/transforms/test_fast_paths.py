"""CPU fast paths of the views and augmentations give the same results as the general paths.

Each is switched with the supported switch, ``ecgfm.transforms.set_fast_paths``:

- ``row_loops``: on the CPU, ops work in place on runs / pieces of the drawn records;
  switched off, they use the whole-batch kernels that other devices use. Same seed, same bits.
- ``numpy_zeroing``: in-place RLM / lead erasing writes through numpy (memset speed); switched
  off, the same zeros are written with ``index_put_``.
- ``huge_pages``: batch-sized outputs are allocated through numpy; switched off, by torch.

The in-place masking of the split views is the path ``ViewCollate`` takes on the batch it
owns (``ViewGenerator._generate(..., overwrite=True)``).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ecgfm.transforms import _alloc, _fill, get_fast_paths, set_fast_paths
from ecgfm.transforms import _rows as RW
from ecgfm.transforms.augment import (
    AugmentationPipeline,
    GaussianNoise,
    RemapAugmentation,
    TimeCrop,
    TimeWarp,
    artifact_ops,
    dual_view_ops,
    moco_ops,
)
from ecgfm.transforms.augment_time import _hat_basis
from ecgfm.transforms.views import CMSC, Interleave, RandomLeadMasking, Stochastic, ViewGenerator
from ecgfm.transforms.views_data import ViewCollate

FS = 500.0


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def signal(b: int, c: int, t: int, seed: int = 0) -> torch.Tensor:
    g = gen(seed)
    time = torch.arange(t, dtype=torch.float64) / FS
    freq = torch.rand((b, c, 1), generator=g, dtype=torch.float64) * 20 + 0.5
    x = torch.sin(2 * math.pi * freq * time) + 0.05 * torch.randn((b, c, t), generator=g)
    return x.float() + 0.1  # no exact zeros


def overwrite(views: ViewGenerator, x: torch.Tensor, seed: int) -> tuple:
    """The views of ``x`` made in its own memory (what ViewCollate does with its batch)."""
    return views._generate(x, None, gen(seed), True, True)


def pools(p: float) -> list:
    ops = [*dual_view_ops(FS, p), *moco_ops(FS, p), *artifact_ops(FS, p)]
    return [*ops, AugmentationPipeline(dual_view_ops(FS, p))]


@pytest.mark.parametrize(
    "dtype,p", [(torch.float32, 0.5), (torch.float32, 1.0), (torch.float64, 0.5)]
)
def test_row_loops_equal_whole_batch_kernels(dtype: torch.dtype, p: float) -> None:
    # records of 12 x 2500 samples: pieces of 17 records (RW.CHUNK_BYTES), so an op drawn for
    # all 40 records (p = 1) works on pieces 17 + 17 + 6, with p = 0.5 on short runs
    x = signal(40, 12, 2500).to(dtype)
    assert RW.chunk_records(x[0].numel()) == 17
    for op in pools(p):
        with set_fast_paths(row_loops=True):
            fast = op(x, generator=gen(5))
        with set_fast_paths(row_loops=False):
            ref = op(x, generator=gen(5))
        assert torch.equal(fast, ref), type(op).__name__


def test_stochastic_views_equal_with_and_without_row_loops() -> None:
    records = list(signal(32, 12, 1000).unbind(0))
    for loops in (True, False):
        with set_fast_paths(row_loops=loops):
            views = ViewCollate(Stochastic(fs=FS), seed=2, check_finite=False)(records)[:2]
        if loops:
            fast = [v.x.clone() for v in views]
    for a, b in zip(fast, views, strict=True):
        assert torch.equal(a, b.x)


def test_noise_is_fresh_for_every_record_and_chunk() -> None:
    # chunked draws must not repeat a field: 20 equal records of 12 x 5000 samples, drawn in
    # chunks of 8 + 8 + 4 records (RW.CHUNK_BYTES), get 20 different noise fields
    assert RW.chunk_records(12 * 5000) == 8
    x = signal(1, 12, 5000).expand(20, 12, 5000).contiguous()
    noise = GaussianNoise(1.0)(x, generator=gen(1)) - x
    flat = noise.flatten(1)
    corr = torch.corrcoef(flat)
    off = corr[~torch.eye(20, dtype=torch.bool)]
    assert float(off.abs().max()) < 0.1  # 60000 samples: independent fields, |r| ~ 0.004


@pytest.mark.parametrize("cls", [CMSC, Interleave])
@pytest.mark.parametrize("n,t", [(2, 1000), (3, 1000), (3, 1001), (4, 998)])
def test_inplace_masking_numpy_equals_index_put_and_copy(cls, n, t) -> None:
    x = signal(40, 12, t)
    make = lambda: cls(n, rlm=0.6, remainder="drop", fs=FS)  # noqa: E731
    ref = make()(x, generator=gen(4))  # out of place: a masked copy
    outs = []
    for numpy_path in (True, False):
        y = x.clone()
        with set_fast_paths(numpy_zeroing=numpy_path):
            views = overwrite(make(), y, 4)
        for a, b in zip(views, ref, strict=True):
            assert torch.equal(a.x, b.x)
        used = n * (t // n)
        assert torch.equal(y[..., used:], x[..., used:]), "dropped samples are never touched"
        outs.append(y)
    assert torch.equal(outs[0], outs[1])


@pytest.mark.parametrize("cls", [CMSC, Interleave])
def test_inplace_masking_of_non_contiguous_and_float64_batches(cls) -> None:
    base = signal(12, 10, 600).double()  # (C, B, T) memory, used as (B, C, T)
    x = base.transpose(0, 1)
    assert not x.is_contiguous()
    ref = cls(2, rlm=0.5, fs=FS)(x, generator=gen(6))
    views = overwrite(cls(2, rlm=0.5, fs=FS), x, 6)
    for a, b in zip(views, ref, strict=True):
        assert a.x.dtype == torch.float64 and torch.equal(a.x, b.x)
    # every lead masked in both views is zero over its whole length
    zero = (x == 0).all(-1)
    both = torch.stack([(v.x == 0).all(-1) for v in views]).all(0)
    assert torch.equal(zero, both) and zero.any()


def test_rlm_inplace_numpy_and_torch_paths() -> None:
    x = signal(64, 12, 200)
    a = x.clone()
    RandomLeadMasking(0.5)._mask(a, gen(8), True, True)
    b = x.clone()
    with set_fast_paths(numpy_zeroing=False):
        RandomLeadMasking(0.5)._mask(b, gen(8), True, True)
    assert torch.equal(a, b)
    # bfloat16 (no numpy dtype) goes through index_put_ as well
    c = x.to(torch.bfloat16)
    RandomLeadMasking(0.5)._mask(c, gen(8), True, True)
    assert torch.equal((c == 0).all(-1), (a == 0).all(-1))


def test_zero_at_skips_tensors_that_require_grad() -> None:
    leaf = torch.ones(3, 4, 5, requires_grad=True)
    assert not _fill.numpy_writable(leaf)
    with pytest.raises(RuntimeError, match="leaf"):
        _fill.zero_at_(leaf, (torch.tensor([0]), torch.tensor([1])))


def test_runs_and_pieces_cover_the_index_in_order() -> None:
    g = gen(3)
    for _ in range(20):
        idx = (torch.rand(200, generator=g) < 0.4).nonzero().flatten()
        rebuilt = [r for first, stop, _ in RW.runs(idx) for r in range(first, stop)]
        assert rebuilt == idx.tolist()
        for first, stop, k in RW.runs(idx):
            assert idx[k : k + stop - first].tolist() == list(range(first, stop))
        limit = RW.chunk_records(50_000)
        got = RW.pieces(idx, 50_000)
        assert all(0 < stop - first <= limit for first, stop, _ in got)
        assert [r for first, stop, _ in got for r in range(first, stop)] == idx.tolist()
    assert RW.runs(torch.tensor([], dtype=torch.int64)) == []


def test_hat_basis_is_linear_interpolation() -> None:
    knots = torch.randn(7, 1, 5, dtype=torch.float64, generator=gen(1))
    ref = F.interpolate(knots, size=1234, mode="linear", align_corners=True)
    torch.testing.assert_close(knots @ _hat_basis(5, 1234, knots.device), ref, rtol=0, atol=1e-12)


class _Reverse(RemapAugmentation):
    """A remap that only implements ``positions`` (the older subclass interface)."""

    def positions(self, n: int, n_t: int, generator) -> torch.Tensor:
        return torch.arange(n_t - 1, -1, -1, dtype=torch.float64).expand(n, 1, n_t).clone()


def test_remap_subclass_with_positions_only_still_works_and_fuses() -> None:
    ramp = torch.arange(300, dtype=torch.float64).repeat(5, 2, 1)
    y = _Reverse(1.0)(ramp, generator=gen())
    torch.testing.assert_close(y, ramp.flip(-1), atol=1e-9, rtol=0)
    ops = [_Reverse(1.0), TimeCrop(1.0, scale=(0.5, 0.7)), TimeWarp(0.5)]
    fused = AugmentationPipeline(ops)(ramp, generator=gen(2))
    g = gen(2)
    seq = ramp
    for op in ops:
        seq = op(seq, generator=g)
    torch.testing.assert_close(fused, seq, atol=1e-9, rtol=0)

    class _Nothing(RemapAugmentation):
        pass

    with pytest.raises(NotImplementedError, match="positions"):
        _Nothing(1.0)(ramp, generator=gen())


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64, torch.bfloat16])
def test_numpy_backed_outputs_equal_torch_ones(dtype: torch.dtype) -> None:
    x = signal(4, 3, 50).to(dtype)
    for src in (x, x.transpose(0, 1)):  # contiguous and not
        y = _alloc.clone(src)
        assert y.dtype == dtype and torch.equal(y, src) and y.data_ptr() != src.data_ptr()
        y.zero_()
        assert not torch.equal(y, src)  # a real copy
    e = _alloc.empty((2, 3), x)
    assert e.shape == (2, 3) and e.dtype == dtype and e.is_contiguous()
    leaf = x.float().requires_grad_()
    assert _alloc.clone(leaf).grad_fn is not None  # autograd still sees the copy


def test_masked_copies_stay_differentiable() -> None:
    x = signal(3, 12, 100).requires_grad_()
    for make in (lambda: CMSC(rlm=0.5, fs=FS), lambda: Interleave(rlm=0.5, fs=FS)):
        a, b = make()(x, generator=gen(1))
        (a.x.sum() + b.x.sum()).backward()
        assert x.grad is not None and set(x.grad.unique().tolist()) <= {0.0, 1.0}
        x.grad = None
    RandomLeadMasking(0.5)(x, generator=gen(2)).sum().backward()
    assert x.grad is not None


def test_set_fast_paths_switches_each_path_and_restores() -> None:
    x = signal(2, 3, 50)
    assert get_fast_paths() == {"row_loops": True, "huge_pages": True, "numpy_zeroing": True}
    probes = {
        "row_loops": lambda: RW.use_row_loops(x),
        "huge_pages": lambda: _alloc._numpy_memory(x),
        "numpy_zeroing": lambda: _fill.zero_through_numpy(x),
    }
    for name, taken in probes.items():
        assert taken()
        with set_fast_paths(**{name: False}) as now:
            assert now[name] is False and not taken()
            assert all(probe() for other, probe in probes.items() if other != name)
        assert taken(), f"{name} is restored when the block ends"
    with pytest.raises(RuntimeError), set_fast_paths(row_loops=False):
        raise RuntimeError
    assert RW.use_row_loops(x), "restored after an exception too"
    set_fast_paths(huge_pages=False)  # without `with`: stays in force
    try:
        assert not _alloc._numpy_memory(x) and get_fast_paths()["huge_pages"] is False
    finally:
        set_fast_paths(huge_pages=True)
    got = get_fast_paths()
    got["row_loops"] = False  # a copy: changing it changes nothing
    assert RW.use_row_loops(x)


def test_torch_allocation_gives_the_same_views() -> None:
    x = signal(16, 12, 1000)
    records = list(x.unbind(0))
    makers = (
        lambda: CMSC(rlm=0.5, fs=FS),
        lambda: Interleave(rlm=0.5, fs=FS),
        lambda: Stochastic(fs=FS),
    )
    for make in makers:
        outs = []
        for numpy_memory in (True, False):
            with set_fast_paths(huge_pages=numpy_memory):
                default = make()(x, generator=gen(3))
                collated = ViewCollate(make(), seed=3)(records)
            outs.append([v.x for v in default] + [v.x for v in collated[:2]])
        for a, b in zip(*outs, strict=True):
            assert torch.equal(a, b)
