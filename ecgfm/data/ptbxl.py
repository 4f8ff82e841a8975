"""PTB-XL (Wagner et al. 2020): 10 s 12-lead ECGs at 100 or 500 Hz with SCP-ECG statements.

Expected layout (as published on PhysioNet)::

    root/ptbxl_database.csv      one row per record: ecg_id, patient_id, scp_codes, strat_fold,
                                 filename_lr, filename_hr, ...
    root/scp_statements.csv      the 71 statements and their aggregation (label views)
    root/records100/NNNNN/*_lr.{hea,dat}      100 Hz
    root/records500/NNNNN/*_hr.{hea,dat}      500 Hz

Any subset of the records may be on disk: rows of the selected folds whose waveform files are
missing are listed in :attr:`PTBXL.missing` and a warning gives their count; folds without any
row give an empty dataset with a warning. See :mod:`ecgfm.data.ptbxl_labels` for label views.
"""

from __future__ import annotations

import ast
import csv
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecgfm.data._base import ECGDataset, RecordTransform
from ecgfm.data.ptbxl_labels import (
    ScpStatement,
    canonical_view,
    multi_hot,
    read_scp_statements,
    view_classes,
)
from ecgfm.data.wfdb_reader import read_wfdb
from ecgfm.leads import CANONICAL_LEADS, normalize_lead_names
from ecgfm.signal import ECGRecord, NanPolicy

__all__ = ["PTBXL", "PTBXL_SPLITS"]

logger = logging.getLogger(__name__)

PTBXL_SPLITS: dict[str, tuple[int, ...]] = {
    "train": (1, 2, 3, 4, 5, 6, 7, 8),
    "val": (9,),
    "test": (10,),
}
_FOLDS = range(1, 11)
_RECORD_SECONDS = 10
_FILE_COLUMN = {100: "filename_lr", 500: "filename_hr"}
_REQUIRED = ("ecg_id", "patient_id", "scp_codes", "strat_fold", "filename_lr", "filename_hr")


def _check_sampling_rate(sampling_rate: Any) -> int:
    if isinstance(sampling_rate, bool) or not isinstance(
        sampling_rate, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"sampling_rate must be 100 or 500 (Hz), got {sampling_rate!r}")
    if sampling_rate not in _FILE_COLUMN:
        raise ValueError(
            f"PTB-XL is published at 100 Hz (records100) and 500 Hz (records500), got "
            f"sampling_rate={sampling_rate}; read one of those and resample afterwards "
            "(e.g. with a transform)"
        )
    return int(sampling_rate)


def _check_folds(folds: Iterable[int]) -> tuple[int, ...]:
    if isinstance(folds, (str, bytes)) or not isinstance(folds, Iterable):
        raise TypeError(f"folds must be an iterable of integers in 1-10, got {folds!r}")
    out = []
    for fold in folds:
        if isinstance(fold, bool) or not isinstance(fold, (int, np.integer)):
            raise TypeError(f"folds must be integers in 1-10, got {fold!r}")
        if int(fold) not in _FOLDS:
            raise ValueError(
                f"unknown PTB-XL fold {fold}; strat_fold takes the values 1-10 (official split: "
                "1-8 train, 9 validation, 10 test)"
            )
        out.append(int(fold))
    if not out:
        raise ValueError("folds is empty; pass at least one fold in 1-10 (or folds=None for all)")
    return tuple(sorted(set(out)))


def _patient_id(value: str) -> str | None:
    """``"15709.0"`` -> ``"15709"``; empty -> None; other text is kept as is."""
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return value
    if math.isfinite(number) and number == int(number):
        return str(int(number))
    return value


def _int_field(value: str, name: str, where: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{where}: {name} {value!r} is not a number") from None
    if not (math.isfinite(number) and number == int(number)):
        raise ValueError(f"{where}: {name} {value!r} is not an integer")
    return int(number)


def _scp_codes(value: str, where: str) -> dict[str, float]:
    try:
        codes = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise ValueError(f"{where}: scp_codes {value!r} is not a dict literal") from None
    if not isinstance(codes, dict) or not all(
        isinstance(k, str) and isinstance(v, (int, float)) for k, v in codes.items()
    ):
        raise ValueError(f"{where}: scp_codes must map statement codes to likelihoods: {value!r}")
    return {k: float(v) for k, v in codes.items()}


def _read_database(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: root must be the PTB-XL folder holding ptbxl_database.csv, "
            "scp_statements.csv and records100/ (and/or records500/)"
        )
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in _REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path} lacks columns {missing}; is this ptbxl_database.csv?")
        return list(reader)


