"""ST-MEM converter: conformance with the official forward pass, full-size key lists, errors."""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ecgfm.convert.st_mem import (
    check_state_dict_fits,
    convert_st_mem_encoder,
    convert_st_mem_pretrain,
    infer_st_mem_config,
    load_st_mem_encoder,
    load_st_mem_pretrain,
)
from ecgfm.models.st_mem import STMEMPretrain, STMEMViT, st_mem_pretrain_base, st_mem_vit_base

TOL = 1e-5
DUPLICATES = {f"to_patch_embedding.{i}.{p}" for i in (1, 2, 3) for p in ("weight", "bias")}


@pytest.fixture(scope="module")
def io(fixtures_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(fixtures_dir / "st_mem_small_io.safetensors"))


@pytest.fixture(scope="module")
def encoder_path(fixtures_dir: Path) -> Path:
    return fixtures_dir / "st_mem_small_encoder.pth"


@pytest.fixture(scope="module")
def pretrain_path(fixtures_dir: Path) -> Path:
    return fixtures_dir / "st_mem_small_pretrain.pth"


def official_sd(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


# ---------------------------------------------------------------------------------------------
# conformance with the official outputs


def test_encoder_reproduces_official_outputs(encoder_path: Path, io) -> None:
    model = load_st_mem_encoder(encoder_path)
    assert not model.training
    with torch.no_grad():
        features = model.forward_embedding(io["input"])
        tokens = model.forward_features(io["input"])
    assert (features - io["encoder_features"]).abs().max() <= TOL
    assert (tokens - io["encoder_tokens_mask0"]).abs().max() <= TOL


def test_pretrain_reproduces_official_outputs(pretrain_path: Path, io) -> None:
    model = load_st_mem_pretrain(pretrain_path)
    with torch.no_grad():
        latent, ids = model.forward_encoder(io["input"], mask_ratio=0.0)
        pred = model.forward_decoder(latent, ids.ids_restore)
        out = model(io["input"], mask_ratio=0.0)
    assert (latent.flatten(1, 2) - io["encoder_tokens_mask0"]).abs().max() <= TOL
    assert (pred - io["decoder_pred_mask0"]).abs().max() <= TOL
    assert (out.pred - io["decoder_pred_mask0"]).abs().max() <= TOL
    assert model.norm_pix_loss is True  # from the checkpoint's config
    assert model.encoder.default_input_length == 2250 and model.encoder.num_features == 128


def test_encoder_from_pretrain_checkpoint(pretrain_path: Path, io) -> None:
    model = load_st_mem_encoder(pretrain_path)
    with torch.no_grad():
        features = model.forward_embedding(io["input"])
    assert (features - io["encoder_features"]).abs().max() <= TOL
    report = model.conversion_report
    sd = official_sd(pretrain_path)
    encoder_keys = {k for k in sd if k.startswith("encoder.")}
    assert set(report.mapped) == encoder_keys
    assert set(report.dropped) == set(sd) - encoder_keys
    assert all("duplicate" in report.dropped[k] for k in DUPLICATES)


# ---------------------------------------------------------------------------------------------
# exact key accounting


def test_encoder_report_maps_every_key(encoder_path: Path) -> None:
    sd = official_sd(encoder_path)
    new_sd, report = convert_st_mem_encoder(torch.load(encoder_path, weights_only=True))
    assert set(report.mapped) == set(sd) and report.dropped == {}
    assert report.ignored_entries == ("epoch", "optimizer", "scaler")
    assert report.mapped["block1.attn.fn.to_out.0.weight"] == "blocks.1.attn.proj.weight"
    assert report.mapped["lead_embeddings.11"] == "lead_embed[11]"
    assert new_sd["lead_embed"].shape == (12, 128)
    for i in range(12):
        assert torch.equal(new_sd["lead_embed"][i], sd[f"lead_embeddings.{i}"])


def test_pretrain_report_drops_exactly_the_duplicate(pretrain_path: Path) -> None:
    sd = official_sd(pretrain_path)
    new_sd, report = convert_st_mem_pretrain(sd)
    assert set(report.dropped) == DUPLICATES
    assert set(report.mapped) == set(sd) - DUPLICATES
    assert report.mapped["encoder.sep_embedding"] == "encoder.sep_token"
    assert report.mapped["mask_embedding"] == "mask_token"
    assert new_sd["mask_token"].shape == (128,)


def test_pretrain_with_ddp_prefix(pretrain_path: Path, io) -> None:
    sd = official_sd(pretrain_path)
    prefixed = OrderedDict((f"module.{k}", v) for k, v in sd.items())
    new_sd, report = convert_st_mem_pretrain(prefixed)
    assert report.stripped_prefix == "module."
    assert set(report.dropped) == {f"module.{k}" for k in DUPLICATES}
    assert set(new_sd) == set(convert_st_mem_pretrain(sd)[0])


# ---------------------------------------------------------------------------------------------
# full-size key lists (shapes only: meta tensors, no memory, no values)


def fake_state_dict(entries: list) -> dict[str, torch.Tensor]:
    return {key: torch.empty(shape, device="meta") for key, shape in entries}


@pytest.fixture(scope="module")
def full_size(fixtures_dir: Path) -> dict:
    return json.loads((fixtures_dir / "st_mem_full_size_keys.json").read_text())


def test_full_size_encoder_keys_map_completely(full_size: dict) -> None:
    entry = full_size["st_mem_vit_base_encoder"]
    sd = fake_state_dict(entry["state_dict_keys"])
    assert len(sd) == 166
    args = infer_st_mem_config(sd)
    assert args["embed_dim"] == 768 and args["depth"] == 12 and args["num_heads"] == 12
    assert args["mlp_dim"] == 3072 and args["seq_len"] == 2250 and args["patch_size"] == 75
    new_sd, report = convert_st_mem_encoder(sd)
    assert set(report.mapped) == set(sd) and not report.dropped
    with torch.device("meta"):
        model = STMEMViT(**args)
        registered = st_mem_vit_base()
    check_state_dict_fits(new_sd, model)
    check_state_dict_fits(new_sd, registered)
    assert sum(p.numel() for p in model.parameters()) == entry["num_parameters"]


def test_full_size_pretrain_keys_map_completely(full_size: dict) -> None:
    entry = full_size["st_mem_vit_base_dec256d4b_pretrain"]
    sd = fake_state_dict(entry["state_dict_keys"])
    assert len(sd) == 228
    args = infer_st_mem_config(sd)
    decoder = args.pop("decoder")
    assert decoder["decoder_dim"] == 256 and decoder["decoder_depth"] == 4
    assert decoder["decoder_num_heads"] == 4 and decoder["decoder_mlp_ratio"] == 4
    new_sd, report = convert_st_mem_pretrain(sd)
    assert set(report.dropped) == DUPLICATES
    assert set(report.mapped) | set(report.dropped) == set(sd)
    with torch.device("meta"):
        model = STMEMPretrain(STMEMViT(**args), **decoder)
        registered = st_mem_pretrain_base()
    check_state_dict_fits(new_sd, model)
    check_state_dict_fits(new_sd, registered)
    assert sum(p.numel() for p in model.parameters()) == entry["num_parameters"]


# ---------------------------------------------------------------------------------------------
# checkpoints that do not fit


def test_edited_duplicate_is_refused(pretrain_path: Path) -> None:
    sd = dict(official_sd(pretrain_path))
    sd["to_patch_embedding.2.bias"] = sd["to_patch_embedding.2.bias"] + 1.0
    with pytest.raises(
        ValueError, match=re.escape("differs from 'encoder.to_patch_embedding.2.bias'")
    ):
        convert_st_mem_pretrain(sd)


def test_unknown_key_is_refused(encoder_path: Path) -> None:
    sd = dict(official_sd(encoder_path))
    sd["cls_token"] = torch.zeros(128)
    with pytest.raises(
        ValueError, match=re.escape("not part of an ST-MEM encoder, e.g. ['cls_token']")
    ):
        convert_st_mem_encoder(sd)


def test_missing_and_misshaped_keys_are_reported(encoder_path: Path) -> None:
    new_sd, _ = convert_st_mem_encoder(official_sd(encoder_path))
    model = STMEMViT(seq_len=2250, embed_dim=128, depth=2, num_heads=2, mlp_dim=512)
    check_state_dict_fits(new_sd, model)
    broken = dict(new_sd)
    del broken["blocks.1.norm2.bias"]
    broken["norm.weight"] = torch.zeros(64)
    with pytest.raises(ValueError, match=r"missing \['blocks.1.norm2.bias'\].*norm.weight"):
        check_state_dict_fits(broken, model)


def test_gapped_lead_embeddings_are_refused(encoder_path: Path) -> None:
    sd = dict(official_sd(encoder_path))
    del sd["lead_embeddings.3"]
    with pytest.raises(ValueError, match=re.escape("numbered 0..L-1")):
        convert_st_mem_encoder(sd)


def test_non_finite_weight_is_refused(encoder_path: Path) -> None:
    sd = dict(official_sd(encoder_path))
    sd["norm.bias"] = torch.full((128,), float("nan"))
    with pytest.raises(ValueError, match="NaN or Inf"):
        convert_st_mem_encoder(sd)


def test_wrong_file_kinds(tmp_path: Path, encoder_path: Path, pretrain_path: Path) -> None:
    with pytest.raises(ValueError, match="holds an encoder only"):
        load_st_mem_pretrain(encoder_path)
    bad = tmp_path / "other.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, bad)
    with pytest.raises(ValueError, match="not an ST-MEM checkpoint"):
        load_st_mem_encoder(bad)
    with pytest.raises(FileNotFoundError):
        load_st_mem_encoder(tmp_path / "missing.pth")


class _Payload:
    """An arbitrary object: weights_only loading must refuse to unpickle it."""


def test_arbitrary_pickle_is_refused(tmp_path: Path, encoder_path: Path) -> None:
    ckpt = torch.load(encoder_path, weights_only=True)
    ckpt["extra"] = _Payload()
    path = tmp_path / "unsafe.pth"
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match="weights_only"):
        load_st_mem_encoder(path)


