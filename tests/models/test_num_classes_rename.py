"""``num_classes`` is the head-size argument of every architecture, Net1D included.

Net1D's official name ``n_classes`` keeps working until ecgfm 0.2.0: in code with a
``DeprecationWarning`` that names ``num_classes`` and points at the caller's line; in stored
data (a ``config.json``, a card, an exported encoder's metadata written by the previous release)
silently, upgraded to the new name when read.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import safetensors.torch
import torch
from _shared import FIXTURES, require_shared

from ecgfm._deprecated import upgrade_arch_args
from ecgfm.convert.ecgfounder import load_ecgfounder
from ecgfm.hub import PretrainedCard, from_pretrained, make_card, pretrained_card, save_pretrained
from ecgfm.models import create_model
from ecgfm.models.net1d import Net1D
from ecgfm.train.encoders import load_encoder

TINY = {"base_filters": 16, "filter_list": (16, 32), "m_blocks_list": (1, 1)}


def _one_deprecation(record: pytest.WarningsRecorder, *phrases: str) -> None:
    """Exactly one DeprecationWarning, naming every phrase, reported at this file's line."""
    found = [w for w in record if issubclass(w.category, DeprecationWarning)]
    assert len(found) == 1, [str(w.message) for w in found]
    for phrase in phrases:
        assert phrase in str(found[0].message)
    assert Path(found[0].filename) == Path(__file__)


def test_every_architecture_takes_num_classes() -> None:
    with torch.device("meta"):
        for name in ("net1d_small", "st_mem_vit_small", "hl_vit_p60_d2_w256", "dualview_small"):
            model = create_model(name, num_classes=3)
            assert model.head.out_features == 3, name
    assert Net1D(**TINY, num_classes=4).num_classes == 4


def test_net1d_n_classes_keyword_warns_and_sets_num_classes() -> None:
    with pytest.warns(DeprecationWarning) as record:
        model = Net1D(**TINY, n_classes=5)
    _one_deprecation(record, "Net1D(n_classes=...)", "Net1D(num_classes=...)", "0.2.0")
    assert model.num_classes == 5 and model.head.out_features == 5


def test_create_model_n_classes_warns_and_records_num_classes() -> None:
    with pytest.warns(DeprecationWarning) as record:
        model = create_model("net1d_small", n_classes=2)
    _one_deprecation(record, "create_model(..., n_classes=...)", "num_classes")
    assert model.num_classes == 2
    # what a card stores: the new name, so a saved model needs no deprecated name to load
    assert model.arch_args == {"num_classes": 2}


def test_n_classes_attribute_warns_on_read_and_write() -> None:
    model = create_model("net1d_small", num_classes=3)
    with pytest.warns(DeprecationWarning) as record:
        assert model.n_classes == 3
    _one_deprecation(record, "Net1D.n_classes", "Net1D.num_classes")
    with pytest.warns(DeprecationWarning) as record:
        model.n_classes = 0
    _one_deprecation(record, "Net1D.n_classes")
    assert model.num_classes == 0


def test_new_name_gives_no_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = create_model("net1d_small", num_classes=3)
        model.reset_classifier(num_classes=2)
        assert model.num_classes == 2


def test_load_ecgfounder_n_classes_warns() -> None:
    path = require_shared(FIXTURES / "ecgfounder_small_12lead.pth")
    with pytest.warns(DeprecationWarning) as record:
        encoder = load_ecgfounder(path, n_classes=0)
    _one_deprecation(record, "load_ecgfounder(..., n_classes=...)", "num_classes")
    assert encoder.num_classes == 0 and encoder.arch_args["num_classes"] == 0


def test_registered_cards_use_num_classes() -> None:
    for name in ("ecgfounder-12lead", "ecgfounder-lead1", "selfmis-lead1"):
        assert pretrained_card(name).arch_args == {"num_classes": 0}, name


def test_card_with_the_old_name_is_read_with_the_new_one() -> None:
    card = pretrained_card("selfmis-lead1").to_dict()
    card["arch_args"] = {"n_classes": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert PretrainedCard.from_dict(card).arch_args == {"num_classes": 0}
    assert upgrade_arch_args({"a": 1, "n_classes": 0, "b": 2}) == {"a": 1, "num_classes": 0, "b": 2}


def test_directory_saved_by_the_previous_release_loads_and_saves_with_the_new_name(
    tmp_path: Path,
) -> None:
    torch.manual_seed(0)
    model = create_model("net1d_small", num_classes=0)
    card = make_card(model, name="renametest-net1d", preset="ecgfounder", license="MIT",
                     paper="none", training="random init")  # fmt: skip
    new = save_pretrained(model, tmp_path / "new", card)
    config = json.loads((new / "config.json").read_text())
    assert config["card"]["arch_args"] == {"num_classes": 0}
    # what the previous release wrote for the same model
    old = tmp_path / "old"
    old.mkdir()
    for f in new.iterdir():
        (old / f.name).write_bytes(f.read_bytes())
    old_config = json.loads(json.dumps(config).replace('"num_classes"', '"n_classes"'))
    assert old_config["card"]["arch_args"] == {"n_classes": 0}
    (old / "config.json").write_text(json.dumps(old_config, indent=2))

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the user wrote no code to change: no warning
        loaded = from_pretrained(old)
        again = save_pretrained(loaded, tmp_path / "again")
    assert loaded.card.arch_args == loaded.encoder.arch_args == {"num_classes": 0}
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.encoder.state_dict()[key], value), key
    assert json.loads((again / "config.json").read_text()) == config
    assert (again / "model.safetensors").read_bytes() == (new / "model.safetensors").read_bytes()


def test_encoder_exported_by_the_previous_release_loads_without_warning(tmp_path: Path) -> None:
    model = create_model("net1d_small", num_classes=0)
    path = tmp_path / "encoder.safetensors"
    meta = {"ecgfm": json.dumps({"arch": "net1d_small", "arch_args": {"n_classes": 0}})}
    safetensors.torch.save_file(model.state_dict(), str(path), metadata=meta)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_encoder(path)
    assert loaded.arch_name == "net1d_small" and loaded.arch_args == {"num_classes": 0}
