"""fit(): exact resume after an interruption, logs, validation, export, failure modes."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from ecgfm.train.ddp import DistInfo
from ecgfm.train.loop import JsonlLogger, TrainConfig, autocast, fit, param_groups
from ecgfm.train.sampler import StepSampler, step_generator

INFO = DistInfo(0, 1, 0, torch.device("cpu"), None)
X = torch.randn(64, 6, generator=torch.Generator().manual_seed(0))
Y = X @ torch.linspace(-1, 1, 6) + 0.3


class _Tiny(nn.Module):
    """Dropout draws from the global RNG: exact resume needs the saved RNG state."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 16), nn.Dropout(0.3), nn.Tanh(), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def _loss_fn(crash_at: int | None = None):
    sampler = StepSampler(64, 8, seed=1)

    def compute_loss(model: nn.Module, step: int) -> tuple[torch.Tensor, dict, int]:
        if step == crash_at:
            raise KeyboardInterrupt("simulated crash")
        idx = sampler.indices(step)
        noise = 0.1 * torch.randn(len(idx), 6, generator=step_generator(0, step))
        loss = (model(X[idx] + noise) - Y[idx]).pow(2).mean()
        return loss, {"extra": 2.0}, len(idx)

    return compute_loss


def _config(out: Path, **kw: object) -> TrainConfig:
    base = {
        "out_dir": str(out),
        "steps": 4,
        "lr": 1e-2,
        "warmup_steps": 1,
        "log_every": 1,
        "save_every": 2,
        "weight_decay": 0.1,
        "clip_grad": 0.5,
    }
    return TrainConfig(**{**base, **kw})  # type: ignore[arg-type]


def _model() -> _Tiny:
    torch.manual_seed(0)
    return _Tiny()


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_interrupted_and_resumed_run_is_bit_identical(tmp_path: Path) -> None:
    straight = _model()
    fit(straight, _loss_fn(), _config(tmp_path / "a"), INFO)

    resumed = _model()
    with pytest.raises(KeyboardInterrupt):  # dies in step 2, after the step-2 checkpoint
        fit(resumed, _loss_fn(crash_at=2), _config(tmp_path / "b"), INFO)
    torch.manual_seed(12345)  # a fresh process would have another global RNG state
    restarted = _model()
    summary = fit(restarted, _loss_fn(), _config(tmp_path / "b"), INFO)

    for (name, a), (_, b) in zip(
        straight.state_dict().items(), restarted.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert summary["step"] == 4 and summary["ecg_seen"] == 32
    events = [r.get("event") for r in _records(tmp_path / "b")]
    assert events.count("start") == 1 and events.count("resume") == 1
    resume = next(r for r in _records(tmp_path / "b") if r.get("event") == "resume")
    assert resume["step"] == 2
    losses_a = [r["loss"] for r in _records(tmp_path / "a") if "loss" in r and "event" not in r]
    losses_b = [r["loss"] for r in _records(tmp_path / "b") if "loss" in r and "event" not in r]
    assert losses_a == losses_b


def test_without_rng_restore_dropout_would_differ(tmp_path: Path) -> None:
    """Control for the test above: the check is not vacuous."""
    a, b = _model(), _model()
    fit(a, _loss_fn(), _config(tmp_path / "a", steps=2), INFO)
    torch.manual_seed(999)
    fit(b, _loss_fn(), _config(tmp_path / "b", steps=2, resume="none"), INFO)
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_log_records_validation_and_export(tmp_path: Path) -> None:
    model = _model()
    model.arch_name = "test_tiny"  # export needs it (create_model sets it for real encoders)
    model.arch_args = {}
    calls = []

    def evaluate(m: nn.Module) -> dict[str, float]:
        assert not m.training and not torch.is_grad_enabled()
        calls.append(1)
        return {"mse": float((m(X) - Y).pow(2).mean())}

    with pytest.warns(DeprecationWarning, match=r"export=\(encoder, filename\)"):  # bare file
        fit(
            model,
            _loss_fn(),
            _config(tmp_path, steps=5, val_every=2, log_every=2),
            INFO,
            evaluate=evaluate,
            export=(model, "enc.safetensors"),
            run_args={"note": "x"},
        )
    recs = _records(tmp_path)
    assert recs[0]["event"] == "start" and recs[0]["args"] == {"note": "x"}
    train = [r for r in recs if "lr" in r]
    assert [r["step"] for r in train] == [2, 4, 5]  # every 2 steps and the last
    for r in train:
        assert {"loss", "lr", "grad_norm", "ecg_per_s", "ecg_seen", "wall_s", "extra"} <= set(r)
        assert r["ecg_seen"] == 8 * r["step"] and r["extra"] == 2.0
    assert [r["step"] for r in recs if "val/mse" in r] == [2, 4, 5] and len(calls) == 3
    assert recs[-1]["event"] == "end" and Path(recs[-1]["export"]).is_file()
    assert model.training  # evaluate did not leave it in eval mode


def test_lr_follows_the_schedule_and_clipping_bounds_updates(tmp_path: Path) -> None:
    fit(_model(), _loss_fn(), _config(tmp_path, steps=6, warmup_steps=2, lr=0.1), INFO)
    lrs = [r["lr"] for r in _records(tmp_path) if "lr" in r]
    assert lrs[:3] == pytest.approx([0.05, 0.1, 0.1])
    assert lrs[3] < lrs[2] and lrs[-1] < lrs[3]


def test_extending_steps_on_resume_continues_with_the_new_schedule(tmp_path: Path) -> None:
    fit(_model(), _loss_fn(), _config(tmp_path, steps=2, warmup_steps=0), INFO)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "scheduler.step() before optimizer.step()" warning
        summary = fit(_model(), _loss_fn(), _config(tmp_path, steps=4, warmup_steps=0), INFO)
    assert summary["step"] == 4
    lrs = [r["lr"] for r in _records(tmp_path) if "lr" in r]
    assert len(lrs) == 4 and lrs[2] == pytest.approx(
        0.01 * 0.5 * (1 + torch.cos(torch.tensor(torch.pi * 2 / 4))).item()
    )


def test_nan_loss_raises_and_keeps_the_checkpoint(tmp_path: Path) -> None:
    fit(_model(), _loss_fn(), _config(tmp_path, steps=2), INFO)
    before = (tmp_path / "checkpoint.pt").read_bytes()

    def bad(model: nn.Module, step: int) -> tuple[torch.Tensor, dict, int]:
        return model(X[:2]).sum() * float("nan"), {}, 2

    with pytest.raises(FloatingPointError, match="step 2"):
        fit(_model(), bad, _config(tmp_path, steps=4), INFO)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_malformed_compute_loss_results(tmp_path: Path) -> None:
    def vector(model: nn.Module, step: int) -> tuple[torch.Tensor, dict, int]:
        return model(X[:2]), {}, 2

    def no_count(model: nn.Module, step: int) -> tuple[torch.Tensor, dict, int]:
        return model(X[:2]).mean(), {}, 2.0  # type: ignore[return-value]

    with pytest.raises(TypeError, match="scalar"):
        fit(_model(), vector, _config(tmp_path / "a"), INFO)
    with pytest.raises(TypeError, match="ECG count"):
        fit(_model(), no_count, _config(tmp_path / "b"), INFO)


def test_bf16_autocast_trains(tmp_path: Path) -> None:
    summary = fit(_model(), _loss_fn(), _config(tmp_path, precision="bf16"), INFO)
    assert torch.isfinite(torch.tensor(summary["loss"]))
    with autocast(torch.device("cpu"), "bf16"):
        assert nn.Linear(2, 2)(torch.ones(1, 2)).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="CUDA"):
        autocast(torch.device("cpu"), "fp16")


