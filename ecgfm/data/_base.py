"""The map-style dataset interface shared by every ecgfm reader."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import overload

import numpy as np
import torch

from ecgfm.data._optional import progress_iter
from ecgfm.signal import ECGRecord

__all__ = ["ECGDataset", "RecordTransform"]

RecordTransform = Callable[[ECGRecord], ECGRecord]


class ECGDataset(torch.utils.data.Dataset):
    """A lazily read, indexable collection of :class:`ECGRecord` sharing ``fs`` and ``leads``.

    Subclasses fill ``_record_ids`` / ``_patient_ids`` (one entry per item) and implement
    ``_read(i)``. Items are read on access; ``transform`` (an ``ECGRecord -> ECGRecord``
    callable, e.g. a crop or a resampler) is applied to each item. Use
    :func:`ecgfm.data.collate_records` as ``collate_fn`` of a ``torch.utils.data.DataLoader``.

    Indexing follows ``Sequence``: ``ds[i]`` (negative ``i`` counts from the end) is one
    record, ``ds[a:b:step]`` a list of records (read now, e.g. for ``model.embed(ds[:8])``).
    For a lazy subset use ``torch.utils.data.Subset(ds, indices)``.
    """

    fs: float
    leads: tuple[str, ...]

    def __init__(self, transform: RecordTransform | None = None) -> None:
        if transform is not None and not callable(transform):
            raise TypeError(
                f"transform must be a callable ECGRecord -> ECGRecord, got {transform!r}"
            )
        self.transform = transform
        self._record_ids: tuple[str, ...] = ()
        self._patient_ids: tuple[str | None, ...] = ()

    def __len__(self) -> int:
        return len(self._record_ids)

    def _read(self, i: int) -> ECGRecord:
        raise NotImplementedError

    def _item_shape(self) -> tuple[int, int] | None:
        """``(C, T)`` of every item when it is known without reading (for empty datasets)."""
        return None

    def _index(self, index: int) -> int:
        try:
            i = operator.index(index)
        except TypeError:
            raise TypeError(
                f"{type(self).__name__} indices must be integers or slices, got "
                f"{type(index).__name__}; for other subsets use [ds[i] for i in indices] "
                "(records now) or torch.utils.data.Subset(dataset, indices) (lazy)"
            ) from None
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {index} out of range for {type(self).__name__} of {n} items")
        return i % n

    @overload
    def __getitem__(self, index: int) -> ECGRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[ECGRecord]: ...

    def __getitem__(self, index: int | slice) -> ECGRecord | list[ECGRecord]:
        if isinstance(index, slice):
            return [self._item(i) for i in range(len(self))[index]]
        return self._item(self._index(index))

    def _item(self, i: int) -> ECGRecord:
        record = self._read(i)
        if self.transform is None:
            return record
        out = self.transform(record)
        if not isinstance(out, ECGRecord):
            raise TypeError(f"transform returned {type(out).__name__}, expected an ECGRecord")
        return out

    def __iter__(self) -> Iterator[ECGRecord]:
        for i in range(len(self)):
            yield self[i]

    @property
    def record_ids(self) -> tuple[str, ...]:
        """Identifier of each item, in item order."""
        return self._record_ids

    @property
    def patient_ids(self) -> tuple[str | None, ...]:
        """Patient of each item (``None`` where the source does not say), in item order."""
        return self._patient_ids

    def load_all(self, *, progress: bool = False) -> np.ndarray:
        """Read every item into one float32 array ``(N, C, T)`` in mV (after ``transform``).

        Labels are not read here; each reader has its own label accessor. All items must
        share their shape (crop or resample with ``transform`` otherwise). ``progress=True``
        shows a tqdm bar if tqdm is installed. An empty dataset gives ``(0, C, T)`` when the
        shape is known from the source (PTB-XL, segmented CinC 2017).
        """
        n = len(self)
        if n == 0:
            shape = self._item_shape()
            if shape is None:
                raise ValueError(
                    f"{type(self).__name__} is empty and its item shape is unknown; "
                    "there is nothing to load"
                )
            return np.empty((0, *shape), dtype=np.float32)
        first = self[0].signal
        out = np.empty((n, *first.shape), dtype=np.float32)
        out[0] = first
        items = progress_iter(range(1, n), total=n - 1, desc=type(self).__name__, enabled=progress)
        for i in items:
            record = self[i]
            if record.signal.shape != first.shape:
                raise ValueError(
                    f"item {i} ({record.record_id}) has shape {record.signal.shape} but item 0 "
                    f"has {first.shape}; load_all stacks equal shapes only — pass a "
                    "transform that crops/pads/resamples, or iterate over the records"
                )
            out[i] = record.signal
        return out
