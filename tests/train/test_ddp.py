"""torchrun environment handling (the 2-process run is in tests/examples)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from ecgfm.train.ddp import (
    DistInfo,
    all_reduce_mean,
    barrier,
    init_distributed,
    unwrap,
    wrap_ddp,
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_single_process_without_torchrun(clean_env: pytest.MonkeyPatch) -> None:
    info = init_distributed("cpu")
    assert info == DistInfo(0, 1, 0, torch.device("cpu"), None)
    assert info.is_main and not info.distributed
    assert not torch.distributed.is_initialized()
    model = nn.Linear(2, 2)
    assert wrap_ddp(model, info) is model and unwrap(model) is model
    assert all_reduce_mean(torch.tensor(2.5)) == 2.5
    barrier()  # no-op


def test_world_size_one_is_single_process(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("WORLD_SIZE", "1")
    assert init_distributed("cpu").backend is None


def test_auto_device_is_cpu_without_cuda(clean_env: pytest.MonkeyPatch) -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    assert init_distributed(None).device == torch.device("cpu")
    with pytest.raises(RuntimeError, match="CUDA"):
        init_distributed("cuda")


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"WORLD_SIZE": "2"}, "RANK"),
        ({"WORLD_SIZE": "2", "RANK": "2", "LOCAL_RANK": "0"}, "outside"),
        ({"WORLD_SIZE": "two"}, "not an integer"),
    ],
)
def test_inconsistent_environment(clean_env: pytest.MonkeyPatch, env: dict, match: str) -> None:
    for k, v in env.items():
        clean_env.setenv(k, v)
    with pytest.raises(ValueError, match=match):
        init_distributed("cpu")


def test_nccl_on_cpu_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    for k, v in {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}.items():
        clean_env.setenv(k, v)
    with pytest.raises(RuntimeError, match="nccl"):
        init_distributed("cpu", backend="nccl")


def test_wrap_refuses_frozen_models() -> None:
    info = DistInfo(0, 2, 0, torch.device("cpu"), "gloo")
    with pytest.raises(ValueError, match="trainable"):
        wrap_ddp(nn.Linear(2, 2).requires_grad_(False), info)


def test_old_module_name_warns_and_serves_the_same_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    import ecgfm.train.ddp as ddp

    monkeypatch.delitem(sys.modules, "ecgfm.train.distributed", raising=False)
    with pytest.warns(DeprecationWarning) as record:
        import ecgfm.train.distributed as old  # the import under test
    (warning,) = [w for w in record if issubclass(w.category, DeprecationWarning)]
    assert "ecgfm.train.distributed" in str(warning.message)
    assert "use ecgfm.train.ddp" in str(warning.message)
    assert Path(warning.filename) == Path(__file__)  # the user's import line
    assert set(old.__all__) == set(ddp.__all__)
    assert all(getattr(old, name) is getattr(ddp, name) for name in ddp.__all__)
