"""Losses of the four methods, one ``nn.Module`` per file.

- :class:`SigLIPLoss` — SelfMIS's sigmoid alignment loss (optionally chunked).
- :class:`InfoNCELoss` — InfoNCE / NT-Xent (sample level).
- :class:`PatientContrastiveLoss` — CLOCS CMSC / HL patient-level multi-positive InfoNCE.
- :class:`MaskedReconstructionLoss` — MSE (ST-MEM) or L1 (HL) on masked patches.
- :class:`FeatureRegressionLoss` — masked MSE of a head's predicted features (RR distillation).
- :class:`HybridLoss` — HL's reconstruction + patient + sample sum, with its parts.

The contrastive losses accept ``gather_distributed=True`` (see :mod:`ecgfm.distributed`): the
mean over ranks of the per-rank losses equals the single-process loss on the concatenated
batch, and DDP's gradient averaging yields the single-process gradient. See ``docs/losses.md``.
"""

from typing import TYPE_CHECKING

from ecgfm._lazy import attach

if TYPE_CHECKING:
    from ecgfm.losses.feature_regression import FeatureRegressionLoss
    from ecgfm.losses.hybrid import HybridLoss, HybridLossOutput
    from ecgfm.losses.infonce import InfoNCELoss
    from ecgfm.losses.masked_reconstruction import MaskedReconstructionLoss
    from ecgfm.losses.patient_contrastive import PatientContrastiveLoss
    from ecgfm.losses.siglip import SigLIPLoss

__getattr__, __dir__ = attach(
    __name__,
    attributes={
        "ecgfm.losses.feature_regression": ["FeatureRegressionLoss"],
        "ecgfm.losses.hybrid": ["HybridLoss", "HybridLossOutput"],
        "ecgfm.losses.infonce": ["InfoNCELoss"],
        "ecgfm.losses.masked_reconstruction": ["MaskedReconstructionLoss"],
        "ecgfm.losses.patient_contrastive": ["PatientContrastiveLoss"],
        "ecgfm.losses.siglip": ["SigLIPLoss"],
    },
)

__all__ = [
    "FeatureRegressionLoss",
    "HybridLoss",
    "HybridLossOutput",
    "InfoNCELoss",
    "MaskedReconstructionLoss",
    "PatientContrastiveLoss",
    "SigLIPLoss",
]
