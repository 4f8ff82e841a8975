"""load_encoder / build_encoder: every weight format, head removal, fingerprints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import safetensors.torch
import torch

from ecgfm.models import create_model
from ecgfm.train.encoders import build_encoder, load_encoder, state_fingerprint, strip_head

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("ECGFM_SHARED", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures"


@pytest.mark.parametrize(("case", "arch_args"), [("12lead", {}), ("1lead", {"in_channels": 1})])
def test_official_pth_reproduces_the_reference_embedding(case: str, arch_args: dict) -> None:
    path = FIXTURES / f"ecgfounder_small_{case}.pth"
    if not path.is_file():
        pytest.fail(f"conformance fixture missing: {path}")
    enc = load_encoder(path)
    io = safetensors.torch.load_file(str(FIXTURES / f"ecgfounder_small_{case}_io.safetensors"))
    with torch.no_grad():
        torch.testing.assert_close(enc.forward_embedding(io["input"]), io["features"],
                                   atol=1e-5, rtol=0)  # fmt: skip
    assert not enc.training and enc.num_classes == 0  # head dropped for pre-training
    # recognised as the registered small configuration, so it can be exported and reloaded
    assert enc.arch_name == "net1d_small" and enc.arch_args == arch_args


def test_plain_state_dict_needs_an_architecture(tmp_path: Path) -> None:
    enc = create_model("net1d_small")
    plain = tmp_path / "plain.safetensors"
    safetensors.torch.save_file(enc.state_dict(), str(plain))
    with pytest.raises(ValueError, match="architecture"):
        load_encoder(plain)
    back = load_encoder(plain, arch="net1d_small")
    assert state_fingerprint(back) == state_fingerprint(enc)
    assert state_fingerprint(build_encoder(str(plain), arch="net1d_small")) == state_fingerprint(
        enc
    )
    with pytest.raises(ValueError, match="does not fit"):
        load_encoder(plain, arch="net1d_small", arch_args={"in_channels": 1})


def test_metadata_architecture_wins_over_fallback_and_conflicts_raise(tmp_path: Path) -> None:
    from ecgfm.train.checkpoint import export_encoder

    with pytest.warns(DeprecationWarning, match="export_encoder"):  # a file of earlier releases
        path = export_encoder(create_model("net1d_small"), tmp_path / "e.safetensors")
    assert load_encoder(path, fallback_arch="net1d_ecgfounder").arch_name == "net1d_small"
    with pytest.raises(ValueError, match="not 'net1d_ecgfounder'"):
        load_encoder(path, arch="net1d_ecgfounder")
    with pytest.raises(ValueError, match="expected a 1-lead"):
        load_encoder(path, num_leads=1)


def test_hub_directory(tmp_path: Path) -> None:
    from ecgfm.hub import make_card, save_pretrained

    enc = create_model("net1d_small")
    card = make_card(enc, name="test-small", preset="ecgfounder", license="MIT", paper="-",
                     training="unit test")  # fmt: skip
    save_pretrained(enc, tmp_path / "dir", card)
    back = load_encoder(tmp_path / "dir")
    assert state_fingerprint(back) == state_fingerprint(enc)


def test_missing_files_and_unknown_formats(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_encoder(tmp_path / "nope.safetensors")
    (tmp_path / "w.onnx").write_bytes(b"x")
    with pytest.raises(ValueError, match="unsupported"):
        load_encoder(tmp_path / "w.onnx")


def test_random_build_strips_the_head_and_checks_leads() -> None:
    enc = build_encoder("random", arch="net1d_small", arch_args={"num_classes": 5})
    assert enc.num_classes == 0 and enc.arch_args["num_classes"] == 0
    assert isinstance(enc.head, torch.nn.Identity)
    with pytest.raises(ValueError, match="lead"):
        build_encoder(None, arch="net1d_small", arch_args={"in_channels": 1}, num_leads=12)


def test_strip_head_refuses_heads_it_cannot_remove() -> None:
    vit = create_model("hl_vit_p250_d2_w256", num_classes=3)
    with pytest.raises(ValueError, match="reset_classifier"):
        strip_head(vit)


def test_fingerprint_sees_every_weight() -> None:
    a = create_model("net1d_small")
    fp = state_fingerprint(a)
    assert fp == state_fingerprint(a) and len(fp) == 64
    with torch.no_grad():
        next(iter(a.parameters())).view(-1)[0] += 1e-6
    assert state_fingerprint(a) != fp
