from __future__ import annotations

import logging

import numpy as np
import pytest

from ecgfm.eval.metrics import bootstrap_ci, macro_auprc, macro_auroc, macro_f1, one_hot


def _naive_auroc(y: np.ndarray, s: np.ndarray) -> float:
    """Probability that a random positive outranks a random negative (ties count 1/2)."""
    pos, neg = s[y == 1], s[y == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_macro_auroc_equals_naive_pairwise_definition() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    s = rng.normal(size=(60, 3)) + one_hot(y, 3) * 0.8
    expect = np.mean([_naive_auroc((y == k).astype(int), s[:, k]) for k in range(3)])
    assert macro_auroc(y, s) == pytest.approx(expect, abs=1e-12)


def test_perfect_and_inverted_rankings() -> None:
    y = np.array([0, 1, 2, 0, 1, 2])
    s = one_hot(y, 3).astype(float)
    assert macro_auroc(y, s) == 1.0
    assert macro_auroc(y, -s) == 0.0
    assert macro_auprc(y, s) == 1.0
    assert macro_f1(y, s) == 1.0


def test_class_without_positives_is_excluded_and_reported(caplog) -> None:
    y = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    s = np.array([[0.9, 0.1], [0.2, 0.3], [0.8, 0.5], [0.1, 0.2]])
    with caplog.at_level(logging.WARNING):
        assert macro_auroc(y, s) == 1.0
    assert "excluded" in caplog.text and "[1]" in caplog.text


def test_multilabel_f1_uses_threshold() -> None:
    y = np.array([[1, 0], [0, 1], [1, 1]])
    s = np.array([[0.9, 0.2], [0.1, 0.7], [0.6, 0.4]])
    # class 0: all right (F1 1); class 1: TP 1, FN 1 -> F1 2/3
    assert macro_f1(y, s) == pytest.approx((1 + 2 / 3) / 2)


@pytest.mark.parametrize(
    ("y", "s", "match"),
    [
        (np.array([0, 1]), np.array([0.1, 0.2]), r"\(N, K\)"),
        (np.array([0, 1, 1]), np.zeros((2, 2)), "labels for 2"),
        (np.array([0, 3]), np.zeros((2, 2)), r"class indices must lie"),
        (np.array([0, 1]), np.array([[np.nan, 1], [0, 1]]), "NaN"),
        (np.array([1, 1]), np.array([[0.0, 1.0], [0.0, 1.0]]), "no class has both"),
    ],
)
def test_bad_metric_inputs(y, s, match) -> None:
    with pytest.raises(ValueError, match=match):
        macro_auroc(y, s)


def test_bootstrap_ci_contains_point_and_narrows_with_more_data() -> None:
    rng = np.random.default_rng(1)

    def ci(n: int):
        y = rng.integers(0, 2, n)
        s = np.stack([-y + rng.normal(size=n), y + rng.normal(size=n)], 1)
        return bootstrap_ci(macro_auroc, y, s, n_boot=200, seed=0)

    small, large = ci(80), ci(2000)
    for r in (small, large):
        assert r.low <= r.value <= r.high
    assert (large.high - large.low) < (small.high - small.low)
    again = bootstrap_ci(
        macro_auroc, np.array([0, 1] * 20), np.tile([[0.2, 0.8], [0.7, 0.3]], (20, 1))
    )
    assert again.value == 0.0


def test_bootstrap_groups_resample_whole_groups() -> None:
    y = np.array([0, 0, 1, 1] * 10)
    s = np.stack([1 - y, y], 1).astype(float)
    groups = np.repeat(np.arange(20), 2)
    r = bootstrap_ci(macro_auroc, y, s, groups=groups, n_boot=50)
    assert r.value == r.low == r.high == 1.0
    with pytest.raises(ValueError, match="group ids"):
        bootstrap_ci(macro_auroc, y, s, groups=groups[:-1])
