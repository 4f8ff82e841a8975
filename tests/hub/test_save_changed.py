"""save_pretrained of a model whose weights changed after loading (issue 13, defect 3).

The saved weights must be the model's, bit for bit, unless rounding is asked for; a saved card
must not carry metrics, limitations or training claims measured on other weights. "Changed" is
decided against the card's weights digest: the stored tensors are serialised as the card's
file was and hashed (see ecgfm/hub/_save.py).
"""

from __future__ import annotations

import copy
import json
import logging
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ecgfm.hub import (
    Metric,
    PretrainedCard,
    PretrainedEncoder,
    TrainingInfo,
    WeightsSpec,
    from_pretrained,
    make_card,
    pretrained_card,
    save_pretrained,
)
from ecgfm.hub._card import BaseModel
from ecgfm.hub._save import ChangedWeightsWarning

AUROC = Metric(task="sinusoid frequency", metric="macro AUROC", value=0.8123, dataset="synthetic",
               command="pytest tests/hub/test_save_changed.py")  # fmt: skip


@pytest.fixture
def base_dir(tmp_path: Path, tiny_model, tiny_card: PretrainedCard) -> Path:
    """A saved base model in bfloat16 storage, with a metric, limitations and a description."""
    card = tiny_card.replace(metrics=(AUROC,), limitations="Sinusoids only.",
                             description="A tiny base model.")  # fmt: skip
    return save_pretrained(tiny_model, tmp_path / "base", card, storage_dtype="bfloat16")


def _fine_tune(model: PretrainedEncoder, steps: int = 3) -> PretrainedEncoder:
    """A few Adam steps on random windows: weights no bfloat16 file holds."""
    g = torch.Generator().manual_seed(1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(steps):
        x = torch.randn(4, 3, 400, generator=g)
        loss = F.mse_loss(model(x), torch.randn(4, 8, generator=g))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]), k


def _bf16_change(model: torch.nn.Module) -> float:
    """Largest change bfloat16 storage would make to the model's weights."""
    return max(
        float((v.double() - v.to(torch.bfloat16).double()).abs().max())
        for v in model.state_dict().values()
    )


def test_fine_tuned_model_is_saved_exactly_without_the_base_claims(
    tmp_path: Path, base_dir: Path
) -> None:
    model = _fine_tune(from_pretrained(base_dir))
    assert _bf16_change(model) > 0  # the base card's bfloat16 storage would round these weights
    base = model.card
    with pytest.warns(ChangedWeightsWarning, match=r"differ from those of card 'hubtest-tiny'.*"
                      r"1 metrics, limitations, training description.*name=\.\.\."):  # fmt: skip
        out = save_pretrained(model, tmp_path / "ft")
    loaded = from_pretrained(out)
    _assert_same_weights(model.encoder, loaded.encoder)  # bit-exact: stored as float32
    card = loaded.card
    assert card.weights.storage_dtype == "float32"
    assert card.name == "hubtest-tiny-derived"
    assert card.metrics == () and card.limitations == ""
    assert "not described" in card.training.data and card.training != base.training
    assert "Derived from hubtest-tiny" in card.description
    assert card.base_model == BaseModel(
        name="hubtest-tiny", sha256=base.weights.sha256, training=base.training
    )
    assert (card.license, card.paper, card.input) == (base.license, base.paper, base.input)
    readme = (out / "README.md").read_text()
    assert "Derived weights" in readme and "0.812" not in readme
    assert "Sinusoids only." not in readme


def test_change_below_bfloat16_resolution_is_still_a_change(tmp_path: Path, base_dir: Path) -> None:
    # The stored-and-rounded tensors would reproduce the base file's digest exactly; the
    # weights nevertheless differ, so they are stored exactly and the card is derived.
    model = from_pretrained(base_dir)
    with torch.no_grad():
        model.encoder.proj.bias[0] *= 1 + 2**-10  # bfloat16 has 8 significant bits
    b = model.encoder.proj.bias.detach()
    assert torch.equal(b.to(torch.bfloat16), from_pretrained(base_dir).encoder.proj.bias.to(
        torch.bfloat16))  # fmt: skip
    with pytest.warns(ChangedWeightsWarning):
        out = save_pretrained(model, tmp_path / "nudged")
    loaded = from_pretrained(out)
    _assert_same_weights(model.encoder, loaded.encoder)
    assert loaded.card.metrics == () and loaded.card.base_model is not None


