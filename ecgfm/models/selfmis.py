"""SelfMIS student/teacher wrapper: align a single-lead encoder with a frozen 12-lead one.

SelfMIS (seed 000 in ``methods.md``) takes a 12-lead record ``M``, cuts lead I out of it as the
single-lead view ``S`` ("self-cutting"), encodes ``S`` with the student ``f_s`` and ``M`` with
the teacher ``f_m`` under stop-gradient, and trains only the student with a SigLIP loss on the
pair of embeddings. :class:`SelfMIS` holds the two encoders and returns that pair; the loss lives
in :mod:`ecgfm.losses`. After training, :meth:`SelfMIS.export_student` is the model to publish.

The teacher is frozen three ways: its parameters have ``requires_grad=False`` (optimisers and
DDP ignore them), it runs under ``torch.no_grad()`` (no graph is built), and it stays in
``eval()`` mode when the wrapper is put in ``train()`` mode (dropout off, BatchNorm statistics
not updated), because a frozen teacher is a fixed function of its input.

Not a registered architecture: the registry holds encoders with the single-encoder interface
(``forward_embedding``, ``num_features``, ...), while this is a pair. Build one from registered
names with :func:`create_selfmis`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ecgfm.leads import can_derive, select_leads
from ecgfm.models._base import check_encoder_input
from ecgfm.models._registry import create_model

__all__ = ["SelfMIS", "create_selfmis"]

_logger = logging.getLogger(__name__)
_REQUIRED = ("forward_embedding", "num_features", "in_leads")


class SelfMIS(nn.Module):
    """Student (e.g. lead I) + frozen teacher (12 leads) of the same encoder family.

    Args:
        student: trainable encoder; its ``in_leads`` must be derivable from the teacher's
            (lead I from the 12 leads) so that the student view can be cut from the teacher
            input.
        teacher: encoder of the same class; frozen in place (``requires_grad_(False)``,
            ``eval()``).
        proj_dim: ``None``: no projection when both widths are equal, otherwise a linear head
            maps the student embedding to the teacher width (the frozen teacher space is the
            target). An int: linear heads on both sides to ``proj_dim``; the teacher-side head is
            trainable and receives gradient only through the detached teacher embedding.

    Input ``teacher_x (B, C_teacher, T)``; optionally ``student_x (B, C_student, T)`` (default:
    cut from ``teacher_x`` by lead name). Output ``(student_emb, teacher_emb)``, both ``(B, D)``
    with ``D`` the common width; ``teacher_emb`` never requires grad through the teacher.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, proj_dim: int | None = None):
        super().__init__()
        for role, enc in (("student", student), ("teacher", teacher)):
            missing = [a for a in _REQUIRED if not hasattr(enc, a)]
            if missing:
                raise TypeError(
                    f"SelfMIS {role} {type(enc).__name__} lacks the encoder interface {missing}"
                )
        if student is teacher:
            raise ValueError("SelfMIS needs two separate encoders (the teacher is frozen)")
        if type(student) is not type(teacher):
            raise TypeError(
                "SelfMIS student and teacher must be the same encoder family, got "
                f"{type(student).__name__} and {type(teacher).__name__}"
            )
        if not can_derive(student.in_leads, teacher.in_leads):
            raise ValueError(
                f"the student's leads {list(student.in_leads)} cannot be cut from the teacher's "
                f"{list(teacher.in_leads)}"
            )
        if proj_dim is not None and (not isinstance(proj_dim, int) or proj_dim < 1):
            raise ValueError(f"proj_dim must be None or a positive int, got {proj_dim!r}")
        self.student = student
        self.teacher = teacher.requires_grad_(False).eval()
        s_dim, t_dim = int(student.num_features), int(teacher.num_features)
        self.student_proj: nn.Module
        self.teacher_proj: nn.Module
        if proj_dim is None:
            self.student_proj = nn.Identity() if s_dim == t_dim else nn.Linear(s_dim, t_dim)
            self.teacher_proj = nn.Identity()
            self.embed_dim = t_dim
        else:
            self.student_proj = nn.Linear(s_dim, proj_dim)
            self.teacher_proj = nn.Linear(t_dim, proj_dim)
            self.embed_dim = proj_dim

    def train(self, mode: bool = True) -> SelfMIS:
        """Set train/eval mode of the student and heads; the teacher always stays in eval."""
        super().train(mode)
        self.teacher.eval()
        return self

    def cut_student_view(self, teacher_x: torch.Tensor) -> torch.Tensor:
        """Self-cutting: the student's leads of a teacher input, ``(B, C_t, T) -> (B, C_s, T)``."""
        return select_leads(teacher_x, self.teacher.in_leads, self.student.in_leads)

    def forward(
        self, teacher_x: torch.Tensor, student_x: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(student_emb, teacher_emb)``, each ``(B, embed_dim)``, for the alignment loss."""
        check_encoder_input(
            teacher_x, num_leads=len(self.teacher.in_leads), model="SelfMIS teacher"
        )
        if student_x is None:
            student_x = self.cut_student_view(teacher_x)
        elif student_x.shape[0] != teacher_x.shape[0]:
            raise ValueError(
                f"student_x has batch {student_x.shape[0]} but teacher_x has {teacher_x.shape[0]}"
            )
        student_emb = self.student_proj(self.student.forward_embedding(student_x))
        with torch.no_grad():
            teacher_emb = self.teacher.forward_embedding(teacher_x)
        return student_emb, self.teacher_proj(teacher_emb)

    def export_student(self) -> nn.Module:
        """The trained student encoder alone (the same module object, not a copy), in eval
        mode. Projection heads are not part of it: downstream use reads encoder embeddings."""
        return self.student.eval()


def create_selfmis(
    student: str = "net1d_ecgfounder_lead1",
    teacher: str = "net1d_ecgfounder",
    *,
    proj_dim: int | None = None,
    student_args: Mapping[str, Any] | None = None,
    teacher_args: Mapping[str, Any] | None = None,
) -> SelfMIS:
    """Build a :class:`SelfMIS` pair from registered architecture names.

    Encoders with a classification head (a ``num_classes > 0`` attribute, e.g. Net1D's 150-class
    ``dense``) are rebuilt with ``num_classes=0`` unless ``*_args`` sets it: only embeddings
    enter the loss, and a head would hold trainable parameters that never get a gradient.

    To start from pretrained weights, build the pair from loaded encoders instead:
    ``SelfMIS(load_ecgfounder(p1, num_classes=0), load_ecgfounder(p12, num_classes=0))``.
    """
    encoders = []
    for name, args in ((student, student_args), (teacher, teacher_args)):
        kwargs = dict(args or {})
        enc = create_model(name, **kwargs)
        if getattr(enc, "num_classes", 0) and "num_classes" not in enc.arch_args:
            enc = create_model(name, **{**enc.arch_args, "num_classes": 0})
        encoders.append(enc)
    return SelfMIS(encoders[0], encoders[1], proj_dim=proj_dim)
