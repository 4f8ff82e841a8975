"""SelfMIS wrapper: frozen teacher, self-cutting, projection heads, export."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ecgfm.models import create_model
from ecgfm.models.net1d import Net1D
from ecgfm.models.selfmis import SelfMIS, create_selfmis

T = 600


def _pair(proj_dim: int | None = None, **student_args: object) -> SelfMIS:
    torch.manual_seed(0)
    return create_selfmis(
        "net1d_small",
        "net1d_small",
        proj_dim=proj_dim,
        student_args={"in_channels": 1, **student_args},
    )


def _loss(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    # any loss coupling both sides works for gradient-flow checks
    return -(nn.functional.normalize(s, dim=-1) * nn.functional.normalize(t, dim=-1)).sum()


def test_returns_embedding_pair_and_self_cuts_lead_i() -> None:
    pair = _pair().eval()
    x = torch.randn(3, 12, T)
    with torch.no_grad():
        s, t = pair(x)
        assert s.shape == t.shape == (3, 64)
        torch.testing.assert_close(s, pair.student.forward_embedding(x[:, :1]))
        torch.testing.assert_close(t, pair.teacher.forward_embedding(x))
        s2, _ = pair(x, student_x=x[:, :1])
        torch.testing.assert_close(s2, s)
    torch.testing.assert_close(pair.cut_student_view(x), x[:, :1])


def test_teacher_frozen_student_trained() -> None:
    pair = _pair().train()
    x = torch.randn(4, 12, T)
    s, t = pair(x)
    assert s.requires_grad and not t.requires_grad
    _loss(s, t).backward()
    assert all(p.grad is None for p in pair.teacher.parameters())
    assert all(not p.requires_grad for p in pair.teacher.parameters())
    trainable = [(n, p) for n, p in pair.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("student.") for n, _ in trainable)
    for name, p in trainable:
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_optimizer_step_changes_only_the_student() -> None:
    pair = _pair().train()
    teacher_before = {k: v.clone() for k, v in pair.teacher.state_dict().items()}
    student_before = {k: v.clone() for k, v in pair.student.state_dict().items()}
    opt = torch.optim.AdamW(pair.parameters(), lr=1e-2, weight_decay=0.1)
    _loss(*pair(torch.randn(4, 12, T))).backward()
    opt.step()
    for k, v in pair.teacher.state_dict().items():
        assert torch.equal(v, teacher_before[k]), k
    assert any(not torch.equal(v, student_before[k]) for k, v in pair.student.state_dict().items())


def test_teacher_stays_in_eval_mode() -> None:
    torch.manual_seed(0)
    student = create_model("net1d_small", in_channels=1, use_do=True)
    teacher = create_model("net1d_small", use_do=True)
    pair = SelfMIS(student, teacher).train()
    assert pair.training and pair.student.training and not pair.teacher.training
    x = torch.randn(2, 12, T)
    _, t1 = pair(x)
    _, t2 = pair(x)
    assert torch.equal(t1, t2)  # dropout inactive in the teacher
    pair.eval()
    assert not pair.student.training


def test_projection_heads_when_widths_differ() -> None:
    pair = _pair(filter_list=(16, 32, 32, 48, 48, 64, 32))
    assert isinstance(pair.student_proj, nn.Linear) and pair.student_proj.out_features == 64
    assert isinstance(pair.teacher_proj, nn.Identity) and pair.embed_dim == 64
    s, t = pair(torch.randn(2, 12, T))
    assert s.shape == t.shape == (2, 64)

    pair = _pair(proj_dim=16).train()
    assert pair.embed_dim == 16
    s, t = pair(torch.randn(2, 12, T))
    assert s.shape == t.shape == (2, 16)
    _loss(s, t).backward()
    # the teacher-side head learns through the detached teacher embedding; the teacher does not
    assert pair.teacher_proj.weight.grad is not None
    assert all(p.grad is None for p in pair.teacher.parameters())


def test_create_selfmis_defaults_to_ecgfounder_without_heads() -> None:
    with torch.device("meta"):
        pair = create_selfmis()
    assert isinstance(pair.student, Net1D) and isinstance(pair.teacher, Net1D)
    assert pair.student.in_leads == ("I",) and pair.teacher.in_channels == 12
    assert pair.student.num_classes == pair.teacher.num_classes == 0
    assert pair.student.arch_args == {"num_classes": 0}
    # 61.32 M for the pair in the SelfMIS paper = the two ECGFounder backbones without head
    assert sum(p.numel() for p in pair.parameters()) == 30_654_000 + 30_665_264


def test_export_student_is_the_student_alone() -> None:
    pair = _pair(proj_dim=8).train()
    student = pair.export_student()
    assert student is pair.student and not student.training
    assert not any(k.startswith(("teacher", "student_proj")) for k in student.state_dict())
    assert student.forward_embedding(torch.randn(1, 1, T)).shape == (1, 64)


def test_validation() -> None:
    a = create_model("net1d_small", in_channels=1)
    with pytest.raises(ValueError, match="separate encoders"):
        SelfMIS(a, a)
    with pytest.raises(TypeError, match="lacks the encoder interface"):
        SelfMIS(a, nn.Linear(2, 2))

    class OtherFamily(Net1D):
        pass

    with pytest.raises(TypeError, match="same encoder family"):
        SelfMIS(a, OtherFamily(base_filters=16, filter_list=(16, 32, 32, 48, 48, 64, 64)))
    v1 = create_model("net1d_small", in_channels=1, in_leads=("V1",))
    limbs = create_model("net1d_small", in_channels=2, in_leads=("I", "II"))
    with pytest.raises(ValueError, match="cannot be cut"):
        SelfMIS(v1, limbs)
    with pytest.raises(ValueError, match="proj_dim"):
        SelfMIS(a, create_model("net1d_small"), proj_dim=0)
    pair = _pair()
    with pytest.raises(ValueError, match="expects 12 leads"):
        pair(torch.randn(2, 1, T))
    with pytest.raises(ValueError, match="batch"):
        pair(torch.randn(2, 12, T), student_x=torch.randn(3, 1, T))
    with pytest.raises(ValueError, match=r"x\[None\]"):
        pair(torch.randn(12, T))


def test_lead_iii_student_is_derived_from_the_teacher_input() -> None:
    torch.manual_seed(0)
    student = create_model("net1d_small", in_channels=1, in_leads=("III",))
    pair = SelfMIS(student, create_model("net1d_small", in_channels=2, in_leads=("I", "II")))
    x = torch.randn(2, 2, T)
    torch.testing.assert_close(pair.cut_student_view(x), x[:, 1:2] - x[:, 0:1])
