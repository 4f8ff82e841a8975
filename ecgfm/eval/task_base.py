"""What an evaluation task produces: :class:`TaskData` (signals, labels, split); :class:`Task`.

A task turns a data set on disk into

- *items* to embed, ``signals`` ``(N, C, T)`` float32 mV at ``fs`` with lead names ``leads``
  (CinC 2017: disjoint 10 s segments; PTB-XL: whole 10 s records), each belonging to one
- *record* (``item_record`` indexes ``record_ids``), the unit that is labelled, split and
  scored: an item's embedding (or prediction) is averaged over the items of its record;
- per-record ``labels`` (class indices ``(R,)`` for multi-class, 0/1 ``(R, K)`` for
  multi-label) and a per-record ``split`` (``"train"``, ``"val"`` or ``"test"``);
- ``notes``: everything the user must know about how the data were selected (fallback folds,
  dropped records, records on disk left out); they are copied into every report.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecgfm.leads import normalize_lead_names
from ecgfm.signal import check_fs

__all__ = ["SPLITS", "Task", "TaskData"]

SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class TaskData:
    """The loaded data of one task (see the module docstring).

    Attributes:
        task: task name (``"cinc2017"``, ``"ptbxl-superclass"``, ...).
        signals: items ``(N, C, T)`` float32 in mV.
        fs: sampling rate of ``signals`` (Hz).
        leads: lead names of the ``C`` channels.
        item_record: ``(N,)`` int64, the record (row of ``record_ids``) of each item.
        record_ids: ``R`` record identifiers.
        labels: ``(R,)`` int64 class indices (multi-class) or ``(R, K)`` int64 0/1 (multi-label).
        classes: the ``K`` class names.
        split: ``(R,)`` split name of each record, one of :data:`SPLITS`.
        notes: selection notes (fallbacks, dropped records) to show with every result.
        source: provenance (root, label version, folds, sampling rate, split file...).
    """

    task: str
    signals: np.ndarray
    fs: float
    leads: tuple[str, ...]
    item_record: np.ndarray
    record_ids: tuple[str, ...]
    labels: np.ndarray
    classes: tuple[str, ...]
    split: np.ndarray
    notes: tuple[str, ...] = ()
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        sig = self.signals
        if not isinstance(sig, np.ndarray) or sig.dtype != np.float32 or sig.ndim != 3:
            raise ValueError("TaskData.signals must be a float32 numpy array (N, C, T)")
        if not np.isfinite(sig).all():
            raise ValueError("TaskData.signals contain NaN/Inf; load with nan_policy='zero'")
        object.__setattr__(self, "fs", check_fs(self.fs))
        object.__setattr__(self, "leads", normalize_lead_names(self.leads))
        if len(self.leads) != sig.shape[1]:
            raise ValueError(f"{len(self.leads)} lead names for {sig.shape[1]} channels")
        n_rec = len(self.record_ids)
        if len(set(self.record_ids)) != n_rec:
            raise ValueError("TaskData.record_ids must be unique")
        ir = np.asarray(self.item_record)
        if ir.shape != (sig.shape[0],) or not np.issubdtype(ir.dtype, np.integer):
            raise ValueError(f"item_record must be ({sig.shape[0]},) integers, got {ir.shape}")
        if ir.size and (ir.min() < 0 or ir.max() >= n_rec):
            raise ValueError("item_record points outside record_ids")
        if np.bincount(ir, minlength=n_rec).min(initial=1) == 0:
            raise ValueError("every record needs at least one item")
        y = np.asarray(self.labels)
        k = len(self.classes)
        if y.shape not in ((n_rec,), (n_rec, k)):
            raise ValueError(f"labels must be ({n_rec},) or ({n_rec}, {k}), got {y.shape}")
        if y.ndim == 1 and y.size and (y.min() < 0 or y.max() >= k):
            raise ValueError(f"class indices must lie in [0, {k})")
        if y.ndim == 2 and not np.isin(y, (0, 1)).all():
            raise ValueError("multi-label targets must be 0/1")
        split = np.asarray(self.split)
        if split.shape != (n_rec,) or not np.isin(split, SPLITS).all():
            raise ValueError(f"split must be ({n_rec},) with values in {SPLITS}")
        object.__setattr__(self, "item_record", ir.astype(np.int64))
        object.__setattr__(self, "labels", y.astype(np.int64))
        object.__setattr__(self, "split", split.astype(str))
        object.__setattr__(self, "notes", tuple(self.notes))

    @property
    def multilabel(self) -> bool:
        return self.labels.ndim == 2

    @property
    def num_records(self) -> int:
        return len(self.record_ids)

    def indices(self, split: str) -> np.ndarray:
        """Record indices ``(R_split,)`` of ``split``."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return np.flatnonzero(self.split == split)

    def label_matrix(self) -> np.ndarray:
        """0/1 labels ``(R, K)`` (one-hot for multi-class)."""
        if self.multilabel:
            return self.labels
        out = np.zeros((self.num_records, len(self.classes)), dtype=np.int64)
        out[np.arange(self.num_records), self.labels] = 1
        return out

    def support(self) -> dict[str, dict[str, int]]:
        """Positive records per class per split: ``{split: {class: count}}``."""
        y = self.label_matrix()
        return {
            s: {c: int(y[self.split == s, k].sum()) for k, c in enumerate(self.classes)}
            for s in SPLITS
        }

    def split_sizes(self) -> dict[str, int]:
        return {s: int((self.split == s).sum()) for s in SPLITS}

    def fingerprint(self) -> str:
        """sha256 of what determines embeddings: record ids, item->record map, fs, leads and
        the signal bytes (labels and split are not part of it, so two tasks over the same
        records share cached embeddings)."""
        h = hashlib.sha256()
        h.update(repr((self.fs, self.leads, self.signals.shape)).encode())
        h.update("\n".join(self.record_ids).encode())
        h.update(self.item_record.tobytes())
        h.update(np.ascontiguousarray(self.signals).tobytes())
        return h.hexdigest()


class Task(ABC):
    """A named evaluation task; :meth:`load` reads it from a data folder.

    Subclasses set ``name``, ``description``, ``leads`` (leads handed to the model) and
    ``multilabel``.
    """

    name: str
    description: str
    leads: tuple[str, ...]
    multilabel: bool

    @abstractmethod
    def load(
        self, root: str | os.PathLike[str], *, limit: int | None = None, progress: bool = False
    ) -> TaskData:
        """Read the task's data under ``root``.

        ``limit`` keeps at most that many records per split (for quick runs and tests; a
        report says so); ``progress`` shows a tqdm bar while reading.
        """

    @property
    def display_name(self) -> str:
        """Name with the leads, e.g. ``ptbxl-mi (lead I)``."""
        lead = "lead " + ",".join(self.leads) if len(self.leads) < 12 else "12-lead"
        return f"{self.name} ({lead})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.display_name!r})"


def check_limit(limit: int | None) -> int | None:
    """Validate a per-split record limit."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise ValueError(f"limit must be a positive number of records per split, got {limit!r}")
    return int(limit)
