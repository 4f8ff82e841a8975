"""Classical rhythm baseline: R-peaks -> RR intervals -> hand-made RR / HRV features per record.

``ecgfm probe NAME --baselines rr`` probes these features with the same probes as the
entry's embeddings, so a foundation model can be compared with what 20 textbook RR features
give on rhythm tasks (atrial fibrillation in CinC 2017 above all).

Pipeline (:func:`record_rr_features`):

1. **R-peaks** of every item (CinC 2017: each 10 s segment; PTB-XL: the record) on its first
   lead at the task's own sampling rate, by NeuroKit2 (optional, imported lazily; ``pip
   install neurokit2``): ``ecg_clean(method="neurokit")`` (0.5 Hz high-pass Butterworth-5 and
   50 Hz power-line filter) then ``ecg_peaks(method="neurokit", correct_artifacts=False)``.
   No artefact correction and no amplitude feature: the baseline sees beat times only.
2. **RR intervals** within each item (``np.diff`` of its peak times, seconds); the interval
   across the border of two segments is unknown and not formed. A record pools the
   intervals of all its items; successive differences and turning points are formed within
   an item only.
3. **Features** (:data:`RR_FEATURE_NAMES`, :func:`rr_features`) from the pooled intervals
   in milliseconds, plus ``detection_failed``.

Peak detection **fails** for a record when none of its items has at least
:data:`MIN_INTERVALS` intervals (four peaks): its features are undefined. Such records are not
dropped: every feature is set to the median of that feature over the records where detection
worked (all splits; no label is used), ``detection_failed`` is 1, and the count per split is
reported in every report's notes and details. Items where NeuroKit2 raised are counted too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecgfm.data._optional import progress_iter
from ecgfm.eval.task_base import SPLITS, TaskData
from ecgfm.rhythm import (
    MIN_INTERVALS,
    RR_FEATURE_NAMES,
    detect_r_peaks,
    require_neurokit2,
    rr_features,
)

__all__ = [
    "MIN_INTERVALS",
    "RR_FEATURE_NAMES",
    "RRFeatures",
    "detect_r_peaks",
    "record_rr_features",
    "require_neurokit2",
    "rr_features",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RRFeatures:
    """RR features of every record of a task (:func:`record_rr_features`).

    Attributes:
        features: ``(R, F)`` float32, failed records imputed (ready for the probes).
        names: the ``F`` feature names (:data:`RR_FEATURE_NAMES`).
        failed: ``(R,)`` bool, peak detection failed (features imputed).
        raw: ``(R, F)`` float64 before imputation (NaN where failed).
        item_errors: items where NeuroKit2 raised (counted as items without peaks).
        detector: what found the peaks (package and version, method).
        seconds: wall time.
    """

    features: np.ndarray
    names: tuple[str, ...]
    failed: np.ndarray
    raw: np.ndarray
    item_errors: int
    detector: str
    seconds: float
    failed_by_split: dict[str, int] = field(default_factory=dict)

    def note(self) -> str:
        """One line for the reports' notes."""
        n = int(self.failed.sum())
        by = ", ".join(f"{s} {c}" for s, c in self.failed_by_split.items())
        text = (
            f"RR baseline: R-peak detection ({self.detector}) failed (fewer than "
            f"{MIN_INTERVALS} RR intervals in every segment) for {n} of {self.failed.size} "
            f"records ({by})"
        )
        if n:
            text += (
                "; they are kept, with every feature set to the median over the other "
                "records and detection_failed = 1"
            )
        if self.item_errors:
            text += f"; NeuroKit2 raised on {self.item_errors} items (no peaks)"
        return text

    def details(self) -> dict[str, Any]:
        """JSON record for the reports' details."""
        return {
            "features": list(self.names),
            "detector": self.detector,
            "failed_records": int(self.failed.sum()),
            "failed_records_by_split": dict(self.failed_by_split),
            "item_errors": self.item_errors,
            "feature_seconds": round(self.seconds, 1),
        }


def record_rr_features(data: TaskData, *, progress: bool = False) -> RRFeatures:
    """RR features ``(R, F)`` of every record of ``data`` (see the module docstring).

    Only the first lead of ``data`` is used (the tasks' single-lead view is lead I).

    Raises:
        ImportError: NeuroKit2 is not installed (``pip install neurokit2``).
        ValueError: detection failed on every record (nothing to impute from).
    """
    if not isinstance(data, TaskData):
        raise TypeError(f"data must be a TaskData (Task.load(root)), got {type(data).__name__}")
    nk = require_neurokit2()
    t0 = time.perf_counter()
    per_record: list[list[np.ndarray]] = [[] for _ in range(data.num_records)]
    seconds = np.zeros(data.num_records)
    errors = 0
    n_items, length = data.signals.shape[0], data.signals.shape[-1]
    for i in progress_iter(range(n_items), total=n_items, desc="R-peaks", enabled=progress):
        rec = int(data.item_record[i])
        seconds[rec] += length / data.fs
        try:
            peaks = detect_r_peaks(data.signals[i, 0], data.fs, nk=nk)
        except (ValueError, IndexError, ZeroDivisionError) as err:  # degenerate segment
            logger.debug("R-peak detection raised on item %d: %s", i, err)
            errors += 1
            peaks = np.zeros(0, dtype=np.int64)
        per_record[rec].append(peaks / data.fs)
    raw = np.stack([rr_features(seqs, seconds=s) for seqs, s in zip(per_record, seconds,
                                                                    strict=True)])  # fmt: skip
    failed = raw[:, -1] == 1.0
    if failed.all():
        raise ValueError(
            f"R-peak detection failed on all {data.num_records} records of {data.task}: check "
            "the signals' units (mV) and sampling rate"
        )
    features = raw.copy()
    features[failed, :-1] = np.median(raw[~failed, :-1], axis=0)
    by_split = {s: int((failed & (data.split == s)).sum()) for s in SPLITS}
    version = getattr(nk, "__version__", "?")
    result = RRFeatures(
        features=features.astype(np.float32),
        names=RR_FEATURE_NAMES,
        failed=failed,
        raw=raw,
        item_errors=errors,
        detector=f"neurokit2 {version} ecg_clean + ecg_peaks, method 'neurokit'",
        seconds=time.perf_counter() - t0,
        failed_by_split=by_split,
    )
    if failed.any():
        logger.warning("%s", result.note())
    return result
