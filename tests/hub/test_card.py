"""PretrainedCard: validation of every field, JSON round trip, Markdown model card."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from ecgfm.hub import (
    InputSpec,
    Metric,
    PretrainedCard,
    TrainingInfo,
    WeightsSpec,
    card_to_markdown,
)
from ecgfm.hub._card import BaseModel

SHA = "a" * 64


def _card(**changes: object) -> PretrainedCard:
    base: dict[str, object] = {
        "name": "demo-lead1",
        "arch": "hubtest_tiny",
        "arch_args": {"width": 8, "in_leads": ["I"]},
        "input": InputSpec(fs=100, leads=("lead i",), length=400, preset="hubtest"),
        "embed_dim": 8,
        "num_params": 123,
        "weights": WeightsSpec(file="demo-lead1.safetensors", sha256=SHA),
        "license": "MIT",
        "paper": "A. Author. A paper. 2026.",
        "training": TrainingInfo(data="PTB-XL folds 1-8", steps=100, compute="1 CPU, 1 min"),
        "metrics": (
            Metric(
                task="MI",
                metric="macro AUROC",
                value=0.8,
                dataset="PTB-XL",
                command="python -m ecgfm.eval ...",
            ),
            Metric(
                task="MI",
                metric="macro AUROC",
                value=0.7,
                dataset="PTB-XL",
                command="python -m ecgfm.eval ...",
                ci95=(0.65, 0.75),
                model="random weights",
            ),
        ),
        "tags": ("single-lead",),
        "limitations": "Trained on 100 records only.",
    }
    base.update(changes)
    return PretrainedCard(**base)  # type: ignore[arg-type]


def test_card_normalises_and_is_frozen() -> None:
    card = _card()
    assert card.input.leads == ("I",)  # alias normalised
    assert card.input.fs == 100.0 and isinstance(card.input.fs, float)
    assert card.arch_args == {"width": 8, "in_leads": ["I"]}
    with pytest.raises(dataclasses.FrozenInstanceError):
        card.name = "other"  # type: ignore[misc]


def test_json_round_trip_is_exact() -> None:
    card = _card()
    text = json.dumps(card.to_dict())
    again = PretrainedCard.from_dict(json.loads(text))
    assert again == card
    assert again.to_dict() == card.to_dict()


def test_arch_args_are_copied_not_shared() -> None:
    args = {"width": 8, "in_leads": ["I"]}
    card = _card(arch_args=args)
    args["width"] = 16
    assert card.arch_args["width"] == 8


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"name": "Bad Name"}, "lowercase"),
        ({"name": ""}, "lowercase"),
        ({"arch": ""}, "arch"),
        ({"embed_dim": 0}, "embed_dim"),
        ({"num_params": True}, "num_params"),
        ({"license": " "}, "license"),
        ({"paper": None}, "paper"),
        ({"arch_args": {"f": object()}}, "JSON"),
        ({"arch_args": [1, 2]}, "mapping"),
    ],
)
def test_card_rejects_bad_fields(changes: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _card(**changes)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fs": 0}, "positive"),
        ({"fs": float("nan")}, "positive"),
        ({"fs": "500"}, "number"),
        ({"length": 0}, "length"),
        ({"leads": ("I", "I")}, "duplicate"),
        ({"leads": ("X1",)}, "unknown lead"),
        ({"units": "furlongs"}, "unknown units"),
        ({"preset": ""}, "preset"),
    ],
)
def test_input_spec_validation(kwargs: dict[str, object], match: str) -> None:
    base: dict[str, object] = {"fs": 500, "leads": ("I",), "length": 5000, "preset": "p"}
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        InputSpec(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"file": "w.safetensors"}, "sha256"),
        ({"file": "../w.safetensors", "sha256": SHA}, "plain file name"),
        ({"file": "w.safetensors", "sha256": "ABC"}, "64 lowercase hex"),
        ({"hf_repo_id": "no-slash"}, "owner/repo"),
        ({"hf_filename": "x.pth", "user_file_hint": "x"}, "need weights.hf_repo_id"),
        ({"format": "ecgfounder", "user_file_hint": "x"}, "hf_repo_id and hf_filename"),
        ({"format": "zip", "user_file_hint": "x"}, "format"),
        ({"storage_dtype": "int8", "user_file_hint": "x"}, "storage_dtype"),
        ({"format": "st-mem", "user_file_hint": "get it"}, "redistributable=False"),
        ({"redistributable": False, "hf_repo_id": "a/b"}, "may not be hosted"),
        ({}, "names no source"),
    ],
)
def test_weights_spec_validation(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        WeightsSpec(**kwargs)  # type: ignore[arg-type]


def test_weights_spec_user_file_entry() -> None:
    w = WeightsSpec(format="st-mem", redistributable=False, user_file_hint="download it")
    assert w.needs_user_file
    assert not WeightsSpec(hf_repo_id="a/b").needs_user_file


def test_metric_and_training_validation() -> None:
    with pytest.raises(ValueError, match="command"):
        Metric(task="t", metric="auc", value=0.5, dataset="d", command="")
    with pytest.raises(ValueError, match="finite"):
        Metric(task="t", metric="auc", value=float("inf"), dataset="d", command="c")
    with pytest.raises(ValueError, match="steps"):
        TrainingInfo(data="d", steps=0)
    with pytest.raises(ValueError, match="contain the value"):
        Metric(task="t", metric="auc", value=0.5, dataset="d", command="c", ci95=(0.6, 0.7))
    with pytest.raises(ValueError, match=r"\(low, high\)"):
        Metric(task="t", metric="auc", value=0.5, dataset="d", command="c", ci95=(0.4,))
    with pytest.raises(ValueError, match="finite"):
        Metric(task="t", metric="auc", value=0.5, dataset="d", command="c", ci95=(0.4, math.nan))
    with pytest.raises(ValueError, match="limitations"):
        _card(limitations=None)
    with pytest.raises(TypeError, match="Metric"):
        _card(metrics=({"task": "t"},))


def test_from_dict_rejects_unknown_and_missing_fields() -> None:
    d = _card().to_dict()
    with pytest.raises(ValueError, match="unknown fields"):
        PretrainedCard.from_dict({**d, "extra": 1})
    bad_input = {**d, "input": {**d["input"], "sampling": 1}}
    with pytest.raises(ValueError, match=r"card\.input has unknown fields"):
        PretrainedCard.from_dict(bad_input)
    del d["license"]
    with pytest.raises(ValueError, match=r"missing the required fields \['license'\]"):
        PretrainedCard.from_dict(d)


def test_replace_revalidates() -> None:
    card = _card()
    assert card.replace(name="demo-2").name == "demo-2"
    with pytest.raises(ValueError):
        card.replace(embed_dim=-1)


def test_markdown_has_front_matter_and_every_field() -> None:
    card = _card()
    md = card_to_markdown(card)
    assert md.startswith("---\nlicense: mit\nlibrary_name: ecgfm\n")
    for text in (
        "# demo-lead1",
        "`hubtest_tiny`",
        "100 Hz",
        "| leads | I |",
        "400 samples (4 s)",
        "`hubtest`",
        SHA,
        "PTB-XL folds 1-8",
        "1 CPU, 1 min",
        "| MI | **demo-lead1** | PTB-XL | test | macro AUROC | 0.800 | `python -m ecgfm.eval",
        "| MI | random weights | PTB-XL | test | macro AUROC | 0.700 [0.650, 0.750] | `python",
        "## Limitations\n\nTrained on 100 records only.",
        "A. Author. A paper. 2026.",
        "| parameters | 123 |",
    ):
        assert text in md, text


def test_markdown_warns_for_non_redistributable_and_other_licences() -> None:
    card = _card(
        license="Custom licence",
        weights=WeightsSpec(format="st-mem", redistributable=False, user_file_hint="get it"),
    )
    md = card_to_markdown(card)
    assert "license: other" in md and 'license_name: "Custom licence"' in md
    assert "Not redistributable" in md


def _derived(**changes: object) -> PretrainedCard:
    base = _card()
    return base.replace(
        name="demo-lead1-ft",
        metrics=(),
        limitations="",
        training=TrainingInfo(data="fine-tuned on CinC 2017", steps=50),
        base_model=BaseModel(name=base.name, sha256=SHA, training=base.training),
        **changes,
    )


def test_base_model_round_trip_and_validation() -> None:
    card = _derived()
    d = json.loads(json.dumps(card.to_dict()))
    assert d["base_model"] == {
        "name": "demo-lead1",
        "sha256": SHA,
        "training": {"data": "PTB-XL folds 1-8", "steps": 100, "compute": "1 CPU, 1 min",
                     "recipe": None},
    }  # fmt: skip
    assert PretrainedCard.from_dict(d) == card
    assert PretrainedCard.from_dict({**d, "base_model": {"name": "x"}}).base_model == BaseModel("x")
    with pytest.raises(ValueError, match=r"card\.base_model has unknown fields"):
        PretrainedCard.from_dict({**d, "base_model": {"name": "x", "digest": SHA}})
    with pytest.raises(ValueError, match=r"base_model\.name must be lowercase"):
        BaseModel(name="Demo Lead1")
    with pytest.raises(ValueError, match="64 lowercase hex"):
        BaseModel(name="demo", sha256="abc")
    with pytest.raises(TypeError, match="TrainingInfo"):
        BaseModel(name="demo", training="PTB-XL")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="BaseModel"):
        _card(base_model="demo-lead1")


def test_cards_without_base_model_serialise_as_before() -> None:
    # Older ecgfm versions reject unknown fields: a card that is not derived must not gain a
    # "base_model" key, and a card dict written before the field existed must still load.
    d = _card().to_dict()
    assert "base_model" not in d
    assert PretrainedCard.from_dict(d).base_model is None
    assert PretrainedCard.from_dict({**d, "base_model": None}) == _card()


def test_markdown_of_a_derived_card_names_its_base() -> None:
    md = card_to_markdown(_derived())
    assert "# demo-lead1-ft" in md and "fine-tuned on CinC 2017" in md
    assert f"**Derived weights.** Derived from `demo-lead1` (weights sha256 `{SHA}`)" in md
    base = md.split("## Base model", 1)[1].split("## Metrics", 1)[0]
    assert "describes the base, not these weights" in base and "PTB-XL folds 1-8" in base
    assert "No metrics measured by ecgfm for these weights yet." in md
    assert "## Limitations" not in md and "**demo-lead1**" not in md
    assert "Base model" not in card_to_markdown(_card())
