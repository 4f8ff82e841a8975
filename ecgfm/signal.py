"""The ECG input contract: one record type and the validation every public entry point uses.

A signal in ecgfm is a float32 array or tensor ``(C, T)`` in **millivolts**, channels first, with
a sampling rate ``fs`` in Hz and the ordered names of its ``C`` leads. A batch is ``(B, C, T)``
sharing ``fs`` and lead names. :class:`ECGRecord` bundles one signal with its metadata.

:func:`as_signal` turns user input into that contract or fails with a message that says what
to do: wrong rank, a ``(T, C)`` array passed as ``(C, T)``, lead count mismatch, duplicate or
unknown leads, ``fs <= 0``, complex or boolean data, raw integer ADC counts without a gain,
non-finite values, empty or too-short signals, and amplitudes that are implausible for mV
(too large: microvolts or ADC counts; too small: volts). :func:`check_quality` flags
degenerate content (flat leads, spikes) with an :class:`ECGQualityWarning`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from ecgfm._lazy import is_tensor
from ecgfm.leads import normalize_lead_names, select_leads
from ecgfm.signal_quality import (
    _MAX_PLAUSIBLE_MV,
    _MIN_PLAUSIBLE_MV,
    ECGQualityWarning,
    SignalQuality,
    check_quality,
    lead_amplitude,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "ECGQualityWarning",
    "ECGRecord",
    "SignalQuality",
    "as_signal",
    "check_fs",
    "check_quality",
    "lead_amplitude",
    "repair_nonfinite",
    "stack_records",
    "unit_scale",
]

logger = logging.getLogger(__name__)

ArrayT = TypeVar("ArrayT", np.ndarray, "torch.Tensor")
NanPolicy = Literal["raise", "zero"]

_UNIT_TO_MV: dict[str, float] = {
    "mv": 1.0,
    "millivolt": 1.0,
    "millivolts": 1.0,
    "uv": 1e-3,
    "µv": 1e-3,  # micro sign U+00B5
    "μv": 1e-3,  # greek mu U+03BC
    "microvolt": 1e-3,
    "microvolts": 1e-3,
    "v": 1e3,
    "volt": 1e3,
    "volts": 1e3,
    "nv": 1e-6,
}


@dataclass(frozen=True)
class _Advice:
    """How the caller's interface fixes units and ADC counts (error messages only)."""

    units: str = "pass units={units!r}"
    adc: str = (
        "pass `gain=` (ADC units per mV, from the header) and `baseline=`, or convert to "
        "float millivolts yourself"
    )
    opt_out: str = "; pass check_amplitude=False if this is really intended"
    nan: str = "pass nan_policy='zero'"


_AS_SIGNAL_ADVICE = _Advice()
_RECORD_ADVICE = _Advice(
    units="build the record with ECGRecord.from_array(x, fs, leads, units={units!r})",
    adc="build the record with ECGRecord.from_array(x, fs, leads, gain=..., baseline=...)",
    opt_out="",
    nan="build the record with ECGRecord.from_array(..., nan_policy='zero')",
)
_FROM_ARRAY_ADVICE = dataclasses.replace(_AS_SIGNAL_ADVICE, opt_out="")


def unit_scale(units: str, *, adc_advice: str | None = None) -> float:
    """Factor that converts ``units`` to millivolts (``"uV"``/``"µV"`` -> 0.001, ``"V"`` -> 1000).

    Raises ``ValueError`` for unknown or empty units (e.g. WFDB's ``"adu"``/``"NU"``): such data
    are raw ADC counts and need a gain. ``adc_advice`` replaces the sentence that says how to
    pass that gain (callers whose interface has no ``gain=`` say what to do instead).
    """
    if not isinstance(units, str):
        raise TypeError(f"units must be a string such as 'mV' or 'uV', got {units!r}")
    key = units.strip().lower()
    if key not in _UNIT_TO_MV:
        advice = _AS_SIGNAL_ADVICE.adc if adc_advice is None else adc_advice
        raise ValueError(
            f"unknown units {units!r}: ecgfm accepts mV, uV/µV, V or nV. For raw ADC counts "
            f"{advice}"
        )
    return _UNIT_TO_MV[key]


