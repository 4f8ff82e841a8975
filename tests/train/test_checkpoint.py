"""Checkpoints: atomic writes, full round trip (RNG included), excluded prefixes, export."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import safetensors
import torch
from torch import nn

from ecgfm.models import create_model
from ecgfm.train.checkpoint import (
    atomic_torch_save,
    load_checkpoint,
    save_checkpoint,
    trainable_state_dict,
)
from ecgfm.train.schedule import WarmupCosine


def export_encoder(*args: object, **kwargs: object) -> Path:
    """The deprecated bare-file export (files of earlier releases): it warns and still works."""
    from ecgfm.train.checkpoint import export_encoder as deprecated

    with pytest.warns(DeprecationWarning, match="export_encoder.*is deprecated"):
        return deprecated(*args, **kwargs)


class _Pair(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.student = nn.Linear(3, 2)
        self.teacher = nn.Linear(3, 2).requires_grad_(False)


def _trained(seed: int = 0) -> tuple[_Pair, torch.optim.Optimizer, WarmupCosine]:
    torch.manual_seed(seed)
    model = _Pair()
    opt = torch.optim.AdamW(model.student.parameters(), lr=0.1)
    sched = WarmupCosine(opt, 1, 10)
    for _ in range(3):
        model.student(torch.randn(4, 3)).square().mean().backward()
        opt.step()
        sched.step()
    return model, opt, sched


def test_round_trip_restores_everything(tmp_path: Path) -> None:
    model, opt, sched = _trained()
    random.seed(3)
    np.random.seed(4)
    torch.manual_seed(5)
    path = save_checkpoint(tmp_path / "c.pt", model=model, optimizer=opt, scheduler=sched, step=3,
                           counters={"ecg_seen": 12.0}, args={"lr": 0.1, "p": Path("x")},
                           exclude_prefixes=("teacher.",))  # fmt: skip
    expected = (random.random(), float(np.random.rand()), float(torch.rand(())))

    other, opt2, sched2 = _trained(seed=1)
    other.teacher.load_state_dict(model.teacher.state_dict())  # rebuilt from its own source
    random.seed(99)  # a restarted process has other generator states
    np.random.seed(99)
    torch.manual_seed(77)
    payload = load_checkpoint(path, model=other, optimizer=opt2, scheduler=sched2)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == expected
    assert payload["step"] == 3 and payload["counters"] == {"ecg_seen": 12.0}
    assert payload["args"] == {"lr": 0.1, "p": "x"}
    for k, v in model.state_dict().items():
        assert torch.equal(v, other.state_dict()[k]), k
    s1, s2 = opt.state_dict(), opt2.state_dict()
    for key in s1["state"]:
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(s1["state"][key][name], s2["state"][key][name])
    assert sched2.last_epoch == sched.last_epoch


def test_rng_capture_restore() -> None:
    from ecgfm.train.checkpoint import capture_rng_state, restore_rng_state

    state = capture_rng_state()
    first = (random.random(), float(np.random.rand()), float(torch.rand(())))
    restore_rng_state(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == first


def test_excluded_prefixes_are_not_stored(tmp_path: Path) -> None:
    model, opt, _ = _trained()
    path = save_checkpoint(tmp_path / "c.pt", model=model, optimizer=opt, step=1,
                           exclude_prefixes=("teacher.",))  # fmt: skip
    stored = torch.load(path, weights_only=False)["model"]
    assert set(stored) == {"student.weight", "student.bias"}
    assert set(trainable_state_dict(model, ("teacher.",))) == set(stored)
    # without the exclusion the teacher would be required on load
    full = save_checkpoint(tmp_path / "f.pt", model=model, optimizer=opt, step=1)
    wrong = nn.Module()
    wrong.student = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match="unexpected"):
        load_checkpoint(full, model=wrong)


def test_shape_mismatch_and_foreign_files(tmp_path: Path) -> None:
    model, opt, _ = _trained()
    path = save_checkpoint(tmp_path / "c.pt", model=model, optimizer=opt, step=2)
    other = _Pair()
    other.student = nn.Linear(3, 5)
    with pytest.raises(RuntimeError):
        load_checkpoint(path, model=other)
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not an ecgfm training checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt", model=model)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt", model=model)
    with pytest.raises(ValueError, match="step"):
        save_checkpoint(tmp_path / "x.pt", model=model, optimizer=opt, step=-1)
    with pytest.raises(TypeError, match="bare model"):
        save_checkpoint(tmp_path / "x.pt", model=_Wrapped(model), optimizer=opt, step=1)


class _Wrapped(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.module = inner


class _Unpicklable:
    def __reduce__(self) -> tuple:
        raise RuntimeError("disk full (simulated)")


def test_failed_save_keeps_the_previous_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "c.pt"
    atomic_torch_save({"v": 1}, target)
    with pytest.raises(RuntimeError, match="disk full"):
        atomic_torch_save({"v": _Unpicklable()}, target)
    assert torch.load(target) == {"v": 1}
    assert sorted(os.listdir(tmp_path)) == ["c.pt"]
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's private 0600


def test_export_encoder_round_trip_and_bf16(tmp_path: Path) -> None:
    from ecgfm.train.encoders import load_encoder

    enc = create_model("net1d_small", in_channels=1)
    path = export_encoder(enc, tmp_path / "e.safetensors", metadata={"steps": 7})
    back = load_encoder(path)
    assert back.arch_name == "net1d_small" and back.arch_args == {"in_channels": 1}
    for k, v in enc.state_dict().items():
        assert torch.equal(v, back.state_dict()[k])
    half = export_encoder(enc, tmp_path / "h.safetensors", dtype="bfloat16")
    assert half.stat().st_size < 0.6 * path.stat().st_size
    with safetensors.safe_open(str(half), framework="pt") as f:
        assert all(f.get_tensor(k).dtype == torch.bfloat16 for k in f.keys())  # noqa: SIM118
        assert '"steps"' not in f.metadata()["ecgfm"]
    lossy = load_encoder(half)
    w = enc.state_dict()["stem_conv.weight"]
    assert torch.equal(lossy.state_dict()["stem_conv.weight"], w.to(torch.bfloat16).float())
    with pytest.raises(ValueError, match="dtype"):
        export_encoder(enc, tmp_path / "x.safetensors", dtype="int8")
    with pytest.raises(ValueError, match="arch_name"):
        export_encoder(nn.Linear(2, 2), tmp_path / "x.safetensors")


_SMALL_DECODER = {"decoder_dim": 16, "decoder_depth": 1, "decoder_num_heads": 2}


def _stmem_objective(seed: int) -> tuple[nn.Module, nn.Module]:
    from ecgfm.methods.st_mem import STMEM

    torch.manual_seed(seed)
    method = STMEM(model_args={"depth": 1, "embed_dim": 32, "num_heads": 2, "mlp_dim": 64},
                   decoder_args=_SMALL_DECODER)  # fmt: skip
    return method.objective, method.encoder


def test_warm_start_file_restores_every_trainable_weight(tmp_path: Path) -> None:
    from ecgfm.train.checkpoint import export_warm_start, warm_start

    trained, _ = _stmem_objective(0)
    path = export_warm_start(trained, tmp_path / "warm_start.safetensors", dtype="float32")
    fresh, encoder = _stmem_objective(1)
    note = warm_start(fresh, encoder, path)
    assert "every trainable weight" in note
    for key, value in trained.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    # bf16 storage (the committed form) halves the file and rounds each weight once
    small = export_warm_start(trained, tmp_path / "bf16.safetensors")
    assert small.stat().st_size < 0.6 * path.stat().st_size
    other, enc = _stmem_objective(2)
    warm_start(other, enc, small)
    for key, value in trained.state_dict().items():
        expected = value.to(torch.bfloat16).to(value.dtype) if value.is_floating_point() else value
        assert torch.equal(other.state_dict()[key], expected), key


def test_warm_start_from_an_encoder_keeps_the_fresh_decoder(tmp_path: Path) -> None:
    from ecgfm.train.checkpoint import warm_start

    _, trained_encoder = _stmem_objective(0)
    export_encoder(trained_encoder, tmp_path / "encoder.safetensors")
    fresh, encoder = _stmem_objective(1)
    decoder_before = {k: v.clone() for k, v in fresh.state_dict().items() if "decoder" in k}
    assert decoder_before
    note = warm_start(fresh, encoder, tmp_path / "encoder.safetensors")
    assert "freshly initialised" in note
    for key, value in trained_encoder.state_dict().items():
        assert torch.equal(encoder.state_dict()[key], value), key
    for key, value in decoder_before.items():
        assert torch.equal(fresh.state_dict()[key], value), key


def test_warm_start_refuses_weights_of_another_configuration(tmp_path: Path) -> None:
    from ecgfm.methods.st_mem import STMEM
    from ecgfm.train.checkpoint import export_warm_start, warm_start

    trained, trained_encoder = _stmem_objective(0)
    export_warm_start(trained, tmp_path / "w.safetensors")
    export_encoder(trained_encoder, tmp_path / "e.safetensors")
    wider = STMEM(model_args={"depth": 1, "embed_dim": 64, "num_heads": 2, "mlp_dim": 64},
                  decoder_args=_SMALL_DECODER)  # fmt: skip
    with pytest.raises(ValueError, match="does not fit"):
        warm_start(wider.objective, wider.encoder, tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="--model-args"):
        warm_start(wider.objective, wider.encoder, tmp_path / "e.safetensors")
    with pytest.raises(ValueError, match="no encoder"):
        warm_start(wider.objective, None, tmp_path / "e.safetensors")
    with pytest.raises(ValueError, match="--model"):
        warm_start(wider.objective, create_model("net1d_small"), tmp_path / "e.safetensors")
