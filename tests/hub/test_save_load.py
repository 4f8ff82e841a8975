"""save_pretrained / from_pretrained on local directories: round trips and every failure mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ecgfm.hub import (
    ArchitectureMismatchError,
    PretrainedCard,
    PretrainedEncoder,
    PretrainedNotFoundError,
    WeightsIntegrityError,
    WeightsUnavailableError,
    from_pretrained,
    make_card,
    save_pretrained,
    sha256_file,
)
from ecgfm.hub._io import read_safetensors
from ecgfm.models import create_model


def _windows(n: int = 3, leads: int = 3, length: int = 400, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, leads, length, generator=torch.Generator().manual_seed(seed))


def test_round_trip_is_bit_exact(tmp_path: Path, tiny_model, tiny_card: PretrainedCard) -> None:
    out = save_pretrained(tiny_model, tmp_path / "m", tiny_card)
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    loaded = from_pretrained(out)
    assert isinstance(loaded, PretrainedEncoder) and not loaded.training
    ref, got = tiny_model.state_dict(), loaded.encoder.state_dict()
    assert ref.keys() == got.keys()
    for k in ref:
        assert torch.equal(ref[k], got[k]), k
    x = _windows()
    with torch.inference_mode():
        assert torch.equal(tiny_model.forward_embedding(x), loaded.forward_embedding(x))
        assert torch.equal(tiny_model.forward_features(x), loaded.forward_features(x))
        assert torch.equal(loaded(x), loaded.forward_embedding(x))
    # The card travels, with the file's digest filled in; str paths work too.
    card = from_pretrained(str(out)).card
    assert card.name == "hubtest-tiny" and card.embed_dim == 8
    assert card.weights.sha256 == sha256_file(out / "model.safetensors")
    assert card.input.preset_config == tiny_card.input.preset_config
    assert loaded.pretrained_card is loaded.card
    assert (loaded.num_features, loaded.in_leads, loaded.default_input_length) == (
        8,
        ("I", "II", "V1"),
        400,
    )
    assert loaded.arch_name == "hubtest_tiny"


def test_saved_files_describe_the_model(tmp_path: Path, tiny_model, tiny_card) -> None:
    out = save_pretrained(tiny_model, tmp_path / "m", tiny_card)
    config = json.loads((out / "config.json").read_text())
    assert config["format"] == "ecgfm" and config["format_version"] == 1
    assert config["card"]["arch"] == "hubtest_tiny"
    assert config["card"]["weights"]["file"] == "model.safetensors"
    readme = (out / "README.md").read_text()
    assert readme.startswith("---\nlicense: mit\n")
    assert "# hubtest-tiny" in readme and config["card"]["weights"]["sha256"] in readme
    _, meta = read_safetensors(out / "model.safetensors", what="t")
    assert json.loads(meta["ecgfm"]) == {"arch": "hubtest_tiny", "card": "hubtest-tiny"}


def test_resave_of_a_loaded_model_is_identical(tmp_path: Path, tiny_model, tiny_card) -> None:
    first = save_pretrained(tiny_model, tmp_path / "a", tiny_card)
    loaded = from_pretrained(first)
    second = save_pretrained(loaded, tmp_path / "b")  # card taken from the model
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
    assert json.loads((first / "config.json").read_text()) == json.loads(
        (second / "config.json").read_text()
    )


@pytest.mark.parametrize(("dtype", "tol"), [("float16", 2e-3), ("bfloat16", 2e-2)])
def test_half_storage_close_to_fp32(
    tmp_path: Path, tiny_model, tiny_card, dtype: str, tol: float
) -> None:
    full = save_pretrained(tiny_model, tmp_path / "fp32", tiny_card)
    half = save_pretrained(tiny_model, tmp_path / dtype, tiny_card, storage_dtype=dtype)
    size_full = (full / "model.safetensors").stat().st_size
    size_half = (half / "model.safetensors").stat().st_size
    assert size_half < 0.7 * size_full
    loaded = from_pretrained(half)
    assert loaded.card.weights.storage_dtype == dtype
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = _windows()
    with torch.inference_mode():
        ref = tiny_model.forward_embedding(x)
        got = loaded.forward_embedding(x)
    err = (ref - got).abs().max().item()
    assert 0 < err <= tol * ref.abs().max().item()


def test_device_and_dtype_arguments(tmp_path: Path, tiny_model, tiny_card) -> None:
    out = save_pretrained(tiny_model, tmp_path / "m", tiny_card)
    on_cpu = from_pretrained(out, device="cpu", dtype=torch.float32)
    assert all(p.device.type == "cpu" and p.dtype == torch.float32 for p in on_cpu.parameters())
    m = from_pretrained(out, dtype="bfloat16")
    assert all(p.dtype == torch.bfloat16 for p in m.parameters())
    with pytest.raises(ValueError, match="dtype"):
        from_pretrained(out, dtype="int8")


def test_tampered_weights_are_detected(tmp_path: Path, tiny_model, tiny_card) -> None:
    out = save_pretrained(tiny_model, tmp_path / "m", tiny_card)
    path = out / "model.safetensors"
    from_pretrained(out)  # hashes once (cached)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01  # one bit of one weight
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsIntegrityError, match="sha256"):
        from_pretrained(out)


def test_corrupted_file_without_digest(tmp_path: Path, tiny_model, tiny_card) -> None:
    out = save_pretrained(tiny_model, tmp_path / "m", tiny_card)
    config_path = out / "config.json"
    config = json.loads(config_path.read_text())
    config["card"]["weights"]["sha256"] = None
    config["card"]["weights"]["file"] = None  # a hand-made directory without a checksum
    config_path.write_text(json.dumps(config))
    (out / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(WeightsIntegrityError, match="not a readable safetensors"):
        from_pretrained(out)


def test_architecture_mismatch(tmp_path: Path, tiny_model, tiny_card) -> None:
    out = save_pretrained(tiny_model, tmp_path / "m", tiny_card)
    config_path = out / "config.json"
    config = json.loads(config_path.read_text())
    config["card"]["arch_args"] = {"width": 16}
    config["card"]["embed_dim"] = 16
    config_path.write_text(json.dumps(config))
    with pytest.raises(ArchitectureMismatchError, match=r"shape: .*conv\.weight"):
        from_pretrained(out)
    config["card"]["arch"] = "net1d_small"
    config_path.write_text(json.dumps(config))
    with pytest.raises(ArchitectureMismatchError, match="'hubtest_tiny' but the card says"):
        from_pretrained(out)
    config["card"]["arch"] = "no_such_arch"
    config_path.write_text(json.dumps(config))
    with pytest.raises(ArchitectureMismatchError, match="upgrade ecgfm"):
        from_pretrained(out)


def test_storage_dtype_must_match_card(tmp_path: Path, tiny_model, tiny_card) -> None:
    out = save_pretrained(tiny_model, tmp_path / "m", tiny_card, storage_dtype="float16")
    config_path = out / "config.json"
    config = json.loads(config_path.read_text())
    config["card"]["weights"]["storage_dtype"] = "float32"
    config_path.write_text(json.dumps(config))
    with pytest.raises(WeightsIntegrityError, match="storage_dtype"):
        from_pretrained(out)


def test_missing_and_invalid_directory_contents(tmp_path: Path, tiny_model, tiny_card) -> None:
    out = save_pretrained(tiny_model, tmp_path / "m", tiny_card)
    (out / "model.safetensors").unlink()
    with pytest.raises(WeightsUnavailableError, match=r"model\.safetensors is missing"):
        from_pretrained(out)
    (out / "config.json").write_text("{not json")
    with pytest.raises(WeightsIntegrityError, match="not readable JSON"):
        from_pretrained(out)
    (out / "config.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(WeightsIntegrityError, match="not an ecgfm config"):
        from_pretrained(out)
    (out / "config.json").write_text(json.dumps({"format": "ecgfm", "format_version": 99}))
    with pytest.raises(WeightsIntegrityError, match="upgrade ecgfm"):
        from_pretrained(out)
    (out / "config.json").unlink()
    with pytest.raises(WeightsUnavailableError, match=r"config\.json is missing"):
        from_pretrained(out)


def test_unknown_names_and_paths(tmp_path: Path) -> None:
    with pytest.raises(PretrainedNotFoundError, match="Did you mean 'st-mem-vit-base'"):
        from_pretrained("st-mem-vit-bas")
    with pytest.raises(PretrainedNotFoundError, match="hf-hub:owner/model"):
        from_pretrained("owner/model")
    f = tmp_path / "weights.safetensors"
    f.write_bytes(b"x")
    with pytest.raises(ValueError, match="is a file"):
        from_pretrained(str(f))
    with pytest.raises(WeightsUnavailableError, match="not a directory"):
        from_pretrained(tmp_path / "absent")
    with pytest.raises(TypeError):
        from_pretrained(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="do not apply to a local directory"):
        from_pretrained(tmp_path, revision="v1")


def test_save_validation(tmp_path: Path, tiny_model, tiny_card) -> None:
    with pytest.raises(ValueError, match="needs a card"):
        save_pretrained(tiny_model, tmp_path / "a")
    wrong = tiny_card.replace(num_params=tiny_card.num_params + 1)
    with pytest.raises(ArchitectureMismatchError, match="parameters"):
        save_pretrained(tiny_model, tmp_path / "a", wrong)
    with pytest.raises(ArchitectureMismatchError, match="arch_args"):
        save_pretrained(create_model("hubtest_tiny", width=8, in_leads=("I",)), tmp_path / "a",
                        tiny_card)  # fmt: skip
    with pytest.raises(TypeError, match="not an ecgfm encoder"):
        save_pretrained(torch.nn.Linear(2, 2), tmp_path / "a", tiny_card)
    assert not (tmp_path / "a").exists()


def test_overwrite_rules(tmp_path: Path, tiny_model, tiny_card) -> None:
    out = save_pretrained(tiny_model, tmp_path / "m", tiny_card)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_pretrained(tiny_model, out, tiny_card)
    with torch.no_grad():
        tiny_model.proj.bias.add_(1.0)
    save_pretrained(tiny_model, out, tiny_card, overwrite=True)
    assert torch.equal(from_pretrained(out).encoder.proj.bias, tiny_model.proj.bias)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not an ecgfm directory"):
        save_pretrained(tiny_model, other, tiny_card, overwrite=True)
    assert (other / "notes.txt").read_text() == "keep me"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # temporary directories are cleaned up


def test_make_card_reads_the_model(tiny_model, test_preset) -> None:
    card = make_card(tiny_model, name="x", preset=test_preset, license="MIT", paper="p",
                     training="t")  # fmt: skip
    assert card.arch == "hubtest_tiny" and card.num_params == sum(
        p.numel() for p in tiny_model.parameters()
    )
    assert card.input.fs == 100.0 and card.input.leads == ("I", "II", "V1")
    net = create_model("net1d_small")
    c2 = make_card(net, name="y", preset="ecgfounder", license="MIT", paper="p", training="t")
    assert c2.input.preset == "ecgfounder" and c2.embed_dim == net.num_features
