"""ST-MEM (Na et al., ICLR 2024): spatio-temporal masked ECG modelling, assembled.

- preset ``st_mem``: 250 Hz, 9 s windows (random crops of the 10 s records in training), mV,
  standardised per lead;
- encoder: :class:`~ecgfm.models.st_mem.STMEMViT` (spatio-temporal patches of 75 samples, lead
  and [SEP] embeddings), default ``st_mem_vit_small``;
- "views": random masking of 75 % of each lead's patches inside
  :class:`~ecgfm.models.st_mem.STMEMPretrain` (drawn from the ``generator`` of the step);
- loss: :class:`~ecgfm.losses.MaskedReconstructionLoss` (MSE on masked patches) against
  per-patch normalised targets (``norm_pix_loss``, the official configuration), computed by
  the lead-wise shared decoder's predictions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from ecgfm.losses.masked_reconstruction import MaskedReconstructionLoss
from ecgfm.models import create_model
from ecgfm.models.st_mem import ST_MEM_DECODER_ARGS, STMEMPretrain
from ecgfm.transforms.presets import Preset, get_preset

__all__ = ["STMEM"]


class STMEM:
    """ST-MEM pre-training: encoder + lead-wise decoder, masking and masked MSE.

    Args:
        model: registered ST-MEM encoder name (``st_mem_vit_small``, ``st_mem_vit_base``).
        model_args: overrides of the encoder configuration (e.g. ``{"depth": 4}``).
        decoder_args: overrides of the decoder (``decoder_dim``, ``decoder_depth``, ...).
        mask_ratio: fraction of each lead's patches masked (paper: 0.75).
        norm_pix: per-patch normalised reconstruction targets (official default True).

    Attributes:
        preset, encoder, objective (the :class:`STMEMPretrain` model), loss.
    """

    name = "st_mem"

    def __init__(
        self,
        model: str = "st_mem_vit_small",
        *,
        model_args: Mapping[str, Any] | None = None,
        decoder_args: Mapping[str, Any] | None = None,
        mask_ratio: float = 0.75,
        norm_pix: bool = True,
    ) -> None:
        self.preset: Preset = get_preset("st_mem")
        self.encoder: nn.Module = create_model(model, **dict(model_args or {}))
        self.objective: STMEMPretrain = STMEMPretrain(
            self.encoder,  # type: ignore[arg-type]
            **{**ST_MEM_DECODER_ARGS, **dict(decoder_args or {})},
            mask_ratio=mask_ratio,
            norm_pix_loss=norm_pix,
        )
        # The model normalises the targets itself when norm_pix_loss is on.
        self.loss = MaskedReconstructionLoss("mse")

    def training_loss(
        self, net: nn.Module, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of one step: ``net`` is :attr:`objective` (or its DDP wrapper), ``x`` windows
        ``(B, 12, 2250)`` on the model's device, ``generator`` draws the masks."""
        out = net(x, generator=generator)
        return self.loss(out.pred, out.target, out.mask), {}

    @torch.no_grad()
    def validation_metrics(
        self, batches: Iterable[torch.Tensor], *, seed: int = 1, device: torch.device | str = "cpu"
    ) -> dict[str, float]:
        """Masked reconstruction MSE over ``batches`` of windows, with the same masks at every
        call (a generator seeded with ``seed``): ``{"recon_mse": ...}``."""
        masks = torch.Generator().manual_seed(seed)
        total, count = 0.0, 0
        for x in batches:
            out = self.objective(x.to(device), generator=masks)
            total += float(self.loss(out.pred, out.target, out.mask)) * len(x)
            count += len(x)
        if count == 0:
            raise ValueError("validation_metrics: no validation windows")
        return {"recon_mse": total / count}
