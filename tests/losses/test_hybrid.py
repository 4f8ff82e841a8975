from __future__ import annotations

import math

import pytest
import torch
from _loss_reference import infonce as infonce_ref
from _loss_reference import masked_reconstruction as recon_ref
from _loss_reference import patient as patient_ref

from ecgfm.losses import (
    HybridLoss,
    HybridLossOutput,
    InfoNCELoss,
    MaskedReconstructionLoss,
    PatientContrastiveLoss,
)


def _inputs(seed: int = 0, batch: int = 6) -> dict:
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(batch, 10, 8, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randn(batch, 10, 8, generator=g, dtype=torch.float64)
    mask = torch.rand(batch, 10, generator=g) < 0.6
    mask[0, 0] = True
    z0 = torch.randn(batch, 5, generator=g, dtype=torch.float64, requires_grad=True)
    z1 = torch.randn(batch, 5, generator=g, dtype=torch.float64, requires_grad=True)
    patient_ids = [1, 2, 1, 3, 2, 4][:batch]
    return dict(pred=pred, target=target, mask=mask, z0=z0, z1=z1, patient_ids=patient_ids)


def _reference_parts(x: dict) -> list[torch.Tensor]:
    return [
        recon_ref(x["pred"], x["target"], x["mask"], "l1"),
        patient_ref(x["z0"], x["z1"], x["patient_ids"], 0.1),
        infonce_ref(x["z0"], x["z1"], 0.1),
    ]


def test_default_is_the_paper_sum_of_three_parts() -> None:
    x = _inputs()
    loss = HybridLoss()
    assert loss.weights.tolist() == [1.0, 1.0, 1.0] and loss.weighting == "fixed"
    assert loss.reconstruction.metric == "l1"
    assert loss.patient.temperature == 0.1 and loss.sample.temperature == 0.1
    out = loss(**x)
    assert isinstance(out, HybridLossOutput)
    ref = _reference_parts(x)
    torch.testing.assert_close(out.total, sum(ref), rtol=1e-10, atol=1e-12)
    for got, want in zip((out.reconstruction, out.patient, out.sample), ref, strict=True):
        torch.testing.assert_close(got, want.detach(), rtol=1e-10, atol=1e-12)
        assert not got.requires_grad
    tensors = (x["pred"], x["z0"], x["z1"])
    got_grads = torch.autograd.grad(out.total, tensors)
    want_grads = torch.autograd.grad(sum(ref), tensors)
    for a, b in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


def test_weights_scale_parts_and_zero_switches_off() -> None:
    x = _inputs(seed=1)
    ref = [p.detach() for p in _reference_parts(x)]
    out = HybridLoss((2.0, 0.5, 0.0))(**x)
    torch.testing.assert_close(out.total.detach(), 2 * ref[0] + 0.5 * ref[1])
    assert out.sample is None
    torch.testing.assert_close(out.weights, torch.tensor([2.0, 0.5, 0.0], dtype=torch.float64))
    # Generative-only and contrastive-only need only their own inputs.
    gl = HybridLoss((1, 0, 0))(pred=x["pred"], target=x["target"], mask=x["mask"])
    torch.testing.assert_close(gl.total.detach(), ref[0])
    assert gl.patient is None and gl.sample is None
    cl = HybridLoss((0, 1, 1))(z0=x["z0"], z1=x["z1"], patient_ids=x["patient_ids"])
    torch.testing.assert_close(cl.total.detach(), ref[1] + ref[2])


def test_separate_patient_level_embeddings() -> None:
    x = _inputs(seed=2)
    g = torch.Generator().manual_seed(9)
    p0, p1 = torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g)
    out = HybridLoss()(**{**x, "patient_ids": [5, 5, 6, 7]}, patient_z0=p0, patient_z1=p1)
    want = PatientContrastiveLoss(0.1)(p0, p1, [5, 5, 6, 7])
    torch.testing.assert_close(out.patient, want)


