"""One model registry: each architecture declares its default preset (by name), and its
pretrained entries are those whose card names it (``ecgfm.list_pretrained(arch=...)``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from torch import nn

import ecgfm
from ecgfm.eval import preset_for_arch
from ecgfm.hub import pretrained_card
from ecgfm.hub._card_preset import build_preset
from ecgfm.hub._pretrained_registry import bundled_cards
from ecgfm.models import (
    create_model,
    default_preset,
    is_model,
    list_models,
    model_entrypoint,
    register_model,
    unregister_model,
)
from ecgfm.transforms.presets import get_preset, list_presets

# The processing of a preset: its config without the labels (name, description).
_LABELS = ("name", "description")


def _processing(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in _LABELS}


@pytest.fixture
def temp_arch() -> Iterator[Any]:
    """``temp_arch(name, preset)`` registers an identity architecture, removed afterwards."""
    names: list[str] = []

    def make(name: str, preset: str | None) -> str:
        register_model(name, preset=preset)(lambda **kw: nn.Identity())
        names.append(name)
        return name

    yield make
    for name in names:
        unregister_model(name)


def test_every_builtin_architecture_declares_a_registered_preset() -> None:
    builtin = [a for a in list_models() if model_entrypoint(a).__module__.startswith("ecgfm.")]
    assert len(builtin) >= 8
    for arch in builtin:
        name = default_preset(arch)
        assert name in list_presets(), f"{arch}: default preset {name!r} is not a preset name"


@pytest.mark.parametrize("card", bundled_cards(), ids=lambda c: c.name)
def test_declared_preset_matches_the_pretrained_cards_of_the_architecture(card: Any) -> None:
    """Each card's preset is its architecture's default preset, or the same processing under
    another method's name (SelfMIS uses ECGFounder's pipeline: its encoder starts from it)."""
    assert ecgfm.list_pretrained(arch=card.arch).count(card.name) == 1
    assert card.input.preset in list_presets()  # cards name the canonical preset, no alias
    default = get_preset(default_preset(card.arch), leads=card.input.leads)
    used = build_preset(card.input)
    assert (default.fs, default.length) == (card.input.fs, card.input.length)
    if card.input.preset != default.name:
        assert _processing(used.to_config()) == _processing(default.to_config())


def test_list_pretrained_by_arch_partitions_the_registry() -> None:
    by_arch = {arch: ecgfm.list_pretrained(arch=arch) for arch in list_models()}
    listed = sorted(name for names in by_arch.values() for name in names)
    assert listed == ecgfm.list_pretrained()
    for arch, names in by_arch.items():
        assert names == sorted(names)
        assert all(pretrained_card(n).arch == arch for n in names)
    assert by_arch["net1d_ecgfounder_lead1"] == ["ecgfounder-lead1", "selfmis-lead1"]
    assert ecgfm.list_pretrained("selfmis-*", arch="net1d_ecgfounder_lead1") == ["selfmis-lead1"]
    assert ecgfm.list_pretrained(arch="dualview_small") == []  # registered, no entry


def test_preset_for_arch_uses_the_declared_preset_not_the_name(temp_arch: Any) -> None:
    # The name says Net1D, the declaration says "hl": the declaration wins.
    arch = temp_arch("net1d_regtest_hl", "hl")
    assert default_preset(arch) == "hl"
    assert preset_for_arch(arch).to_config() == get_preset("hl").to_config()
    assert preset_for_arch(arch, ["I"]).leads == ("I",)
    # An HL-looking name with no declaration has no default.
    bare = temp_arch("hl_regtest_bare", None)
    assert default_preset(bare) is None
    with pytest.raises(ValueError, match="declares no default preset; pass a preset explicitly"):
        preset_for_arch(bare)


def test_builtin_defaults_of_each_family() -> None:
    assert preset_for_arch("net1d_ecgfounder_lead1", ("I",)).name == "ecgfounder"
    assert preset_for_arch("st_mem_vit_small").name == "st_mem"
    assert preset_for_arch("hl_vit_p60_d2_w512").name == "hl"
    assert preset_for_arch("dualview_base").name == "dualview"


def test_unregister_model_removes_name_and_preset(temp_arch: Any) -> None:
    name = "regtest_removed"
    register_model(name, preset="st_mem")(lambda **kw: nn.Identity())
    assert is_model(name) and isinstance(create_model(name), nn.Identity)
    unregister_model(name)
    assert not is_model(name) and name not in list_models()
    with pytest.raises(KeyError, match="unknown architecture"):
        default_preset(name)
    register_model(name)(lambda **kw: nn.Identity())  # the name is free again
    assert default_preset(name) is None
    unregister_model(name)
