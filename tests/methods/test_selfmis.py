"""SelfMISMethod assembles the SelfMIS paper setting and computes exactly the loss of the
building blocks composed by hand (the composition examples/train_selfmis.py used before)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from ecgfm.losses import FeatureRegressionLoss, PatientContrastiveLoss, SigLIPLoss
from ecgfm.methods import SelfMISMethod
from ecgfm.models.selfmis import SelfMIS
from ecgfm.train.encoders import build_encoder
from ecgfm.train.objectives import SelfMISObjective
from ecgfm.train.pretrain_data import DataSources, PretrainData
from ecgfm.train.retrieval import retrieval_recall
from ecgfm.train.rr_targets import RR_TARGET_NAMES, RRTargets
from ecgfm.train.single_lead import SingleLeadRecords
from ecgfm.transforms import functional as Fn
from ecgfm.transforms.views import SelfCut

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("ECGFM_SHARED", REPO.parent / "shared"))
# Small Net1Ds (~0.4 M parameters each): a lead-I student and a 12-lead teacher.
TINY = {"model": "net1d_small", "model_args": {"in_channels": 1}, "teacher": "random",
        "teacher_arch": "net1d_small"}  # fmt: skip
T = 1000  # samples per window: Net1D pools over time, so short windows keep the tests fast


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _hand(proj_dim: int | None, contrast_weight: float) -> SelfMISObjective:
    """The composition of the former examples/train_selfmis.py, in its order."""
    teacher = build_encoder("random", arch="net1d_small", num_leads=12)
    student = build_encoder(None, arch="net1d_small", arch_args={"in_channels": 1})
    pair = SelfMIS(student, teacher, proj_dim=proj_dim)
    loss = SigLIPLoss(1 / 0.07, 0.0)
    contrast = PatientContrastiveLoss(0.1) if contrast_weight else None
    return SelfMISObjective(
        pair, loss, contrast=contrast, contrast_weight=contrast_weight or 1.0, contrast_dim=8
    )


def test_assembles_the_paper_setting() -> None:
    m = SelfMISMethod(**TINY)  # type: ignore[arg-type]
    assert m.name == "selfmis" and m.preset.fs == 500 and m.preset.length == 5000
    assert m.contrast_preset.leads == ("I",) and m.contrast_length == 2500
    assert isinstance(m.views, SelfCut) and m.views.lead == "I"
    assert isinstance(m.loss, SigLIPLoss) and not m.loss.learnable
    assert m.loss._scale == 1 / 0.07 and m.loss._bias == 0.0  # the paper: fixed 1/0.07 and 0
    assert isinstance(m.objective, SelfMISObjective) and m.objective.pair is m.pair
    assert m.pair.student is m.encoder and m.pair.teacher is m.teacher and m.contrast is None
    assert not any(p.requires_grad for p in m.teacher.parameters())
    m.objective.train()
    assert m.encoder.training and not m.teacher.training  # the teacher stays in eval mode


@pytest.mark.parametrize(("proj_dim", "contrast_weight"), [(None, 0.0), (16, 0.5)])
def test_training_loss_equals_the_hand_composition(
    proj_dim: int | None, contrast_weight: float
) -> None:
    torch.manual_seed(0)
    hand = _hand(proj_dim, contrast_weight)
    torch.manual_seed(0)
    m = SelfMISMethod(**TINY, proj_dim=proj_dim, crop_samples=600, contrast_weight=contrast_weight,
                      contrast_dim=8)  # type: ignore[arg-type]  # fmt: skip
    # Same construction order: the same random initialisation for a seed.
    want_state, got_state = hand.state_dict(), m.objective.state_dict()
    assert want_state.keys() == got_state.keys()
    assert all(torch.equal(want_state[k], got_state[k]) for k in want_state)
    x = torch.randn(4, 12, T)
    kw: dict = {}
    if contrast_weight:
        v = torch.randn(6, 1, 400)
        kw = {"views": (v[:3], v[3:]), "view_ids": ["a", "a", "b"]}
    student = Fn.crop(hand.pair.cut_student_view(x), 600, "random", generator=_gen(3))
    want, want_parts = hand(student, teacher_x=x, **kw)
    loss, parts = m.training_loss(m.objective, x, generator=_gen(3), **kw)
    assert torch.equal(loss, want)  # the same operations in the same order: bit-identical
    assert parts == {k: float(v) for k, v in want_parts.items()}
    assert set(parts) == ({"siglip", "contrast"} if contrast_weight else {"siglip"})
    # cached teacher embeddings give the same loss as running the teacher
    cached = m.teacher.forward_embedding(x)
    again, _ = m.training_loss(m.objective, x, teacher_emb=cached, generator=_gen(3), **kw)
    assert torch.equal(again, loss)


def test_the_teacher_gets_no_gradient_and_the_student_does() -> None:
    torch.manual_seed(0)
    m = SelfMISMethod(**TINY, proj_dim=8)  # type: ignore[arg-type]
    m.objective.train()
    loss, _ = m.training_loss(m.objective, torch.randn(4, 12, T))
    loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in m.teacher.parameters())
    # Net1D keeps the BatchNorm modules it never applies (use_bn=False): only their
    # parameters get no gradient; every convolution and linear layer of the student does.
    for name, module in m.encoder.named_modules():
        if isinstance(module, (torch.nn.Conv1d, torch.nn.Linear)):
            assert module.weight.grad is not None and module.weight.grad.abs().sum() > 0, name
    assert all(p.grad is not None for p in m.pair.teacher_proj.parameters())  # trainable head


def test_student_view_shapes() -> None:
    m = SelfMISMethod(**TINY, crop_samples=300)  # type: ignore[arg-type]
    x = torch.randn(3, 12, T)
    assert torch.equal(m.student_view(x, train=False), x[:, :1])  # lead I, no crop
    cut = m.student_view(x, generator=_gen(1))
    assert cut.shape == (3, 1, 300)
    start = int(torch.nonzero(x[0, 0] == cut[0, 0, 0])[0])
    torch.testing.assert_close(cut[0, 0], x[0, 0, start : start + 300], rtol=0, atol=0)


def test_validation_metrics_match_hand_retrieval_with_and_without_cache() -> None:
    torch.manual_seed(0)
    m = SelfMISMethod(**TINY, proj_dim=8)  # type: ignore[arg-type]
    m.objective.eval()
    x = torch.randn(5, 12, T)
    batches = [x[:3], x[3:]]
    got = m.validation_metrics(batches)
    with torch.no_grad():
        q = m.objective.embed_student(x[:, :1])
        k = m.objective.embed_teacher(m.teacher.forward_embedding(x))
    want = retrieval_recall(q, k, (1, 5, 10))
    assert set(got) == {"R@1", "R@5", "R@10", "mean_rank"} and got == want
    with torch.no_grad():
        cached = m.teacher.forward_embedding(x)
    assert m.validation_metrics(batches, teacher_emb=cached) == got


def test_contrast_recordings_are_cinc_and_pretrain_lead_one(tmp_path: Path) -> None:
    ptbxl, cinc = SHARED / "data" / "ptbxl", SHARED / "data" / "cinc2017"
    if not (ptbxl / "ptbxl_database.csv").is_file() or not cinc.is_dir():
        pytest.fail(f"PTB-XL / CinC 2017 subsets not found under {SHARED} (set ECGFM_SHARED)")
    m = SelfMISMethod(**TINY, contrast_weight=1.0, contrast_seconds=2.0)  # type: ignore[arg-type]
    data = PretrainData.build(
        DataSources(ptbxl_root=str(ptbxl), max_ptbxl=3), m.preset, cache_dir=tmp_path
    )
    idx = np.array([2, 0])
    recs, usable = m.contrast_recordings(
        cinc_root=cinc, max_cinc=3, records=(data, idx), cache_dir=tmp_path
    )
    want = SingleLeadRecords.concat([
        SingleLeadRecords.from_cinc2017(cinc, m.contrast_preset, max_records=3, cache_dir=tmp_path),
        SingleLeadRecords.from_pretrain(data, idx, m.contrast_preset),
    ])  # fmt: skip
    assert recs.record_ids == want.record_ids and recs.patient_ids == want.patient_ids
    np.testing.assert_array_equal(recs.signals, want.signals)
    assert m.contrast_length == 1000
    np.testing.assert_array_equal(usable, np.flatnonzero(want.lengths >= 1000))
    assert len(usable) == 5  # 3 CinC recordings (9 s or more) + 2 PTB-XL records of 10 s


def test_rr_term_equals_the_hand_composition_and_trains_a_linear_head() -> None:
    torch.manual_seed(0)
    m = SelfMISMethod(**TINY, rr_weight=0.5)  # type: ignore[arg-type]
    assert m.rr_length == 5000 and isinstance(m.rr_loss, FeatureRegressionLoss)
    head = m.objective.regression_head
    assert isinstance(head, torch.nn.Linear) and head.out_features == len(RR_TARGET_NAMES)
    g = _gen(4)
    x, w = torch.randn(3, 12, T, generator=g), torch.randn(4, 1, 700, generator=g)
    target = torch.randn(4, len(RR_TARGET_NAMES), generator=g)
    valid = torch.tensor([True, True, False, True])
    loss, parts = m.training_loss(m.objective, x, rr_windows=w, rr_target=target, rr_valid=valid)
    plain, _ = m.training_loss(m.objective, x)
    pred = head(m.encoder.forward_embedding(w))
    want = FeatureRegressionLoss()(pred, target, valid)
    assert set(parts) == {"siglip", "regression"} and parts["regression"] == float(want.detach())
    torch.testing.assert_close(loss, plain + 0.5 * want)
    loss.backward()
    assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in m.teacher.parameters())


def test_rr_weight_zero_builds_exactly_the_former_objective() -> None:
    torch.manual_seed(0)
    a = SelfMISMethod(**TINY).objective.state_dict()  # type: ignore[arg-type]
    torch.manual_seed(0)
    b = SelfMISMethod(**TINY, rr_weight=0.0).objective.state_dict()  # type: ignore[arg-type]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not any(k.startswith("regression") for k in a)


def test_rr_targets_are_fitted_on_windows_of_the_recordings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = SelfMISMethod(**TINY, rr_weight=1.0)  # type: ignore[arg-type]
    lengths = [6000, 4000, 5000]  # the second is shorter than one 5000-sample window
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    sig = np.random.default_rng(0).normal(size=offsets[-1]).astype(np.float32)
    recs = SingleLeadRecords(sig, offsets, list("abc"), list("abc"), ["t"] * 3,
                             m.contrast_preset)  # fmt: skip
    seen = {}

    def fake_fit(windows: torch.Tensor, fs: float) -> str:
        seen.update(shape=tuple(windows.shape), fs=fs)
        return "fitted"

    monkeypatch.setattr(RRTargets, "fit", staticmethod(fake_fit))
    assert m.rr_targets(recs, np.array([0, 2]), sample=16, seed=1) == "fitted"
    assert seen == {"shape": (16, 1, 5000), "fs": 500}
    with pytest.raises(ValueError, match="no recording"):
        m.rr_targets(recs, np.array([], dtype=np.int64))
