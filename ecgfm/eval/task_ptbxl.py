"""PTB-XL tasks: diagnostic super-classes and the 9 MI types of SelfMIS, on the official folds.

Records and labels (multi-label, one 0/1 column per class):

- ``ptbxl-superclass``: the 5 super-classes (CD, HYP, MI, NORM, STTC); records without any
  super-class statement are dropped, as in the PTB-XL benchmark (Strodthoff et al. 2021).
- ``ptbxl-mi``: the 9 MI statements ALMI AMI ASMI ILMI IMI IPLMI IPMI LMI PMI over the records
  with at least one *diagnostic* statement (the diagnostic subset SelfMIS evaluates on);
  records without MI are negatives for every column. Several types are rare: the report
  gives the positives per split, names classes without a positive in the test split (left
  out of the macro average) and flags classes with fewer than 10 test positives.

Splits: the official ``strat_fold`` split, train 1-8 / val 9 / test 10. When fold 10 has no
record on disk (ecgfm's shared development subset withholds it), the documented fallback is
train 1-7 / val 8 / test 9, with a logged warning and a note in every report; ecgfm's
pre-training loops leave folds 8-10 out by default for this reason.

Sampling rate: ``"auto"`` reads the 500 Hz copy (SelfMIS's protocol) when every selected
record has it, otherwise the 100 Hz copy (noted); the model's preset resamples either way.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ecgfm.data import PTBXL
from ecgfm.data._optional import progress_iter
from ecgfm.eval.task_base import SPLITS, Task, TaskData, check_limit
from ecgfm.leads import CANONICAL_LEADS, normalize_lead_names

__all__ = ["PTBXL_FALLBACK_FOLDS", "PTBXL_OFFICIAL_FOLDS", "PTBXLTask"]

logger = logging.getLogger(__name__)

PTBXL_OFFICIAL_FOLDS: dict[str, tuple[int, ...]] = {
    "train": (1, 2, 3, 4, 5, 6, 7, 8),
    "val": (9,),
    "test": (10,),
}
PTBXL_FALLBACK_FOLDS: dict[str, tuple[int, ...]] = {
    "train": (1, 2, 3, 4, 5, 6, 7),
    "val": (8,),
    "test": (9,),
}
_VIEWS = {"superclass": "superclass", "mi": "mi"}


def parse_leads(leads: str | Sequence[str]) -> tuple[str, ...]:
    """``"I"``, ``"I,II"``, ``"12"``/``"all"`` (canonical 12) or a sequence of names."""
    if isinstance(leads, str):
        if leads.strip().lower() in ("12", "all", "12-lead"):
            return CANONICAL_LEADS
        leads = [p for p in leads.split(",") if p.strip()]
    return normalize_lead_names(leads)


class PTBXLTask(Task):
    """A PTB-XL multi-label task (see the module docstring).

    Args:
        view: ``"superclass"`` or ``"mi"``.
        leads: leads given to the model (default lead I; ``"12"`` for all twelve).
        sampling_rate: 100, 500 or ``"auto"``.
        folds: ``{"train": (...), "val": (...), "test": (...)}`` to override the official /
            fallback folds.
    """

    multilabel = True

    def __init__(
        self,
        view: str,
        *,
        leads: str | Sequence[str] = ("I",),
        sampling_rate: int | str = "auto",
        folds: dict[str, Sequence[int]] | None = None,
    ) -> None:
        if view not in _VIEWS:
            raise ValueError(f"PTB-XL task view must be one of {sorted(_VIEWS)}, got {view!r}")
        self.view = view
        self.name = f"ptbxl-{view}"
        self.description = (
            "PTB-XL diagnostic super-classes (5, multi-label)"
            if view == "superclass"
            else "PTB-XL 9 MI types of SelfMIS (multi-label, diagnostic subset)"
        )
        self.leads = parse_leads(leads)
        if sampling_rate not in (100, 500, "auto"):
            raise ValueError(f"sampling_rate must be 100, 500 or 'auto', got {sampling_rate!r}")
        self.sampling_rate = sampling_rate
        if folds is not None:
            if sorted(folds) != sorted(SPLITS):
                raise ValueError(f"folds must give the folds of each of {SPLITS}")
            flat = [int(f) for s in SPLITS for f in folds[s]]
            if len(flat) != len(set(flat)) or not all(1 <= f <= 10 for f in flat):
                raise ValueError(f"folds must be disjoint values in 1-10, got {folds}")
            folds = {s: tuple(int(f) for f in folds[s]) for s in SPLITS}
        self.folds = folds

    def _choose_folds(self, all_folds: np.ndarray, notes: list[str]) -> dict[str, tuple[int, ...]]:
        if self.folds is not None:
            notes.append(f"user-chosen folds {self.folds}")
            return self.folds
        if (all_folds == 10).any():
            return PTBXL_OFFICIAL_FOLDS
        msg = (
            "strat_fold 10 (the official PTB-XL test fold) has no record here; using the "
            "fallback split train 1-7 / val 8 / test 9 (not comparable with published "
            "fold-10 numbers)"
        )
        logger.warning("PTB-XL: %s", msg)
        notes.append(msg)
        return PTBXL_FALLBACK_FOLDS

    def load(
        self, root: str | os.PathLike[str], *, limit: int | None = None, progress: bool = False
    ) -> TaskData:
        limit = check_limit(limit)
        notes: list[str] = []
        probe = PTBXL(root, 100, labels=None, leads=self.leads)
        folds = self._choose_folds(probe.strat_folds, notes)
        wanted = [f for s in SPLITS for f in folds[s]]
        fs = self._sampling_rate(root, wanted, notes)
        ds = PTBXL(root, fs, folds=wanted, labels=None, leads=self.leads)
        if ds.missing:
            notes.append(f"{len(ds.missing)} rows of the selected folds have no {fs} Hz files")
        view_y, classes = ds.labels(_VIEWS[self.view])
        if self.view == "superclass":
            keep = view_y.any(axis=1)
            dropped = "without a super-class statement"
        else:
            keep = ds.labels("diagnostic")[0].any(axis=1)
            dropped = "without a diagnostic statement"
        if (~keep).any():
            notes.append(f"{int((~keep).sum())} records {dropped} are dropped")
        split_of = {f: s for s in SPLITS for f in folds[s]}
        split = np.asarray([split_of.get(int(f), "") for f in ds.strat_folds])
        empty = [s for s in SPLITS if not (keep & (split == s)).any()]
        if empty:
            raise ValueError(
                f"PTB-XL under {root}: no usable record in the {'/'.join(empty)} split (folds "
                f"{ {s: folds[s] for s in empty} }); pass folds= explicitly"
            )
        chosen = np.flatnonzero(keep)
        if limit is not None:
            chosen = np.concatenate([chosen[split[chosen] == s][:limit] for s in SPLITS])
            chosen.sort()
            notes.append(f"limited to at most {limit} records per split (not a full run)")
        signals = np.empty((len(chosen), len(self.leads), 10 * fs), dtype=np.float32)
        for j, i in enumerate(progress_iter(chosen.tolist(), total=len(chosen), desc="PTB-XL",
                                            enabled=progress)):  # fmt: skip
            signals[j] = ds[i].signal
        return TaskData(
            task=self.name,
            signals=signals,
            fs=float(fs),
            leads=self.leads,
            item_record=np.arange(len(chosen), dtype=np.int64),
            record_ids=tuple(ds.record_ids[i] for i in chosen),
            labels=view_y[chosen].astype(np.int64),
            classes=classes,
            split=split[chosen],
            notes=tuple(notes),
            source={
                "dataset": "PTB-XL",
                "root": str(Path(root).resolve()),
                "view": self.view,
                "sampling_rate": fs,
                "folds": {s: list(folds[s]) for s in SPLITS},
                "limit": limit,
            },
        )

    def _sampling_rate(
        self, root: str | os.PathLike[str], folds: list[int], notes: list[str]
    ) -> int:
        if self.sampling_rate != "auto":
            return int(self.sampling_rate)
        reader_log = logging.getLogger("ecgfm.data.ptbxl")
        level = reader_log.level
        reader_log.setLevel(logging.ERROR)  # its "rows without files" warning is expected here
        try:
            missing = PTBXL(root, 500, folds=folds, labels=None, leads=self.leads).missing
        finally:
            reader_log.setLevel(level)
        if not missing:
            return 500
        notes.append(
            f"{len(missing)} records lack the 500 Hz copy; all records are read at 100 Hz "
            "and resampled by the model's preset"
        )
        return 100
