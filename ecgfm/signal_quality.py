"""Plausibility and quality of ECG amplitudes: the statistics behind the input contract.

:func:`lead_amplitude` is the robust per-lead amplitude on which :func:`ecgfm.signal.as_signal`
judges units (microvolts or volts passed as millivolts) and :func:`check_quality` finds
degenerate content (flat leads, spikes), reported as :class:`ECGQualityWarning`. Everything
here is re-exported by :mod:`ecgfm.signal`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ecgfm._lazy import is_tensor
from ecgfm.leads import normalize_lead_names

if TYPE_CHECKING:
    import torch

__all__ = ["ECGQualityWarning", "SignalQuality", "check_quality", "lead_amplitude"]

# Plausible amplitude of an ECG in mV, judged per record on its largest lead (flat leads exist):
# ``lead_amplitude`` (99th percentile of |x - median| per lead). On the real data shipped with
# ecgfm (1732 PTB-XL records at 100 Hz, 422 at 500 Hz, 4280 CinC 2017 records) the largest-lead
# amplitude lies in [0.128, 10.2] mV and every single lead is above 0.079 mV. Microvolts give
# >= 128, volts <= 0.0102.
_MIN_PLAUSIBLE_MV = 0.02
_MAX_PLAUSIBLE_MV = 50.0
# A lead whose amplitude is below this (5 uV) is flat (disconnected electrode, zero-filled).
_FLAT_MV = 0.005
# A sample this far from its lead's median (mV) is an artefact: the real data above reach 11.5.
_SPIKE_MV = 25.0
# Samples per lead on which ``lead_amplitude`` estimates its percentiles (evenly strided).
_AMPLITUDE_SAMPLES = 2048


class ECGQualityWarning(UserWarning):
    """Degenerate but usable input: a flat lead, a spike, repaired NaN/Inf values.

    Raised as a warning (not logged only) so that a caller can see, filter or escalate it:
    ``warnings.simplefilter("error", ECGQualityWarning)`` turns every such case into an error.
    """


def lead_amplitude(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """Robust amplitude of each lead: the 99th percentile of ``|x - median(x)|`` over time.

    Insensitive to a baseline offset and to a few spikes. Estimated on at most 2048 evenly
    strided samples per lead (enough for a percentile; bounded cost for long records).

    Args:
        x: ``(..., C, T)`` numpy array or torch tensor (any device), finite values.

    Returns:
        float64 numpy array ``(..., C)`` in the units of ``x``.
    """
    n_t = int(x.shape[-1])
    step = max(1, -(-n_t // _AMPLITUDE_SAMPLES))
    sub = x[..., ::step]
    if is_tensor(sub):
        arr = sub.detach().cpu().double().numpy()
    else:
        arr = np.asarray(sub, dtype=np.float64)
    if arr.shape[-1] == 0:
        return np.zeros(arr.shape[:-1])
    rows = arr.reshape(-1, arr.shape[-1])
    out = np.empty(rows.shape[0])
    for start in range(0, rows.shape[0], 1024):  # bounds the temporary of a large batch
        block = rows[start : start + 1024]
        dev = np.abs(block - np.median(block, axis=-1, keepdims=True))
        out[start : start + 1024] = np.percentile(dev, 99, axis=-1)
    return out.reshape(arr.shape[:-1])


@dataclass(frozen=True)
class SignalQuality:
    """Degenerate content of one record, as found by :func:`check_quality`.

    Attributes:
        leads: the leads examined, in order.
        amplitude: :func:`lead_amplitude` of each lead (mV).
        flat_leads: leads whose amplitude is below 0.005 mV (5 µV): a disconnected electrode,
            a zero-filled or constant channel.
        spikes: lead -> largest ``|x - median|`` (mV) for leads with samples more than 25 mV
            from their median (no real ECG reaches that; an artefact or a saturated sample).
    """

    leads: tuple[str, ...]
    amplitude: tuple[float, ...]
    flat_leads: tuple[str, ...]
    spikes: dict[str, float]

    @property
    def all_flat(self) -> bool:
        """Every lead is flat: there is no signal at all."""
        return len(self.flat_leads) == len(self.leads)

    def problems(self) -> list[str]:
        """One sentence per problem that does not make the record unusable (for warnings)."""
        out = []
        if self.flat_leads and not self.all_flat:
            out.append(
                f"lead(s) {list(self.flat_leads)} are flat (amplitude < {_FLAT_MV:g} mV: "
                "disconnected or zero-filled); they carry no signal and the embedding is "
                "computed without it — check the electrodes/reader or drop the record"
            )
        if self.spikes:
            worst = ", ".join(f"{k} {v:.4g} mV" for k, v in self.spikes.items())
            out.append(
                f"samples more than {_SPIKE_MV:g} mV from the lead's median ({worst}): a spike "
                "or saturation artefact, which dominates filtering and normalisation — clip "
                "or repair it (e.g. np.clip) or drop the record"
            )
        return out


def check_quality(
    x: np.ndarray | torch.Tensor,
    leads: Sequence[str],
    *,
    what: str = "record",
    warn: bool = True,
) -> SignalQuality:
    """Find degenerate content in one record ``(C, T)`` in mV (after :func:`as_signal`).

    Policy (what ``PretrainedEncoder.embed`` applies to the leads the model sees):

    - every lead flat (e.g. all zeros): ``ValueError`` — there is nothing to embed;
    - some leads flat: :class:`ECGQualityWarning`;
    - samples more than 25 mV from their lead's median (e.g. a 500 mV spike):
      :class:`ECGQualityWarning`.

    ``warn=False`` only returns the assessment (no warning; the all-flat error still raises).
    Turn the warnings into errors with ``warnings.simplefilter("error", ECGQualityWarning)``.
    """
    names = normalize_lead_names(leads)
    if x.ndim != 2 or x.shape[0] != len(names):
        raise ValueError(
            f"{what}: check_quality takes one record (C, T) with one lead name per channel, "
            f"got shape {tuple(x.shape)} and {len(names)} names"
        )
    amp = lead_amplitude(x)
    xd = x.detach().cpu().double().numpy() if is_tensor(x) else np.asarray(x, np.float64)
    peak = np.abs(xd - np.median(xd, axis=-1, keepdims=True)).max(axis=-1)
    quality = SignalQuality(
        leads=names,
        amplitude=tuple(float(a) for a in amp),
        flat_leads=tuple(n for n, a in zip(names, amp, strict=True) if a < _FLAT_MV),
        spikes={n: float(p) for n, p in zip(names, peak, strict=True) if p > _SPIKE_MV},
    )
    if quality.all_flat:
        raise ValueError(
            f"{what}: every lead ({', '.join(names)}) is flat (amplitude < {_FLAT_MV:g} mV, "
            "e.g. all zeros): there is no signal to embed — check the reader/electrodes or "
            "drop this record"
        )
    if warn:
        for problem in quality.problems():
            warnings.warn(f"{what}: {problem}", ECGQualityWarning, stacklevel=2)
    return quality
