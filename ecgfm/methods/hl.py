"""Hybrid Learning (HL): masked L1 reconstruction + patient- and sample-level InfoNCE, assembled.

- preset ``hl``: 250 Hz, 10 s, mV, no filter;
- encoder: :class:`~ecgfm.models.hl_vit.HLViT` (convolutional patch embedding over all leads),
  default ``hl_vit_p60_d2_w512`` (the paper's best HL model), with an MAE decoder and a
  projection head in :class:`~ecgfm.models.hl_vit.HLPretrain`;
- views: two stochastic augmentations of every record
  (:class:`~ecgfm.transforms.views.Stochastic`: warp, crop, band-pass, noise, scale) for the
  sample-level term; the patient-level term takes records of one patient as positives;
- loss: :class:`~ecgfm.losses.HybridLoss` (1:1:1 by default);
- objective: :class:`~ecgfm.train.objectives.HybridObjective`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ecgfm.losses.hybrid import HybridLoss
from ecgfm.models import create_model
from ecgfm.models.hl_vit import HLPretrain
from ecgfm.train.objectives import HybridObjective
from ecgfm.train.retrieval import retrieval_recall
from ecgfm.transforms.presets import Preset, get_preset
from ecgfm.transforms.views import Stochastic

__all__ = ["HybridLearning"]


class HybridLearning:
    """HL pre-training.

    Args:
        model: registered HL ViT name ``hl_vit_p{P}_d{depth}_w{width}``.
        model_args: encoder overrides; decoder_args: :class:`HLPretrain` decoder overrides.
        mask_ratio: masked fraction of patches (0.75).
        weights: loss weights (reconstruction, patient, sample); paper 1:1:1.
        gather_distributed: gather embeddings across ranks for the contrastive terms (DDP).

    Attributes:
        preset, encoder, objective (:class:`HybridObjective`), loss, views.
    """

    name = "hl"

    def __init__(
        self,
        model: str = "hl_vit_p60_d2_w512",
        *,
        model_args: Mapping[str, Any] | None = None,
        decoder_args: Mapping[str, Any] | None = None,
        mask_ratio: float = 0.75,
        weights: Sequence[float] = (1.0, 1.0, 1.0),
        gather_distributed: bool = False,
    ) -> None:
        self.preset: Preset = get_preset("hl")
        self.encoder: nn.Module = create_model(model, **dict(model_args or {}))
        pretrain = HLPretrain(self.encoder, mask_ratio=mask_ratio, **dict(decoder_args or {}))  # type: ignore[arg-type]
        self.loss = HybridLoss(list(weights), gather_distributed=gather_distributed)
        self.objective = HybridObjective(pretrain, self.loss)
        self.views = Stochastic(fs=self.preset.fs)

    def training_loss(
        self,
        net: nn.Module,
        x: torch.Tensor,
        patient_ids: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        mask_generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of one step.

        Args:
            net: :attr:`objective` or its DDP wrapper.
            x: ``(B, 12, 2500)`` windows on the CPU (the views are drawn there).
            patient_ids: ``(B,)`` long patient codes.
            generator: draws the views; mask_generator: draws the masks.
            device: the model's device.
        """
        v0, v1 = self.views(x, generator=generator, check_finite=False)
        total, parts = net(
            x.to(device), v0.x.to(device), v1.x.to(device), patient_ids.to(device),
            generator=mask_generator,
        )  # fmt: skip
        return total, {f"loss/{k}": float(v) for k, v in parts.items()}

    @torch.no_grad()
    def validation_metrics(
        self, batches: Iterable[torch.Tensor], *, seed: int = 1, device: torch.device | str = "cpu"
    ) -> dict[str, float]:
        """Masked L1 and view-to-view retrieval over ``batches`` of windows (the same masks and
        views at every call): ``{"recon_l1", "R@1", "R@5"}``."""
        g = torch.Generator().manual_seed(seed)
        model = self.objective.model
        l1, n, z0, z1 = 0.0, 0, [], []
        for x in batches:
            rec = model(x.to(device), generator=g)
            l1 += float(self.loss.reconstruction(rec.pred, rec.target, rec.mask)) * len(x)
            n += len(x)
            v0, v1 = self.views(x, generator=g)
            z0.append(model.forward_contrastive(v0.x.to(device)).float())
            z1.append(model.forward_contrastive(v1.x.to(device)).float())
        if n == 0:
            raise ValueError("validation_metrics: no validation windows")
        return {"recon_l1": l1 / n, **retrieval_recall(torch.cat(z0), torch.cat(z1), (1, 5))}