def check_fs(fs: Any, *, name: str = "fs") -> float:
    """Validate a sampling rate in Hz and return it as a float.

    Accepts any real number (``int``, ``float``, numpy scalars, ``fractions.Fraction``) and 0-d
    numpy arrays / torch tensors holding one (``np.array(500)``, ``torch.tensor(500.0)``).
    """
    value = fs
    if isinstance(fs, np.ndarray) or is_tensor(fs):
        if fs.ndim != 0:
            raise TypeError(
                f"{name} must be one number (Hz), got an array of shape {tuple(fs.shape)}; "
                f"pass a scalar such as {name}=500"
            )
        value = fs.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number (Hz), got {type(fs).__name__}: {fs!r}")
    out = float(value)
    if not math.isfinite(out) or out <= 0:
        raise ValueError(f"{name} must be a positive, finite sampling rate in Hz, got {out}")
    return out


def _check_amplitude(x: np.ndarray | torch.Tensor, units: str, what: str, advice: _Advice) -> None:
    """Refuse records whose largest-lead amplitude is implausible for mV (see the bounds)."""
    amp = np.atleast_1d(lead_amplitude(x).max(axis=-1))  # (B,) or (1,)
    batch = x.ndim == 3

    def where(rows: np.ndarray) -> str:
        if not batch:
            return what
        shown = ", ".join(str(i) for i in rows[:5]) + (", ..." if rows.size > 5 else "")
        return f"{what}: batch rows [{shown}] ({rows.size} of {amp.size})"

    high = np.flatnonzero(amp > _MAX_PLAUSIBLE_MV)
    if high.size:
        raise ValueError(
            f"{where(high)}: amplitudes are implausible for {units!r}: the largest lead "
            f"amplitude (99th percentile of |x - median|) is {amp[high[0]]:.4g} mV after "
            "conversion, an ECG's is about 0.1-10 mV. The data are probably in microvolts ("
            + advice.units.format(units="uV")
            + f") or raw ADC counts ({advice.adc}){advice.opt_out}"
        )
    # A record whose leads are all exactly constant says nothing about units (see check_quality).
    low = np.flatnonzero((amp > 0) & (amp < _MIN_PLAUSIBLE_MV))
    if low.size:
        raise ValueError(
            f"{where(low)}: amplitudes are implausible for {units!r}: the largest lead "
            f"amplitude (99th percentile of |x - median|) is {amp[low[0]]:.4g} mV after "
            "conversion, an ECG's is about 0.1-10 mV. The data are probably in volts ("
            + advice.units.format(units="V")
            + f"), or the record is flat (check the reader){advice.opt_out}"
        )


