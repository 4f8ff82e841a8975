"""Model + loss modules whose ``forward`` returns the training loss (what DDP wraps).

DistributedDataParallel synchronises gradients only for computations that go through the
wrapper's ``forward``; a method that needs several forward passes (two views, a masked input
and a cached teacher) therefore gets one module holding the model, any heads and the loss,
with a single ``forward``. Learnable loss parameters (SigLIP's scale and bias, HL's
uncertainty weights) live inside it as well, so DDP keeps them identical on every rank.

- :class:`SelfMISObjective` — SigLIP alignment of a student with a frozen teacher, from the
  teacher input or from cached teacher embeddings, optionally plus a two-view contrastive
  term on the student (CLOCS CMSC on single-lead recordings) and a feature-regression term
  (a linear head of the student predicts features of its input, e.g. RR intervals).
- :class:`HybridObjective` — HL: masked reconstruction + patient- and sample-level InfoNCE.
- :class:`ContrastiveObjective` — an encoder, an optional projection head and a two-view loss
  (Dual-View with InfoNCE).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecgfm.losses import FeatureRegressionLoss, HybridLoss, PatientContrastiveLoss, SigLIPLoss
from ecgfm.models.hl_vit import HLPretrain
from ecgfm.models.selfmis import SelfMIS

__all__ = ["ContrastiveObjective", "HybridObjective", "SelfMISObjective", "projection_head"]


def projection_head(in_dim: int, out_dim: int, hidden_dim: int | None = None) -> nn.Module:
    """SimCLR-style head ``Linear -> ReLU -> Linear`` (``hidden_dim`` default ``in_dim``)."""
    if in_dim < 1 or out_dim < 1:
        raise ValueError(f"projection widths must be >= 1, got {in_dim} -> {out_dim}")
    hidden = hidden_dim or in_dim
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim)
    )


class SelfMISObjective(nn.Module):
    """SelfMIS loss module around a :class:`~ecgfm.models.selfmis.SelfMIS` pair.

    ``forward(student_x, teacher_x=None, teacher_emb=None, views=None, view_ids=None,
    regression_x=None, regression_target=None, regression_valid=None)`` returns
    ``(total, parts)``: the SigLIP loss of the projected student embeddings against
    the projected teacher embeddings of the same records, plus, when the objective has a
    ``contrast`` term and ``views`` are given, ``contrast_weight`` times a two-view
    contrastive loss of the student (CLOCS CMSC: two windows of one recording are positives),
    plus, when it has a ``regression`` term and ``regression_x (B'', C_student, T'')`` is
    given, ``regression_weight`` times that loss of a **linear** head on the student's
    embedding against ``regression_target (B'', F)`` (rows where ``regression_valid`` is
    False do not count). ``parts`` holds the detached terms (``"siglip"``, ``"contrast"``,
    ``"regression"``).

    Pass either the teacher input ``teacher_x (B, 12, T)`` (the frozen teacher runs under
    ``no_grad``) or precomputed ``teacher_emb (B, D_teacher)`` (raw teacher embeddings, before
    ``teacher_proj``; the teacher does not run). ``student_x`` is ``(B, C_student, T')``; ``T'``
    may be shorter than ``T`` (random crops: Net1D pools over time). ``views`` is a pair of
    ``(B', C_student, T'')`` single-lead windows, ``view_ids`` ``(B',)`` their patients
    (needed by :class:`~ecgfm.losses.PatientContrastiveLoss`; ignored by losses without ids).

    Args:
        pair: the student/teacher pair.
        loss: the SigLIP loss.
        contrast: optional two-view loss ``(z0, z1[, patient_ids]) -> scalar`` on the student
            (e.g. :class:`~ecgfm.losses.PatientContrastiveLoss`), through its own
            :func:`projection_head` of width ``contrast_dim``.
        contrast_weight: weight of the contrastive term (> 0).
        contrast_dim: output width of the contrastive projection head.
        regression: optional :class:`~ecgfm.losses.FeatureRegressionLoss` of the student's
            linear head ``regression_head`` (``num_features -> regression_dim``).
        regression_weight: weight of the regression term (> 0).
        regression_dim: number of regressed features (required with ``regression``).

    Checkpoints should exclude :attr:`TEACHER_PREFIX` (the teacher is rebuilt from its source).
    """

    TEACHER_PREFIX = "pair.teacher."

    def __init__(
        self,
        pair: SelfMIS,
        loss: SigLIPLoss,
        *,
        contrast: nn.Module | None = None,
        contrast_weight: float = 1.0,
        contrast_dim: int = 128,
        regression: FeatureRegressionLoss | None = None,
        regression_weight: float = 1.0,
        regression_dim: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(pair, SelfMIS):
            raise TypeError(f"pair must be a SelfMIS, got {type(pair).__name__}")
        if not isinstance(loss, SigLIPLoss):
            raise TypeError(f"loss must be a SigLIPLoss, got {type(loss).__name__}")
        self.pair = pair
        self.loss = loss
        self.contrast = contrast
        self.contrast_head: nn.Module | None = None
        if contrast is not None:
            if not isinstance(contrast, nn.Module):
                raise TypeError(f"contrast must be a loss module, got {type(contrast).__name__}")
            if not (isinstance(contrast_weight, (int, float)) and contrast_weight > 0):
                raise ValueError(f"contrast_weight must be > 0, got {contrast_weight!r}")
            width = int(pair.student.num_features)
            self.contrast_head = projection_head(width, contrast_dim)
        self.contrast_weight = float(contrast_weight)
        self.regression = regression
        self.regression_head: nn.Module | None = None
        if regression is not None:
            if not isinstance(regression, FeatureRegressionLoss):
                raise TypeError(
                    f"regression must be a FeatureRegressionLoss, got {type(regression).__name__}"
                )
            if not (isinstance(regression_weight, (int, float)) and regression_weight > 0):
                raise ValueError(f"regression_weight must be > 0, got {regression_weight!r}")
            if isinstance(regression_dim, bool) or not isinstance(regression_dim, int) or (
                regression_dim < 1
            ):  # fmt: skip
                raise ValueError(
                    f"regression_dim must be an int >= 1 (the number of target features), got "
                    f"{regression_dim!r}"
                )
            # linear on purpose: what it reads must be linearly readable from the embedding
            self.regression_head = nn.Linear(int(pair.student.num_features), regression_dim)
        self.regression_weight = float(regression_weight)

    def embed_student(self, student_x: torch.Tensor) -> torch.Tensor:
        """Projected student embeddings ``(B, D)`` (the retrieval queries)."""
        return self.pair.student_proj(self.pair.student.forward_embedding(student_x))

    def embed_teacher(self, teacher_emb: torch.Tensor) -> torch.Tensor:
        """Projected teacher embeddings ``(B, D)`` from raw teacher embeddings."""
        return self.pair.teacher_proj(teacher_emb)

    def _contrast(self, views: tuple[torch.Tensor, torch.Tensor], view_ids: Any) -> torch.Tensor:
        if self.contrast is None or self.contrast_head is None:
            raise ValueError("views given but the objective has no contrast term (contrast=...)")
        v0, v1 = views
        if v0.shape != v1.shape:
            raise ValueError(f"views differ in shape: {tuple(v0.shape)} vs {tuple(v1.shape)}")
        z = self.contrast_head(self.pair.student.forward_embedding(torch.cat([v0, v1])))
        z0, z1 = z.chunk(2)
        if isinstance(self.contrast, PatientContrastiveLoss):
            if view_ids is None:
                raise ValueError("PatientContrastiveLoss needs view_ids (one patient per view)")
            return self.contrast(z0, z1, view_ids)
        return self.contrast(z0, z1)

    def forward(
        self,
        student_x: torch.Tensor,
        teacher_x: torch.Tensor | None = None,
        teacher_emb: torch.Tensor | None = None,
        views: tuple[torch.Tensor, torch.Tensor] | None = None,
        view_ids: Any = None,
        regression_x: torch.Tensor | None = None,
        regression_target: torch.Tensor | None = None,
        regression_valid: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if (teacher_x is None) == (teacher_emb is None):
            raise ValueError("pass exactly one of teacher_x and teacher_emb")
        if teacher_emb is None:
            with torch.no_grad():
                teacher_emb = self.pair.teacher.forward_embedding(teacher_x)
        teacher_emb = teacher_emb.detach()
        if teacher_emb.shape[0] != student_x.shape[0]:
            raise ValueError(
                f"teacher batch {teacher_emb.shape[0]} != student batch {student_x.shape[0]}"
            )
        siglip = self.loss(self.embed_student(student_x), self.embed_teacher(teacher_emb))
        parts = {"siglip": siglip.detach()}
        total = siglip
        if views is not None:
            contrast = self._contrast(views, view_ids)
            parts["contrast"] = contrast.detach()
            total = total + self.contrast_weight * contrast
        if regression_x is not None:
            regression = self._regression(regression_x, regression_target, regression_valid)
            parts["regression"] = regression.detach()
            total = total + self.regression_weight * regression
        elif regression_target is not None or regression_valid is not None:
            raise ValueError("regression_target/regression_valid given without regression_x")
        return total, parts

    def predict_features(self, x: torch.Tensor) -> torch.Tensor:
        """The regression head's predictions ``(B, regression_dim)`` for student inputs ``x``."""
        if self.regression_head is None:
            raise ValueError("the objective has no regression term (regression=...)")
        return self.regression_head(self.pair.student.forward_embedding(x))

    def _regression(
        self, x: torch.Tensor, target: torch.Tensor | None, valid: torch.Tensor | None
    ) -> torch.Tensor:
        if self.regression is None or self.regression_head is None:
            raise ValueError(
                "regression_x given but the objective has no regression term (regression=...)"
            )
        if target is None:
            raise ValueError("regression_x needs regression_target (B, regression_dim)")
        return self.regression(self.predict_features(x), target, valid)


class HybridObjective(nn.Module):
    """Hybrid Learning: ``HybridLoss(reconstruction, patient InfoNCE, sample InfoNCE)``.

    ``forward(x, view0, view1, patient_ids, generator=None)``:

    - ``x (B, C, T)``: the records for the generative path (masked with ``generator``);
    - ``view0``, ``view1`` ``(B, C, T)``: two augmented views of the same records for the
      contrastive paths (projected by the model's projection head);
    - ``patient_ids`` ``(B,)`` long: records of one patient are positives of the patient term.

    Returns ``(total, parts)``: the scalar loss and a dict of the detached parts.
    """

    def __init__(self, model: HLPretrain, loss: HybridLoss) -> None:
        super().__init__()
        if not isinstance(model, HLPretrain):
            raise TypeError(f"model must be an HLPretrain, got {type(model).__name__}")
        if not isinstance(loss, HybridLoss):
            raise TypeError(f"loss must be a HybridLoss, got {type(loss).__name__}")
        self.model = model
        self.loss = loss

    def forward(
        self,
        x: torch.Tensor,
        view0: torch.Tensor,
        view1: torch.Tensor,
        patient_ids: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        rec = self.model(x, generator=generator)
        z0 = self.model.forward_contrastive(view0)
        z1 = self.model.forward_contrastive(view1)
        out = self.loss(
            pred=rec.pred, target=rec.target, mask=rec.mask, z0=z0, z1=z1, patient_ids=patient_ids
        )
        parts = {
            name: value
            for name in ("reconstruction", "patient", "sample")
            if (value := getattr(out, name)) is not None
        }
        return out.total, parts


class ContrastiveObjective(nn.Module):
    """An encoder, an optional projection head and a two-view contrastive loss.

    ``forward(view0, view1)`` returns ``loss(head(enc(view0)), head(enc(view1)))``; both views
    ``(B, C, T)`` go through the encoder in one batch (``2B`` records).

    Args:
        encoder: any ecgfm encoder (``forward_embedding``, ``num_features``).
        loss: e.g. :class:`~ecgfm.losses.InfoNCELoss` (``gather_distributed`` under DDP).
        proj_dim: output width of a :func:`projection_head`; 0 for none.
    """

    def __init__(self, encoder: nn.Module, loss: nn.Module, proj_dim: int = 128) -> None:
        super().__init__()
        if not hasattr(encoder, "forward_embedding") or not hasattr(encoder, "num_features"):
            raise TypeError(f"{type(encoder).__name__} lacks forward_embedding/num_features")
        if isinstance(proj_dim, bool) or not isinstance(proj_dim, int) or proj_dim < 0:
            raise ValueError(f"proj_dim must be an int >= 0, got {proj_dim!r}")
        self.encoder = encoder
        self.head = (
            projection_head(int(encoder.num_features), proj_dim) if proj_dim else nn.Identity()
        )
        self.loss = loss

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Projected embeddings ``(B, proj_dim)`` (or encoder embeddings without a head)."""
        return self.head(self.encoder.forward_embedding(x))

    def forward(self, view0: torch.Tensor, view1: torch.Tensor) -> torch.Tensor:
        if view0.shape != view1.shape:
            raise ValueError(f"views differ in shape: {tuple(view0.shape)} vs {tuple(view1.shape)}")
        z = self.embed(torch.cat([view0, view1]))
        z0, z1 = z.chunk(2)
        return self.loss(z0, z1)
