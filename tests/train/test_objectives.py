"""Objective modules: cached-teacher path = teacher path, gradients reach only what they should."""

from __future__ import annotations

import pytest
import torch

from ecgfm.losses import (
    FeatureRegressionLoss,
    HybridLoss,
    InfoNCELoss,
    PatientContrastiveLoss,
    SigLIPLoss,
)
from ecgfm.models import create_model
from ecgfm.models.hl_vit import HLPretrain
from ecgfm.models.selfmis import SelfMIS
from ecgfm.train.objectives import ContrastiveObjective, HybridObjective, SelfMISObjective


def _selfmis(proj_dim: int | None = None, learnable: bool = False) -> SelfMISObjective:
    torch.manual_seed(0)
    student = create_model("net1d_small", in_channels=1, filter_list=(16, 32, 32, 48, 48, 64, 32))
    teacher = create_model("net1d_small")
    return SelfMISObjective(
        SelfMIS(student, teacher, proj_dim=proj_dim), SigLIPLoss(learnable=learnable)
    )


@pytest.mark.parametrize("proj_dim", [None, 16])
def test_cached_teacher_embeddings_give_the_same_loss_and_gradients(proj_dim: int | None) -> None:
    obj = _selfmis(proj_dim)
    x = torch.randn(4, 12, 600, generator=torch.Generator().manual_seed(1))
    s = obj.pair.cut_student_view(x)
    direct, parts = obj(s, teacher_x=x)
    assert set(parts) == {"siglip"} and not parts["siglip"].requires_grad
    direct.backward()
    grads = {n: p.grad.clone() for n, p in obj.named_parameters() if p.grad is not None}
    obj.zero_grad()
    with torch.no_grad():
        emb = obj.pair.teacher.forward_embedding(x)
    cached, _ = obj(s, teacher_emb=emb)
    cached.backward()
    torch.testing.assert_close(cached, direct)
    for n, p in obj.named_parameters():
        if n.startswith("pair.teacher."):
            assert p.grad is None  # frozen teacher never gets a gradient
        elif n in grads:
            torch.testing.assert_close(p.grad, grads[n])
    # widths differ (32 vs 64): a student->teacher head exists and is trained
    assert "pair.student_proj.weight" in grads
    if proj_dim:
        assert "pair.teacher_proj.weight" in grads


def test_learnable_logits_are_parameters_of_the_objective() -> None:
    obj = _selfmis(learnable=True)
    names = {n for n, p in obj.named_parameters() if p.requires_grad}
    assert {"loss.log_scale", "loss.bias"} <= names  # inside the module DDP synchronises


def test_selfmis_objective_rejects_ambiguous_teacher_input() -> None:
    obj = _selfmis()
    x = torch.randn(2, 12, 600)
    with pytest.raises(ValueError, match="exactly one"):
        obj(obj.pair.cut_student_view(x))
    with pytest.raises(ValueError, match="exactly one"):
        obj(obj.pair.cut_student_view(x), teacher_x=x, teacher_emb=torch.zeros(2, 64))
    with pytest.raises(ValueError, match="batch"):
        obj(obj.pair.cut_student_view(x), teacher_emb=torch.zeros(3, 64))
    with pytest.raises(TypeError):
        SelfMISObjective(torch.nn.Linear(2, 2), SigLIPLoss())  # type: ignore[arg-type]


def _with_contrast(weight: float, loss: torch.nn.Module) -> SelfMISObjective:
    base = _selfmis()
    torch.manual_seed(1)
    return SelfMISObjective(
        base.pair, base.loss, contrast=loss, contrast_weight=weight, contrast_dim=8
    ).eval()


def test_contrast_term_adds_the_weighted_patient_loss_of_the_student_views() -> None:
    obj = _with_contrast(0.5, PatientContrastiveLoss(0.1))
    g = torch.Generator().manual_seed(2)
    x, v0, v1 = torch.randn(4, 12, 600, generator=g), *torch.randn(2, 3, 1, 300, generator=g)
    ids = ["cinc-a", "cinc-b", "cinc-a"]
    s = obj.pair.cut_student_view(x)
    siglip, _ = obj(s, teacher_x=x)
    total, parts = obj(s, teacher_x=x, views=(v0, v1), view_ids=ids)
    # independent recomputation: the same student, head and loss applied view by view
    z0 = obj.contrast_head(obj.pair.student.forward_embedding(v0))
    z1 = obj.contrast_head(obj.pair.student.forward_embedding(v1))
    want = PatientContrastiveLoss(0.1)(z0, z1, ids)
    torch.testing.assert_close(parts["contrast"], want.detach())
    torch.testing.assert_close(total, siglip + 0.5 * want)
    total.backward()
    assert obj.contrast_head[0].weight.grad is not None  # the head is trained
    assert all(p.grad is None for p in obj.pair.teacher.parameters())