def test_param_groups_exclude_vectors_from_weight_decay() -> None:
    groups = param_groups(_Tiny(), 0.3)
    assert groups[0]["weight_decay"] == 0.3 and all(p.ndim == 2 for p in groups[0]["params"])
    assert groups[1]["weight_decay"] == 0.0 and all(p.ndim == 1 for p in groups[1]["params"])
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="trainable"):
        param_groups(frozen, 0.1)


@pytest.mark.parametrize(
    "kw",
    [
        {"steps": 0},
        {"lr": -1.0},
        {"precision": "int8"},
        {"log_every": 0},
        {"warmup_steps": 9},
        {"clip_grad": -1.0},
    ],
)
def test_invalid_config(tmp_path: Path, kw: dict) -> None:
    with pytest.raises(ValueError):
        _config(tmp_path, **kw)


def test_jsonl_logger_disabled_on_other_ranks(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    log = JsonlLogger(tmp_path / "l.jsonl", enabled=False)
    log.log({"a": 1})
    log.close()
    assert not (tmp_path / "l.jsonl").exists() and capsys.readouterr().out == ""
    log = JsonlLogger(tmp_path / "l.jsonl")
    log.log({"a": torch.tensor(2.5), "p": tmp_path})
    log.close()
    assert json.loads((tmp_path / "l.jsonl").read_text()) == {"a": 2.5, "p": str(tmp_path)}


def test_warm_start_file_continues_a_run_in_a_new_directory(tmp_path: Path) -> None:
    first = _model()
    summary = fit(first, _loss_fn(), _config(tmp_path / "a"), INFO)
    warm = Path(summary["warm_start"])
    assert warm.name == "warm_start.safetensors" and warm.is_file()
    second = _model()
    torch.nn.init.zeros_(second.net[0].weight)  # differs from the first run's start
    fit(second, _loss_fn(), _config(tmp_path / "b", steps=1, init=str(warm), lr=1e-9), INFO)
    start = _records(tmp_path / "b")[0]
    assert start["init"].startswith("warm start: every trainable weight")
    for key, value in first.state_dict().items():  # bf16 file, then one step at lr 1e-9
        close = torch.allclose(second.state_dict()[key], value, rtol=2**-8, atol=1e-6)
        assert close, key
    # resuming a checkpoint wins over --init (the run continues where it stopped)
    fit(second, _loss_fn(), _config(tmp_path / "b", steps=2, init=str(warm)), INFO)
    resumed = [r for r in _records(tmp_path / "b") if r.get("event") == "resume"]
    assert resumed and resumed[-1]["init"] is None
