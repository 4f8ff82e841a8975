"""PhysioNet/Computing in Cardiology Challenge 2017: single-lead AliveCor ECGs, 300 Hz, 9-61 s.

Expected layout (the challenge's training set)::

    root/RECORDS                 record names, one per line (A00001 ...)
    root/REFERENCE-v3.csv        name,label with label in N (normal), A (AF), O (other), ~ (noisy)
    root/REFERENCE-v1.csv        the labels of the first release
    root/A00001.hea + A00001.mat ... WFDB header and signal (format 16 after a 24-byte prelude)

The single channel, named ``ECG`` in the headers, is a handheld AliveCor recording between
the two hands, i.e. close to limb lead I; ecgfm names it ``"I"`` and records the renaming in
``meta["renamed_channels"] == {"ECG": "I"}``.

Records are of variable length. With ``segment_seconds`` each record is cut into disjoint
segments of that length from its start; the remainder (< one segment) is dropped, and records
shorter than one segment give no segment and are listed in :attr:`CinC2017.too_short` (as in
ST-MEM's evaluation, which drops records under 10 s). Segments keep the record id and carry
``meta["segment_index"]`` so that segment predictions or embeddings can be averaged per record.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from collections import Counter
from pathlib import Path

import numpy as np

from ecgfm.data._base import ECGDataset, RecordTransform
from ecgfm.data._wfdb_header import WfdbHeader, read_wfdb_header
from ecgfm.data.wfdb_reader import read_wfdb
from ecgfm.signal import ECGRecord, NanPolicy

__all__ = ["CINC2017_CLASSES", "CinC2017"]

logger = logging.getLogger(__name__)

CINC2017_CLASSES: tuple[str, ...] = ("N", "A", "O", "~")
CINC2017_CLASS_NAMES: dict[str, str] = {
    "N": "normal sinus rhythm",
    "A": "atrial fibrillation",
    "O": "other rhythm",
    "~": "too noisy to classify",
}
_LABEL_FILES = {"v3": "REFERENCE-v3.csv", "v1": "REFERENCE-v1.csv"}
_RENAME = {"ECG": "I"}
_LEAD_NOTE = "AliveCor single lead (between the hands), lead-I-like; header channel 'ECG' -> 'I'"


def _read_reference(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: root must be the CinC 2017 training folder holding "
            "REFERENCE-v3.csv (or REFERENCE-v1.csv), RECORDS and the A*.hea/A*.mat files"
        )
    labels: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8-sig") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            if not row or not row[0].strip():
                continue
            where = f"{path.name}:{line_no}"
            if len(row) != 2:
                raise ValueError(f"{where}: expected 'name,label', got {row}")
            name, label = row[0].strip(), row[1].strip()
            if label not in CINC2017_CLASSES:
                raise ValueError(
                    f"{where}: unknown label {label!r} for {name}; CinC 2017 labels are "
                    f"{', '.join(CINC2017_CLASSES)}"
                )
            if name in labels:
                raise ValueError(f"{where}: {name} is labelled twice")
            labels[name] = label
    return labels


def _read_names(path: Path) -> list[str]:
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    names = [n for n in names if n]
    duplicates = sorted(n for n, count in Counter(names).items() if count > 1)
    if duplicates:
        raise ValueError(f"{path} lists records more than once: {duplicates[:5]}")
    return names


class CinC2017(ECGDataset):
    """PhysioNet/CinC 2017 records (or fixed-length segments of them) as :class:`ECGRecord`.

    Args:
        root: the training folder (``RECORDS``, ``REFERENCE-v3.csv``, ``A*.hea``/``A*.mat``).
        labels: ``"v3"`` (final challenge labels, default) or ``"v1"`` (first release).
        segment_seconds: ``None`` for whole records (variable length), or a segment length
            in seconds (e.g. ``10.0`` -> 3000 samples): every item is then one disjoint
            segment; the remainder of each record is dropped.
        nan_policy: ``"raise"`` or ``"zero"``, see :func:`ecgfm.data.read_wfdb`.
        transform: optional ``ECGRecord -> ECGRecord`` applied to each item.

    Attributes:
        classes: ``("N", "A", "O", "~")``; ``targets`` are indices into it, per item.
        missing: names listed in RECORDS whose ``.hea`` or signal file is not on disk.
        unlabeled: names on disk without a label in the reference file (left out).
        too_short: records shorter than one segment (only with ``segment_seconds``).
        recordings / recording_targets: the records that contribute items, and their labels
            (for record-level evaluation of segment-level outputs).
        segment_indices: per item, the segment number within its record (``None`` without
            segmentation).

    Records listed in RECORDS and missing on disk, unlabeled or too short are left out with a
    logged warning giving the count. Patient ids are unknown (``None``).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        labels: str = "v3",
        *,
        segment_seconds: float | None = None,
        nan_policy: NanPolicy = "raise",
        transform: RecordTransform | None = None,
    ) -> None:
        super().__init__(transform)
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"CinC 2017 root {self.root} is not a directory")
        if labels not in _LABEL_FILES:
            raise ValueError(
                f"labels must be 'v3' (final challenge labels) or 'v1' (first release), "
                f"got {labels!r}"
            )
        self.label_version = labels
        if nan_policy not in ("raise", "zero"):
            raise ValueError(f"nan_policy must be 'raise' or 'zero', got {nan_policy!r}")
        self.nan_policy: NanPolicy = nan_policy
        if segment_seconds is not None and (
            isinstance(segment_seconds, bool)
            or not isinstance(segment_seconds, (int, float))
            or not math.isfinite(segment_seconds)
            or segment_seconds <= 0
        ):
            raise ValueError(
                f"segment_seconds must be a positive number of seconds or None, "
                f"got {segment_seconds!r}"
            )
        self.segment_seconds = None if segment_seconds is None else float(segment_seconds)
        self.classes = CINC2017_CLASSES
        self.leads = ("I",)

        reference = _read_reference(self.root / _LABEL_FILES[labels])
        records_file = self.root / "RECORDS"
        if records_file.is_file():
            names = _read_names(records_file)
        else:
            names = list(reference)
            logger.warning(
                "CinC 2017: %s not found; using the %d records of %s instead",
                records_file,
                len(names),
                _LABEL_FILES[labels],
            )
        headers = self._headers(names)
        self._select(names, headers, reference)

    def _headers(self, names: list[str]) -> dict[str, WfdbHeader]:
        on_disk = set(os.listdir(self.root))
        headers: dict[str, WfdbHeader] = {}
        missing = []
        for name in names:
            if f"{name}.hea" not in on_disk:
                missing.append(name)
                continue
            header = read_wfdb_header(self.root / f"{name}.hea")
            if any(ch.file_name not in on_disk for ch in header.channels):
                missing.append(name)
                continue
            if header.n_sig != 1 or header.fs is None or header.sig_len is None:
                raise ValueError(
                    f"{header.path}: expected a single-channel record with sampling frequency "
                    "and length in the header, as in the CinC 2017 data"
                )
            headers[name] = header
        self.missing: tuple[str, ...] = tuple(missing)
        if missing:
            logger.warning(
                "CinC 2017: %d of %d records listed in RECORDS have no .hea or signal file "
                "in %s; they are left out and listed in .missing (first: %s)",
                len(missing),
                len(names),
                self.root,
                ", ".join(missing[:5]),
            )
        rates = {h.fs for h in headers.values()}
        if len(rates) > 1:
            raise ValueError(
                f"CinC 2017 records under {self.root} have several sampling rates {rates}; "
                "the challenge data are all 300 Hz"
            )
        self.fs = float(rates.pop()) if rates else 300.0
        return headers

    def _select(
        self, names: list[str], headers: dict[str, WfdbHeader], reference: dict[str, str]
    ) -> None:
        unlabeled = [n for n in names if n in headers and n not in reference]
        self.unlabeled: tuple[str, ...] = tuple(unlabeled)
        if unlabeled:
            logger.warning(
                "CinC 2017: %d records on disk have no label in %s; they are left out and "
                "listed in .unlabeled (first: %s)",
                len(unlabeled),
                _LABEL_FILES[self.label_version],
                ", ".join(unlabeled[:5]),
            )
        usable = [n for n in names if n in headers and n in reference]
        seg = self.segment_samples
        self._num_samples = {name: int(headers[name].sig_len or 0) for name in usable}
        self._label_of = {name: reference[name] for name in usable}
        too_short: list[str] = []
        items: list[tuple[str, int | None]] = []
        for name in usable:
            n_samples = self._num_samples[name]
            if seg is None:
                items.append((name, None))
                continue
            k = n_samples // seg
            if k == 0:
                too_short.append(name)
            items.extend((name, j) for j in range(k))
        self.too_short: tuple[str, ...] = tuple(too_short)
        if too_short:
            logger.warning(
                "CinC 2017: %d records are shorter than one %g s segment (%d samples); they "
                "give no segment and are listed in .too_short (first: %s)",
                len(too_short),
                self.segment_seconds,
                seg,
                ", ".join(too_short[:5]),
            )
        self._record_ids = tuple(name for name, _ in items)
        self._patient_ids = (None,) * len(items)
        self._segments = tuple(j for _, j in items)
        self._labels = tuple(reference[name] for name, _ in items)
        self.targets = np.asarray(
            [CINC2017_CLASSES.index(lab) for lab in self._labels], dtype=np.int64
        )
        self.recordings: tuple[str, ...] = tuple(dict.fromkeys(self._record_ids))
        self.recording_targets = np.asarray(
            [CINC2017_CLASSES.index(reference[name]) for name in self.recordings], dtype=np.int64
        )
        self._cache: tuple[str, ECGRecord] | None = None

    @property
    def segment_samples(self) -> int | None:
        """Segment length in samples (``None`` without segmentation)."""
        if self.segment_seconds is None:
            return None
        samples = self.segment_seconds * self.fs
        if abs(samples - round(samples)) > 1e-6 or round(samples) < 1:
            raise ValueError(
                f"segment_seconds={self.segment_seconds} is not a whole number of samples at "
                f"{self.fs:g} Hz"
            )
        return round(samples)

    @property
    def segment_indices(self) -> tuple[int | None, ...]:
        """Segment number of each item within its record (``None`` without segmentation)."""
        return self._segments

    def labels(self) -> tuple[np.ndarray, tuple[str, ...]]:
        """Integer targets ``(N,)`` int64 per item and the class names, without reading."""
        return self.targets.copy(), self.classes

    def load_all(self, *, progress: bool = False) -> np.ndarray:
        """All items ``(N, 1, T)`` float32 mV; needs ``segment_seconds`` (or an equalising
        ``transform``) because whole records differ in length."""
        lengths = {self._num_samples[name] for name in self.recordings}
        if self.segment_samples is None and self.transform is None and len(lengths) > 1:
            raise ValueError(
                f"CinC 2017 records have different lengths ({min(lengths)}-{max(lengths)} "
                "samples) and cannot be stacked; pass segment_seconds=10.0 (disjoint 10 s "
                "segments) or a transform that crops/pads them to one length"
            )
        return super().load_all(progress=progress)

    def _item_shape(self) -> tuple[int, int] | None:
        seg = self.segment_samples
        return None if seg is None else (1, seg)

    def _read_record(self, name: str) -> ECGRecord:
        # Consecutive segments of one record are read once (load_all, sequential loaders).
        if self._cache is not None and self._cache[0] == name:
            return self._cache[1]
        label = self._label_of[name]
        record = read_wfdb(
            self.root / name,
            rename=_RENAME,
            nan_policy=self.nan_policy,
            record_id=name,
            labels=CINC2017_CLASSES.index(label),
            meta={
                "dataset": "CinC2017",
                "label": label,
                "label_version": self.label_version,
                "lead_note": _LEAD_NOTE,
            },
        )
        if record.num_samples != self._num_samples[name] or record.fs != self.fs:
            raise ValueError(
                f"{record.meta['source']}: read {record.num_samples} samples at "
                f"{record.fs:g} Hz, the header says {self._num_samples[name]} at {self.fs:g} Hz"
            )
        self._cache = (name, record)
        return record

    def _read(self, i: int) -> ECGRecord:
        record = self._read_record(self._record_ids[i])
        j = self._segments[i]
        if j is None:
            return record.with_signal(record.signal.copy())
        seg = int(self.segment_samples or 0)
        start = j * seg
        meta = dict(record.meta)
        meta.update(
            segment_index=j,
            segment_start=start,
            segment_seconds=self.segment_seconds,
            record_num_samples=record.num_samples,
        )
        return ECGRecord(
            record.signal[:, start : start + seg].copy(),
            record.fs,
            record.leads,
            record_id=record.record_id,
            patient_id=None,
            labels=record.labels,
            meta=meta,
        )

    def __repr__(self) -> str:
        seg = "" if self.segment_seconds is None else f", segment_seconds={self.segment_seconds:g}"
        return (
            f"CinC2017(root={str(self.root)!r}, labels={self.label_version!r}{seg}, "
            f"n={len(self)}, missing={len(self.missing)}, unlabeled={len(self.unlabeled)}, "
            f"too_short={len(self.too_short)})"
        )
