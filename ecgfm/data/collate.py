"""Batching :class:`ECGRecord` items for ``torch.utils.data.DataLoader``.

Usage::

    loader = DataLoader(dataset, batch_size=64, shuffle=True, collate_fn=collate_records)
    for batch in loader:
        x = batch.signal.to(device)      # (B, C, T) float32 mV
        y = batch.labels                 # (B, K) / (B,) tensor, or a list

Records of one batch must share ``fs``, leads and length (crop, pad or resample them in the
dataset's ``transform`` first); a mismatch raises ``ValueError`` naming the record.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from ecgfm.signal import ECGRecord, stack_records

__all__ = ["ECGBatch", "collate_records"]


class ECGBatch(NamedTuple):
    """A batch of records: the stacked signal and per-record metadata lists.

    Attributes:
        signal: ``(B, C, T)`` float32 tensor in mV.
        fs: common sampling rate in Hz.
        leads: common lead names.
        labels: ``(B, ...)`` tensor when every record's label is a number or an array of one
            shape (float labels -> float32, integer labels -> int64); ``None`` when no record
            has labels; otherwise the list of labels.
        record_ids, patient_ids, meta: one entry per record.
    """

    signal: torch.Tensor
    fs: float
    leads: tuple[str, ...]
    labels: torch.Tensor | list[Any] | None
    record_ids: list[str | None]
    patient_ids: list[str | None]
    meta: list[dict[str, Any]]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> ECGBatch:
        """The batch with ``signal`` (and tensor ``labels``) moved to ``device``."""
        labels = self.labels
        if isinstance(labels, torch.Tensor):
            labels = labels.to(device, non_blocking=non_blocking)
        return self._replace(
            signal=self.signal.to(device, non_blocking=non_blocking), labels=labels
        )

    def pin_memory(self) -> ECGBatch:
        """The batch with ``signal`` (and tensor ``labels``) in pinned memory (needs CUDA).

        ``DataLoader(pin_memory=True)`` pins a named tuple field by field, to the same effect.
        """
        labels = self.labels
        if isinstance(labels, torch.Tensor):
            labels = labels.pin_memory()
        return self._replace(signal=self.signal.pin_memory(), labels=labels)


def _stack_labels(labels: list[Any]) -> torch.Tensor | list[Any] | None:
    if all(label is None for label in labels):
        return None
    if all(
        isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool) for v in labels
    ):
        return torch.as_tensor(np.asarray(labels, dtype=np.int64))
    if all(isinstance(v, (numbers.Real, np.floating)) and not isinstance(v, bool) for v in labels):
        return torch.as_tensor(np.asarray(labels, dtype=np.float32))
    if all(isinstance(v, (np.ndarray, torch.Tensor)) for v in labels):
        arrays = [v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v for v in labels]
        same_shape = all(a.shape == arrays[0].shape for a in arrays)
        kinds = {a.dtype.kind for a in arrays}
        if same_shape and kinds <= {"f"}:
            return torch.as_tensor(np.stack(arrays).astype(np.float32, copy=False))
        if same_shape and kinds <= {"i", "u"}:
            return torch.as_tensor(np.stack(arrays).astype(np.int64, copy=False))
    return list(labels)


def collate_records(records: Sequence[ECGRecord]) -> ECGBatch:
    """Stack records into an :class:`ECGBatch` (``collate_fn`` for ``DataLoader``)."""
    if not isinstance(records, Sequence) or not records:
        raise ValueError("collate_records needs a non-empty sequence of ECGRecord")
    for i, record in enumerate(records):
        if not isinstance(record, ECGRecord):
            raise TypeError(
                f"item {i} of the batch is {type(record).__name__}, not an ECGRecord; "
                "collate_records batches the items of ecgfm datasets"
            )
    signal, fs, leads = stack_records(records)
    return ECGBatch(
        signal=torch.from_numpy(np.ascontiguousarray(signal, dtype=np.float32)),
        fs=fs,
        leads=leads,
        labels=_stack_labels([r.labels for r in records]),
        record_ids=[r.record_id for r in records],
        patient_ids=[r.patient_id for r in records],
        meta=[r.meta for r in records],
    )
