"""The pretrained registry, and a validation of every registered card against its model/file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ecgfm.hub import (
    PretrainedCard,
    PretrainedNotFoundError,
    WeightsSpec,
    card_to_markdown,
    find_bundled_file,
    is_pretrained,
    list_pretrained,
    pretrained_card,
    register_pretrained,
    sha256_file,
    unregister_pretrained,
)
from ecgfm.hub._card_preset import build_preset
from ecgfm.hub._model import count_parameters
from ecgfm.models import create_model, is_model

BUILTIN = ("ecgfounder-12lead", "ecgfounder-lead1", "st-mem-vit-base")


def test_builtin_entries_and_pattern() -> None:
    names = list_pretrained()
    assert names == sorted(names)
    for n in BUILTIN:
        assert n in names and is_pretrained(n)
    assert list_pretrained("ecgfounder-*") == ["ecgfounder-12lead", "ecgfounder-lead1"]
    assert list_pretrained("nothing-*") == []
    with pytest.raises(TypeError):
        list_pretrained(3)  # type: ignore[arg-type]


def test_unknown_name_suggests_close_match() -> None:
    with pytest.raises(PretrainedNotFoundError, match="Did you mean 'ecgfounder-12lead'"):
        pretrained_card("ecgfounder-12leads")
    with pytest.raises(KeyError):  # PretrainedNotFoundError is a KeyError
        pretrained_card("zzz")


def test_duplicate_registration_is_an_error(tiny_card: PretrainedCard, register_temp) -> None:
    register_temp(tiny_card)
    with pytest.raises(ValueError, match="already registered"):
        register_pretrained(tiny_card)
    with pytest.raises(ValueError, match="already registered"):
        register_pretrained(pretrained_card("st-mem-vit-base"))


def test_unregister_removes(tiny_card: PretrainedCard) -> None:
    register_pretrained(tiny_card)
    assert unregister_pretrained(tiny_card.name) is tiny_card
    assert not is_pretrained(tiny_card.name)
    with pytest.raises(PretrainedNotFoundError):
        unregister_pretrained(tiny_card.name)


def test_non_redistributable_weights_cannot_be_bundled(tiny_card: PretrainedCard) -> None:
    card = tiny_card.replace(
        weights=WeightsSpec(file="x.safetensors", sha256="0" * 64, redistributable=False),
        license="CC BY-NC 4.0",
    )
    with pytest.raises(ValueError, match="cannot be bundled"):
        register_pretrained(card)
    assert not is_pretrained(card.name)
    with pytest.raises(TypeError):
        register_pretrained(card.to_dict())  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list_pretrained())
def test_every_registered_card_is_valid(name: str) -> None:
    """Required fields, the model built from the card, the preset and the weight file."""
    card = pretrained_card(name)
    assert card.name == name
    assert card.license.strip() and card.paper.strip() and card.training.data.strip()
    assert all(m.command.strip() for m in card.metrics)
    assert is_model(card.arch), f"{name}: architecture {card.arch!r} is not registered"
    # Built on the meta device: parameter counts without allocating 85 M floats.
    with torch.device("meta"):
        model = create_model(card.arch, **dict(card.arch_args))
    assert count_parameters(model) == card.num_params
    assert int(model.num_features) == card.embed_dim
    assert set(card.input.leads) <= set(model.in_leads)
    assert model.default_input_length == card.input.length
    preset = build_preset(card.input)
    assert (preset.fs, preset.length, preset.leads) == (
        card.input.fs,
        card.input.length,
        card.input.leads,
    )
    w = card.weights
    if w.file is not None:  # bundled: the file must ship and match its digest
        assert w.format == "ecgfm" and w.redistributable
        path = find_bundled_file(w.file)
        assert path is not None, f"{name}: bundled file {w.file} missing from weights/"
        assert sha256_file(path) == w.sha256
    elif w.format == "ecgfm":
        assert w.hf_repo_id is not None, f"{name}: ecgfm weights with neither file nor hub"
    if w.format == "st-mem":
        assert not w.redistributable and w.file is None and w.hf_repo_id is None
        assert w.user_file_hint
    md = card_to_markdown(card)
    assert f"# {name}" in md and card.license in md


def test_ecgfounder_entries_match_the_official_release() -> None:
    for name, leads, filename, params in (
        ("ecgfounder-12lead", 12, "12_lead_ECGFounder.pth", 30_665_264),
        ("ecgfounder-lead1", 1, "1_lead_ECGFounder.pth", 30_654_000),
    ):
        card = pretrained_card(name)
        assert card.weights.hf_repo_id == "PKUDigitalHealth/ECGFounder"
        assert card.weights.hf_filename == filename
        assert card.license == "MIT"
        assert len(card.input.leads) == leads
        assert (card.input.fs, card.input.length, card.embed_dim) == (500.0, 5000, 1024)
        # The official count minus the 150-class head (1024 * 150 + 150).
        assert card.num_params == params
    assert pretrained_card("ecgfounder-lead1").input.leads == ("I",)


def test_st_mem_entry_is_user_file_only() -> None:
    card = pretrained_card("st-mem-vit-base")
    assert card.license == "CC BY-NC 4.0"
    assert card.weights.needs_user_file and not card.weights.redistributable
    assert (card.input.fs, card.input.length, card.embed_dim) == (250.0, 2250, 768)


_CARD_FILE = Path(__file__).resolve().parents[2] / "weights" / "st-mem-tiny.card.json"


def test_a_bundled_name_cannot_be_taken_before_the_first_use() -> None:
    """Registering a bundled entry's name first used to succeed and break every later call
    (the bundled cards failed to register): it is refused like any duplicate."""
    code = (
        "import ecgfm, ecgfm.hub as h, json\n"
        f"card = h.PretrainedCard.from_dict(json.load(open({str(_CARD_FILE)!r})))\n"
        "try:\n    h.register_pretrained(card)\nexcept ValueError as e:\n    print('refused', e)\n"
        "print(len(ecgfm.list_pretrained()))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    first, count = done.stdout.strip().splitlines()
    assert first.startswith("refused") and "already registered" in first
    assert int(count) == len(list_pretrained())


def test_bundled_cards_are_read_from_the_weights_package() -> None:
    from ecgfm.hub._pretrained_registry import bundled_cards

    cards = bundled_cards()
    assert [c.name for c in cards] == list_pretrained()
    for c in cards:
        assert c == pretrained_card(c.name)
        if c.weights.file is not None:
            assert (
                find_bundled_file(c.weights.file).parent
                == find_bundled_file(f"{c.name}.card.json").parent
            )
