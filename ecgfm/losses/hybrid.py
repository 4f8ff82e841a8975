"""Hybrid Learning loss: masked reconstruction + patient-level + sample-level InfoNCE (HL)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from ecgfm.losses.infonce import InfoNCELoss
from ecgfm.losses.masked_reconstruction import MaskedReconstructionLoss
from ecgfm.losses.patient_contrastive import PatientContrastiveLoss

__all__ = ["HybridLoss", "HybridLossOutput"]

_NAME = "HybridLoss"
_PARTS = ("reconstruction", "patient", "sample")

Weighting = Literal["fixed", "uncertainty"]


@dataclass(frozen=True)
class HybridLossOutput:
    """Result of :class:`HybridLoss`.

    Attributes:
        total: scalar to call ``backward()`` on (in the graph; float32, or float64 when the
            parts are float64).
        reconstruction, patient, sample: the unweighted parts, detached for logging; None for
            a part switched off with weight 0.
        weights: ``(3,)`` detached effective weights of (reconstruction, patient, sample):
            the fixed weights, or ``w_k * exp(-s_k)`` under uncertainty weighting.
    """

    total: torch.Tensor
    reconstruction: torch.Tensor | None
    patient: torch.Tensor | None
    sample: torch.Tensor | None
    weights: torch.Tensor

    def log_dict(self, prefix: str = "loss") -> dict[str, float]:
        """Plain floats for a logger (one host sync), e.g. ``{"loss": .., "loss/sample": ..}``."""
        out = {prefix: float(self.total.detach())}
        for name in _PARTS:
            value = getattr(self, name)
            if value is not None:
                out[f"{prefix}/{name}"] = float(value)
        return out


class HybridLoss(nn.Module):
    """``L = w_r * L_recon + w_p * L_patient + w_s * L_sample`` (Song et al., KDD 2025, Eq. 3).

    - ``L_recon``: :class:`MaskedReconstructionLoss` with L1 (the paper's MAE), masked patches.
    - ``L_patient``: :class:`PatientContrastiveLoss` — different ECGs of the same patient are
      positives.
    - ``L_sample``: :class:`InfoNCELoss` — the two augmented views of the same ECG are positives.

    The paper fixes the weights to 1:1:1 (the default). Its "Limitations and Future Works"
    section names dynamic loss weighting as future work; ``weighting="uncertainty"`` is an
    opt-in implementation of that idea, **not part of the published method**: homoscedastic
    uncertainty weighting (Kendall, Gal and Cipolla, CVPR 2018) with one learnable log-variance
    ``s_k`` per part,

        L = sum_k w_k * (exp(-s_k) * L_k + s_k),

    initialised at ``s_k = 0`` so training starts from the fixed weighting. The ``s_k`` are
    parameters of this module (``log_vars``): add them to the optimiser.

    A weight of 0 switches its part off (its inputs may then be omitted) — e.g. ``(1, 0, 0)``
    for generative-only or ``(0, 1, 1)`` for contrastive-only training, the paper's GL and CL
    baselines.

    Args:
        weights: ``(w_recon, w_patient, w_sample)``, finite and >= 0, not all 0.
        weighting: ``"fixed"`` (paper) or ``"uncertainty"`` (opt-in, see above).
        reconstruction: custom reconstruction loss (default ``MaskedReconstructionLoss("l1")``).
        patient: custom patient-level loss (default ``PatientContrastiveLoss(0.1)``).
        sample: custom sample-level loss (default ``InfoNCELoss(0.1)``).
        gather_distributed: build the default contrastive losses with this flag; custom ones
            must carry the same value (checked).
    """

    def __init__(
        self,
        weights: Sequence[float] = (1.0, 1.0, 1.0),
        *,
        weighting: Weighting = "fixed",
        reconstruction: MaskedReconstructionLoss | None = None,
        patient: PatientContrastiveLoss | None = None,
        sample: InfoNCELoss | None = None,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        self.register_buffer("weights", _check_weights(weights), persistent=False)
        if weighting not in ("fixed", "uncertainty"):
            raise ValueError(
                f"{_NAME}: weighting must be 'fixed' or 'uncertainty', got {weighting!r}"
            )
        self.weighting: Weighting = weighting
        if not isinstance(gather_distributed, bool):
            raise TypeError(f"{_NAME}: gather_distributed must be a bool")
        _check_part("reconstruction", reconstruction, MaskedReconstructionLoss)
        _check_part("patient", patient, PatientContrastiveLoss)
        _check_part("sample", sample, InfoNCELoss)
        if reconstruction is None:
            reconstruction = MaskedReconstructionLoss("l1")
        if patient is None:
            patient = PatientContrastiveLoss(0.1, gather_distributed=gather_distributed)
        if sample is None:
            sample = InfoNCELoss(0.1, gather_distributed=gather_distributed)
        self.reconstruction = reconstruction
        self.patient = patient
        self.sample = sample
        for name in ("patient", "sample"):
            sub = getattr(self, name)
            if sub.gather_distributed != gather_distributed:
                raise ValueError(
                    f"{_NAME}: the {name} loss has gather_distributed={sub.gather_distributed} "
                    f"but HybridLoss got gather_distributed={gather_distributed}; make them agree"
                )
        if weighting == "uncertainty":
            self.log_vars = nn.Parameter(torch.zeros(3))

    def extra_repr(self) -> str:
        return f"weights={self.weights.tolist()}, weighting={self.weighting!r}"

    def forward(
        self,
        *,
        pred: torch.Tensor | None = None,
        target: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        z0: torch.Tensor | None = None,
        z1: torch.Tensor | None = None,
        patient_ids: Any = None,
        patient_z0: torch.Tensor | None = None,
        patient_z1: torch.Tensor | None = None,
    ) -> HybridLossOutput:
        """Weighted sum of the three parts (keyword arguments only).

        Args:
            pred: ``(B, *N, P)`` reconstructed patches of the generative path.
            target: ``(B, *N, P)`` original patches.
            mask: ``(B, *N)``, 1/True = masked patch (None: every patch counts).
            z0, z1: ``(B, D)`` embeddings of two augmented views of each ECG (sample level).
            patient_ids: ``(B,)`` patient of each ECG (patient level).
            patient_z0, patient_z1: ``(B', D)`` embeddings for the patient-level term; default
                ``z0`` and ``z1``. ``patient_ids`` then has length ``B'``.

        Returns:
            :class:`HybridLossOutput` with the total and the detached parts.
        """
        active = [bool(w > 0) for w in self.weights.tolist()]
        parts: list[torch.Tensor | None] = [None, None, None]
        if active[0]:
            _require(reconstruction=(pred, target))
            parts[0] = self.reconstruction(pred, target, mask)
        if active[1]:
            p0 = z0 if patient_z0 is None else patient_z0
            p1 = z1 if patient_z1 is None else patient_z1
            _require(patient=(p0, p1, patient_ids))
            parts[1] = self.patient(p0, p1, patient_ids)
        if active[2]:
            _require(sample=(z0, z1))
            parts[2] = self.sample(z0, z1)
        present = [p for p in parts if p is not None]
        device = present[0].device
        dtype = present[0].dtype
        for p in present[1:]:
            dtype = torch.promote_types(dtype, p.dtype)
        weights = self.weights.to(device=device, dtype=dtype)
        if self.weighting == "uncertainty":
            log_vars = self.log_vars.to(device=device, dtype=dtype)
            effective = weights * torch.exp(-log_vars)
        else:
            log_vars = None
            effective = weights
        total = torch.zeros((), dtype=dtype, device=device)
        for k, part in enumerate(parts):
            if part is None:
                continue
            total = total + effective[k] * part
            if log_vars is not None:
                total = total + weights[k] * log_vars[k]
        detached = [None if p is None else p.detach() for p in parts]
        return HybridLossOutput(total, *detached, weights=effective.detach())


def _check_weights(weights: Sequence[float]) -> torch.Tensor:
    if isinstance(weights, torch.Tensor):
        weights = weights.tolist()
    if not isinstance(weights, Sequence) or isinstance(weights, str) or len(weights) != 3:
        raise ValueError(
            f"{_NAME}: weights must be three numbers (reconstruction, patient, sample), got "
            f"{weights!r}"
        )
    values = []
    for name, w in zip(_PARTS, weights, strict=True):
        if isinstance(w, bool) or not isinstance(w, (int, float)):
            raise TypeError(f"{_NAME}: weight of {name} must be a number, got {w!r}")
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"{_NAME}: weight of {name} must be finite and >= 0, got {w}")
        values.append(float(w))
    if not any(values):
        raise ValueError(f"{_NAME}: all weights are 0; at least one part must be on")
    return torch.tensor(values, dtype=torch.float32)


def _check_part(name: str, given: nn.Module | None, kind: type[nn.Module]) -> None:
    if given is not None and not isinstance(given, kind):
        raise TypeError(
            f"{_NAME}: {name} must be an instance of {kind.__name__} (or None for the "
            f"default), got {type(given).__name__}"
        )


def _require(**groups: tuple[Any, ...]) -> None:
    for part, values in groups.items():
        if any(v is None for v in values):
            needs = {
                "reconstruction": "pred and target",
                "patient": "patient_ids and embeddings (z0/z1 or patient_z0/patient_z1)",
                "sample": "z0 and z1",
            }[part]
            raise ValueError(
                f"{_NAME}: the {part} part has weight > 0 and needs {needs}; pass them or set "
                "its weight to 0"
            )
