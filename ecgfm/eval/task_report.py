"""Probes on a task's record embeddings and the report they produce.

:func:`probe_task` runs one probe on :class:`~ecgfm.eval.embed_cache.RecordEmbeddings`:

- ``"linear"``: the SelfMIS linear probe (:func:`ecgfm.eval.linear_probe`): trained on the
  train split, early-stopped on the validation split, test scores of the best epoch;
- ``"logistic"``: standardise + L2 logistic regression (``C`` = 0.1) fitted on the train split
  only (as the linear probe; no model selection uses the validation split), scored on test;
- ``"logistic-cv"``: the same model, out-of-fold scores of a ``folds``-fold (stratified for
  multi-class) cross-validation over train + val + test records together.

:func:`score_report` turns record scores into a :class:`ProbeReport`: macro one-vs-rest
ROC-AUC, macro AUPRC and macro F1 (multi-class: argmax; multi-label: probability >= 0.5), each
with a percentile bootstrap 95 % CI over records (a CinC 2017 record's segments are averaged
before scoring, so resampling records is resampling the evaluated units), per-class ROC-AUC
with its CI, and the support (positive records per class per split). Classes without a
positive (or without a negative) among the evaluated records cannot have a ROC-AUC: they are
left out of every macro average and named in ``excluded_classes``. Classes with fewer than
:data:`RARE_POSITIVES` evaluated positives are named in ``rare_classes``: their AUROC is
reported but its CI is wide or undefined.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ecgfm.eval.embed_cache import RecordEmbeddings
from ecgfm.eval.metrics import BootstrapCI, bootstrap_ci, macro_auprc, macro_auroc
from ecgfm.eval.probe import linear_probe, logistic_cv_scores, logistic_scores
from ecgfm.eval.task_base import TaskData

__all__ = [
    "PROBES",
    "RARE_POSITIVES",
    "ProbeReport",
    "format_reports",
    "macro_inputs",
    "probe_task",
    "score_report",
]

logger = logging.getLogger(__name__)

PROBES: tuple[str, ...] = ("linear", "logistic", "logistic-cv")
RARE_POSITIVES = 10


@dataclass
class ProbeReport:
    """Result of one probe (or baseline) on one task.

    Attributes:
        task: task name with its leads, e.g. ``"ptbxl-mi (lead I)"``.
        model: what was evaluated (pretrained name, ``random:<arch> seed 0``, ...).
        probe: ``linear``, ``logistic``, ``logistic-cv`` or ``supervised``.
        evaluated_on: which records were scored (``"test split, 855 records"``).
        metrics: ``auroc``, ``auprc``, ``f1`` -> :class:`BootstrapCI`.
        per_class: class -> ``{"auroc", "low", "high", "positives"}`` (``None`` where undefined).
        support: split -> class -> positive records.
        n_records: split -> records.
        excluded_classes: classes left out of the macro averages (no positive or no negative).
        rare_classes: classes with fewer than :data:`RARE_POSITIVES` evaluated positives.
        notes: data-selection notes of the task plus the probe's own.
        details: probe settings and diagnostics (best epoch, validation AUROC, C, seconds...).
        records: indices (into the task's records) of the scored records ``(N,)``; kept in
            memory for paired comparisons (:func:`ecgfm.eval.compare_reports`), not in
            :meth:`to_dict`.
        scores: the scores ``(N, K)`` of those records (same use).
    """

    task: str
    model: str
    probe: str
    evaluated_on: str
    metrics: dict[str, BootstrapCI]
    per_class: dict[str, dict[str, Any]]
    support: dict[str, dict[str, int]]
    n_records: dict[str, int]
    excluded_classes: list[str] = field(default_factory=list)
    rare_classes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    records: np.ndarray | None = field(default=None, repr=False, compare=False)
    scores: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (without the per-record ``records`` and ``scores``)."""
        out = asdict(replace(self, records=None, scores=None))
        del out["records"], out["scores"]
        out["metrics"] = {k: asdict(v) for k, v in self.metrics.items()}
        return out


def _f1_columns(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean over columns of F1 of 0/1 matrices ``(N, K)``; 0 where a column has neither true
    nor predicted positives (sklearn's ``zero_division=0``)."""
    tp = (y & pred).sum(0)
    denom = y.sum(0) + pred.sum(0)
    return float(np.mean(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)))


def _f1_multiclass(labels: list[int], k: int):  # -> metric(y (N,), scores (N, K)) -> float
    """Macro F1 of the argmax over the classes ``labels`` (sklearn ``f1_score(...,
    labels=labels, average="macro", zero_division=0)``)."""
    eye = np.eye(k, dtype=bool)

    def f1(y: np.ndarray, s: np.ndarray) -> float:
        return _f1_columns(eye[y][:, labels], eye[s.argmax(1)][:, labels])

    return f1


def _f1_multilabel(y: np.ndarray, s: np.ndarray) -> float:
    """Macro F1 of ``s >= 0.5`` (probabilities)."""
    return _f1_columns(y.astype(bool), s >= 0.5)


def macro_inputs(
    data: TaskData, records: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """What the macro metrics score for ``records``: ``(targets, scores, kept)``.

    ``kept``: the classes with both positives and negatives among ``records``. Multi-label
    targets and scores keep only those columns; multi-class targets are class indices with all
    score columns (the metrics leave absent classes out themselves). Shared by
    :func:`score_report` and the paired comparison (:func:`ecgfm.eval.compare_reports`), so a
    paired difference is the difference of two reported AUROCs.
    """
    y_all = data.label_matrix()[records]
    pos = y_all.sum(0)
    kept = [j for j in range(len(data.classes)) if 0 < pos[j] < records.size]
    if data.multilabel:
        return y_all[:, kept], scores[:, kept], kept
    return data.labels[records], scores, kept


def score_report(
    data: TaskData,
    records: np.ndarray,
    scores: np.ndarray,
    *,
    model: str,
    probe: str,
    evaluated_on: str,
    n_boot: int = 1000,
    seed: int = 0,
    details: dict[str, Any] | None = None,
) -> ProbeReport:
    """Metrics with bootstrap CIs of ``scores`` ``(len(records), K)`` for the task's records
    ``records`` (indices into ``data.record_ids``); see the module docstring."""
    records = np.asarray(records)
    scores = np.asarray(scores, dtype=np.float64)
    k = len(data.classes)
    if scores.shape != (records.size, k):
        raise ValueError(f"scores must be ({records.size}, {k}), got {scores.shape}")
    y, s, kept = macro_inputs(data, records, scores)
    y_all = data.label_matrix()[records]
    pos = y_all.sum(0)
    excluded = [data.classes[j] for j in range(k) if j not in kept]
    if not kept:
        raise ValueError("no class has both positive and negative evaluated records")
    if excluded:
        logger.warning("%s: classes %s have no positive (or no negative) evaluated record; "
                       "left out of the macro averages", data.task, excluded)  # fmt: skip
    f1 = _f1_multilabel if data.multilabel else _f1_multiclass(kept, k)
    boot = {"n_boot": n_boot, "seed": seed}
    metrics = {
        "auroc": bootstrap_ci(macro_auroc, y, s, **boot),
        "auprc": bootstrap_ci(macro_auprc, y, s, **boot),
        "f1": bootstrap_ci(f1, y, s, **boot),
    }
    per_class: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(data.classes):
        entry: dict[str, Any] = {"auroc": None, "low": None, "high": None, "positives": int(pos[j])}
        if j in kept:
            yj, sj = y_all[:, [j]], scores[:, [j]]
            entry["auroc"] = macro_auroc(yj, sj)
            try:
                ci = bootstrap_ci(macro_auroc, yj, sj, **boot)
                entry["low"], entry["high"] = ci.low, ci.high
            except ValueError:  # too few positives: most resamples have none
                pass
        per_class[name] = entry
    rare = [c for j, c in enumerate(data.classes) if 0 < pos[j] < RARE_POSITIVES]
    notes = list(data.notes)
    if rare:
        notes.append(
            f"rare classes ({', '.join(rare)}): fewer than {RARE_POSITIVES} evaluated positives; "
            "their AUROC is unreliable (wide or undefined CI) and weighs as much as the others "
            "in the macro average"
        )
    if excluded:
        notes.append(f"classes without positives among the evaluated records: {excluded}")
    return ProbeReport(
        task=_display(data),
        model=model,
        probe=probe,
        evaluated_on=evaluated_on,
        metrics=metrics,
        per_class=per_class,
        support=data.support(),
        n_records=data.split_sizes(),
        excluded_classes=excluded,
        rare_classes=rare,
        notes=notes,
        details=dict(details or {}),
        records=records,
        scores=scores,
    )


def _display(data: TaskData) -> str:
    lead = "lead " + ",".join(data.leads) if len(data.leads) < 12 else "12-lead"
    return f"{data.task} ({lead})"


def _check_embeddings(emb: RecordEmbeddings | np.ndarray, data: TaskData) -> np.ndarray:
    if isinstance(emb, RecordEmbeddings):
        if emb.record_ids != data.record_ids:
            raise ValueError("the embeddings were computed for other records than this task's")
        x = emb.embeddings
    else:
        x = np.asarray(emb, dtype=np.float32)
    if x.shape[:1] != (data.num_records,) or x.ndim != 2:
        raise ValueError(f"embeddings must be ({data.num_records}, D), got {x.shape}")
    return x


def probe_task(
    emb: RecordEmbeddings | np.ndarray,
    data: TaskData,
    probe: str = "linear",
    *,
    model: str = "model",
    C: float = 0.1,
    folds: int = 5,
    seed: int = 0,
    n_boot: int = 1000,
    **linear_kwargs: Any,
) -> ProbeReport:
    """Run ``probe`` (one of :data:`PROBES`) on record embeddings ``(R, D)`` and score it.

    ``linear_kwargs`` go to :func:`ecgfm.eval.linear_probe` (lr, epochs, batch_size, patience).
    """
    if probe not in PROBES:
        raise ValueError(f"probe must be one of {PROBES}, got {probe!r}")
    x = _check_embeddings(emb, data)
    y = data.labels
    tr, va, te = (data.indices(s) for s in ("train", "val", "test"))
    t0 = time.perf_counter()
    details: dict[str, Any] = {"seed": seed}
    absent: list[str] = []
    if probe == "logistic-cv":
        everything = np.arange(data.num_records)
        k = None if data.multilabel else len(data.classes)
        scores = logistic_cv_scores(x, y, C=C, folds=folds, seed=seed, num_classes=k)
        details.update(C=C, folds=folds)
        evaluated_on = f"{folds}-fold CV over all {everything.size} records (train+val+test)"
        records = everything
    else:
        for name, idx in (("train", tr), ("val", va), ("test", te)):
            if idx.size == 0:
                raise ValueError(f"the {name} split of {data.task} is empty")
        absent = [c for c, n in data.support()["train"].items() if n == 0]
        if absent and not data.multilabel:
            raise ValueError(
                f"classes {absent} have no training record; raise --limit or use the full data"
            )
        if absent:
            details["untrainable_classes"] = absent
        if (
            probe == "linear"
            and _safe_auroc(data, va, np.zeros((va.size, len(data.classes)))) is None
        ):
            raise ValueError(
                f"no class has both positive and negative records in the validation split of "
                f"{data.task} ({va.size} records): the linear probe cannot early-stop; raise "
                "--limit or use the full data"
            )
        if probe == "linear":
            res = linear_probe(
                (x[tr], y[tr]), (x[va], y[va]), (x[te], y[te]),
                num_classes=len(data.classes), seed=seed, **linear_kwargs,
            )  # fmt: skip
            scores = res.test_scores
            details.update(best_epoch=res.best_epoch, val_auroc=res.val_auroc,
                           epochs_run=len(res.history), **linear_kwargs)  # fmt: skip
        else:
            both = np.concatenate([va, te])  # one fit scores val (diagnostic) and test
            out = logistic_scores((x[tr], y[tr]), (x[both], y[both]), C=C)
            scores = out[va.size :]
            details.update(C=C, val_auroc=_safe_auroc(data, va, out[: va.size]))
        records = te
        evaluated_on = f"test split, {te.size} records"
    details["probe_seconds"] = round(time.perf_counter() - t0, 2)
    report = score_report(
        data, records, scores, model=model, probe=probe, evaluated_on=evaluated_on,
        n_boot=n_boot, seed=seed, details=details,
    )  # fmt: skip
    if absent and probe != "logistic-cv":
        report.notes.append(
            f"classes without a positive training record: {absent} (the probe cannot learn them)"
        )
    return report


def _safe_auroc(data: TaskData, idx: np.ndarray, scores: np.ndarray) -> float | None:
    y = data.label_matrix()[idx]
    keep = (y.sum(0) > 0) & (y.sum(0) < len(idx))
    if not keep.any():
        return None
    return macro_auroc(y[:, keep], scores[:, keep])


def format_reports(reports: list[ProbeReport]) -> str:
    """A plain-text table: one numbered row per report, per-class AUROC with the support per
    split, then the notes."""
    if not reports:
        return "(no results)"
    head = f"{'#':<4}{'model':<44} {'probe':<12} {'AUROC [95% CI]':<25} {'AUPRC [95% CI]':<25} F1"
    lines = [f"task: {reports[0].task}", head, "-" * (len(head) + 24)]
    for i, r in enumerate(reports, start=1):
        m = r.metrics
        lines.append(
            f"[{i}] {r.model[:44]:<44} {r.probe:<12} {m['auroc']!s:<25} {m['auprc']!s:<25} "
            f"{m['f1']!s}"
        )
    lines.append("")
    lines += [f"[{i}] evaluated on {r.evaluated_on}" for i, r in enumerate(reports, start=1)]
    first = reports[0]
    width = max(4, *(len(c) for c in first.per_class))
    lines += ["", "per-class AUROC [95% CI] and positive records per split:"]
    cols = "".join(f"{f'[{i}]':<22}" for i in range(1, len(reports) + 1))
    lines.append(f"  {'class':<{width}} {'train':>6} {'val':>6} {'test':>6}   {cols}".rstrip())
    for c in first.per_class:
        counts = "".join(f"{first.support[s][c]:>7}" for s in ("train", "val", "test"))
        cells = ""
        for r in reports:
            e = r.per_class[c]
            cell = "excluded" if e["auroc"] is None else f"{e['auroc']:.3f}"
            if e["low"] is not None:
                cell += f" [{e['low']:.2f}, {e['high']:.2f}]"
            cells += f"{cell:<22}"
        lines.append(f"  {c:<{width}}{counts}   {cells}".rstrip())
    notes = list(dict.fromkeys(n for r in reports for n in r.notes))
    if notes:
        lines += ["", "notes:"] + [f"  - {n}" for n in notes]
    return "\n".join(lines)
