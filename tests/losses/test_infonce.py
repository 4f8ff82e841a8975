from __future__ import annotations

import math

import pytest
import torch
from _loss_reference import infonce as infonce_ref
from _tolerance import close_after_reordering
from hypothesis import given, settings
from hypothesis import strategies as st

from ecgfm.losses import InfoNCELoss


def _pair(b: int, d: int, seed: int, dtype: torch.dtype = torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, d, generator=g, dtype=dtype), torch.randn(b, d, generator=g, dtype=dtype)


def _grads(loss: torch.Tensor, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad(loss, tensors)


_OPTIONS = [
    {"symmetric": True, "include_intra_view": False},
    {"symmetric": False, "include_intra_view": False},
    {"symmetric": True, "include_intra_view": True},
    {"symmetric": False, "include_intra_view": True},
]


@pytest.mark.parametrize("batch", [1, 2, 5, 16, 64])
@pytest.mark.parametrize(("dim", "temperature"), [(8, 0.1), (3, 0.5), (32, 0.07), (16, 1.0)])
def test_value_matches_naive_reference(batch: int, dim: int, temperature: float) -> None:
    z0, z1 = _pair(batch, dim, seed=batch * 31 + dim)
    got = InfoNCELoss(temperature)(z0, z1)
    want = infonce_ref(z0, z1, temperature)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("options", _OPTIONS)
@pytest.mark.parametrize("batch", [1, 3, 12])
@pytest.mark.parametrize("num_negatives", [0, 4])
def test_options_match_naive_reference(options: dict, batch: int, num_negatives: int) -> None:
    z0, z1 = _pair(batch, 6, seed=batch + num_negatives)
    negatives = _pair(num_negatives, 6, seed=99)[0] if num_negatives else None
    got = InfoNCELoss(0.2, **options)(z0, z1, negatives)
    want = infonce_ref(z0, z1, 0.2, negatives=negatives, **options)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("options", _OPTIONS)
@pytest.mark.parametrize("chunk_size", [None, 1, 4])
def test_gradients_match_naive_reference(options: dict, chunk_size: int | None) -> None:
    z0, z1 = _pair(5, 4, seed=21)
    negatives = _pair(3, 4, seed=22)[0]
    for t in (z0, z1, negatives):
        t.requires_grad_(True)
    got = InfoNCELoss(0.3, chunk_size=chunk_size, **options)(z0, z1, negatives)
    want = infonce_ref(z0, z1, 0.3, negatives=negatives, **options)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    for g, w in zip(_grads(got, z0, z1, negatives), _grads(want, z0, z1, negatives), strict=True):
        torch.testing.assert_close(g, w, rtol=1e-8, atol=1e-10)


def test_symmetric_in_its_arguments() -> None:
    z0, z1 = _pair(10, 6, seed=4)
    for intra in (False, True):
        loss = InfoNCELoss(0.1, include_intra_view=intra)
        torch.testing.assert_close(loss(z0, z1), loss(z1, z0), rtol=1e-12, atol=1e-12)
    one_way = InfoNCELoss(0.1, symmetric=False)
    both = InfoNCELoss(0.1)(z0, z1)
    torch.testing.assert_close((one_way(z0, z1) + one_way(z1, z0)) / 2, both)


@pytest.mark.parametrize("batch", [1, 3, 8])
@pytest.mark.parametrize("temperature", [0.05, 0.1, 1.0])
def test_closed_forms(batch: int, temperature: float) -> None:
    eye = torch.eye(2 * batch, dtype=torch.float64)
    loss = InfoNCELoss(temperature)
    # Aligned orthonormal pairs: the positive has logit 1/t, the B-1 negatives 0.
    want = math.log(1 + (batch - 1) * math.exp(-1 / temperature))
    assert float(loss(eye[:batch], eye[:batch].clone())) == pytest.approx(want, rel=1e-12)
    # Orthogonal views: every logit is 0, a uniform guess among B candidates.
    assert float(loss(eye[:batch], eye[batch:])) == pytest.approx(math.log(batch), abs=1e-12)
    # NT-Xent on aligned orthonormal pairs: positive 1/t, own-view negatives 0, plus the
    # other pairs' partner: 2B - 2 negatives with logit 0.
    want = math.log(1 + (2 * batch - 2) * math.exp(-1 / temperature))
    got = InfoNCELoss(temperature, include_intra_view=True)(eye[:batch], eye[:batch].clone())
    assert float(got) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("intra", [False, True])
def test_batch_of_one_is_zero_with_zero_gradient(intra: bool) -> None:
    z0, z1 = _pair(1, 8, seed=0)
    z0.requires_grad_(True)
    out = InfoNCELoss(0.1, include_intra_view=intra)(z0, z1)
    assert float(out.detach()) == 0.0
    assert torch.count_nonzero(_grads(out, z0)[0]) == 0
    # With extra negatives there is something to contrast again.
    assert float(InfoNCELoss(0.1)(z0, z1, _pair(4, 8, seed=1)[0]).detach()) > 0


@pytest.mark.parametrize("chunk_size", [1, 7, 39, 40, 41])
@pytest.mark.parametrize("options", _OPTIONS)
def test_chunked_equals_unchunked(chunk_size: int, options: dict) -> None:
    g = torch.Generator().manual_seed(77)
    z0 = torch.randn(40, 16, generator=g, requires_grad=True)
    z1 = torch.randn(40, 16, generator=g, requires_grad=True)
    negatives = torch.randn(9, 16, generator=g, requires_grad=True)
    ref = InfoNCELoss(0.07, **options)(z0, z1, negatives)
    got = InfoNCELoss(0.07, chunk_size=chunk_size, **options)(z0, z1, negatives)
    # float32, chunked vs whole: dot products of 16, log-sum-exp over <= 2 * 40 + 9 logits,
    # mean over <= 80 rows; gradients sum over the same logits once more.
    close_after_reordering(got, ref, 16, 89, 80)
    tensors = (z0, z1, negatives)
    for a, b in zip(_grads(got, *tensors), _grads(ref, *tensors), strict=True):
        close_after_reordering(a, b, 16, 89, 89)


def test_chunked_gradcheck() -> None:
    z0, z1 = _pair(4, 3, seed=9)
    z0.requires_grad_(True)
    z1.requires_grad_(True)
    loss = InfoNCELoss(0.5, include_intra_view=True, chunk_size=3, check_finite=False)
    assert torch.autograd.gradcheck(lambda a, b: loss(a, b), (z0, z1))


def test_chunking_bounds_what_autograd_keeps() -> None:
    b, d = 256, 8
    z0 = torch.randn(b, d, requires_grad=True)
    z1 = torch.randn(b, d, requires_grad=True)
    largest = {}
    for chunk in (None, 16):

        def pack(t: torch.Tensor, key=chunk) -> torch.Tensor:
            largest[key] = max(largest.get(key, 0), t.numel())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            InfoNCELoss(0.1, include_intra_view=True, chunk_size=chunk)(z0, z1)
    assert largest[None] >= b * 2 * b
    assert largest[16] <= 2 * b * d  # embeddings (own + other view), never a logits block


@pytest.mark.parametrize("chunk_size", [None, 3])
@pytest.mark.parametrize("temperature", [1e-4, 1e4])
def test_extreme_temperatures_stay_finite(chunk_size: int | None, temperature: float) -> None:
    z0, z1 = _pair(8, 4, seed=3, dtype=torch.float32)
    z0.requires_grad_(True)
    z1.requires_grad_(True)
    out = InfoNCELoss(temperature, include_intra_view=True, chunk_size=chunk_size)(z0, z1)
    assert torch.isfinite(out)
    assert all(torch.isfinite(g).all() for g in _grads(out, z0, z1))


@pytest.mark.parametrize("chunk_size", [None, 5])
def test_bf16_inputs_are_computed_in_float32(chunk_size: int | None) -> None:
    z0, z1 = _pair(16, 32, seed=6, dtype=torch.bfloat16)
    z0.requires_grad_(True)
    loss = InfoNCELoss(0.1, chunk_size=chunk_size)
    out = loss(z0, z1)
    assert out.dtype == torch.float32 and torch.isfinite(out)
    (grad,) = _grads(out, z0)
    assert grad.dtype == torch.bfloat16 and torch.isfinite(grad).all()
    torch.testing.assert_close(out, loss(z0.float(), z1.float()))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = loss(z0.float(), z1.float())
    assert inside.dtype == torch.float32
    torch.testing.assert_close(inside, out)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"temperature": 0.0}, ValueError, "temperature must be finite and > 0"),
        ({"temperature": -0.1}, ValueError, "temperature must be finite and > 0"),
        ({"temperature": math.inf}, ValueError, "temperature must be finite"),
        ({"temperature": math.nan}, ValueError, "temperature must be finite"),
        ({"temperature": None}, TypeError, "temperature must be a real number"),
        ({"chunk_size": -2}, ValueError, "chunk_size must be >= 1"),
    ],
)
def test_invalid_hyper_parameters(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        InfoNCELoss(**kwargs)


def test_invalid_inputs() -> None:
    loss = InfoNCELoss()
    z = torch.randn(4, 8)
    with pytest.raises(ValueError, match="z1 has shape"):
        loss(z, torch.randn(3, 8))
    with pytest.raises(ValueError, match="empty batch"):
        loss(torch.randn(0, 8), torch.randn(0, 8))
    with pytest.raises(ValueError, match="2-D"):
        loss(torch.randn(4, 8, 1), torch.randn(4, 8, 1))
    with pytest.raises(TypeError, match="floating"):
        loss(z, torch.zeros(4, 8, dtype=torch.int32))
    with pytest.raises(ValueError, match="negatives must be"):
        loss(z, z, torch.randn(5, 7))
    with pytest.raises(ValueError, match="negatives is an empty batch"):
        loss(z, z, torch.randn(0, 8))
    bad = z.clone()
    bad[2, 3] = math.inf
    with pytest.raises(ValueError, match=r"non-finite .* z0"):
        loss(bad, z)
    # check_finite=False skips the host sync and lets the NaN through (documented).
    assert not torch.isfinite(InfoNCELoss(check_finite=False)(bad, z))


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 12),
    dim=st.integers(1, 6),
    seed=st.integers(0, 2**16),
    temperature=st.floats(0.05, 2.0),
    intra=st.booleans(),
)
def test_property_invariances_and_bounds(
    batch: int, dim: int, seed: int, temperature: float, intra: bool
) -> None:
    z0, z1 = _pair(batch, dim, seed)
    g = torch.Generator().manual_seed(seed + 1)
    perm = torch.randperm(batch, generator=g)
    row_scale = torch.rand(batch, 1, generator=g, dtype=torch.float64) * 5 + 0.1
    loss = InfoNCELoss(temperature, include_intra_view=intra)
    base = loss(z0, z1)
    candidates = (2 * batch - 1) if intra else batch
    # Cross-entropy with logits in [-1/t, 1/t]: 0 <= loss <= log(candidates) + 2/t.
    assert 0.0 <= float(base) <= math.log(candidates) + 2 / temperature + 1e-9
    torch.testing.assert_close(loss(z0[perm], z1[perm]), base)
    torch.testing.assert_close(loss(z0 * row_scale, z1), base)


@settings(max_examples=20, deadline=None)
@given(batch=st.integers(1, 16), chunk=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_property_chunked_equals_unchunked(batch: int, chunk: int, seed: int) -> None:
    z0, z1 = _pair(batch, 4, seed)
    z1.requires_grad_(True)
    a = InfoNCELoss(0.2, include_intra_view=True, chunk_size=chunk)(z0, z1)
    b = InfoNCELoss(0.2, include_intra_view=True)(z0, z1)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(_grads(a, z1)[0], _grads(b, z1)[0], rtol=1e-10, atol=1e-12)