def test_unchanged_model_round_trip_keeps_everything(tmp_path: Path, base_dir: Path) -> None:
    model = from_pretrained(base_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = save_pretrained(model, tmp_path / "again")
        renamed = save_pretrained(model, tmp_path / "renamed", name="hubtest-tiny-copy")
    weights = (base_dir / "model.safetensors").read_bytes()
    assert (again / "model.safetensors").read_bytes() == weights
    config = json.loads((base_dir / "config.json").read_text())
    assert json.loads((again / "config.json").read_text()) == config
    assert "base_model" not in config["card"]
    copy = from_pretrained(renamed)
    _assert_same_weights(model.encoder, copy.encoder)
    assert copy.card.name == "hubtest-tiny-copy" and copy.card.base_model is None
    assert copy.card.metrics == (AUROC,) and copy.card.limitations == "Sinusoids only."
    assert copy.card.weights.storage_dtype == "bfloat16"
    # A bfloat16 model holding the same values is unchanged too, and stays bfloat16.
    half = from_pretrained(base_dir, dtype="bfloat16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = save_pretrained(half, tmp_path / "half")
    assert (out / "model.safetensors").read_bytes() == weights


@pytest.mark.parametrize("name", ["st-mem-tiny", "selfmis-lead1"])
def test_registered_entry_saved_unchanged_keeps_its_card(tmp_path: Path, name: str) -> None:
    # st-mem-tiny's file was written by save_pretrained, selfmis-lead1's by export_encoder
    # (other metadata): both are recognised as unchanged, and the file is copied byte for byte.
    model = from_pretrained(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = save_pretrained(model, tmp_path / name)
    card = pretrained_card(name)
    saved = json.loads((out / "config.json").read_text())["card"]
    assert saved["weights"]["sha256"] == card.weights.sha256
    assert saved["weights"]["storage_dtype"] == card.weights.storage_dtype
    assert PretrainedCard.from_dict(saved).replace(weights=card.weights) == card


def test_new_model_is_named_and_described_by_the_caller(tmp_path: Path, base_dir: Path) -> None:
    model = _fine_tune(from_pretrained(base_dir))
    measured = Metric(task="t", metric="macro AUROC", value=0.9, dataset="d", command="c")
    training = TrainingInfo(data="3 Adam steps on random windows", steps=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = save_pretrained(model, tmp_path / "ft", name="tiny-ft", description="Fine-tuned.",
                              training=training, metrics=[measured])  # fmt: skip
    card = from_pretrained(out).card
    assert (card.name, card.description, card.training) == ("tiny-ft", "Fine-tuned.", training)
    assert card.metrics == (measured,) and card.base_model is not None
    assert card.base_model.name == "hubtest-tiny"
    # A derived model changed again names its immediate base, without stacking suffixes.
    again = _fine_tune(from_pretrained(out))
    with pytest.warns(ChangedWeightsWarning):
        twice = from_pretrained(save_pretrained(again, tmp_path / "twice")).card
    assert twice.name == "tiny-ft-derived" and twice.base_model.name == "tiny-ft"
    assert twice.base_model.training == training
    with pytest.warns(ChangedWeightsWarning):
        thrice = save_pretrained(_fine_tune(from_pretrained(tmp_path / "twice")), tmp_path / "3")
    assert from_pretrained(thrice).card.name == "tiny-ft-derived"


def test_explicit_rounding_is_logged_with_its_size(
    tmp_path: Path, base_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = _fine_tune(from_pretrained(base_dir))
    expected = _bf16_change(model)
    with (
        caplog.at_level(logging.INFO, logger="ecgfm.hub._save"),
        pytest.warns(ChangedWeightsWarning),
    ):
        out = save_pretrained(model, tmp_path / "bf16", storage_dtype=torch.bfloat16)
    assert f"storage_dtype='bfloat16' rounds the weights by up to {expected:.3g}" in caplog.text
    loaded = from_pretrained(out)
    assert loaded.card.weights.storage_dtype == "bfloat16"
    for k, v in model.encoder.state_dict().items():
        assert torch.equal(loaded.encoder.state_dict()[k], v.to(torch.bfloat16).float()), k


def test_card_storage_dtype_is_used_only_when_exact(
    tmp_path: Path, tiny_model, test_preset, caplog: pytest.LogCaptureFixture
) -> None:
    card = make_card(tiny_model, name="tiny-bf16", preset=test_preset, license="MIT",
                     paper="p", training="t", storage_dtype="bfloat16")  # fmt: skip
    with caplog.at_level(logging.INFO, logger="ecgfm.hub._save"):
        out = save_pretrained(tiny_model, tmp_path / "m", card)
    assert "storing float32, the weights' own dtype" in caplog.text
    loaded = from_pretrained(out)
    _assert_same_weights(tiny_model, loaded.encoder)
    assert loaded.card.weights.storage_dtype == "float32"
    # float64 weights that float32 holds exactly are stored as float32 without rounding.
    wide = save_pretrained(copy.deepcopy(tiny_model).double(), tmp_path / "d", card)
    assert from_pretrained(wide).card.weights.storage_dtype == "float32"
    exact = save_pretrained(tiny_model.to(torch.bfloat16), tmp_path / "b", card)
    assert from_pretrained(exact).card.weights.storage_dtype == "bfloat16"


def test_model_from_an_official_checkpoint_cannot_be_checked(tmp_path: Path, tiny_model,
                                                             tiny_card) -> None:  # fmt: skip
    official = tiny_card.replace(
        metrics=(AUROC,),
        weights=WeightsSpec(format="ecgfounder", hf_repo_id="owner/repo", hf_filename="x.pth"),
    )
    model = PretrainedEncoder(tiny_model, official)
    with pytest.warns(ChangedWeightsWarning, match=r"cannot check.*official 'ecgfounder' "
                      r"checkpoint.*training=model\.card\.training"):  # fmt: skip
        out = save_pretrained(model, tmp_path / "a")
    card = from_pretrained(out).card
    assert card.name == "hubtest-tiny-derived" and card.metrics == ()
    assert card.base_model == BaseModel(name="hubtest-tiny", training=official.training)
    # The caller who knows the weights are unchanged keeps the claims explicitly.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = save_pretrained(
            model, tmp_path / "b", name="hubtest-tiny", training=model.card.training,
            metrics=model.card.metrics,
        )  # fmt: skip
    card = from_pretrained(kept).card
    assert card.metrics == (AUROC,) and card.training == official.training
