from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from _loss_reference import siglip as siglip_ref
from _tolerance import close_after_reordering
from hypothesis import given, settings
from hypothesis import strategies as st

from ecgfm.losses import SigLIPLoss


def _pair(b: int, d: int, seed: int, dtype: torch.dtype = torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, d, generator=g, dtype=dtype), torch.randn(b, d, generator=g, dtype=dtype)


def _grads(loss: torch.Tensor, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad(loss, tensors)


# (dim, scale, bias) combinations: SelfMIS default, SigLIP init, literal 0.07, mixed signs.
_SETTINGS = [(8, 1 / 0.07, 0.0), (16, 10.0, -10.0), (3, 0.07, 0.0), (32, 2.5, 1.5)]


@pytest.mark.parametrize("batch", [1, 2, 3, 7, 16, 64])
@pytest.mark.parametrize(("dim", "scale", "bias"), _SETTINGS)
def test_value_matches_naive_reference(batch: int, dim: int, scale: float, bias: float) -> None:
    z0, z1 = _pair(batch, dim, seed=batch * 100 + dim)
    got = SigLIPLoss(scale, bias)(z0, z1)
    want = siglip_ref(z0, z1, scale, bias)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("chunk_size", [None, 1, 3, 5])
@pytest.mark.parametrize("normalize", [True, False])
def test_gradients_match_naive_reference(chunk_size: int | None, normalize: bool) -> None:
    z0, z1 = _pair(6, 5, seed=11)
    z0.requires_grad_(True)
    z1.requires_grad_(True)
    scale = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(-1.5, dtype=torch.float64, requires_grad=True)
    loss = SigLIPLoss(normalize=normalize, chunk_size=chunk_size)
    got = loss(z0, z1, logit_scale=scale, logit_bias=bias)
    want = siglip_ref(z0, z1, scale, bias, normalize=normalize)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    for g, w in zip(
        _grads(got, z0, z1, scale, bias), _grads(want, z0, z1, scale, bias), strict=True
    ):
        torch.testing.assert_close(g.double(), w, rtol=1e-8, atol=1e-10)


def test_default_is_selfmis() -> None:
    loss = SigLIPLoss()
    assert not loss.learnable and loss.normalize
    assert loss._scale == pytest.approx(1 / 0.07) and loss._bias == 0.0
    assert list(loss.parameters()) == []
    assert "t = 0.07" in SigLIPLoss.__doc__  # the ambiguity is documented


def test_symmetric_in_its_arguments() -> None:
    z0, z1 = _pair(9, 7, seed=3)
    loss = SigLIPLoss(4.0, -2.0)
    torch.testing.assert_close(loss(z0, z1), loss(z1, z0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("batch", [1, 4, 12])
@pytest.mark.parametrize(("scale", "bias"), [(1 / 0.07, 0.0), (10.0, -10.0), (1.0, 3.0)])
def test_closed_form_aligned_and_orthogonal(batch: int, scale: float, bias: float) -> None:
    eye = torch.eye(2 * batch, dtype=torch.float64)
    aligned = eye[:batch]
    loss = SigLIPLoss(scale, bias)
    # Perfectly aligned orthonormal pairs: diagonal logit scale + bias, off-diagonal bias.
    want = F.softplus(torch.tensor(-(scale + bias))) + (batch - 1) * F.softplus(torch.tensor(bias))
    torch.testing.assert_close(loss(aligned, aligned.clone()), want.double())
    # Orthogonal sides: every logit is the bias.
    want = F.softplus(torch.tensor(-bias)) + (batch - 1) * F.softplus(torch.tensor(bias))
    torch.testing.assert_close(loss(aligned, eye[batch:]), want.double())


def test_normalization_is_by_batch_size_not_pairs() -> None:
    # With bias 0 and orthogonal embeddings every pair costs log 2: B^2 pairs / B = B log 2.
    eye = torch.eye(10, dtype=torch.float64)
    got = SigLIPLoss(5.0, 0.0)(eye[:5], eye[5:])
    assert float(got) == pytest.approx(5 * math.log(2.0), rel=1e-12)


@pytest.mark.parametrize("chunk_size", [1, 7, 49, 50, 64])
def test_chunked_equals_unchunked_value_and_gradient(chunk_size: int) -> None:
    g = torch.Generator().manual_seed(1234)
    z0 = torch.randn(50, 24, generator=g, requires_grad=True)
    z1 = torch.randn(50, 24, generator=g, requires_grad=True)
    scale = torch.tensor(10.0, requires_grad=True)
    bias = torch.tensor(-10.0, requires_grad=True)
    ref = SigLIPLoss()(z0, z1, scale, bias)
    got = SigLIPLoss(chunk_size=chunk_size)(z0, z1, scale, bias)
    # float32, chunked vs whole: dot products of 24, a sum over the 50 x 50 pair terms;
    # gradients of z sum over 50 pairs, those of scale and bias over all 2,500.
    close_after_reordering(got, ref, 24, 2500)
    for a, b in zip(
        _grads(got, z0, z1, scale, bias), _grads(ref, z0, z1, scale, bias), strict=True
    ):
        close_after_reordering(a, b, 24, 2500)


def test_chunked_gradcheck() -> None:
    z0, z1 = _pair(5, 3, seed=5)
    scale = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    z0.requires_grad_(True)
    z1.requires_grad_(True)
    loss = SigLIPLoss(chunk_size=2, check_finite=False)
    assert torch.autograd.gradcheck(lambda a, b, s, c: loss(a, b, s, c), (z0, z1, scale, bias))


def _saved_bytes(fn) -> int:
    """Largest tensor autograd saves for backward while running ``fn``."""
    largest = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal largest
        largest = max(largest, t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return largest


def test_chunking_bounds_what_autograd_keeps() -> None:
    b, d, chunk = 256, 8, 16
    z0 = torch.randn(b, d, requires_grad=True)
    z1 = torch.randn(b, d, requires_grad=True)
    plain = _saved_bytes(lambda: SigLIPLoss()(z0, z1))
    chunked = _saved_bytes(lambda: SigLIPLoss(chunk_size=chunk)(z0, z1))
    assert plain >= b * b  # the full logits matrix is kept
    assert chunked <= b * d  # only the embeddings: no (B, N) or (B, chunk) block survives


def test_learnable_scale_and_bias_receive_gradients() -> None:
    loss = SigLIPLoss(10.0, -10.0, learnable=True)
    assert {n for n, _ in loss.named_parameters()} == {"log_scale", "bias"}
    assert float(loss.log_scale.detach().exp()) == pytest.approx(10.0)
    z0, z1 = _pair(8, 4, seed=2, dtype=torch.float32)
    out = loss(z0, z1)
    out.backward()
    assert loss.log_scale.grad is not None and loss.bias.grad is not None
    assert torch.isfinite(loss.log_scale.grad) and torch.isfinite(loss.bias.grad)
    # Learning in log space: d/d(log s) = s * d/ds.
    s = torch.tensor(10.0, requires_grad=True)
    c = torch.tensor(-10.0, requires_grad=True)
    SigLIPLoss()(z0, z1, s, c).backward()
    torch.testing.assert_close(loss.log_scale.grad, 10.0 * s.grad)
    torch.testing.assert_close(loss.bias.grad, c.grad)
    with pytest.raises(ValueError, match="learns its own scale"):
        loss(z0, z1, logit_scale=2.0)


def test_frozen_teacher_gets_no_gradient_student_does() -> None:
    z0, z1 = _pair(6, 4, seed=8, dtype=torch.float32)
    z0.requires_grad_(True)
    for chunk in (None, 2):
        out = SigLIPLoss(chunk_size=chunk)(z0, z1.detach())
        (grad,) = torch.autograd.grad(out, z0)
        assert grad.abs().sum() > 0
        assert z1.grad is None


@pytest.mark.parametrize("chunk_size", [None, 3])
@pytest.mark.parametrize(("scale", "bias"), [(1e4, 0.0), (1e4, 1e3), (1e4, -1e3), (1e-4, 50.0)])
def test_extreme_logits_stay_finite(chunk_size: int | None, scale: float, bias: float) -> None:
    z0, z1 = _pair(8, 4, seed=4, dtype=torch.float32)
    z0.requires_grad_(True)
    z1.requires_grad_(True)
    out = SigLIPLoss(scale, bias, chunk_size=chunk_size)(z0, z1)
    assert torch.isfinite(out)
    for grad in _grads(out, z0, z1):
        assert torch.isfinite(grad).all()


@pytest.mark.parametrize("chunk_size", [None, 4])
def test_bf16_inputs_are_computed_in_float32(chunk_size: int | None) -> None:
    z0, z1 = _pair(16, 32, seed=6, dtype=torch.bfloat16)
    z0.requires_grad_(True)
    loss = SigLIPLoss(chunk_size=chunk_size)
    out = loss(z0, z1)
    assert out.dtype == torch.float32 and torch.isfinite(out)
    (grad,) = _grads(out, z0)
    assert grad.dtype == torch.bfloat16 and torch.isfinite(grad).all()
    torch.testing.assert_close(out, loss(z0.float(), z1.float()))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = loss(z0.float(), z1.float())
    assert inside.dtype == torch.float32
    torch.testing.assert_close(inside, out)


def test_zero_embedding_is_finite() -> None:
    z0, z1 = _pair(4, 3, seed=1)
    z0[1] = 0.0
    out = SigLIPLoss()(z0, z1)
    assert torch.isfinite(out)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"scale": 0.0}, ValueError, "scale must be finite and > 0"),
        ({"scale": -1.0}, ValueError, "scale must be finite and > 0"),
        ({"scale": math.inf}, ValueError, "scale must be finite"),
        ({"scale": math.nan}, ValueError, "scale must be finite"),
        ({"scale": "10"}, TypeError, "scale must be a real number"),
        ({"bias": math.nan}, ValueError, "bias must be finite"),
        ({"chunk_size": 0}, ValueError, "chunk_size must be >= 1"),
        ({"chunk_size": 2.5}, TypeError, "chunk_size must be a positive int"),
        ({"chunk_size": True}, TypeError, "chunk_size must be a positive int"),
        ({"gather_distributed": 1}, TypeError, "gather_distributed must be a bool"),
    ],
)
def test_invalid_hyper_parameters(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        SigLIPLoss(**kwargs)


def test_invalid_inputs() -> None:
    loss = SigLIPLoss()
    z = torch.randn(4, 8)
    with pytest.raises(ValueError, match="z1 has shape"):
        loss(z, torch.randn(5, 8))
    with pytest.raises(ValueError, match="z1 has shape"):
        loss(z, torch.randn(4, 9))
    with pytest.raises(ValueError, match="empty batch"):
        loss(torch.randn(0, 8), torch.randn(0, 8))
    with pytest.raises(ValueError, match="2-D"):
        loss(torch.randn(8), torch.randn(8))
    with pytest.raises(ValueError, match="2-D"):
        loss(torch.randn(2, 3, 8), torch.randn(2, 3, 8))
    with pytest.raises(TypeError, match="floating"):
        loss(torch.ones(4, 8, dtype=torch.long), z)
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        loss(z.numpy(), z)
    bad = z.clone()
    bad[0, 0] = math.nan
    with pytest.raises(ValueError, match=r"non-finite .* z1"):
        loss(z, bad)
    with pytest.raises(ValueError, match="logit_scale must be > 0"):
        loss(z, z, logit_scale=torch.tensor(-1.0))
    with pytest.raises(ValueError, match="logit_scale must be finite and > 0"):
        loss(z, z, logit_scale=0.0)
    with pytest.raises(ValueError, match="must be a scalar"):
        loss(z, z, logit_scale=torch.ones(2))


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 12),
    dim=st.integers(1, 6),
    seed=st.integers(0, 2**16),
    scale=st.floats(0.1, 30.0),
    bias=st.floats(-10.0, 10.0),
)
def test_property_permutation_and_rescaling_invariance(
    batch: int, dim: int, seed: int, scale: float, bias: float
) -> None:
    z0, z1 = _pair(batch, dim, seed)
    g = torch.Generator().manual_seed(seed + 1)
    perm = torch.randperm(batch, generator=g)
    row_scale = torch.rand(batch, 1, generator=g, dtype=torch.float64) * 5 + 0.1
    loss = SigLIPLoss(scale, bias)
    base = loss(z0, z1)
    assert float(base) >= 0
    torch.testing.assert_close(loss(z0[perm], z1[perm]), base)
    torch.testing.assert_close(loss(z0 * row_scale, z1), base)  # cosine: norm does not matter


@settings(max_examples=20, deadline=None)
@given(batch=st.integers(1, 20), chunk=st.integers(1, 25), seed=st.integers(0, 2**16))
def test_property_chunked_equals_unchunked(batch: int, chunk: int, seed: int) -> None:
    z0, z1 = _pair(batch, 5, seed)
    z0.requires_grad_(True)
    a = SigLIPLoss(chunk_size=chunk)(z0, z1)
    b = SigLIPLoss()(z0, z1)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(_grads(a, z0)[0], _grads(b, z0)[0], rtol=1e-10, atol=1e-12)
