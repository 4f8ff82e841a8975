"""The method modules assemble what their papers describe and compute the same loss as the
building blocks composed by hand."""

from __future__ import annotations

import pytest
import torch

from ecgfm.losses import HybridLoss, InfoNCELoss, MaskedReconstructionLoss
from ecgfm.methods import STMEM, DualView, HybridLearning
from ecgfm.models.hl_vit import HLPretrain
from ecgfm.train.objectives import ContrastiveObjective, HybridObjective
from ecgfm.transforms.views import CMSC, Interleave, Stochastic

ST_TINY = {"depth": 1, "embed_dim": 32, "num_heads": 2, "mlp_dim": 64}
ST_DEC = {"decoder_dim": 32, "decoder_depth": 1, "decoder_num_heads": 2}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_st_mem_assembles_the_paper_setting_and_its_loss() -> None:
    torch.manual_seed(0)
    m = STMEM(model_args=ST_TINY, decoder_args=ST_DEC)
    assert m.preset.fs == 250 and m.preset.length == 2250
    assert m.objective.mask_ratio == 0.75 and m.objective.norm_pix_loss
    assert m.objective.encoder is m.encoder
    x = torch.randn(2, 12, 2250)
    loss, parts = m.training_loss(m.objective, x, generator=_gen(3))
    out = m.objective(x, generator=_gen(3))
    assert parts == {}
    torch.testing.assert_close(
        loss, MaskedReconstructionLoss("mse")(out.pred, out.target, out.mask)
    )
    torch.testing.assert_close(loss, out.loss)  # the model's own loss is the same function
    a = m.validation_metrics([x[:1], x[1:]], seed=5)
    assert a == m.validation_metrics([x[:1], x[1:]], seed=5)  # same masks at every call
    assert set(a) == {"recon_mse"} and a["recon_mse"] > 0


def test_hl_assembles_hybrid_objective_and_matches_hand_composition() -> None:
    torch.manual_seed(0)
    m = HybridLearning("hl_vit_p250_d2_w256", model_args={"embed_dim": 32, "num_heads": 2})
    assert isinstance(m.objective, HybridObjective) and isinstance(m.loss, HybridLoss)
    assert isinstance(m.objective.model, HLPretrain) and m.objective.model.encoder is m.encoder
    assert isinstance(m.views, Stochastic) and m.preset.fs == 250
    x = torch.randn(4, 12, 2500)
    ids = torch.tensor([0, 0, 1, 2])
    total, parts = m.training_loss(m.objective, x, ids, generator=_gen(1), mask_generator=_gen(2))
    v0, v1 = m.views(x, generator=_gen(1), check_finite=False)
    want, want_parts = m.objective(x, v0.x, v1.x, ids, generator=_gen(2))
    torch.testing.assert_close(total, want)
    assert set(parts) == {f"loss/{k}" for k in want_parts}
    metrics = m.validation_metrics([x], seed=4)
    assert set(metrics) >= {"recon_l1", "R@1", "R@5"}


@pytest.mark.parametrize(
    ("views", "kind", "length"),
    [("cmsc", CMSC, 500), ("interleave", Interleave, 500), ("stochastic", Stochastic, 1000)],
)
def test_dualview_views_and_loss(views: str, kind: type, length: int) -> None:
    torch.manual_seed(0)
    m = DualView("dualview_small", views=views, fs=100.0)  # type: ignore[arg-type]
    assert isinstance(m.views, kind) and m.preset.fs == 100 and m.preset.length == 1000
    assert isinstance(m.objective, ContrastiveObjective) and isinstance(m.loss, InfoNCELoss)
    assert m.encoder.default_input_length == length
    x = torch.randn(4, 12, 1000)
    loss, _ = m.training_loss(m.objective, x.clone(), generator=_gen(7))
    v0, v1 = m.views(x.clone(), generator=_gen(7))
    torch.testing.assert_close(loss, m.objective(v0.x.contiguous(), v1.x.contiguous()))


def test_dualview_rejects_unknown_views() -> None:
    with pytest.raises(ValueError, match="views must be one of"):
        DualView("dualview_small", views="mixup", fs=100.0)  # type: ignore[arg-type]
