"""What ``PretrainedEncoder.embed`` / ``.prepare`` accept, split into one item per record.

Errors of the call itself (missing ``fs``/``leads`` for arrays, a file path instead of a
signal, an unsupported container, a batch whose shape does not match ``leads``) always raise.
Errors of one record (its values, length, leads, amplitude, content) are raised with the
record's index and id in the message, or collected with ``errors="collect"`` (see
:mod:`ecgfm.hub._embed`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ecgfm.leads import normalize_lead_names, select_leads
from ecgfm.signal import ECGRecord, as_signal, check_fs, check_quality, unit_scale
from ecgfm.signal import _Advice as _SignalAdvice

__all__ = ["RecordIssue", "relabel", "split_input", "validate_item"]

# Advice in the terms of ``embed`` (which takes units= and nan_policy=, but no gain=).
_READ_FILE = (
    "read the file first: ecgfm.data.read_wfdb(path) returns an ECGRecord (WFDB .hea with "
    ".dat/.mat) that embed accepts; for a .npy file pass np.load(path) with fs= and leads=; "
    "from a shell: ecgfm embed NAME path -o out.npz"
)
EMBED_ADVICE = _SignalAdvice(
    units="pass units={units!r}",
    adc=(
        "embed takes physical units, not counts: convert first, x_mV = (x - baseline) / gain "
        "with the header's gain (ADC units per mV) and baseline, or build records with "
        "ecgfm.ECGRecord.from_array(x, fs, leads, gain=..., baseline=...) (a WFDB file: "
        "ecgfm.data.read_wfdb(path)) and embed those"
    ),
    opt_out="",
    nan="pass nan_policy='zero'",
)


@dataclass(frozen=True)
class RecordIssue:
    """A problem with one input record of ``embed`` / ``prepare``.

    Attributes:
        index: position of the record in the input (0 for a single record).
        record_id: the record's id (``ECGRecord.record_id``), ``None`` for arrays.
        message: what happened and what to do, naming the record.
        error: the exception for a failure, ``None`` for a warning.
    """

    index: int
    record_id: str | None
    message: str
    error: BaseException | None = None

    @property
    def reason(self) -> str:
        """``"ValueError: record 3: ..."`` (the message alone for a warning)."""
        return (
            self.message if self.error is None else f"{type(self.error).__name__}: {self.message}"
        )


@dataclass(frozen=True)
class Item:
    """One input record before validation."""

    index: int
    record_id: str | None
    data: Any
    fs: float
    leads: tuple[str, ...]
    units: str
    is_record: bool
    label: str


def _label(index: int | None, record_id: str | None) -> str:
    if index is None:
        return "record" if record_id is None else f"record {record_id}"
    return f"record {index}" + ("" if record_id is None else f" ({record_id})")


def relabel(err: BaseException, label: str, hint: str = "") -> BaseException:
    """``err`` with ``label`` (and ``hint``) in its message, same type; ``err`` if impossible."""
    msg = str(err)
    if not msg.startswith(label):
        msg = f"{label}: {msg}"
    msg += hint
    try:
        new = type(err)(msg)
    except Exception:  # an exception class with another constructor: keep it as it is
        return err
    if str(new) != msg:  # e.g. KeyError quotes its message
        return err
    return new.with_traceback(err.__traceback__)


def _is_path(x: Any) -> bool:
    return isinstance(x, (str, bytes, os.PathLike))


def _refuse_container(x: Any) -> None:
    """Input-level errors for things that are not signals, with what to pass instead."""
    if _is_path(x) or (isinstance(x, (list, tuple)) and x and all(_is_path(r) for r in x)):
        raise TypeError(f"embed takes signals, not file names ({x!r}); {_READ_FILE}")
    module = type(x).__module__.split(".")[0]
    if module == "pandas":
        raise TypeError(
            f"a pandas {type(x).__name__} is not a signal: embed takes channels first, (C, T). "
            "For a frame with one column per lead and one row per sample pass "
            "df.to_numpy(dtype='float32').T with leads=list(df.columns)"
        )
    if isinstance(x, Mapping):
        raise TypeError(
            "a dict is not a signal: for {lead name: 1-D samples} pass "
            "np.stack(list(d.values())) with leads=list(d)"
        )
    if isinstance(x, torch.utils.data.Dataset) and not isinstance(x, (list, tuple)):
        raise TypeError(
            f"a {type(x).__name__} dataset is not a signal: pass its records as a list, e.g. "
            "dataset[0:100] (a list of ECGRecords) or list(dataset)"
        )
    if not isinstance(x, (np.ndarray, torch.Tensor, list, tuple, ECGRecord)) and hasattr(
        x, "__next__"
    ):
        raise TypeError(
            f"embed takes a signal or a list of signals, not a {type(x).__name__}; pass "
            "list(...) of it"
        )


def _record_item(r: ECGRecord, index: int | None, fs: Any, leads: Any, units: str | None) -> Item:
    label = _label(index, r.record_id)
    if fs is not None and check_fs(fs) != r.fs:
        raise ValueError(
            f"{label} has fs={r.fs:g} Hz but fs={fs} was passed; an ECGRecord carries its own "
            "sampling rate — drop fs="
        )
    if leads is not None and normalize_lead_names(leads) != r.leads:
        raise ValueError(
            f"{label} has leads {list(r.leads)} but leads={list(leads)} was passed; an "
            "ECGRecord carries its own lead names — drop leads= (or use record.select)"
        )
    if units not in (None, "mV"):
        raise ValueError(
            f"{label}: an ECGRecord is already in mV but units={units!r} was passed; drop "
            "units= (convert when building the record: ECGRecord.from_array(..., units=))"
        )
    return Item(index or 0, r.record_id, r.signal, r.fs, r.leads, "mV", True, label)


def _batch_array(x: Any) -> np.ndarray | torch.Tensor | None:
    """``x`` as an array if it is a 3-D batch, else ``None`` (``as_signal`` judges the rest)."""
    if isinstance(x, torch.Tensor):
        return x if x.ndim == 3 else None
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError):
        return None
    return arr if arr.ndim == 3 and arr.dtype != object else None


def _is_integer(x: Any) -> bool:
    if isinstance(x, torch.Tensor):
        return not (x.is_floating_point() or x.is_complex() or x.dtype == torch.bool)
    return isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.integer)


def split_input(
    x: Any, fs: Any, leads: Sequence[str] | None, units: str | None
) -> tuple[list[Item], bool]:
    """One :class:`Item` per record of ``x`` and whether ``x`` was a single record."""
    _refuse_container(x)
    if isinstance(x, ECGRecord):
        return [_record_item(x, None, fs, leads, units)], True
    if isinstance(x, (list, tuple)) and x and all(isinstance(r, ECGRecord) for r in x):
        return [_record_item(r, i, fs, leads, units) for i, r in enumerate(x)], False
    if isinstance(x, (list, tuple)) and any(isinstance(r, ECGRecord) for r in x):
        raise TypeError("a batch must be all ECGRecords or all arrays, not a mix")
    if isinstance(x, (list, tuple)) and len(x) == 0:
        raise ValueError("empty batch: pass at least one record")
    if fs is None or leads is None:
        raise ValueError(
            "fs= (Hz) and leads= (channel names, e.g. ['I', 'II', ...]) are required for array "
            "input; they are read from the record for ECGRecord input"
        )
    rate = check_fs(fs)
    names = normalize_lead_names(leads)
    unit = "mV" if units is None else units
    unit_scale(unit, adc_advice=EMBED_ADVICE.adc)
    arrays = isinstance(x, (list, tuple)) and all(
        isinstance(r, (np.ndarray, torch.Tensor)) for r in x
    )
    if arrays and all(r.ndim == 1 for r in x) and len(x) == len(names):
        raise ValueError(
            f"a list of {len(x)} 1-D arrays: a batch is a list of (C, T) records. If these are "
            "the leads of one record, stack them: np.stack(leads_list) (or torch.stack), "
            "shape (C, T)"
        )
    if arrays:
        items = [
            Item(i, None, r, rate, names, unit, False, _label(i, None)) for i, r in enumerate(x)
        ]
        return items, False
    batch = _batch_array(x)
    if batch is None:  # one record, or something as_signal refuses with the right message
        return [Item(0, None, x, rate, names, unit, False, "record")], True
    if batch.shape[0] == 0:
        raise ValueError("empty batch (B = 0): pass at least one record")
    if _is_integer(batch) or batch.shape[-2] != len(names) or batch.shape[-1] < len(names):
        # the same for every row: the batch-level message (x.transpose, gain advice)
        as_signal(batch, rate, names, units=unit, what="batch", _advice=EMBED_ADVICE)
    items = [
        Item(i, None, batch[i], rate, names, unit, False, _label(i, None))
        for i in range(batch.shape[0])
    ]
    return items, False


def validate_item(
    item: Item, model_leads: tuple[str, ...] | None, nan_policy: str
) -> tuple[np.ndarray | torch.Tensor, tuple[str, ...], list[str]]:
    """Validate one record and select the model's leads.

    Returns ``(signal (len(model_leads), T) float32 mV, its lead names, warnings)``. Raises
    for an unusable record (see :func:`ecgfm.signal.check_quality` for degenerate content).
    """
    notes: list[str] = []
    if item.is_record:
        sig = item.data
    else:
        if nan_policy == "zero":
            n_bad = _count_nonfinite(item.data)
            if n_bad:
                notes.append(
                    f"{item.label}: {n_bad} NaN/Inf values replaced by 0 (nan_policy='zero')"
                )
        sig = as_signal(
            item.data, item.fs, item.leads, units=item.units, nan_policy=nan_policy,  # type: ignore[arg-type]
            allow_batch=False, what=item.label, _advice=EMBED_ADVICE,
        )  # fmt: skip
    names = item.leads
    if model_leads is not None:
        sig = select_leads(sig, names, model_leads)
        names = model_leads
    quality = check_quality(sig, names, what=item.label, warn=False)
    notes.extend(f"{item.label}: {p}" for p in quality.problems())
    return sig, names, notes


def _count_nonfinite(x: Any) -> int:
    if isinstance(x, torch.Tensor):
        return int((~torch.isfinite(x)).sum()) if x.is_floating_point() else 0
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError):
        return 0
    return int((~np.isfinite(arr)).sum()) if np.issubdtype(arr.dtype, np.floating) else 0
