"""FeatureRegressionLoss against a naive per-element loop, masking, gradients and refusals."""

from __future__ import annotations

import pytest
import torch

from ecgfm.losses import FeatureRegressionLoss


def _naive(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> float:
    total, count = 0.0, 0
    for i in range(pred.shape[0]):
        if not bool(valid[i]):
            continue
        for j in range(pred.shape[1]):
            total += (float(pred[i, j]) - float(target[i, j])) ** 2
            count += 1
    return total / count


def test_matches_naive_loop_with_mask() -> None:
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(9, 5, generator=g, dtype=torch.float64)
    target = torch.randn(9, 5, generator=g, dtype=torch.float64)
    valid = torch.tensor([True, False, True, True, False, True, True, True, False])
    target[~valid] = float("nan")  # undefined targets of invalid rows are ignored
    got = FeatureRegressionLoss()(pred, target, valid)
    assert got.dtype == torch.float64
    assert float(got) == pytest.approx(_naive(pred, target, valid), rel=1e-12)


def test_no_mask_is_plain_mse() -> None:
    g = torch.Generator().manual_seed(1)
    pred, target = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    got = FeatureRegressionLoss()(pred, target)
    torch.testing.assert_close(got, torch.nn.functional.mse_loss(pred, target))


def test_gradient_only_reaches_valid_rows() -> None:
    pred = torch.randn(4, 2, requires_grad=True)
    target = torch.zeros(4, 2)
    valid = torch.tensor([True, False, True, False])
    FeatureRegressionLoss()(pred, target, valid).backward()
    assert pred.grad is not None
    assert torch.all(pred.grad[~valid] == 0) and torch.all(pred.grad[valid] != 0)
    torch.testing.assert_close(pred.grad[valid], pred.detach()[valid] / 2)  # d/dp mean(p^2), n=4


def test_no_valid_row_gives_connected_zero() -> None:
    pred = torch.randn(3, 2, requires_grad=True)
    nan, none = torch.full((3, 2), float("nan")), torch.zeros(3, dtype=torch.bool)
    loss = FeatureRegressionLoss()(pred, nan, none)
    assert float(loss) == 0.0
    loss.backward()
    assert pred.grad is not None and torch.all(pred.grad == 0)


def test_bf16_predictions_are_computed_in_float32() -> None:
    pred = torch.randn(6, 4).to(torch.bfloat16)
    target = torch.randn(6, 4)
    got = FeatureRegressionLoss()(pred, target)
    assert got.dtype == torch.float32
    ref = (pred.float() - target).pow(2).mean()
    torch.testing.assert_close(got, ref)
