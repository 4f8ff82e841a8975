"""Paired comparisons: the paired bootstrap equals a naive loop, and reports pair correctly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecgfm.eval import TaskData, compare_reports, paired_comparisons, score_report
from ecgfm.eval.compare import format_paired, paired_details
from ecgfm.eval.metrics import bootstrap_ci, macro_auroc, one_hot, paired_bootstrap_diff


def _scores(n: int = 300, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two correlated score sets: ``a`` carries a little more class signal."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    shared = rng.normal(size=(n, k))  # the same hard records hurt both models
    a = shared + 0.9 * one_hot(y, k) + 0.2 * rng.normal(size=(n, k))
    b = shared + 0.7 * one_hot(y, k) + 0.2 * rng.normal(size=(n, k))
    return y, a, b


def test_paired_difference_equals_a_naive_loop() -> None:
    y, a, b = _scores()
    got = paired_bootstrap_diff(macro_auroc, y, a, b, n_boot=200, seed=3)
    rng = np.random.default_rng(3)
    diffs = []
    for _ in range(200):
        idx = rng.integers(0, len(y), len(y))
        diffs.append(macro_auroc(y[idx], a[idx]) - macro_auroc(y[idx], b[idx]))
    low, high = np.quantile(diffs, [0.025, 0.975])
    assert got.value == pytest.approx(macro_auroc(y, a) - macro_auroc(y, b), abs=1e-12)
    assert (got.low, got.high) == pytest.approx((low, high), abs=1e-12)
    assert got.a_better == pytest.approx(np.mean(np.array(diffs) > 0))
    assert got.n_boot == 200


def test_paired_interval_separates_correlated_models_that_separate_cis_do_not() -> None:
    y, a, b = _scores()
    ci_a = bootstrap_ci(macro_auroc, y, a, n_boot=300)
    ci_b = bootstrap_ci(macro_auroc, y, b, n_boot=300)
    assert ci_a.low < ci_b.high  # the separate intervals overlap ...
    diff = paired_bootstrap_diff(macro_auroc, y, a, b, n_boot=300)
    assert diff.excludes_zero and diff.low > 0  # ... the paired one does not
    assert diff.a_better > 0.975
    reverse = paired_bootstrap_diff(macro_auroc, y, b, a, n_boot=300)
    assert reverse.value == pytest.approx(-diff.value)
    assert (reverse.low, reverse.high) == pytest.approx((-diff.high, -diff.low))


def test_identical_scores_differ_by_exactly_zero() -> None:
    y, a, _ = _scores(n=80)
    d = paired_bootstrap_diff(macro_auroc, y, a, a.copy(), n_boot=50)
    assert (d.value, d.low, d.high, d.a_better) == (0.0, 0.0, 0.0, 0.0)
    assert not d.excludes_zero
    assert str(d) == "+0.0000 [+0.0000, +0.0000]"


def test_paired_difference_rejects_mismatched_inputs() -> None:
    y, a, b = _scores(n=40)
    with pytest.raises(ValueError, match="same shape"):
        paired_bootstrap_diff(macro_auroc, y, a, b[:, :2])
    with pytest.raises(ValueError, match="score rows"):
        paired_bootstrap_diff(macro_auroc, y[:30], a, b)
    with pytest.raises(ValueError, match="n_boot"):
        paired_bootstrap_diff(macro_auroc, y, a, b, n_boot=5)


def _task(multilabel: bool = False, n: int = 120) -> TaskData:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, (n, 3)) if multilabel else rng.integers(0, 3, n)
    if multilabel:
        labels[:, 2] = 0  # a class without positives: excluded from every average
    split = np.array(["train", "val", "test"])[np.arange(n) % 3]
    return TaskData(
        task="toy", signals=np.zeros((n, 1, 8), np.float32), fs=100.0, leads=("I",),
        item_record=np.arange(n), record_ids=tuple(f"r{i}" for i in range(n)),
        labels=labels, classes=("x", "y", "z"), split=split,
    )  # fmt: skip


def _report(data: TaskData, records: np.ndarray, scores: np.ndarray, model: str, probe: str):
    return score_report(
        data, records, scores, model=model, probe=probe, evaluated_on="test", n_boot=50
    )


@pytest.mark.parametrize("multilabel", [False, True])
def test_compare_reports_uses_the_reports_records_and_kept_classes(multilabel: bool) -> None:
    data = _task(multilabel)
    te = data.indices("test")
    rng = np.random.default_rng(2)
    target = data.label_matrix()[te].astype(float)
    s_a = target + rng.normal(size=target.shape)
    s_b = target + 2 * rng.normal(size=target.shape)
    ra, rb = _report(data, te, s_a, "entry", "linear"), _report(data, te, s_b, "rnd", "linear")
    got = compare_reports(ra, rb, data, n_boot=100, seed=0)
    if multilabel:
        y, s_a, s_b = target[:, :2], s_a[:, :2], s_b[:, :2]  # class z has no positive
    else:
        y = data.labels[te]
    expect = paired_bootstrap_diff(macro_auroc, y, s_a, s_b, n_boot=100, seed=0)
    assert got == expect
    assert got.value == pytest.approx(ra.metrics["auroc"].value - rb.metrics["auroc"].value)


def test_compare_reports_needs_the_same_records_and_in_memory_scores() -> None:
    data = _task()
    te, va = data.indices("test"), data.indices("val")
    s = np.random.default_rng(0).normal(size=(te.size, 3))
    ra, rb = _report(data, te, s, "entry", "linear"), _report(data, va, s, "rnd", "linear")
    with pytest.raises(ValueError, match="different records"):
        compare_reports(ra, rb, data)
    doc = ra.to_dict()
    assert "scores" not in doc and "records" not in doc
    json.dumps(doc)  # JSON-serialisable without the arrays
    ra.scores = None
    with pytest.raises(ValueError, match="no per-record scores"):
        compare_reports(ra, ra, data)


def test_paired_comparisons_pair_probes_and_the_supervised_baseline() -> None:
    data = _task()
    te = data.indices("test")
    rng = np.random.default_rng(4)
    target = data.label_matrix()[te].astype(float)

    def rep(model: str, probe: str, noise: float):
        return _report(data, te, target + noise * rng.normal(size=target.shape), model, probe)

    reports = [
        rep("entry", "linear", 1.0),
        rep("entry", "logistic", 1.0),
        rep("random", "linear", 3.0),
        rep("random", "logistic", 3.0),
        rep("supervised net1d_small from scratch", "supervised", 0.5),
    ]
    rows = paired_comparisons(reports, "entry", data, n_boot=50)
    assert [(i, j) for i, j, _ in rows] == [(0, 2), (1, 3), (0, 4)]
    for i, j, d in rows:
        assert d == compare_reports(reports[i], reports[j], data, n_boot=50)
    assert rows[0][2].value > 0 and rows[2][2].value < 0  # worse than supervised
    text = format_paired(rows, reports)
    assert "[1] - [3] (linear vs linear)" in text and "[1] - [5] (linear vs supervised)" in text
    details = paired_details(reports[0], rows[0][2])
    assert details["difference"] == rows[0][2].value and details["entry_probe"] == "linear"


def test_paired_comparisons_warn_instead_of_failing(caplog) -> None:
    data = _task()
    te, va = data.indices("test"), data.indices("val")
    s = np.zeros((te.size, 3))
    reports = [_report(data, te, s, "entry", "linear"), _report(data, va, s, "rnd", "logistic")]
    assert paired_comparisons(reports, "entry", data, n_boot=20) == []
    assert "different records" in caplog.text