def _nonfinite_mask(x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    return ~x.isfinite() if is_tensor(x) else ~np.isfinite(x)


def repair_nonfinite(x: ArrayT, *, what: str = "signal") -> tuple[ArrayT, int]:
    """Replace NaN/±Inf by 0 (the ECGFounder / SelfMIS convention) and return ``(x, count)``.

    Works on numpy and torch, any shape; returns a new array only if something was replaced.
    A warning is logged with the count. An input that is entirely non-finite raises
    ``ValueError``: zeroing it would feed a flat line to a model.
    """
    bad = _nonfinite_mask(x)
    count = int(bad.sum())
    if count == 0:
        return x, 0
    if count == (x.numel() if is_tensor(x) else x.size):
        raise ValueError(
            f"{what} is entirely NaN/Inf ({count} values); there is nothing to repair — "
            "check the reader or drop this record explicitly"
        )
    if is_tensor(x):
        x = x.masked_fill(bad, 0)
    else:
        x = np.where(bad, np.zeros((), dtype=x.dtype), x)
    logger.warning("%s: replaced %d NaN/Inf values by 0", what, count)
    return x, count


def as_signal(
    x: Any,
    fs: float,
    leads: Sequence[str],
    *,
    units: str = "mV",
    gain: float | None = None,
    baseline: float = 0.0,
    nan_policy: NanPolicy = "raise",
    min_samples: int = 1,
    check_amplitude: bool = True,
    allow_batch: bool = True,
    what: str = "signal",
    _advice: _Advice = _AS_SIGNAL_ADVICE,
) -> np.ndarray | torch.Tensor:
    """Validate ``x`` against the input contract and return it as float32 millivolts.

    Args:
        x: ``(C, T)`` or, if ``allow_batch``, ``(B, C, T)``; numpy array, torch tensor or nested
            lists. Floating input is cast to float32; torch input stays on its device.
        fs: sampling rate in Hz (validated, not used to resample).
        leads: names of the ``C`` channels (aliases accepted; duplicates rejected).
        units: physical units of ``x`` (or of ``(x - baseline) / gain`` for integer input).
        gain: ADC units per physical unit, required for integer (raw ADC) input.
        baseline: ADC value of 0 physical units, used with ``gain``.
        nan_policy: ``"raise"`` (default) refuses NaN/Inf; ``"zero"`` replaces them by 0 with a
            logged warning (documented repair, see :func:`repair_nonfinite`).
        min_samples: shortest acceptable ``T``.
        check_amplitude: refuse records whose amplitude is implausible for mV: the largest
            :func:`lead_amplitude` above 50 mV (microvolts or ADC counts passed as mV) or
            below 0.02 mV (volts passed as mV). Judged per record of a batch, on its largest
            lead (flat leads are common); a record whose leads are all constant is not judged
            (see :func:`check_quality`).
        what: name used in messages (e.g. a record id).
        _advice: how the calling interface fixes units (internal: error messages only).

    Returns:
        float32 array/tensor of the same kind, in mV, shape unchanged.
    """
    check_fs(fs)
    names = normalize_lead_names(leads)
    if is_tensor(x):
        arr: np.ndarray | torch.Tensor = x
        dtype_is_complex = x.is_complex()
        dtype_is_bool = str(x.dtype) == "torch.bool"
        dtype_is_int = not x.is_floating_point() and not dtype_is_complex and not dtype_is_bool
    else:
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError) as e:
            raise TypeError(
                f"{what}: cannot convert input to an array ({e}); pass a rectangular (C, T) "
                "array of numbers (pad or crop records to one length before batching)"
            ) from None
        if arr.dtype == object:
            raise TypeError(
                f"{what}: input is a ragged or object array; pass a rectangular (C, T) array "
                "of numbers (pad or crop records to one length before batching)"
            )
        dtype_is_complex = np.iscomplexobj(arr)
        dtype_is_bool = arr.dtype == np.bool_
        dtype_is_int = np.issubdtype(arr.dtype, np.integer)
        if not (dtype_is_complex or dtype_is_bool or dtype_is_int) and not np.issubdtype(
            arr.dtype, np.floating
        ):
            raise TypeError(f"{what}: unsupported dtype {arr.dtype}; pass float32 millivolts")
    if dtype_is_complex:
        raise TypeError(
            f"{what}: complex input (dtype {arr.dtype}) is not an ECG; pass the real signal "
            "(e.g. x.real after an inverse FFT)"
        )
    if dtype_is_bool:
        raise TypeError(f"{what}: boolean input is not an ECG; pass float32 millivolts")

    ndims = (2, 3) if allow_batch else (2,)
    if arr.ndim not in ndims:
        expect = "(C, T) or a batch (B, C, T)" if allow_batch else "(C, T)"
        hint = " — for a single lead use x[None, :]" if arr.ndim == 1 else ""
        raise ValueError(f"{what}: expected {expect}, got shape {tuple(arr.shape)}{hint}")
    n_ch, n_t = arr.shape[-2], arr.shape[-1]
    if n_ch != len(names):
        if n_t == len(names):
            raise ValueError(
                f"{what}: shape {tuple(arr.shape)} looks like (T, C): {len(names)} leads are on "
                "the last axis. ecgfm expects channels first, (C, T) — pass x.T "
                "(for a batch (B, T, C): x.swapaxes(-1, -2))"
            )
        raise ValueError(
            f"{what}: {len(names)} lead names {list(names)} for {n_ch} channels "
            f"(shape {tuple(arr.shape)}); give one name per channel"
        )
    if n_t == 0:
        raise ValueError(
            f"{what}: the signal is empty (T = 0); check the reader or drop this record"
        )
    if n_t < min_samples:
        raise ValueError(
            f"{what}: {n_t} samples ({n_t / float(fs):.3g} s at {float(fs):g} Hz) is too short; "
            f"at least {min_samples} samples are needed here — pad or use a longer recording"
        )
    if n_t < n_ch:
        raise ValueError(
            f"{what}: shape {tuple(arr.shape)} has fewer samples ({n_t}) than channels ({n_ch}); "
            "this is almost certainly a (T, C) array — pass x.T"
        )

    if dtype_is_int:
        if gain is None:
            raise TypeError(
                f"{what}: integer input (dtype {arr.dtype}) looks like raw ADC counts; "
                f"{_advice.adc}"
            )
        if not (
            isinstance(gain, numbers.Real)
            and not isinstance(gain, bool)
            and math.isfinite(gain)
            and gain > 0
        ):
            raise ValueError(f"{what}: gain must be a positive number, got {gain!r}")
    elif gain is not None:
        raise ValueError(
            f"{what}: `gain` is only for integer ADC input; floating input is taken as already "
            f"in {units!r} — drop `gain` or pass the raw integer counts"
        )

    scale = unit_scale(units, adc_advice=_advice.adc)
    if is_tensor(arr):
        import torch

        out: np.ndarray | torch.Tensor = arr.to(torch.float64 if dtype_is_int else arr.dtype)
        if dtype_is_int:
            out = (out - baseline) / gain
        out = out.to(torch.float32)
    else:
        out = arr.astype(np.float64, copy=False) if dtype_is_int else arr
        if dtype_is_int:
            out = (out - baseline) / gain
        out = np.asarray(out, dtype=np.float32)
    if scale != 1.0:
        out = out * scale

    if nan_policy == "zero":
        out, _ = repair_nonfinite(out, what=what)
    elif nan_policy == "raise":
        bad = int(_nonfinite_mask(out).sum())
        if bad:
            raise ValueError(
                f"{what}: {bad} NaN/Inf values; clean the record, or {_advice.nan} to replace "
                "them by 0 (logged)"
            )
    else:
        raise ValueError(f"nan_policy must be 'raise' or 'zero', got {nan_policy!r}")

    if check_amplitude and out.shape[-1] > 0:
        _check_amplitude(out, units, what, _advice)
    return out


