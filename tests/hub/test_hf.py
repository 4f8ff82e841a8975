"""Hugging Face path: huggingface_hub's real download code on a pre-populated cache, offline.

The cache under tmp_path is written in the layout huggingface_hub uses (``models--owner--repo/
{blobs,snapshots/<commit>,refs/<ref>}``); ``HF_HOME`` and ``HF_HUB_OFFLINE=1`` are set after
huggingface_hub was imported, which ecgfm must honour (it reads them at call time).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ecgfm.hub import (
    PretrainedCard,
    PretrainedNotFoundError,
    WeightsIntegrityError,
    WeightsSpec,
    WeightsUnavailableError,
    from_pretrained,
    save_pretrained,
    sha256_file,
)
from ecgfm.hub._hf import hf_cache_dir, hf_offline, parse_hf_id

COMMIT_A = "a" * 40
COMMIT_B = "b" * 40


def _saved(tmp_path: Path, model, card: PretrainedCard, sub: str) -> dict[str, Path]:
    out = save_pretrained(model, tmp_path / sub, card)
    return {p.name: p for p in out.iterdir()}


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_environment_is_read_at_call_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    # huggingface_hub's own switch is fixed when it is imported (an earlier test may have
    # imported it with HF_HUB_OFFLINE=1): off here, so that only the environment decides.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert hf_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    assert hf_cache_dir() == tmp_path / "cache"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hf_offline()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert not hf_offline()
    assert parse_hf_id("hf-hub:owner/repo") == "owner/repo"
    with pytest.raises(ValueError, match="owner/repo"):
        parse_hf_id("hf-hub:owner")


def test_hf_hub_id_loads_from_cache(
    hf_env: Path, hf_populate, tmp_path: Path, tiny_model, tiny_card
) -> None:
    files = _saved(tmp_path, tiny_model, tiny_card, "m")
    snapshot = hf_populate(hf_env, "ecgfm/tiny", files, commit=COMMIT_A)
    model = from_pretrained("hf-hub:ecgfm/tiny")
    assert _same_weights(model.encoder, tiny_model)
    assert model.card.name == "hubtest-tiny"
    # The files really came from the cache snapshot (a symlink into blobs/).
    assert (snapshot / "model.safetensors").is_symlink()


def test_revisions(hf_env: Path, hf_populate, tmp_path: Path, tiny_model, tiny_card) -> None:
    v1 = _saved(tmp_path, tiny_model, tiny_card, "v1")
    with torch.no_grad():
        tiny_model.proj.bias.add_(0.5)
    v2 = _saved(tmp_path, tiny_model, tiny_card, "v2")
    hf_populate(hf_env, "ecgfm/tiny", v1, commit=COMMIT_A, refs=("main",))
    hf_populate(hf_env, "ecgfm/tiny", v2, commit=COMMIT_B, refs=("v2.0",))
    main = from_pretrained("hf-hub:ecgfm/tiny")
    tagged = from_pretrained("hf-hub:ecgfm/tiny", revision="v2.0")
    by_commit = from_pretrained("hf-hub:ecgfm/tiny", revision=COMMIT_A)
    assert _same_weights(tagged.encoder, tiny_model)
    assert not _same_weights(main.encoder, tiny_model)
    assert _same_weights(by_commit.encoder, main.encoder)
    with pytest.raises(WeightsUnavailableError, match="revision 'v9'"):
        from_pretrained("hf-hub:ecgfm/tiny", revision="v9")


def test_offline_empty_cache_says_how_to_fix(hf_env: Path) -> None:
    with pytest.raises(WeightsUnavailableError) as info:
        from_pretrained("hf-hub:ecgfm/absent")
    msg = str(info.value)
    assert "HF_HUB_OFFLINE is set" in msg and str(hf_env) in msg
    assert "hf download ecgfm/absent config.json" in msg
    with pytest.raises(WeightsUnavailableError, match="HF_HUB_OFFLINE"):
        from_pretrained("ecgfounder-12lead")  # the real entry, nothing cached


def test_hf_hub_cache_variable_wins(
    hf_env: Path, hf_populate, tmp_path: Path, monkeypatch, tiny_model, tiny_card
) -> None:
    other = tmp_path / "other_cache"
    hf_populate(other, "ecgfm/tiny", _saved(tmp_path, tiny_model, tiny_card, "m"),
                      commit=COMMIT_A)  # fmt: skip
    with pytest.raises(WeightsUnavailableError):
        from_pretrained("hf-hub:ecgfm/tiny")  # HF_HOME cache is empty
    monkeypatch.setenv("HF_HUB_CACHE", str(other))
    assert _same_weights(from_pretrained("hf-hub:ecgfm/tiny").encoder, tiny_model)


def test_incomplete_repo(hf_env: Path, hf_populate, tmp_path: Path, tiny_model, tiny_card) -> None:
    files = _saved(tmp_path, tiny_model, tiny_card, "m")
    hf_populate(hf_env, "ecgfm/half", {"config.json": files["config.json"]}, commit=COMMIT_A)
    with pytest.raises(WeightsUnavailableError, match=r"model\.safetensors"):
        from_pretrained("hf-hub:ecgfm/half")


def test_registered_hub_entry_with_digest(
    hf_env: Path, hf_populate, tmp_path: Path, tiny_model, tiny_card, register_temp
) -> None:
    files = _saved(tmp_path, tiny_model, tiny_card, "m")
    digest = sha256_file(files["model.safetensors"])
    card = register_temp(
        tiny_card.replace(
            name="hubtest-hosted",
            weights=WeightsSpec(hf_repo_id="ecgfm/tiny", sha256=digest, hf_revision="v1"),
        )
    )
    hf_populate(hf_env, "ecgfm/tiny", files, commit=COMMIT_A, refs=("v1",))
    model = from_pretrained(card.name)
    assert _same_weights(model.encoder, tiny_model) and model.card is card
    with pytest.raises(WeightsUnavailableError, match="revision 'main'"):
        from_pretrained(card.name, revision="main")  # explicit revision overrides the card's
    # The hosted file changes (a new commit on v1): the card's digest catches it.
    with torch.no_grad():
        tiny_model.proj.weight.mul_(2.0)
    hf_populate(hf_env, "ecgfm/tiny", _saved(tmp_path, tiny_model, tiny_card, "m2"),
                      commit=COMMIT_B, refs=("v1",))  # fmt: skip
    with pytest.raises(WeightsIntegrityError, match="sha256"):
        from_pretrained(card.name)


def test_bundled_file_first_then_hub(
    hf_env: Path, hf_populate, tmp_path: Path, monkeypatch, tiny_model, tiny_card, register_temp
) -> None:
    bundled_files = _saved(tmp_path, tiny_model, tiny_card, "bundled")
    wdir = tmp_path / "weights_dir"
    wdir.mkdir()
    (wdir / "hubtest-both.safetensors").write_bytes(bundled_files["model.safetensors"].read_bytes())
    digest = sha256_file(wdir / "hubtest-both.safetensors")
    with torch.no_grad():
        tiny_model.proj.bias.zero_()
    hosted_files = _saved(tmp_path, tiny_model, tiny_card, "hosted")
    hf_populate(hf_env, "ecgfm/both", hosted_files, commit=COMMIT_A, refs=("main", "new"))
    card = register_temp(
        tiny_card.replace(
            name="hubtest-both",
            weights=WeightsSpec(
                file="hubtest-both.safetensors", sha256=digest, hf_repo_id="ecgfm/both"
            ),
        )
    )
    monkeypatch.setenv("ECGFM_WEIGHTS_DIR", str(wdir))
    bundled = from_pretrained(card.name)
    assert not _same_weights(bundled.encoder, tiny_model)  # the bundled copy, digest verified
    # An explicit revision asks for the hub copy, whose bytes differ from the card's digest.
    with pytest.raises(WeightsIntegrityError, match="sha256"):
        from_pretrained(card.name, revision="new")
    monkeypatch.delenv("ECGFM_WEIGHTS_DIR")
    with pytest.raises(WeightsIntegrityError, match="sha256"):
        from_pretrained(card.name)  # not bundled any more: the hub copy again


def test_hub_errors_map_to_ecgfm_errors(hf_env: Path) -> None:
    with pytest.raises(PretrainedNotFoundError):
        from_pretrained("owner/repo-without-prefix")
    with pytest.raises(ValueError, match="checkpoint_path"):
        from_pretrained("hf-hub:a/b", checkpoint_path="x")


def test_config_and_weights_from_the_same_snapshot(
    hf_env: Path, hf_populate, tmp_path: Path, tiny_model, tiny_card
) -> None:
    files = _saved(tmp_path, tiny_model, tiny_card, "m")
    hf_populate(hf_env, "ecgfm/tiny", files, commit=COMMIT_A)
    snapshot = hf_env / "models--ecgfm--tiny" / "snapshots" / COMMIT_A
    config = json.loads((snapshot / "config.json").read_text())
    assert config["card"]["weights"]["sha256"] == sha256_file(snapshot / "model.safetensors")
