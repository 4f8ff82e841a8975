from __future__ import annotations

import math

import pytest
import torch
from _loss_reference import masked_reconstruction as recon_ref
from hypothesis import given, settings
from hypothesis import strategies as st

from ecgfm.losses import MaskedReconstructionLoss


def _patches(shape: tuple[int, ...], seed: int, dtype: torch.dtype = torch.float64):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(shape, generator=g, dtype=dtype)
    target = torch.randn(shape, generator=g, dtype=dtype) * 2 + 0.5
    mask = torch.rand(shape[:-1], generator=g) < 0.75
    mask.view(-1)[0] = True  # never empty
    return pred, target, mask


@pytest.mark.parametrize("metric", ["mse", "l1"])
@pytest.mark.parametrize("norm_pix", [False, True])
@pytest.mark.parametrize(
    "shape",
    [(1, 1, 2), (2, 5, 3), (3, 10, 60), (2, 12, 4, 5)],  # (B, N, P) and ST-MEM's (B, L, n, P)
)
@pytest.mark.parametrize("mask_kind", ["bool", "float", "none"])
def test_matches_naive_reference(
    metric: str, norm_pix: bool, shape: tuple[int, ...], mask_kind: str
) -> None:
    pred, target, mask = _patches(shape, seed=sum(shape))
    pred.requires_grad_(True)
    m = {"bool": mask, "float": mask.double(), "none": None}[mask_kind]
    got = MaskedReconstructionLoss(metric, norm_pix=norm_pix)(pred, target, m)
    want = recon_ref(pred, target, m, metric, norm_pix=norm_pix)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    (g_got,) = torch.autograd.grad(got, pred)
    (g_want,) = torch.autograd.grad(want, pred)
    torch.testing.assert_close(g_got, g_want, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("metric", ["mse", "l1"])
def test_closed_form_constant_offset_on_masked_patches(metric: str) -> None:
    target = torch.randn(4, 9, 7, dtype=torch.float64)
    mask = torch.zeros(4, 9, dtype=torch.bool)
    mask[:, ::2] = True
    pred = target.clone()
    pred[mask] += 0.3
    pred[~mask] += 100.0  # visible patches are not counted
    got = MaskedReconstructionLoss(metric)(pred, target, mask)
    want = 0.09 if metric == "mse" else 0.3
    assert float(got) == pytest.approx(want, rel=1e-12)


def test_visible_patches_get_no_gradient() -> None:
    pred, target, mask = _patches((3, 8, 5), seed=1)
    pred.requires_grad_(True)
    MaskedReconstructionLoss("mse")(pred, target, mask).backward()
    assert torch.count_nonzero(pred.grad[~mask]) == 0
    assert torch.count_nonzero(pred.grad[mask]) > 0


def test_norm_pix_targets_are_per_patch_standardised() -> None:
    target = torch.randn(2, 6, 30, dtype=torch.float64) * 3 + 5
    mean = target.mean(-1, keepdim=True)
    std = torch.sqrt(target.var(-1, keepdim=True) + 1e-6)
    standardised = (target - mean) / std
    loss = MaskedReconstructionLoss("mse", norm_pix=True)
    # Predicting the normalised target exactly gives 0; the raw target does not.
    assert float(loss(standardised, target)) == pytest.approx(0.0, abs=1e-20)
    assert float(loss(target, target)) > 1.0
    # Affine changes of a patch do not change its normalised target.
    torch.testing.assert_close(loss(standardised, target * 4 - 2), loss(standardised, target))


def test_target_is_treated_as_constant() -> None:
    pred, target, mask = _patches((2, 4, 3), seed=2)
    target.requires_grad_(True)
    out = MaskedReconstructionLoss()(pred.requires_grad_(True), target, mask)
    out.backward()
    assert target.grad is None and pred.grad is not None


def test_bf16_is_computed_in_float32() -> None:
    pred, target, mask = _patches((2, 12, 30, 75), seed=3, dtype=torch.bfloat16)
    pred.requires_grad_(True)
    loss = MaskedReconstructionLoss("mse", norm_pix=True)
    out = loss(pred, target, mask)
    assert out.dtype == torch.float32 and torch.isfinite(out)
    torch.testing.assert_close(out, loss(pred.float(), target.float(), mask))
    out.backward()
    assert pred.grad.dtype == torch.bfloat16 and torch.isfinite(pred.grad).all()


def test_constant_patch_with_norm_pix_is_finite() -> None:
    target = torch.zeros(1, 3, 10)
    pred = torch.randn(1, 3, 10, requires_grad=True)
    out = MaskedReconstructionLoss(norm_pix=True)(pred, target)
    assert torch.isfinite(out)
    out.backward()
    assert torch.isfinite(pred.grad).all()


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="metric must be 'mse' or 'l1'"):
        MaskedReconstructionLoss("mae")
    with pytest.raises(ValueError, match="eps must be finite and > 0"):
        MaskedReconstructionLoss(eps=0.0)
    loss = MaskedReconstructionLoss()
    pred, target, mask = _patches((2, 5, 4), seed=0)
    with pytest.raises(ValueError, match="differ"):
        loss(pred, target[:, :4], mask)
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 5\)"):
        loss(pred, target, mask[:, :4])
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 5\)"):
        loss(pred, target, torch.ones(2, 5, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="values must be 0 or 1"):
        loss(pred, target, torch.full((2, 5), 0.5))
    with pytest.raises(ValueError, match="selects no patch"):
        loss(pred, target, torch.zeros(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="selects no patch"):
        loss(pred, target, torch.zeros(2, 5))
    with pytest.raises(ValueError, match="at least 3 axes"):
        loss(pred[0], target[0])
    with pytest.raises(ValueError, match="empty input"):
        loss(pred[:0], target[:0], mask[:0])
    with pytest.raises(TypeError, match="floating"):
        loss(pred.long(), target, mask)
    with pytest.raises(ValueError, match="at least 2 values per patch"):
        MaskedReconstructionLoss(norm_pix=True)(pred[..., :1], target[..., :1], mask)
    bad = target.clone()
    bad[0, 0, 0] = math.nan
    with pytest.raises(ValueError, match="non-finite"):
        loss(pred, bad, mask)


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 4),
    patches=st.integers(1, 8),
    size=st.integers(2, 6),
    seed=st.integers(0, 2**16),
    metric=st.sampled_from(["mse", "l1"]),
)
def test_property_mask_selects_what_counts(
    batch: int, patches: int, size: int, seed: int, metric: str
) -> None:
    pred, target, mask = _patches((batch, patches, size), seed)
    loss = MaskedReconstructionLoss(metric)
    base = loss(pred, target, mask)
    assert float(base) >= 0
    # Changing visible patches does not change the loss; the mean lies within the per-patch range.
    noisy = pred.clone()
    noisy[~mask] = 1e6
    torch.testing.assert_close(loss(noisy, target, mask), base)
    per_patch = [
        float(loss(pred[b : b + 1, k : k + 1], target[b : b + 1, k : k + 1]))
        for b in range(batch)
        for k in range(patches)
        if mask[b, k]
    ]
    assert min(per_patch) - 1e-12 <= float(base) <= max(per_patch) + 1e-12
