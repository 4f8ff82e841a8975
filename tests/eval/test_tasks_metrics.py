"""The fast metric kernels used in bootstrap loops equal scikit-learn's definitions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from ecgfm.eval.metrics import _average_precision_binary, _roc_auc_binary
from ecgfm.eval.task_report import _f1_multiclass, _f1_multilabel


@pytest.mark.parametrize("ties", [False, True])
def test_binary_auroc_and_average_precision_equal_sklearn(ties: bool) -> None:
    rng = np.random.default_rng(1 + ties)
    for _ in range(100):
        n = int(rng.integers(2, 200))
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        s = rng.integers(0, 5, n).astype(float) if ties else rng.normal(size=n)
        assert _roc_auc_binary(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        assert _average_precision_binary(y, s) == pytest.approx(
            average_precision_score(y, s), abs=1e-12
        )


def test_f1_kernels_equal_sklearn() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        n, k = int(rng.integers(5, 80)), int(rng.integers(2, 6))
        y = rng.integers(0, k, n)
        s = rng.random((n, k))
        labels = sorted(rng.choice(k, size=int(rng.integers(1, k + 1)), replace=False).tolist())
        want = f1_score(y, s.argmax(1), labels=labels, average="macro", zero_division=0)
        assert _f1_multiclass(labels, k)(y, s) == pytest.approx(want, abs=1e-12)
        ym = rng.integers(0, 2, (n, k))
        want = f1_score(ym, (s >= 0.5).astype(int), average="macro", zero_division=0)
        assert _f1_multilabel(ym, s) == pytest.approx(want, abs=1e-12)