def _existing_files(root: Path, relative_dirs: Iterable[str]) -> set[str]:
    """Relative paths (``records100/00000/00001_lr.hea``) of files in the given folders."""
    found: set[str] = set()
    for rel in relative_dirs:
        folder = root / rel
        if not folder.is_dir():
            continue
        with os.scandir(folder) as entries:
            found.update(f"{rel}/{e.name}" for e in entries if e.is_file())
    return found


class PTBXL(ECGDataset):
    """PTB-XL records as :class:`ECGRecord` items, read lazily, with label views and splits.

    Args:
        root: folder with ``ptbxl_database.csv``, ``scp_statements.csv`` and ``records100/``
            / ``records500/``.
        sampling_rate: 100 or 500 (Hz), i.e. which published copy is read.
        split: ``"train"`` (strat_fold 1-8), ``"val"`` (9) or ``"test"`` (10); the official
            split of the PTB-XL paper. Mutually exclusive with ``folds``.
        folds: explicit strat_fold values (1-10); ``None`` with ``split=None`` reads all folds.
        leads: leads of the items, in order (default: the canonical 12).
        labels: label view put on each item as a float32 multi-hot vector
            (``record.labels``), one of ``all, diagnostic, subclass, superclass, form, rhythm,
            mi``; ``None`` for no labels on the items (``labels()`` still works).
        min_likelihood: drop diagnostic statements below this likelihood (default 0: keep
            every listed statement, as the PTB-XL benchmark does).
        nan_policy: ``"raise"`` or ``"zero"``, see :func:`ecgfm.data.read_wfdb`.
        transform: optional ``ECGRecord -> ECGRecord`` applied to each item.

    Attributes:
        missing: ecg_ids (str) of selected rows whose waveform files are not on disk.
        classes: class names of the ``labels`` view (``None`` if ``labels=None``).
        record_ids / patient_ids / ecg_ids / strat_folds: per item, in ``ecg_id`` order.

    Each item's ``meta`` has ``dataset="PTB-XL"``, ``ecg_id``, ``strat_fold``, ``scp_codes``
    (dict with likelihoods) plus the WFDB reader's keys (source path, units, repairs).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        sampling_rate: int = 100,
        *,
        split: str | None = None,
        folds: Iterable[int] | None = None,
        leads: Sequence[str] | None = None,
        labels: str | None = "superclass",
        min_likelihood: float = 0.0,
        nan_policy: NanPolicy = "raise",
        transform: RecordTransform | None = None,
    ) -> None:
        super().__init__(transform)
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"PTB-XL root {self.root} is not a directory")
        self.sampling_rate = _check_sampling_rate(sampling_rate)
        self.fs = float(self.sampling_rate)
        self.leads = CANONICAL_LEADS if leads is None else normalize_lead_names(leads)
        if nan_policy not in ("raise", "zero"):
            raise ValueError(f"nan_policy must be 'raise' or 'zero', got {nan_policy!r}")
        self.nan_policy: NanPolicy = nan_policy
        if split is not None and folds is not None:
            raise ValueError("pass either split= or folds=, not both")
        if split is not None and split not in PTBXL_SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(PTBXL_SPLITS)}")
        self.split = split
        self.folds = PTBXL_SPLITS[split] if split is not None else None
        if folds is not None:
            self.folds = _check_folds(folds)

        self.statements: dict[str, ScpStatement] = read_scp_statements(
            self.root / "scp_statements.csv"
        )
        self.label_view = None if labels is None else canonical_view(labels)
        self.min_likelihood = min_likelihood
        rows = _read_database(self.root / "ptbxl_database.csv")
        self._select(rows)
        if self.label_view is None:
            self.classes: tuple[str, ...] | None = None
            self._targets: np.ndarray | None = None
        else:
            self._targets, self.classes = self.labels(self.label_view)

    def _select(self, rows: list[dict[str, str]]) -> None:
        csv_name = "ptbxl_database.csv"
        parsed = []
        for line_no, row in enumerate(rows, start=2):
            where = f"{csv_name}:{line_no}"
            ecg_id = _int_field(row["ecg_id"], "ecg_id", where)
            if ecg_id is None:
                raise ValueError(f"{where}: empty ecg_id")
            fold = _int_field(row["strat_fold"], "strat_fold", where)
            parsed.append((ecg_id, fold, row, where))
        parsed.sort(key=lambda item: item[0])

        if self.folds is not None:
            present_folds = {fold for _, fold, _, _ in parsed}
            absent = [f for f in self.folds if f not in present_folds]
            if absent:
                logger.warning(
                    "PTB-XL: fold(s) %s have no rows in %s (this copy may withhold them, e.g. "
                    "the official test fold 10)%s",
                    absent,
                    self.root / csv_name,
                    "; the dataset is empty" if len(absent) == len(self.folds) else "",
                )
            parsed = [item for item in parsed if item[1] in self.folds]

        column = _FILE_COLUMN[self.sampling_rate]
        stems = [row[column].strip() for _, _, row, _ in parsed]
        on_disk = _existing_files(self.root, {s.rsplit("/", 1)[0] for s in stems if "/" in s})
        keep, missing = [], []
        for item, stem in zip(parsed, stems, strict=True):
            if stem and f"{stem}.hea" in on_disk and f"{stem}.dat" in on_disk:
                keep.append((item, stem))
            else:
                missing.append(str(item[0]))
        self.missing: tuple[str, ...] = tuple(missing)
        if missing:
            logger.warning(
                "PTB-XL %d Hz: %d of %d selected rows have no waveform files under %s; they are "
                "left out and listed in .missing (first: %s)",
                self.sampling_rate,
                len(missing),
                len(parsed),
                self.root,
                ", ".join(missing[:5]),
            )

        self._stems = tuple(stem for _, stem in keep)
        self.ecg_ids = np.asarray([item[0] for item, _ in keep], dtype=np.int64)
        self.strat_folds = np.asarray(
            [-1 if item[1] is None else item[1] for item, _ in keep], dtype=np.int64
        )
        self._rows = tuple(item[2] for item, _ in keep)
        self._scp = tuple(_scp_codes(row["scp_codes"], where) for (_, _, row, where), _ in keep)
        self._record_ids = tuple(str(e) for e in self.ecg_ids)
        self._patient_ids = tuple(_patient_id(row["patient_id"]) for row in self._rows)
        unknown = sorted({c for codes in self._scp for c in codes if c not in self.statements})
        if unknown:
            logger.warning(
                "PTB-XL: statements %s in scp_codes are not in scp_statements.csv; they are "
                "ignored by every label view",
                unknown,
            )

    def labels(
        self, view: str | None = None, *, min_likelihood: float | None = None
    ) -> tuple[np.ndarray, tuple[str, ...]]:
        """Multi-hot label matrix ``(N, K)`` float32 and its class names, without reading signals.

        ``view`` defaults to the dataset's ``labels`` view; ``min_likelihood`` to the
        dataset's. See :mod:`ecgfm.data.ptbxl_labels` for views and likelihoods.
        """
        if view is None:
            if self.label_view is None:
                raise ValueError("this dataset has labels=None; pass a view, e.g. 'superclass'")
            view = self.label_view
        threshold = self.min_likelihood if min_likelihood is None else min_likelihood
        return multi_hot(self._scp, self.statements, view, min_likelihood=threshold)

    def view_classes(self, view: str) -> tuple[str, ...]:
        """Class names of a label view (fixed by scp_statements.csv)."""
        return view_classes(self.statements, view)

    @property
    def scp_codes(self) -> tuple[dict[str, float], ...]:
        """Per item, the statements with their likelihoods (copies)."""
        return tuple(dict(codes) for codes in self._scp)

    def metadata(self, index: int) -> dict[str, str]:
        """The item's full row of ptbxl_database.csv (strings, as in the file)."""
        return dict(self._rows[self._index(index)])

    def _item_shape(self) -> tuple[int, int]:
        return (len(self.leads), _RECORD_SECONDS * self.sampling_rate)

    def _read(self, i: int) -> ECGRecord:
        extra: Mapping[str, Any] = {
            "dataset": "PTB-XL",
            "ecg_id": int(self.ecg_ids[i]),
            "strat_fold": int(self.strat_folds[i]),
            "scp_codes": dict(self._scp[i]),
        }
        record = read_wfdb(
            self.root / self._stems[i],
            leads=self.leads,
            nan_policy=self.nan_policy,
            record_id=self._record_ids[i],
            patient_id=self._patient_ids[i],
            labels=None if self._targets is None else self._targets[i].copy(),
            meta=extra,
        )
        if record.fs != self.fs:
            raise ValueError(
                f"{record.meta['source']} says {record.fs:g} Hz but it is in the "
                f"{self.sampling_rate} Hz folder of PTB-XL; the copy under {self.root} is "
                "inconsistent"
            )
        return record

    def __repr__(self) -> str:
        where = f"split={self.split!r}" if self.split else f"folds={self.folds}"
        return (
            f"PTBXL(root={str(self.root)!r}, sampling_rate={self.sampling_rate}, {where}, "
            f"labels={self.label_view!r}, n={len(self)}, missing={len(self.missing)})"
        )