def test_uncertainty_weighting() -> None:
    x = _inputs(seed=3)
    ref = [p.detach() for p in _reference_parts(x)]
    loss = HybridLoss(weighting="uncertainty")
    assert loss.log_vars.shape == (3,)
    out = loss(**x)
    # At initialisation (s = 0) it equals the fixed 1:1:1 sum.
    torch.testing.assert_close(out.total.detach(), sum(ref), rtol=1e-6, atol=1e-6)
    out.total.backward()
    # d/ds_k [exp(-s_k) L_k + s_k] at s = 0 is 1 - L_k.
    want_grad = torch.tensor([1 - float(r) for r in ref])
    torch.testing.assert_close(loss.log_vars.grad, want_grad, rtol=1e-6, atol=1e-6)
    weighted = HybridLoss((1.0, 2.0, 1.0), weighting="uncertainty")
    with torch.no_grad():
        weighted.log_vars.copy_(torch.tensor([0.5, -1.0, 2.0]))
    res = weighted(**x)
    s = [0.5, -1.0, 2.0]
    w = [1.0, 2.0, 1.0]
    want = sum(w[k] * (math.exp(-s[k]) * float(ref[k]) + s[k]) for k in range(3))
    assert float(res.total.detach()) == pytest.approx(want, rel=1e-6)
    torch.testing.assert_close(
        res.weights,
        torch.tensor([w[k] * math.exp(-s[k]) for k in range(3)], dtype=torch.float64),
        rtol=1e-6,
        atol=1e-7,
    )


def test_log_dict() -> None:
    out = HybridLoss((1, 0, 1))(**_inputs())
    logged = out.log_dict()
    assert set(logged) == {"loss", "loss/reconstruction", "loss/sample"}
    assert all(isinstance(v, float) and math.isfinite(v) for v in logged.values())
    assert logged["loss"] == pytest.approx(logged["loss/reconstruction"] + logged["loss/sample"])


def test_custom_parts_are_used() -> None:
    x = _inputs(seed=4)
    loss = HybridLoss(
        reconstruction=MaskedReconstructionLoss("mse", norm_pix=True),
        sample=InfoNCELoss(0.5, include_intra_view=True),
    )
    out = loss(**x)
    want_r = recon_ref(x["pred"], x["target"], x["mask"], "mse", norm_pix=True)
    want_s = infonce_ref(x["z0"], x["z1"], 0.5, include_intra_view=True)
    torch.testing.assert_close(out.reconstruction, want_r.detach())
    torch.testing.assert_close(out.sample, want_s.detach())


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="three numbers"):
        HybridLoss((1.0, 1.0))
    with pytest.raises(ValueError, match="finite and >= 0"):
        HybridLoss((1.0, -1.0, 1.0))
    with pytest.raises(ValueError, match="finite and >= 0"):
        HybridLoss((1.0, math.nan, 1.0))
    with pytest.raises(ValueError, match="all weights are 0"):
        HybridLoss((0, 0, 0))
    with pytest.raises(TypeError, match="must be a number"):
        HybridLoss((1, "1", 1))
    with pytest.raises(ValueError, match="weighting must be"):
        HybridLoss(weighting="dynamic")
    with pytest.raises(TypeError, match="must be an instance of InfoNCELoss"):
        HybridLoss(sample=PatientContrastiveLoss())
    with pytest.raises(ValueError, match="make them agree"):
        HybridLoss(sample=InfoNCELoss(gather_distributed=True))
    x = _inputs()
    with pytest.raises(ValueError, match="reconstruction part has weight > 0"):
        HybridLoss()(z0=x["z0"], z1=x["z1"], patient_ids=x["patient_ids"])
    with pytest.raises(ValueError, match="patient part has weight > 0"):
        HybridLoss()(pred=x["pred"], target=x["target"], z0=x["z0"], z1=x["z1"])
    with pytest.raises(TypeError):
        HybridLoss()(x["pred"], x["target"])  # keyword-only
