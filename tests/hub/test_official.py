"""Official checkpoints through the hub: ECGFounder via the HF cache + converter, ST-MEM via a
user file. The real full-size files are not available here (no network, and ST-MEM may not be
redistributed): the conformance fixtures of ../shared (small configurations written by the
official code) stand in, under test-only cards that describe their small architectures. The
built-in cards' full-size architectures are checked by test_registry.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ecgfm.hub import (
    ArchitectureMismatchError,
    WeightsIntegrityError,
    WeightsUnavailableError,
    from_pretrained,
    load_ecgfounder_pretrained,
    load_st_mem,
    pretrained_card,
    save_pretrained,
    sha256_file,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(os.environ.get("ECGFM_SHARED", REPO.parent / "shared")) / "fixtures"
COMMIT = "c" * 40
SMALL_NET1D = {"base_filters": 16, "filter_list": [16, 32, 32, 48, 48, 64, 64], "num_classes": 0}


def _fixture(name: str) -> Path:
    path = FIXTURES / name
    if not path.exists():
        if os.environ.get("ECGFM_ALLOW_MISSING_SHARED") == "1":
            pytest.skip(f"{path} missing")
        pytest.fail(f"shared fixture {path} missing (set ECGFM_SHARED)")
    return path


def _small_ecgfounder_card(lead1: bool = False):
    base = pretrained_card("ecgfounder-lead1" if lead1 else "ecgfounder-12lead")
    return base.replace(
        name="hubtest-ecgfounder-small" + ("-lead1" if lead1 else ""),
        arch_args=SMALL_NET1D,
        embed_dim=64,
        num_params=407_344 if lead1 else 410_160,
    )


@pytest.mark.parametrize("lead1", [False, True])
def test_ecgfounder_through_hf_cache_and_converter(
    hf_env: Path, hf_populate, register_temp, lead1: bool
) -> None:
    """Same repo id and file name as the real entry; the file is the small official fixture."""
    case = "small_1lead" if lead1 else "small_12lead"
    pth = _fixture(f"ecgfounder_{case}.pth")
    io = load_file(str(_fixture(f"ecgfounder_{case}_io.safetensors")))
    card = register_temp(_small_ecgfounder_card(lead1))
    hf_populate(hf_env, "PKUDigitalHealth/ECGFounder", {card.weights.hf_filename: pth},
                commit=COMMIT)  # fmt: skip
    model = from_pretrained(card.name)
    assert model.card is card and model.num_features == 64
    with torch.inference_mode():
        features = model.forward_embedding(io["input"])
    assert (features - io["features"]).abs().max().item() <= 1e-5
    # The real entry resolves to the same cached file but describes the full-size model.
    real = "ecgfounder-lead1" if lead1 else "ecgfounder-12lead"
    with pytest.raises(ArchitectureMismatchError, match="parameters"):
        from_pretrained(real)


def test_ecgfounder_local_file_and_digest(tmp_path: Path, register_temp) -> None:
    pth = _fixture("ecgfounder_small_12lead.pth")
    card = register_temp(
        _small_ecgfounder_card().replace(
            weights=pretrained_card("ecgfounder-12lead").weights.__class__(
                format="ecgfounder",
                hf_repo_id="PKUDigitalHealth/ECGFounder",
                hf_filename="12_lead_ECGFounder.pth",
                sha256=sha256_file(pth),
            )
        )
    )
    model = from_pretrained(card.name, checkpoint_path=pth)
    assert model.num_features == 64
    tampered = tmp_path / "t.pth"
    tampered.write_bytes(pth.read_bytes()[:-1] + bytes([pth.read_bytes()[-1] ^ 1]))
    with pytest.raises(WeightsIntegrityError, match="sha256"):
        from_pretrained(card.name, checkpoint_path=tampered)
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        from_pretrained(card.name, checkpoint_path=tmp_path / "absent.pth")
    with pytest.raises(ArchitectureMismatchError):
        load_ecgfounder_pretrained(pth)  # the real card is full size


def test_ecgfounder_converted_round_trip(tmp_path: Path, register_temp) -> None:
    pth = _fixture("ecgfounder_small_12lead.pth")
    io = load_file(str(_fixture("ecgfounder_small_12lead_io.safetensors")))
    card = register_temp(_small_ecgfounder_card())
    model = from_pretrained(card.name, checkpoint_path=pth)
    out = save_pretrained(model, tmp_path / "converted")
    again = from_pretrained(out)
    x = io["input"][:1, :, :1000]  # the bare Net1D takes any length; short keeps the test fast
    with torch.inference_mode():
        assert torch.equal(again.encoder.forward_embedding(x), model.encoder.forward_embedding(x))
    assert again.card.license == "MIT" and again.card.weights.format == "ecgfm"


def test_st_mem_needs_a_user_file() -> None:
    with pytest.raises(WeightsUnavailableError) as info:
        from_pretrained("st-mem-vit-base")
    msg = str(info.value)
    assert "CC BY-NC 4.0" in msg and "bakqui/ST-MEM" in msg and "checkpoint_path=" in msg


def test_st_mem_from_user_file(tmp_path: Path, register_temp) -> None:
    pth = _fixture("st_mem_small_encoder.pth")
    io = load_file(str(_fixture("st_mem_small_io.safetensors")))
    card = register_temp(
        pretrained_card("st-mem-vit-base").replace(
            name="hubtest-st-mem-small",
            arch_args={"embed_dim": 128, "depth": 2, "num_heads": 2, "mlp_dim": 512},
            embed_dim=128,
            num_params=412_694,
        )
    )
    model = from_pretrained(card.name, checkpoint_path=pth)
    with torch.inference_mode():
        emb = model.forward_embedding(io["input"])
    assert (emb - io["encoder_features"]).abs().max().item() <= 1e-5
    # The full-size entry refuses the small file with a clear mismatch.
    with pytest.raises(ArchitectureMismatchError):
        load_st_mem(pth)
    # A local copy is allowed, and marked as not redistributable.
    out = save_pretrained(model, tmp_path / "st")
    readme = (out / "README.md").read_text()
    assert "Not redistributable" in readme and "license: cc-by-nc-4.0" in readme
    assert not from_pretrained(out).card.weights.redistributable
