"""Read one WFDB record (``.hea`` + ``.dat``/``.mat``) into an :class:`ECGRecord` in mV.

The calibration (gain, baseline, units) and lead names come from ecgfm's own strict reading
of the header (see :mod:`ecgfm.data._wfdb_header`). The samples are decoded by numpy for the
common fixed-width formats and by the ``wfdb`` package (optional extra ``data``) otherwise
(see :mod:`ecgfm.data._wfdb_decode`). Each channel is converted as::

    x_mV = (adc - baseline) / gain * unit_scale(units)        (float64, then float32)

WFDB's "invalid sample" value of the storage format (e.g. -32768 for format 16) becomes NaN
and is handled by ``nan_policy``: ``"raise"`` (default) refuses the record, ``"zero"`` replaces
the values by 0 with a logged warning and records the count in ``meta["nonfinite_repaired"]``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ecgfm._interface import advice
from ecgfm.data._wfdb_decode import INVALID_SAMPLE, decode_numpy, decode_wfdb, numpy_decodable
from ecgfm.data._wfdb_header import WfdbHeader, read_wfdb_header
from ecgfm.leads import normalize_lead_name, normalize_lead_names, select_leads
from ecgfm.signal import ECGRecord, NanPolicy, repair_nonfinite, unit_scale

__all__ = ["WfdbBackend", "read_wfdb"]

WfdbBackend = Literal["auto", "numpy", "wfdb"]

_EXTENSIONS = (".hea", ".dat", ".mat")


def _record_base(path: str | os.PathLike[str]) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    p = Path(path)
    return p.with_suffix("") if p.suffix.lower() in _EXTENSIONS else p


def _channel_scales(header: WfdbHeader, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gains, baselines, scales = [], [], []
    for i, ch in enumerate(header.channels):
        label = f"{what}, channel {i} ({ch.name or 'unnamed'})"
        if ch.gain is None:
            raise ValueError(
                f"{label}: the header gives no ADC gain (missing or 0), so the signal is "
                "uncalibrated ADC counts and cannot be converted to mV. Fix the header (e.g. "
                "'200/mV'), or read the counts yourself and use ECGRecord.from_array(..., gain=)"
            )
        try:
            scale = unit_scale(ch.units)
        except ValueError:
            raise ValueError(
                f"{label}: units {ch.units!r} are not a voltage; ecgfm converts mV, uV/µV, V and "
                "nV only ('adu'/'NU' mean uncalibrated counts). Fix the header's units, or drop "
                "this channel and build the record with ECGRecord.from_array"
            ) from None
        gains.append(ch.gain)
        baselines.append(ch.baseline)
        scales.append(scale)
    return (
        np.asarray(gains, dtype=np.float64),
        np.asarray(baselines, dtype=np.float64),
        np.asarray(scales, dtype=np.float64),
    )


def _lead_names(
    header: WfdbHeader, rename: Mapping[str, str], what: str
) -> tuple[tuple[str, ...], dict[str, str]]:
    originals = [ch.name for ch in header.channels]
    unknown_keys = [k for k in rename if k not in originals]
    if unknown_keys:
        flag = advice(python="rename=", cli="--rename")
        raise ValueError(
            f"{what}: {flag} names channels {unknown_keys} that are not in the record; its "
            f"channels are {originals}"
        )
    names: list[str] = []
    applied: dict[str, str] = {}
    for i, orig in enumerate(originals):
        if orig is None:
            raise ValueError(
                f"{what}: channel {i} has no name in the header; cannot tell which lead it is. "
                "Add the lead name as the channel description in the header"
            )
        target = rename.get(orig, orig)
        try:
            canonical = normalize_lead_name(target)
        except ValueError:
            how = advice(
                python=f"rename={{{orig!r}: '<lead>'}} to say which lead it is (e.g. 'I' for "
                "the single AliveCor channel of PhysioNet/CinC 2017, or use ecgfm.data.CinC2017)",
                cli=f"--rename {orig}=<lead> to say which lead it is (e.g. --rename {orig}=I for "
                "the single AliveCor channel of PhysioNet/CinC 2017)",
            )
            raise ValueError(
                f"{what}: channel {i} is named {orig!r}, which is not an ECG lead name. Pass {how}"
            ) from None
        if orig in rename:
            applied[orig] = canonical
        names.append(canonical)
    return normalize_lead_names(names), applied


def read_wfdb(
    path: str | os.PathLike[str],
    *,
    leads: Sequence[str] | None = None,
    derive: bool = True,
    rename: Mapping[str, str] | None = None,
    nan_policy: NanPolicy = "raise",
    record_id: str | None = None,
    patient_id: str | None = None,
    labels: Any = None,
    meta: Mapping[str, Any] | None = None,
    backend: WfdbBackend = "auto",
) -> ECGRecord:
    """Read a WFDB record and return it as a float32 ``(C, T)`` :class:`ECGRecord` in mV.

    Args:
        path: the record path with or without extension (``.../00001_lr``,
            ``.../00001_lr.hea``, ``.../A00001.mat``); the header names the signal file(s).
        leads: wanted leads in the wanted order (default: all channels in file order).
            Aliases are accepted; see ``derive``.
        derive: allow deriving missing limb leads from two present ones (III from I and II...).
            Derived leads are listed in ``meta["derived_leads"]``.
        rename: map from header channel names to lead names, for channels whose name is not
            a lead name (e.g. ``{"ECG": "I"}``); applied renamings go to
            ``meta["renamed_channels"]``.
        nan_policy: ``"raise"`` refuses records with invalid samples or NaN/Inf; ``"zero"``
            replaces them by 0 (logged, counted in ``meta["nonfinite_repaired"]``).
        record_id: defaults to the record name from the header.
        patient_id, labels: stored on the record as given.
        meta: extra metadata merged over the reader's own keys.
        backend: who decodes the samples. ``"auto"`` (default): numpy for single-file records
            in the fixed-width formats 16, 61, 80, 160, 24, 32 (PTB-XL, CinC 2017; 4-7x faster
            than wfdb), the ``wfdb`` package otherwise. ``"wfdb"``: always the package.
            ``"numpy"``: numpy only (error for other formats). Both give identical samples.

    Returns:
        An :class:`ECGRecord` whose ``meta`` holds ``source`` (header path), ``source_format``
        ``"wfdb"``, ``decoder`` (``"numpy"`` or ``"wfdb"``), ``source_fs``, ``source_units``
        / ``gain`` / ``baseline`` / ``channel_names`` (one per channel of the file, as
        written in the header),
        ``nonfinite_repaired``, ``derived_leads``, ``renamed_channels`` and header
        ``comments``.

    Raises:
        ImportError: the ``wfdb`` package is not installed (``pip install 'ecgfm[data]'``).
        FileNotFoundError: the header or a signal file does not exist.
        ValueError: malformed header, no sampling frequency, uncalibrated channels (no gain,
            ``adu``/``NU`` units), unknown units, channels at several sampling rates, channel
            names that are not leads, invalid samples with ``nan_policy="raise"``.
        MissingLeadError: a lead in ``leads`` is absent and cannot be derived.
    """
    if nan_policy not in ("raise", "zero"):
        raise ValueError(f"nan_policy must be 'raise' or 'zero', got {nan_policy!r}")
    if backend not in ("auto", "numpy", "wfdb"):
        raise ValueError(f"backend must be 'auto', 'numpy' or 'wfdb', got {backend!r}")
    if rename is not None and not isinstance(rename, Mapping):
        raise TypeError(f"rename must be a mapping such as {{'ECG': 'I'}}, got {rename!r}")
    base = _record_base(path)
    hea = base.with_name(base.name + ".hea")
    if not hea.is_file():
        raise FileNotFoundError(
            f"WFDB header not found: {hea}. Pass the record path with or without extension "
            "(e.g. records100/00000/00001_lr)"
        )
    what = f"WFDB record {hea}"
    header = read_wfdb_header(hea)
    if header.fs is None or header.fs <= 0:
        raise ValueError(
            f"{what}: the header gives no (positive) sampling frequency; WFDB's default of 250 "
            "Hz is not assumed for ECGs. Add it to the record line of the header"
        )
    missing = sorted(
        {ch.file_name for ch in header.channels if not (hea.parent / ch.file_name).is_file()}
    )
    if missing:
        raise FileNotFoundError(f"{what}: signal file(s) {missing} not found in {hea.parent}")
    gains, baselines, scales = _channel_scales(header, what)
    names, applied = _lead_names(header, rename or {}, what)
    # Validate the wanted names before decoding anything.
    wanted = normalize_lead_names(leads) if leads is not None else None

    spf = [ch.samples_per_frame for ch in header.channels]
    if any(n != 1 for n in spf):
        raise ValueError(
            f"{what}: channels are stored at several sampling rates (samples per frame {spf}); "
            "ecgfm needs one rate for all channels — read them with wfdb and resample"
        )
    if backend == "wfdb" or (backend == "auto" and not numpy_decodable(header)):
        decoder = "wfdb"
        digital = decode_wfdb(header, base)
    elif numpy_decodable(header):
        decoder = "numpy"
        digital = decode_numpy(header, hea.parent)
    else:
        formats = sorted({ch.fmt for ch in header.channels})
        raise ValueError(
            f"{what}: backend='numpy' reads single-file records in formats 16, 61, 80, 160, 24 "
            f"and 32 without skew; this one has formats {formats} — use backend='auto'"
        )
    invalid = np.zeros(digital.shape, dtype=bool)
    for c, ch in enumerate(header.channels):
        marker = INVALID_SAMPLE.get(ch.fmt)
        if marker is not None:
            invalid[c] = digital[c] == marker
    physical = (digital.astype(np.float64) - baselines[:, None]) / gains[:, None]
    physical *= scales[:, None]
    physical[invalid] = np.nan
    signal = physical.astype(np.float32)

    n_bad = int(np.count_nonzero(~np.isfinite(signal)))
    if n_bad and nan_policy == "raise":
        raise ValueError(
            f"{what}: {n_bad} invalid samples (WFDB missing-sample value) or NaN/Inf; pass "
            + advice(
                python="nan_policy='zero' to replace them by 0 (logged and counted in "
                "meta['nonfinite_repaired'])",
                cli="--nan-policy zero to replace them by 0 (counted in the summary)",
            )
        )
    if n_bad:
        signal, n_bad = repair_nonfinite(signal, what=what)

    derived: tuple[str, ...] = ()
    if wanted is not None:
        derived = tuple(name for name in wanted if name not in names)
        signal = select_leads(signal, names, wanted, derive=derive)
        names = wanted

    info: dict[str, Any] = {
        "source": str(hea),
        "source_format": "wfdb",
        "decoder": decoder,
        "source_fs": float(header.fs),
        "source_units": tuple(ch.units for ch in header.channels),
        "gain": tuple(float(g) for g in gains),
        "baseline": tuple(int(b) for b in baselines),
        "channel_names": tuple(ch.name for ch in header.channels),
        "renamed_channels": applied,
        "derived_leads": derived,
        "nonfinite_repaired": n_bad,
        "comments": header.comments,
    }
    info.update(meta or {})
    return ECGRecord(
        signal,
        float(header.fs),
        names,
        record_id=header.record_name if record_id is None else record_id,
        patient_id=patient_id,
        labels=labels,
        meta=info,
    )
