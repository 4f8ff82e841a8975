"""One loop over every registered architecture: the encoder interface of ``ecgfm.models._base``.

Architectures whose forward pass is expensive on a CPU (estimated on the meta device: more than
1 GMac per record, or more than 20 M parameters, which includes the full ECGFounder Net1D and
ST-MEM ViT-B) are marked ``slow``; run them with ``pytest -m slow tests/models/test_all_models.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ecgfm.leads import normalize_lead_names
from ecgfm.models import create_model, list_models, register_model
from ecgfm.models.selfmis import create_selfmis

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(os.environ.get("ECGFM_SHARED", REPO.parent / "shared")).resolve() / "fixtures"

MAX_FAST_GMAC = 1.0
MAX_FAST_PARAMS = 20_000_000
BATCH = 2


def _cost(name: str) -> tuple[int, float]:
    """(parameters, GMac per record) of ``name`` at its default input, on the meta device."""
    with torch.device("meta"):
        model = create_model(name).eval()
    n_params = sum(p.numel() for p in model.parameters())
    try:
        x = torch.empty(1, len(model.in_leads), model.default_input_length, device="meta")
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model.forward_embedding(x)
        gmac = counter.get_total_flops() / 2e9
    except Exception:  # not meta-compatible: judge by size only
        gmac = 0.0
    return n_params, gmac


def _params(names: list[str]) -> list[pytest.ParameterSet]:
    out = []
    for name in names:
        n_params, gmac = _cost(name)
        slow = gmac > MAX_FAST_GMAC or n_params > MAX_FAST_PARAMS
        out.append(pytest.param(name, id=name, marks=[pytest.mark.slow] if slow else []))
    return out


ARCHS = _params(list_models())


def _build(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return create_model(name)


def _input(model: nn.Module, batch: int = BATCH, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, len(model.in_leads), model.default_input_length, generator=gen)


def _tensors(out: object) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    return []


def _projection_loss(out: object) -> torch.Tensor:
    """A loss with a generic gradient: a fixed random projection of every output tensor.

    (A plain ``.sum()`` can have an identically-zero gradient, e.g. after a LayerNorm.)
    """
    gen = torch.Generator().manual_seed(7)
    floats = [t for t in _tensors(out) if t.is_floating_point() and t.requires_grad]
    assert floats, "forward returned no differentiable tensor"
    return sum((t * torch.randn(t.shape, generator=gen)).sum() for t in floats)


# --- interface ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in list_models()])
def test_interface_attributes(name: str) -> None:
    with torch.device("meta"):
        model = create_model(name)
    assert model.arch_name == name and model.arch_args == {}
    assert isinstance(model.in_leads, tuple) and model.in_leads
    assert normalize_lead_names(model.in_leads) == model.in_leads  # canonical spellings
    assert isinstance(model.default_input_length, int) and model.default_input_length > 0
    assert isinstance(model.num_features, int) and model.num_features > 0
    for method in ("forward_features", "forward_embedding", "forward"):
        assert callable(getattr(model, method)), method


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in list_models()])
def test_input_validation(name: str) -> None:
    with torch.device("meta"):
        model = create_model(name).eval()
    c, t = len(model.in_leads), model.default_input_length
    with pytest.raises(ValueError, match="lead"):
        model.forward_embedding(torch.zeros(1, c + 1, t))
    with pytest.raises(TypeError, match="float"):
        model.forward_embedding(torch.zeros(1, c, t, dtype=torch.int16))
    with pytest.raises(ValueError, match=r"\(B, C, T\)"):
        model.forward_embedding(torch.zeros(c, t))


@pytest.mark.parametrize("name", ARCHS)
def test_forward_shapes_finite_deterministic(name: str) -> None:
    model = _build(name).eval()
    x = _input(model)
    d = model.num_features
    with torch.no_grad():
        feats = model.forward_features(x)
        emb = model.forward_embedding(x)
        emb_again = model.forward_embedding(x)
        single = model.forward_embedding(x[:1])
        out = model(x)
    assert feats.ndim == 3 and feats.shape[0] == BATCH
    assert d in (feats.shape[1], feats.shape[2]), f"feature map {tuple(feats.shape)} vs D={d}"
    assert emb.shape == (BATCH, d) and emb.dtype == torch.float32
    assert torch.isfinite(feats).all() and torch.isfinite(emb).all()
    assert torch.equal(emb, emb_again), "eval forward is not deterministic"
    torch.testing.assert_close(single, emb[:1], atol=1e-4, rtol=1e-4)  # no cross-sample mixing
    for t in _tensors(out):
        assert t.shape[0] == BATCH and torch.isfinite(t).all()


@pytest.mark.parametrize("name", ARCHS)
def test_backward_reaches_every_trainable_parameter(name: str) -> None:
    model = _build(name).train()
    _projection_loss(model(_input(model))).backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable
    no_grad = [n for n, p in trainable if p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad[:8]}"
    zero = [n for n, p in trainable if not p.grad.abs().sum() > 0]
    assert not zero, f"parameters with an all-zero gradient: {zero[:8]}"
    assert all(torch.isfinite(p.grad).all() for _, p in trainable)


@pytest.mark.parametrize("name", ARCHS)
def test_frozen_teacher_gets_no_gradient(name: str) -> None:
    torch.manual_seed(0)
    pair = create_selfmis(name, name).train()  # classification heads removed, as for training
    assert not pair.teacher.training
    student_emb, teacher_emb = pair(_input(pair.teacher))
    assert not teacher_emb.requires_grad
    _projection_loss((student_emb, teacher_emb)).backward()
    assert all(p.grad is None for p in pair.teacher.parameters())
    assert all(p.grad is not None for p in pair.student.parameters() if p.requires_grad)


# --- reference configurations -------------------------------------------------------------------

REFERENCE_PARAMETERS = {
    # ECGFounder Net1D with the 150-class head (issue; official class incl. inert BatchNorm)
    "net1d_ecgfounder": 30_819_014,
    "net1d_ecgfounder_lead1": 30_807_750,
    # ST-MEM ViT-B/75 encoder of the released checkpoint
    "st_mem_vit_base": 85_150_614,
}


@pytest.mark.parametrize(("name", "expected"), list(REFERENCE_PARAMETERS.items()))
def test_reference_parameter_counts(name: str, expected: int) -> None:
    with torch.device("meta"):
        model = create_model(name)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_reference_counts_agree_with_the_official_key_lists() -> None:
    net1d = json.loads((FIXTURES / "ecgfounder_net1d_full_size_keys.json").read_text())
    st_mem = json.loads((FIXTURES / "st_mem_full_size_keys.json").read_text())
    assert net1d["12lead"]["num_parameters"] == REFERENCE_PARAMETERS["net1d_ecgfounder"]
    assert net1d["1lead"]["num_parameters"] == REFERENCE_PARAMETERS["net1d_ecgfounder_lead1"]
    assert (
        st_mem["st_mem_vit_base_encoder"]["num_parameters"]
        == REFERENCE_PARAMETERS["st_mem_vit_base"]
    )


def test_duplicate_registration_is_an_error() -> None:
    name = list_models()[0]
    with pytest.raises(ValueError, match="already registered"):
        register_model(name)(lambda **kw: nn.Identity())
    assert len(list_models()) == len(set(list_models()))