def test_fine_tuned_head_kept_or_dropped(tmp_path: Path, encoder_path: Path, io) -> None:
    ckpt = torch.load(encoder_path, weights_only=True)
    torch.manual_seed(0)
    ckpt["model"]["head.weight"] = torch.randn(5, 128)
    ckpt["model"]["head.bias"] = torch.randn(5)
    path = tmp_path / "finetuned.pth"
    torch.save(ckpt, path)
    dropped = load_st_mem_encoder(path)
    assert set(dropped.conversion_report.dropped) == {"head.weight", "head.bias"}
    kept = load_st_mem_encoder(path, keep_head=True)
    assert not kept.conversion_report.dropped
    with torch.no_grad():
        logits = kept(io["input"])
    expected = io["encoder_features"] @ ckpt["model"]["head.weight"].T + ckpt["model"]["head.bias"]
    assert (logits - expected).abs().max() <= 1e-4


def test_reduced_lead_use_after_conversion(encoder_path: Path, io) -> None:
    """A converted model encodes a lead subset with those leads' embeddings (not a broadcast)."""
    model = load_st_mem_encoder(encoder_path, in_leads=("I",))
    x = io["input"][:, :1]
    with torch.no_grad():
        tokens = model.forward_features(x)
        other = model.forward_features(x, leads=("V1",))
    assert tokens.shape == (2, 32, 128)
    assert (tokens - other).abs().max() > 1e-3
