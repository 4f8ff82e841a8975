from __future__ import annotations

import numpy as np
import pytest

from ecgfm.eval.metrics import macro_auroc
from ecgfm.eval.probe import linear_probe, logistic_cv_scores, logistic_scores


def _blobs(n: int, k: int, d: int, sep: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * sep
    y = rng.integers(0, k, n)
    return (centers[y] + rng.normal(size=(n, d))).astype(np.float32), y


def test_linear_probe_learns_separable_classes_and_is_deterministic() -> None:
    x, y = _blobs(700, 4, 16, 1.5, 0)
    tr, va, te = (x[:400], y[:400]), (x[400:500], y[400:500]), (x[500:], y[500:])
    r1 = linear_probe(tr, va, te, seed=3)
    r2 = linear_probe(tr, va, te, seed=3)
    np.testing.assert_array_equal(r1.test_scores, r2.test_scores)
    assert r1.test_scores.shape == (200, 4)
    np.testing.assert_allclose(r1.test_scores.sum(1), 1.0, atol=1e-5)
    assert macro_auroc(te[1], r1.test_scores) > 0.95
    assert 1 <= r1.best_epoch <= 20 and len(r1.history) >= r1.best_epoch


def test_linear_probe_on_noise_is_near_chance() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(900, 8)).astype(np.float32)
    y = rng.integers(0, 2, 900)
    r = linear_probe((x[:500], y[:500]), (x[500:700], y[500:700]), (x[700:], y[700:]))
    assert abs(macro_auroc(y[700:], r.test_scores) - 0.5) < 0.12


def test_linear_probe_multilabel_and_early_stopping() -> None:
    x, y = _blobs(600, 3, 8, 2.0, 4)
    y_multi = np.stack([y == 0, y != 2, y == 2], 1).astype(int)
    r = linear_probe(
        (x[:300], y_multi[:300]),
        (x[300:400], y_multi[300:400]),
        (x[400:], y_multi[400:]),
        epochs=40,
        patience=2,
    )
    assert r.test_scores.shape == (200, 3)
    assert macro_auroc(y_multi[400:], r.test_scores) > 0.9
    assert len(r.history) <= 40


def test_logistic_probes() -> None:
    x, y = _blobs(300, 3, 10, 1.5, 7)
    oof = logistic_cv_scores(x, y, C=0.1, folds=5)
    assert oof.shape == (300, 3) and macro_auroc(y, oof) > 0.9
    groups = np.repeat(np.arange(100), 3)
    oof_g = logistic_cv_scores(x, y, groups=groups)
    assert macro_auroc(y, oof_g) > 0.9
    p = logistic_scores((x[:200], y[:200]), (x[200:], y[200:]))
    assert p.shape == (100, 3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"lr": 0}, "lr must be positive"), ({"epochs": 0}, "epochs must be positive")],
)
def test_probe_bad_hyperparameters(kwargs, match) -> None:
    x, y = _blobs(60, 2, 4, 1.0, 0)
    with pytest.raises(ValueError, match=match):
        linear_probe((x, y), (x, y), (x, y), **kwargs)


def test_probe_bad_inputs() -> None:
    x, y = _blobs(60, 2, 4, 1.0, 0)
    with pytest.raises(ValueError, match="embeddings but"):
        linear_probe((x, y[:-1]), (x, y), (x, y))
    with pytest.raises(ValueError, match="NaN"):
        bad = x.copy()
        bad[0, 0] = np.nan
        linear_probe((bad, y), (x, y), (x, y))
    with pytest.raises(ValueError, match="different widths"):
        linear_probe((x, y), (x[:, :2], y), (x, y))


def test_logistic_cv_keeps_a_class_without_any_record() -> None:
    x, y = _blobs(120, 3, 6, 1.5, 2)  # classes 0-2 present, class 3 has no row
    base = logistic_cv_scores(x, y, folds=3)
    out = logistic_cv_scores(x, y, folds=3, num_classes=4)
    assert out.shape == (120, 4) and (out[:, 3] == 0).all()
    np.testing.assert_array_equal(out[:, :3], base)
    with pytest.raises(ValueError, match="labels go up to 2"):
        logistic_cv_scores(x, y, folds=3, num_classes=2)


def test_probe_task_logistic_cv_with_an_absent_class_excludes_it() -> None:
    """A task whose last class has no record (e.g. CinC 2017 with --limit 3: no '~') used to
    fail with 'scores must be (N, 4), got (N, 3)'."""
    from ecgfm.eval.task_base import TaskData
    from ecgfm.eval.task_report import probe_task

    x, y = _blobs(60, 3, 6, 2.0, 3)
    data = TaskData(
        task="toy", signals=np.zeros((60, 1, 10), np.float32), fs=100.0, leads=("I",),
        item_record=np.arange(60), record_ids=tuple(map(str, range(60))), labels=y,
        classes=("a", "b", "c", "d"), split=np.array(["train", "val", "test"] * 20),
    )  # fmt: skip
    rep = probe_task(x, data, "logistic-cv", folds=3, n_boot=20)
    assert rep.excluded_classes == ["d"] and rep.metrics["auroc"].value > 0.9