def test_contrast_term_with_infonce_needs_no_ids_and_bad_uses_are_refused() -> None:
    obj = _with_contrast(1.0, InfoNCELoss(0.1))
    x, v = torch.randn(2, 12, 600), torch.randn(2, 1, 300)
    s = obj.pair.cut_student_view(x)
    _, parts = obj(s, teacher_x=x, views=(v, v.flip(-1)))
    assert set(parts) == {"siglip", "contrast"}
    with pytest.raises(ValueError, match="shape"):
        obj(s, teacher_x=x, views=(v, v[:1]))
    with pytest.raises(ValueError, match="view_ids"):
        _with_contrast(1.0, PatientContrastiveLoss())(s, teacher_x=x, views=(v, v))
    with pytest.raises(ValueError, match="contrast="):
        _selfmis()(s, teacher_x=x, views=(v, v))
    with pytest.raises(ValueError, match="contrast_weight"):
        _with_contrast(0.0, InfoNCELoss())


def test_contrastive_objective_equals_the_loss_on_separate_embeddings() -> None:
    torch.manual_seed(0)
    enc = create_model("dualview_small", input_length=200, embed_dim=32, num_heads=2)
    obj = ContrastiveObjective(enc, InfoNCELoss(0.1), proj_dim=8).eval()
    v0, v1 = torch.randn(3, 12, 200), torch.randn(3, 12, 200)
    want = InfoNCELoss(0.1)(obj.embed(v0), obj.embed(v1))
    torch.testing.assert_close(obj(v0, v1), want)
    assert obj.embed(v0).shape == (3, 8)
    assert isinstance(ContrastiveObjective(enc, InfoNCELoss(), proj_dim=0).head, torch.nn.Identity)
    with pytest.raises(ValueError, match="shape"):
        obj(v0, v1[:2])
    with pytest.raises(ValueError, match="proj_dim"):
        ContrastiveObjective(enc, InfoNCELoss(), proj_dim=-1)


def test_hybrid_objective_is_the_weighted_sum_of_its_parts() -> None:
    torch.manual_seed(0)
    enc = create_model("hl_vit_p250_d2_w256", depth=1)
    model = HLPretrain(enc, decoder_dim=32, decoder_depth=1, decoder_num_heads=2)
    obj = HybridObjective(model, HybridLoss((1.0, 0.5, 2.0)))
    x = torch.randn(4, 12, 2500)
    ids = torch.tensor([0, 0, 1, 2])
    total, parts = obj(x, x + 0.1, x - 0.1, ids, generator=torch.Generator().manual_seed(0))
    assert set(parts) == {"reconstruction", "patient", "sample"}
    want = parts["reconstruction"] + 0.5 * parts["patient"] + 2.0 * parts["sample"]
    torch.testing.assert_close(total.detach(), want)
    total.backward()
    assert enc.patch_embed.weight.grad is not None and model.projector[0].weight.grad is not None
    with pytest.raises(TypeError):
        HybridObjective(enc, HybridLoss())  # type: ignore[arg-type]


def _with_regression(weight: float, dim: int = 5) -> SelfMISObjective:
    base = _selfmis()
    return SelfMISObjective(
        base.pair, base.loss, regression=FeatureRegressionLoss(), regression_weight=weight,
        regression_dim=dim,
    )  # fmt: skip


def test_regression_term_adds_the_weighted_masked_mse_of_a_linear_head() -> None:
    obj = _with_regression(0.25)
    assert isinstance(obj.regression_head, torch.nn.Linear)  # linear: the probe's reading
    assert obj.regression_head.out_features == 5
    g = torch.Generator().manual_seed(3)
    x, r = torch.randn(4, 12, 600, generator=g), torch.randn(3, 1, 500, generator=g)
    target = torch.randn(3, 5, generator=g)
    valid = torch.tensor([True, False, True])
    target[1] = float("nan")  # an invalid row's undefined targets do not count
    s = obj.pair.cut_student_view(x)
    siglip, _ = obj(s, teacher_x=x)
    total, parts = obj(s, teacher_x=x, regression_x=r, regression_target=target,
                       regression_valid=valid)  # fmt: skip
    pred = obj.regression_head(obj.pair.student.forward_embedding(r))
    want = ((pred[valid] - target[valid]) ** 2).mean()
    torch.testing.assert_close(parts["regression"], want.detach())
    torch.testing.assert_close(total, siglip + 0.25 * want)
    assert set(parts) == {"siglip", "regression"}
    total.backward()
    assert obj.regression_head.weight.grad is not None
    assert all(p.grad is None for p in obj.pair.teacher.parameters())


def test_regression_term_bad_uses_are_refused() -> None:
    x, r = torch.randn(2, 12, 600), torch.randn(2, 1, 300)
    s = _selfmis().pair.cut_student_view(x)
    with pytest.raises(ValueError, match="regression="):
        _selfmis()(s, teacher_x=x, regression_x=r, regression_target=torch.zeros(2, 5))
    with pytest.raises(ValueError, match="needs regression_target"):
        _with_regression(1.0)(s, teacher_x=x, regression_x=r)
    with pytest.raises(ValueError, match="without regression_x"):
        _with_regression(1.0)(s, teacher_x=x, regression_target=torch.zeros(2, 5))
    with pytest.raises(ValueError, match="head's width"):
        _with_regression(1.0, dim=4)(s, teacher_x=x, regression_x=r,
                                     regression_target=torch.zeros(2, 5))  # fmt: skip
    with pytest.raises(ValueError, match="regression_weight"):
        _with_regression(0.0)
    with pytest.raises(ValueError, match="regression_dim"):
        _with_regression(1.0, dim=0)
