"""Dual-View transformer: two views of every record, InfoNCE on projected embeddings, assembled.

- preset ``dualview`` at the chosen rate (paper 500 Hz; 10 s records);
- encoder: :class:`~ecgfm.models.dualview.DualViewTransformer` (time-token and channel-token
  streams, self- and bidirectional cross-attention), input length = one view;
- views: ``"cmsc"`` (two 5 s halves, CLOCS CMSC) or ``"interleave"`` (even/odd samples), each
  with random lead masking (RLM), or ``"stochastic"`` augmentations of the whole record;
- loss: :class:`~ecgfm.losses.InfoNCELoss` on a projection head's outputs;
- objective: :class:`~ecgfm.train.objectives.ContrastiveObjective`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import torch
from torch import nn

from ecgfm.losses.infonce import InfoNCELoss
from ecgfm.models import create_model
from ecgfm.train.objectives import ContrastiveObjective
from ecgfm.train.retrieval import retrieval_recall
from ecgfm.transforms.presets import Preset, get_preset
from ecgfm.transforms.views import CMSC, Interleave, Stochastic

__all__ = ["VIEW_STRATEGIES", "DualView"]

ViewStrategy = Literal["cmsc", "interleave", "stochastic"]
VIEW_STRATEGIES: tuple[str, ...] = ("cmsc", "interleave", "stochastic")


class DualView:
    """Dual-View pre-training.

    Args:
        model: registered Dual-View name (``dualview_base``, ``dualview_small``).
        model_args: encoder overrides (``input_length`` is set from the views).
        views: view strategy, one of :data:`VIEW_STRATEGIES`.
        rlm: lead-masking probability for ``cmsc``/``interleave`` (0: none).
        fs: sampling rate of the preset in Hz (paper 500).
        temperature: InfoNCE temperature; proj_dim: projection head width (0: none).
        gather_distributed: gather embeddings across ranks (DDP).
    """

    name = "dualview"

    def __init__(
        self,
        model: str = "dualview_base",
        *,
        model_args: Mapping[str, Any] | None = None,
        views: ViewStrategy = "cmsc",
        rlm: float = 0.5,
        fs: float = 500.0,
        temperature: float = 0.1,
        proj_dim: int = 128,
        gather_distributed: bool = False,
    ) -> None:
        if views not in VIEW_STRATEGIES:
            raise ValueError(f"views must be one of {list(VIEW_STRATEGIES)}, got {views!r}")
        self.preset: Preset = get_preset("dualview", fs=fs, length=round(10 * fs))
        if views == "cmsc":
            self.views: Any = CMSC(2, rlm=rlm or None, fs=self.preset.fs)
        elif views == "interleave":
            self.views = Interleave(2, rlm=rlm or None, fs=self.preset.fs)
        else:
            self.views = Stochastic(fs=self.preset.fs)
        view_length = self.preset.length if views == "stochastic" else self.preset.length // 2
        self.encoder: nn.Module = create_model(
            model, **{"input_length": view_length, **dict(model_args or {})}
        )
        self.loss = InfoNCELoss(temperature, gather_distributed=gather_distributed)
        self.objective = ContrastiveObjective(self.encoder, self.loss, proj_dim=proj_dim)

    def training_loss(
        self,
        net: nn.Module,
        x: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of one step from windows ``x`` ``(B, 12, length)`` on the CPU (the views are
        drawn there with ``generator`` and moved to ``device``)."""
        v0, v1 = self.views(x, generator=generator)
        return net(v0.x.contiguous().to(device), v1.x.contiguous().to(device)), {}

    @torch.no_grad()
    def validation_metrics(
        self, batches: Iterable[torch.Tensor], *, seed: int = 1, device: torch.device | str = "cpu"
    ) -> dict[str, float]:
        """View-to-view retrieval R@1/R@5 over ``batches`` (the same views at every call)."""
        g = torch.Generator().manual_seed(seed)
        z0, z1 = [], []
        for x in batches:
            v0, v1 = self.views(x, generator=g)
            z0.append(self.objective.embed(v0.x.contiguous().to(device)).float())
            z1.append(self.objective.embed(v1.x.contiguous().to(device)).float())
        if not z0:
            raise ValueError("validation_metrics: no validation windows")
        return retrieval_recall(torch.cat(z0), torch.cat(z1), (1, 5))
