"""Paired comparison of probe reports: is an entry better than a baseline on the same records?

Two macro AUROCs measured on the same records are strongly correlated (the same hard records
hurt both), so their separate bootstrap CIs overlap even when one model is better on nearly
every resample. :func:`compare_reports` evaluates both models' scores on the **same** bootstrap
resamples of the records and reports the difference with its CI
(:class:`~ecgfm.eval.metrics.PairedDifference`); ``ecgfm probe`` prints it for every baseline
and stores it in the baseline report's ``details["paired_auroc_vs_entry"]``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ecgfm.eval.metrics import PairedDifference, macro_auroc, paired_bootstrap_diff
from ecgfm.eval.task_base import TaskData
from ecgfm.eval.task_report import ProbeReport, macro_inputs

__all__ = ["compare_reports", "format_paired", "paired_comparisons", "paired_details"]

logger = logging.getLogger(__name__)


def _scored(report: ProbeReport) -> tuple[np.ndarray, np.ndarray]:
    if report.records is None or report.scores is None:
        raise ValueError(
            f"report of {report.model!r} ({report.probe}) has no per-record scores (a report "
            "read back from JSON has none): compare reports produced in the same run"
        )
    return np.asarray(report.records), np.asarray(report.scores)


def compare_reports(
    a: ProbeReport, b: ProbeReport, data: TaskData, *, n_boot: int = 1000, seed: int = 0
) -> PairedDifference:
    """Macro AUROC of ``a`` minus that of ``b`` with a paired bootstrap CI over records.

    Both reports must score the same records of ``data`` (e.g. a probe of the entry and the
    same probe of its random-weight baseline, or the entry's linear probe and the supervised
    baseline, both on the test split). Classes are selected by
    :func:`~ecgfm.eval.task_report.macro_inputs`, as in :func:`~ecgfm.eval.score_report`.
    """
    rec_a, s_a = _scored(a)
    rec_b, s_b = _scored(b)
    if not np.array_equal(rec_a, rec_b):
        raise ValueError(
            f"{a.model!r} ({a.evaluated_on}) and {b.model!r} ({b.evaluated_on}) were scored on "
            "different records; a paired comparison needs the same records"
        )
    k = len(data.classes)
    if s_a.shape != (rec_a.size, k) or s_b.shape != (rec_a.size, k):
        raise ValueError(f"scores must be ({rec_a.size}, {k}), got {s_a.shape} and {s_b.shape}")
    y, s_a, _ = macro_inputs(data, rec_a, s_a)
    _, s_b, _ = macro_inputs(data, rec_a, s_b)
    return paired_bootstrap_diff(macro_auroc, y, s_a, s_b, n_boot=n_boot, seed=seed)


def paired_comparisons(
    reports: list[ProbeReport],
    entry: str,
    data: TaskData,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> list[tuple[int, int, PairedDifference]]:
    """Compare every baseline report with the entry's report of the same probe.

    ``entry`` is the entry's ``model`` label; every other report is a baseline. A baseline
    with a probe the entry did not run (the supervised model) is compared with the entry's
    linear probe, else its first report on the same records. Returns ``(entry index, baseline
    index, difference)`` triples. A baseline with no counterpart, or whose difference cannot
    be computed (too few records for the bootstrap), is left out with a logged warning.
    """
    own = [i for i, r in enumerate(reports) if r.model == entry]
    out = []
    for j, base in enumerate(reports):
        if base.model == entry:
            continue
        same = [i for i in own if reports[i].probe == base.probe]
        if not same:
            rec = base.records
            same = [i for i in own if reports[i].probe == "linear"] + [
                i for i in own if rec is not None and np.array_equal(reports[i].records, rec)
            ]
        if not same:
            logger.warning("no report of %r to compare %r (%s) with", entry, base.model, base.probe)
            continue
        i = same[0]
        try:
            diff = compare_reports(reports[i], base, data, n_boot=n_boot, seed=seed)
        except ValueError as err:
            logger.warning("no paired comparison of %r (%s): %s", base.model, base.probe, err)
            continue
        out.append((i, j, diff))
    return out


def paired_details(entry: ProbeReport, diff: PairedDifference) -> dict[str, Any]:
    """The JSON record of one comparison (stored in the baseline report's details)."""
    return {
        "entry_probe": entry.probe,
        "metric": "macro AUROC, entry minus this baseline",
        "difference": diff.value,
        "low": diff.low,
        "high": diff.high,
        "level": diff.level,
        "n_boot": diff.n_boot,
        "entry_better_fraction": diff.a_better,
    }


def format_paired(rows: list[tuple[int, int, PairedDifference]], reports: list[ProbeReport]) -> str:
    """Plain-text lines for :func:`paired_comparisons` (report numbers as in the table)."""
    if not rows:
        return ""
    lines = [
        "paired macro-AUROC differences (entry minus baseline; the same bootstrap resamples "
        "of the same records):"
    ]
    for i, j, d in rows:
        verdict = "interval excludes 0" if d.excludes_zero else "interval includes 0"
        lines.append(
            f"  [{i + 1}] - [{j + 1}] ({reports[i].probe} vs {reports[j].probe}): {d}  "
            f"entry better on {100 * d.a_better:.1f} % of resamples; {verdict}"
        )
    return "\n".join(lines)
