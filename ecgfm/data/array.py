"""In-memory ECGs: a batch array ``(N, C, T)`` with explicit ``fs`` and lead names.

For a single signal use :meth:`ecgfm.signal.ECGRecord.from_array`; for a stack of signals of
one length use :class:`ArrayDataset`. Both convert ``units`` to millivolts and refuse what the
input contract refuses (see :func:`ecgfm.signal.as_signal`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ecgfm.data._base import ECGDataset, RecordTransform
from ecgfm.leads import normalize_lead_names
from ecgfm.signal import ECGRecord, NanPolicy, as_signal, check_fs

__all__ = ["ArrayDataset"]


def _per_item(values: Any, n: int, name: str) -> Any:
    if values is None:
        return None
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError(f"{name} must have one entry per record (length {n}), got {values!r}")
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries for {n} records; give one per record")
    return values


def _optional_ids(values: Any, n: int, name: str) -> tuple[str | None, ...] | None:
    values = _per_item(values, n, name)
    if values is None:
        return None
    return tuple(None if v is None else str(v) for v in values)


class ArrayDataset(ECGDataset):
    """Records from an array ``(N, C, T)`` (numpy or torch) sharing ``fs`` and ``leads``.

    Args:
        x: the signals, ``(N, C, T)``; converted once to float32 mV (torch input is copied to
            CPU numpy).
        fs: sampling rate in Hz.
        leads: the ``C`` lead names (aliases accepted).
        labels: optional per-record labels: an array/tensor with first axis ``N`` (class
            indices ``(N,)``, multi-hot ``(N, K)``...) or any sequence of length ``N``.
        record_ids: optional ids (default ``"0"`` ... ``"N-1"``).
        patient_ids: optional patient ids (default ``None``).
        classes: optional class names, returned by :meth:`labels`.
        units: units of ``x`` (``"mV"``, ``"uV"``...), converted to mV.
        gain, baseline: for integer ADC counts, ``(x - baseline) / gain`` is in ``units``.
        nan_policy: ``"raise"`` refuses NaN/Inf; ``"zero"`` replaces them by 0 (logged;
            each item's ``meta["nonfinite_repaired"]`` holds its count).
        transform: optional ``ECGRecord -> ECGRecord`` applied to each item.
    """

    def __init__(
        self,
        x: np.ndarray | torch.Tensor,
        fs: float,
        leads: Sequence[str],
        labels: Any = None,
        record_ids: Sequence[Any] | None = None,
        *,
        patient_ids: Sequence[Any] | None = None,
        classes: Sequence[str] | None = None,
        units: str = "mV",
        gain: float | None = None,
        baseline: float = 0.0,
        nan_policy: NanPolicy = "raise",
        transform: RecordTransform | None = None,
    ) -> None:
        super().__init__(transform)
        self.fs = check_fs(fs)
        self.leads = normalize_lead_names(leads)
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu()
        elif not isinstance(x, np.ndarray):
            try:
                x = np.asarray(x)
            except (ValueError, TypeError) as e:
                raise TypeError(f"ArrayDataset: cannot convert x to an array ({e})") from None
        if x.ndim != 3:
            shape = tuple(x.shape)
            raise ValueError(
                f"ArrayDataset expects a batch (N, C, T), got shape {shape}; for one record "
                "use ECGRecord.from_array or pass x[None]"
            )
        n = int(x.shape[0])
        if n == 0:
            raise ValueError("ArrayDataset needs at least one record (N = 0)")
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            repaired = (~torch.isfinite(x)).reshape(n, -1).sum(1).numpy()
        elif isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating):
            repaired = (~np.isfinite(x)).reshape(n, -1).sum(1)
        else:
            repaired = np.zeros(n)
        self._repaired = np.asarray(repaired, dtype=np.int64)
        signal = as_signal(
            x,
            self.fs,
            self.leads,
            units=units,
            gain=gain,
            baseline=baseline,
            nan_policy=nan_policy,
            allow_batch=True,
            what="ArrayDataset input",
        )
        self._x = signal.numpy() if isinstance(signal, torch.Tensor) else signal
        self.units = units
        self._labels = _per_item(labels, n, "labels")
        self.classes = None if classes is None else tuple(str(c) for c in classes)
        ids = _optional_ids(record_ids, n, "record_ids")
        self._record_ids = tuple(str(i) for i in range(n)) if ids is None else ids
        if any(i is None for i in self._record_ids):
            raise ValueError("record_ids must not contain None")
        patients = _optional_ids(patient_ids, n, "patient_ids")
        self._patient_ids = (None,) * n if patients is None else patients

    def labels(self) -> tuple[Any, tuple[str, ...] | None]:
        """The labels given at construction (one entry per record) and ``classes``."""
        if self._labels is None:
            raise ValueError("this ArrayDataset was built without labels")
        return self._labels, self.classes

    def _item_shape(self) -> tuple[int, int]:
        return (int(self._x.shape[1]), int(self._x.shape[2]))

    def _read(self, i: int) -> ECGRecord:
        label = None if self._labels is None else self._labels[i]
        return ECGRecord(
            self._x[i].copy(),
            self.fs,
            self.leads,
            record_id=self._record_ids[i],
            patient_id=self._patient_ids[i],
            labels=label.copy() if isinstance(label, np.ndarray) else label,
            meta={
                "source": "array",
                "source_units": self.units,
                "index": i,
                "nonfinite_repaired": int(self._repaired[i]),
            },
        )

    def load_all(self, *, progress: bool = False) -> np.ndarray:
        """All signals ``(N, C, T)`` float32 mV (a copy; through ``transform`` if one is set)."""
        if self.transform is not None:
            return super().load_all(progress=progress)
        return self._x.copy()
