"""The end-of-training export is ``save_pretrained``: ``fit(export=EncoderExport(...))`` writes
``<out>/encoder/``, which ``ecgfm.from_pretrained`` loads bit-exactly with a card that records
the run; the deprecated bare-file export still works, with a warning, and stays readable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import ecgfm
from ecgfm.hub._io import read_safetensors
from ecgfm.methods.st_mem import STMEM
from ecgfm.models import create_model
from ecgfm.train import DistInfo
from ecgfm.train.checkpoint import export_encoder, warm_start
from ecgfm.train.encoders import load_encoder
from ecgfm.train.export import EncoderExport
from ecgfm.train.loop import TrainConfig, fit
from ecgfm.train.sampler import step_generator
from ecgfm.transforms.presets import get_preset

INFO = DistInfo(0, 1, 0, torch.device("cpu"), None)
_TINY = {"depth": 1, "embed_dim": 32, "num_heads": 2, "mlp_dim": 64}
_DECODER = {"decoder_dim": 16, "decoder_depth": 1, "decoder_num_heads": 2}
_RUN_ARGS = {"model": "st_mem_vit_small", "data": {"ptbxl": 0, "synthetic": 3}, "seed": 0}


def _method(seed: int = 0) -> STMEM:
    torch.manual_seed(seed)
    return STMEM(model_args=_TINY, decoder_args=_DECODER)


def _train(method: STMEM, out: Path, steps: int = 2, **kw: object) -> dict:
    def compute_loss(net: nn.Module, step: int) -> tuple[torch.Tensor, dict, int]:
        g = step_generator(0, step)
        x = torch.randn(3, 12, method.preset.length, generator=g)
        loss, parts = method.training_loss(net, x, generator=step_generator(0, step, stream=1))
        return loss, parts, 3

    config = TrainConfig(out_dir=str(out), steps=steps, lr=1e-3, log_every=1)
    export = EncoderExport(method.encoder, preset=method.preset, paper="ST-MEM (test)")
    return fit(method.objective, compute_loss, config, INFO, export=export,
               run_args=_RUN_ARGS, **kw)  # fmt: skip


def test_trained_encoder_round_trips_exactly_through_from_pretrained(tmp_path: Path) -> None:
    method = _method()
    before = {k: v.clone() for k, v in method.encoder.state_dict().items()}
    summary = _train(method, tmp_path / "stmem-run")
    out = tmp_path / "stmem-run" / "encoder"
    assert summary["export"] == str(out)
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    model = ecgfm.from_pretrained(out)
    loaded, trained = model.encoder.state_dict(), method.encoder.state_dict()
    assert loaded.keys() == trained.keys()
    for key, value in trained.items():
        assert torch.equal(loaded[key], value), key
    assert any(not torch.equal(before[k], v) for k, v in trained.items())  # it did train
    card = model.card
    assert (card.name, card.arch, card.paper) == ("stmem-run", "st_mem_vit_small", "ST-MEM (test)")
    assert card.arch_args == _TINY and card.weights.storage_dtype == "float32"
    assert card.input.preset == "st_mem" and card.input.fs == method.preset.fs
    assert card.input.length == method.encoder.default_input_length
    assert card.input.leads == tuple(method.encoder.in_leads)
    # the run's provenance: steps, ECGs seen, compute and the run's arguments
    assert card.training.steps == 2
    assert card.training.data.startswith("6 ECGs seen in 2 optimiser steps")
    assert '"synthetic": 3' in card.training.data
    assert card.training.compute.startswith("1 process on cpu, fp32, ")
    assert json.loads(card.training.recipe) == _RUN_ARGS
    # the same weights through every loader of the family
    for source in (out, out / "model.safetensors"):
        enc = load_encoder(source)
        assert all(torch.equal(enc.state_dict()[k], v) for k, v in trained.items())


def test_bf16_export_and_a_resumed_run_rewrites_the_directory(tmp_path: Path) -> None:
    method = _method()
    _train(method, tmp_path / "run", export_dtype="bfloat16")
    card = ecgfm.from_pretrained(tmp_path / "run" / "encoder").card
    assert card.weights.storage_dtype == "bfloat16" and card.training.steps == 2
    state, _ = read_safetensors(tmp_path / "run" / "encoder" / "model.safetensors", what="t")
    for key, value in method.encoder.state_dict().items():
        expected = value.to(torch.bfloat16) if value.is_floating_point() else value
        assert torch.equal(state[key], expected), key
    resumed = _method(seed=5)
    _train(resumed, tmp_path / "run", steps=3)  # resumes from the checkpoint, one more step
    model = ecgfm.from_pretrained(tmp_path / "run" / "encoder")
    assert model.card.training.steps == 3 and model.card.weights.storage_dtype == "float32"
    for key, value in resumed.encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[key], value), key


def test_a_later_run_starts_from_the_exported_directory(tmp_path: Path) -> None:
    first = _method()
    _train(first, tmp_path / "a")
    second = _method(seed=1)
    note = warm_start(second.objective, second.encoder, tmp_path / "a" / "encoder")
    assert "freshly initialised" in note
    for key, value in first.encoder.state_dict().items():
        assert torch.equal(second.encoder.state_dict()[key], value), key


def test_the_card_takes_the_encoders_leads_and_length() -> None:
    """The method's training preset can be passed as is: a lead-I student of a 12-lead preset,
    a Dual-View encoder whose views are half a record."""
    student = create_model("net1d_small", in_channels=1)
    card = EncoderExport(student, preset="selfmis").card("runs/x", "t")
    assert card.input.leads == ("I",) and card.input.length == 5000
    dv = create_model("dualview_small", input_length=500, embed_dim=32, num_heads=2)
    card = EncoderExport(dv, preset=get_preset("dualview", fs=100.0, length=1000)).card("r", "t")
    assert (card.input.fs, card.input.length, card.input.preset) == (100.0, 500, "dualview")
    assert card.name == "r" and card.license == "unspecified"


def test_fit_checks_the_export_before_training(tmp_path: Path) -> None:
    calls: list[int] = []

    def compute_loss(net: nn.Module, step: int) -> tuple[torch.Tensor, dict, int]:
        calls.append(step)
        return net(torch.ones(1, 3)).sum(), {}, 1

    config = TrainConfig(out_dir=str(tmp_path), steps=1)
    with pytest.raises(ValueError, match="export_dtype"):
        fit(nn.Linear(3, 1), compute_loss, config, INFO, export_dtype="bf16",
            export=EncoderExport(create_model("net1d_small"), preset="ecgfounder"))  # fmt: skip
    assert calls == []


def test_deprecated_bare_file_export_warns_and_still_loads(tmp_path: Path) -> None:
    method = _method()

    def compute_loss(net: nn.Module, step: int) -> tuple[torch.Tensor, dict, int]:
        x = torch.randn(2, 12, method.preset.length, generator=step_generator(0, step))
        return method.training_loss(net, x, generator=step_generator(0, step, stream=1))[0], {}, 2

    config = TrainConfig(out_dir=str(tmp_path), steps=1)
    with pytest.warns(DeprecationWarning, match=r"export=\(encoder, filename\)\) is deprecated"):
        summary = fit(method.objective, compute_loss, config, INFO,
                      export=(method.encoder, "encoder.safetensors"))  # fmt: skip
    assert summary["export"] == str(tmp_path / "encoder.safetensors")
    for path in (summary["export"], str(tmp_path / "again.safetensors")):
        if not Path(path).exists():
            with pytest.warns(DeprecationWarning, match="export_encoder.*save_pretrained"):
                export_encoder(method.encoder, path)
        back = load_encoder(path)
        assert back.arch_args == _TINY
        for key, value in method.encoder.state_dict().items():
            assert torch.equal(back.state_dict()[key], value), key
