"""ECGFounder checkpoint conversion against the official-code fixtures in ../shared/fixtures."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from ecgfm._deprecated import upgrade_arch_args
from ecgfm.convert.ecgfounder import (
    ecgfounder_state_dict_to_ecgfm,
    infer_net1d_args,
    load_ecgfounder,
    load_official_checkpoint,
)
from ecgfm.models import create_model
from ecgfm.models.net1d import Net1D

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(os.environ.get("ECGFM_SHARED", REPO.parent / "shared")).resolve() / "fixtures"
CASES = ["small_12lead", "small_1lead", "small_12lead_bn", "small_12lead_ddp_prefixed"]
SMALL_ARGS = {"base_filters": 16, "filter_list": (16, 32, 32, 48, 48, 64, 64)}


def _fixture(name: str) -> Path:
    path = FIXTURES / name
    if not path.exists():
        pytest.fail(f"conformance fixture missing: {path} (set ECGFM_SHARED to shared/)")
    return path


def _io_name(case: str) -> str:
    return "small_12lead" if case == "small_12lead_ddp_prefixed" else case


def _official_sd(case: str) -> dict[str, torch.Tensor]:
    ckpt = torch.load(_fixture(f"ecgfounder_{case}.pth"), map_location="cpu", weights_only=True)
    return ckpt["state_dict"]


def _is_bn(key: str) -> bool:
    return key.split(".")[-2].startswith(("bn", "first_bn"))


@pytest.mark.parametrize("case", CASES)
def test_fixture_outputs_reproduced(case: str) -> None:
    spec = json.loads(_fixture("ecgfounder_small_cases.json").read_text())[_io_name(case)]
    use_bn = spec["constructor"]["use_bn"]
    model = load_ecgfounder(_fixture(f"ecgfounder_{case}.pth"), use_bn=use_bn)
    io = load_file(_fixture(f"ecgfounder_{_io_name(case)}_io.safetensors"))
    assert not model.training
    assert model.in_channels == spec["constructor"]["in_channels"]
    assert sum(p.numel() for p in model.parameters()) == spec["num_parameters"]
    with torch.no_grad():
        logits = model(io["input"])
        features = model.forward_embedding(io["input"])
    assert (logits - io["logits"]).abs().max() <= 1e-5
    assert (features - io["features"]).abs().max() <= 1e-5


@pytest.mark.parametrize("case", CASES)
def test_every_key_mapped_or_dropped_exactly(case: str) -> None:
    sd = _official_sd(case)
    use_bn = case.endswith("_bn")
    new_sd, report = ecgfounder_state_dict_to_ecgfm(sd, use_bn=use_bn)
    prefix = "module." if case.endswith("prefixed") else ""
    assert report.stripped_prefix == (prefix or None)
    bn_keys = {k for k in sd if _is_bn(k[len(prefix) :])}
    assert len(bn_keys) == 5 * (1 + 3 * 20)
    assert set(report.mapped) | set(report.dropped) == set(sd)
    assert not set(report.mapped) & set(report.dropped)
    assert set(report.dropped) == (set() if use_bn else bn_keys)
    assert set(report.mapped.values()) == set(new_sd)
    model = create_model("net1d_ecgfounder", **SMALL_ARGS, use_bn=use_bn)
    assert set(model.state_dict()) == set(new_sd)
    for old, new in report.mapped.items():
        assert new_sd[new] is sd[old]  # renamed, not copied or altered


def test_mapping_examples() -> None:
    _, report = ecgfounder_state_dict_to_ecgfm(_official_sd("small_12lead_bn"), use_bn=True)
    assert report.mapped["first_conv.conv.weight"] == "stem_conv.weight"
    assert report.mapped["first_bn.running_var"] == "stem_norm.running_var"
    assert report.mapped["stage_list.3.block_list.2.conv2.conv.bias"] == "stages.3.2.conv2.bias"
    assert report.mapped["stage_list.6.block_list.3.bn1.weight"] == "stages.6.3.norm1.weight"
    assert report.mapped["stage_list.0.block_list.1.se_fc2.weight"] == "stages.0.1.se.fc2.weight"
    assert report.mapped["dense.bias"] == "head.bias"
    assert "mapped 509 keys" in report.summary()


@pytest.mark.parametrize("variant", ["12lead", "1lead"])
@pytest.mark.parametrize("use_bn", [False, True])
def test_full_size_key_list_maps_completely_with_shapes(variant: str, use_bn: bool) -> None:
    spec = json.loads(_fixture("ecgfounder_net1d_full_size_keys.json").read_text())[variant]
    sd = {k: torch.empty(shape, device="meta") for k, shape in spec["state_dict_keys"]}
    sd = {k: v.long() if k.endswith("num_batches_tracked") else v for k, v in sd.items()}
    new_sd, report = ecgfounder_state_dict_to_ecgfm(sd, use_bn=use_bn)
    assert set(report.mapped) | set(report.dropped) == set(sd)
    assert len(report.dropped) == (0 if use_bn else 305)
    args = infer_net1d_args(sd)
    ctor = spec["constructor"]  # the official class's arguments: n_classes is num_classes
    assert args == upgrade_arch_args(
        {
            k: tuple(v) if isinstance(v, list) else v
            for k, v in ctor.items()
            if k not in ("stride", "use_bn", "use_do")
        }
    )
    name = "net1d_ecgfounder" if variant == "12lead" else "net1d_ecgfounder_lead1"
    with torch.device("meta"):
        model = create_model(name, use_bn=use_bn)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in new_sd.items()} == expected
    model.load_state_dict(new_sd, strict=True, assign=True)
    n_params = sum(math.prod(s) for k, s in spec["state_dict_keys"] if "running" not in k)
    n_params -= sum(1 for k, _ in spec["state_dict_keys"] if k.endswith("num_batches_tracked"))
    assert n_params == spec["num_parameters"] == sum(p.numel() for p in model.parameters())


def test_checkpoint_without_dense_gives_a_pure_encoder(tmp_path: Path) -> None:
    sd = {k: v for k, v in _official_sd("small_1lead").items() if not k.startswith("dense.")}
    path = tmp_path / "encoder_only.pth"
    torch.save({"state_dict": sd, "epoch": 3}, path)
    model = load_ecgfounder(path)
    assert model.num_classes == 0 and model.in_leads == ("I",)
    io = load_file(_fixture("ecgfounder_small_1lead_io.safetensors"))
    with torch.no_grad():
        out = model(io["input"])  # no head: forward is the embedding
    assert (out - io["features"]).abs().max() <= 1e-5
    assert model.conversion_report.ignored_entries == ("epoch",)
    with pytest.raises(ValueError, match="no head"):
        load_ecgfounder(path, num_classes=150)


def test_drop_head_and_num_classes_choices() -> None:
    path = _fixture("ecgfounder_small_12lead.pth")
    encoder = load_ecgfounder(path, num_classes=0)
    assert encoder.num_classes == 0
    assert set(encoder.conversion_report.dropped) >= {"dense.weight", "dense.bias"}
    assert encoder.arch_name == "net1d_ecgfounder"
    assert encoder.arch_args == {**SMALL_ARGS, "num_classes": 0}
    with pytest.raises(ValueError, match="reset_classifier"):
        load_ecgfounder(path, num_classes=10)
    with pytest.raises(ValueError, match="expected a 1-lead model"):
        load_ecgfounder(path, num_leads=1)
    assert load_ecgfounder(path, num_leads=12).num_classes == 150


def test_safetensors_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in _official_sd("small_12lead").items()}, str(path))
    model = load_ecgfounder(path)
    io = load_file(_fixture("ecgfounder_small_12lead_io.safetensors"))
    with torch.no_grad():
        assert (model(io["input"]) - io["logits"]).abs().max() <= 1e-5


class _NotATensor:
    """A picklable object that ``weights_only=True`` must refuse to reconstruct."""


def test_refuses_pickles_with_arbitrary_objects(tmp_path: Path) -> None:
    path = tmp_path / "unsafe.pth"
    torch.save({"state_dict": _official_sd("small_12lead"), "extra": _NotATensor()}, path)
    with pytest.raises(ValueError, match=r"refusing to load .*weights_only=True"):
        load_official_checkpoint(path)
    with pytest.raises(FileNotFoundError):
        load_official_checkpoint(tmp_path / "missing.pth")


def test_bad_checkpoints_get_clear_errors() -> None:
    sd = dict(_official_sd("small_12lead"))
    with pytest.raises(ValueError, match=r"not part of an ECGFounder Net1D.*encoder\.blocks"):
        ecgfounder_state_dict_to_ecgfm({**sd, "encoder.blocks.0.weight": torch.zeros(1)})
    missing = {k: v for k, v in sd.items() if k != "stage_list.2.block_list.1.conv2.conv.weight"}
    with pytest.raises(ValueError, match=r"incomplete.*stage_list\.2\.block_list\.1\.conv2"):
        ecgfounder_state_dict_to_ecgfm(missing)
    nan = {**sd, "dense.weight": torch.full_like(sd["dense.weight"], float("nan"))}
    with pytest.raises(ValueError, match=r"'dense\.weight' contains NaN"):
        ecgfounder_state_dict_to_ecgfm(nan)
    mixed = {("module." + k if i % 2 else k): v for i, (k, v) in enumerate(sd.items())}
    with pytest.raises(ValueError, match="mixes keys"):
        ecgfounder_state_dict_to_ecgfm(mixed)
    with pytest.raises(ValueError, match="not an ECGFounder checkpoint"):
        ecgfounder_state_dict_to_ecgfm({"model": sd, "epoch": 1})
    gap = {k: v for k, v in sd.items() if not k.startswith("stage_list.3.")}
    with pytest.raises(ValueError, match=r"stages \[0, 1, 2, 4, 5, 6\]"):
        ecgfounder_state_dict_to_ecgfm(gap)


def test_use_bn_mismatch_fails_strict_load() -> None:
    # BN-trained weights converted for a use_bn=False model lose nothing silently: loading the
    # with-BN conversion into a use_bn=False model is a strict-load error.
    new_sd, _ = ecgfounder_state_dict_to_ecgfm(_official_sd("small_12lead_bn"), use_bn=True)
    model = create_model("net1d_ecgfounder", **SMALL_ARGS, use_bn=False)
    assert isinstance(model, Net1D)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        model.load_state_dict(new_sd)


# --- use_bn cannot be read from the file: loud warnings ------------------------------------------


def _bn_at_init(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    init = {"running_mean": 0.0, "running_var": 1.0, "weight": 1.0, "bias": 0.0}
    out = dict(sd)
    for key, value in sd.items():
        suffix = key.rpartition(".")[2]
        if _is_bn(key):
            out[key] = (
                torch.zeros_like(value)
                if suffix == "num_batches_tracked"
                else (torch.full_like(value, init[suffix]))
            )
    return out


def _convert_warnings(
    sd: dict[str, torch.Tensor], use_bn: bool, caplog: pytest.LogCaptureFixture
) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ecgfm.convert.ecgfounder"):
        _, report = ecgfounder_state_dict_to_ecgfm(sd, use_bn=use_bn, source="ckpt.pth")
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert logged == [f"ckpt.pth: {w}" for w in report.warnings]
    return report.warnings


def test_dropping_batchnorm_always_warns(caplog: pytest.LogCaptureFixture) -> None:
    official_like = _bn_at_init(_official_sd("small_12lead"))
    (msg,) = _convert_warnings(official_like, False, caplog)
    assert "are dropped (use_bn=False)" in msg and "pass use_bn=True" in msg
    assert "initial values" in msg and "cannot prove" in msg
    no_bn = {k: v for k, v in official_like.items() if not _is_bn(k)}
    assert _convert_warnings(no_bn, False, caplog) == []


def test_trained_looking_batchnorm_gets_a_strong_warning(caplog: pytest.LogCaptureFixture) -> None:
    # The synthetic fixtures randomise the BN tensors of every case: "may have been trained".
    (msg,) = _convert_warnings(_official_sd("small_12lead_bn"), False, caplog)
    assert "may have been trained WITH BatchNorm" in msg and "WRONG" in msg
    tracked = _official_sd("small_12lead_bn")
    tracked["first_bn.num_batches_tracked"] = torch.tensor(1200)
    (msg,) = _convert_warnings(tracked, False, caplog)
    assert msg.startswith("1 of ") and "almost certainly trained WITH BatchNorm" in msg
    assert "pass use_bn=True" in msg
    assert _convert_warnings(tracked, True, caplog) == []


def test_use_bn_true_on_untouched_batchnorm_warns(caplog: pytest.LogCaptureFixture) -> None:
    (msg,) = _convert_warnings(_bn_at_init(_official_sd("small_12lead")), True, caplog)
    assert "never trained" in msg and "use_bn=False" in msg


def test_load_ecgfounder_names_the_file_in_the_warning(caplog: pytest.LogCaptureFixture) -> None:
    path = _fixture("ecgfounder_small_12lead_bn.pth")
    with caplog.at_level(logging.WARNING, logger="ecgfm.convert.ecgfounder"):
        model = load_ecgfounder(path)
    assert f"{path}: " in caplog.text and "use_bn=True" in caplog.text
    assert model.conversion_report.warnings and not model.use_bn