@dataclass
class ECGRecord:
    """One ECG: a float32 ``(C, T)`` signal in mV with its sampling rate and lead names.

    Construct with :meth:`from_array` (validates and converts units) or directly with a
    float32 mV signal (validated in ``__post_init__``). Lead names are normalised to their
    canonical spelling.

    Attributes:
        signal: ``(C, T)`` float32 numpy array in millivolts.
        fs: sampling rate in Hz.
        leads: ordered lead names, one per channel.
        record_id: identifier of the recording (e.g. PTB-XL ``ecg_id`` or ``A00001``).
        patient_id: identifier of the patient (for patient-level contrastive learning).
        labels: any label payload (class names, multi-hot vector, dict of scores).
        meta: further metadata (source file, original units, repairs applied...).
    """

    signal: np.ndarray
    fs: float
    leads: tuple[str, ...]
    record_id: str | None = None
    patient_id: str | None = None
    labels: Any = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if is_tensor(self.signal):
            self.signal = self.signal.detach().cpu().numpy()
        self.leads = normalize_lead_names(self.leads)
        self.fs = check_fs(self.fs)
        self.signal = as_signal(
            self.signal, self.fs, self.leads, allow_batch=False, what=self._what(),
            _advice=_RECORD_ADVICE,
        )  # fmt: skip

    def _what(self) -> str:
        return f"record {self.record_id}" if self.record_id is not None else "record"

    @classmethod
    def from_array(
        cls,
        x: Any,
        fs: float,
        leads: Sequence[str],
        *,
        units: str = "mV",
        gain: float | None = None,
        baseline: float = 0.0,
        nan_policy: NanPolicy = "raise",
        record_id: str | None = None,
        patient_id: str | None = None,
        labels: Any = None,
        meta: Mapping[str, Any] | None = None,
    ) -> ECGRecord:
        """Build a record from any array, converting ``units`` (and ADC counts) to mV."""
        what = f"record {record_id}" if record_id is not None else "record"
        sig = as_signal(
            x,
            fs,
            leads,
            units=units,
            gain=gain,
            baseline=baseline,
            nan_policy=nan_policy,
            allow_batch=False,
            what=what,
            _advice=_FROM_ARRAY_ADVICE,
        )
        if is_tensor(sig):
            sig = sig.detach().cpu().numpy()
        meta = dict(meta or {})
        meta.setdefault("source_units", units)
        return cls(sig, fs, tuple(leads), record_id, patient_id, labels, meta)

    @property
    def num_leads(self) -> int:
        return int(self.signal.shape[0])

    @property
    def num_samples(self) -> int:
        return int(self.signal.shape[1])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.num_samples / self.fs

    def select(self, leads: Sequence[str], *, derive: bool = True) -> ECGRecord:
        """A new record with channels ``leads`` in that order (deriving limb leads if allowed)."""
        sig = select_leads(self.signal, self.leads, leads, derive=derive)
        return ECGRecord(
            sig,
            self.fs,
            tuple(leads),
            self.record_id,
            self.patient_id,
            self.labels,
            dict(self.meta),
        )

    def with_signal(self, signal: np.ndarray, fs: float | None = None) -> ECGRecord:
        """A copy with another signal (same leads), e.g. after preprocessing."""
        return ECGRecord(
            signal,
            self.fs if fs is None else fs,
            self.leads,
            self.record_id,
            self.patient_id,
            self.labels,
            dict(self.meta),
        )

    def to_tensor(self, device: torch.device | str | None = None) -> torch.Tensor:
        """The signal as a float32 tensor ``(C, T)``."""
        import torch

        return torch.from_numpy(self.signal).to(device)


def stack_records(records: Sequence[ECGRecord]) -> tuple[np.ndarray, float, tuple[str, ...]]:
    """Stack records into a batch ``(B, C, T)``; all must share ``fs``, leads and length.

    Returns ``(batch, fs, leads)``. Mismatches raise ``ValueError`` naming the first offender;
    resample, select leads and crop first (see :mod:`ecgfm.transforms`).
    """
    if not records:
        raise ValueError("stack_records needs at least one record")
    first = records[0]
    for i, r in enumerate(records[1:], start=1):
        if not isinstance(r, ECGRecord):
            raise TypeError(f"item {i} is {type(r).__name__}, not an ECGRecord")
        for attr in ("fs", "leads", "num_samples"):
            if getattr(r, attr) != getattr(first, attr):
                raise ValueError(
                    f"record {i} ({r.record_id}) has {attr}={getattr(r, attr)!r} but record 0 "
                    f"has {getattr(first, attr)!r}; resample/select leads/crop before stacking"
                )
    return np.stack([r.signal for r in records]), first.fs, first.leads
