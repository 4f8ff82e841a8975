"""WarmupCosine: closed form at the landmarks, scheduler = function, state round trip."""

from __future__ import annotations

import math

import pytest
import torch

from ecgfm.train.schedule import WarmupCosine, warmup_cosine_factor


def test_landmarks() -> None:
    # warm-up: linear from 1/W to 1 over W steps, the last warm-up step is at the peak
    assert warmup_cosine_factor(0, 4, 20) == pytest.approx(0.25)
    assert warmup_cosine_factor(3, 4, 20) == pytest.approx(1.0)
    # first cosine step is the peak, midpoint is halfway to the floor, end is the floor
    assert warmup_cosine_factor(4, 4, 20) == pytest.approx(1.0)
    assert warmup_cosine_factor(12, 4, 20, 0.1) == pytest.approx(0.55)
    assert warmup_cosine_factor(20, 4, 20, 0.1) == pytest.approx(0.1)
    assert warmup_cosine_factor(500, 4, 20, 0.1) == pytest.approx(0.1)


def test_matches_naive_formula_and_is_monotone_after_warmup() -> None:
    w, total, floor = 3, 17, 0.05
    factors = [warmup_cosine_factor(s, w, total, floor) for s in range(total + 2)]
    for s, f in enumerate(factors):
        if s < w:
            want = (s + 1) / w
        elif s >= total:
            want = floor
        else:
            want = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * (s - w) / (total - w)))
        assert f == pytest.approx(want, abs=1e-12)
    assert all(a >= b for a, b in zip(factors[w:], factors[w + 1 :], strict=False))


def test_no_warmup_starts_at_peak() -> None:
    assert warmup_cosine_factor(0, 0, 10) == 1.0


def _optimizer(lr: float = 0.5) -> torch.optim.Optimizer:
    p = torch.nn.Parameter(torch.zeros(2))
    return torch.optim.SGD([{"params": [p]}, {"params": [torch.nn.Parameter(torch.ones(1))]}], lr)


def test_scheduler_follows_the_function_for_every_group() -> None:
    opt = _optimizer()
    opt.param_groups[1]["lr"] = 0.1
    sched = WarmupCosine(opt, warmup_steps=2, total_steps=8, min_ratio=0.2)
    for step in range(10):
        f = warmup_cosine_factor(step, 2, 8, 0.2)
        assert opt.param_groups[0]["lr"] == pytest.approx(0.5 * f)
        assert opt.param_groups[1]["lr"] == pytest.approx(0.1 * f)
        opt.step()
        sched.step()


def test_state_dict_round_trip_continues_identically() -> None:
    opt_a = _optimizer()
    a = WarmupCosine(opt_a, 3, 12)
    for _ in range(5):
        opt_a.step()
        a.step()
    opt_b = _optimizer()
    b = WarmupCosine(opt_b, 3, 12)
    opt_b.load_state_dict(opt_a.state_dict())
    b.load_state_dict(a.state_dict())
    for _ in range(5):
        assert opt_a.param_groups[0]["lr"] == opt_b.param_groups[0]["lr"]
        for o, s in ((opt_a, a), (opt_b, b)):
            o.step()
            s.step()


@pytest.mark.parametrize(
    ("warmup", "total", "floor"), [(5, 4, 0.0), (0, 0, 0.0), (1, 4, 1.5), (-1, 4, 0.0)]
)
def test_invalid_arguments(warmup: int, total: int, floor: float) -> None:
    with pytest.raises(ValueError):
        warmup_cosine_factor(0, warmup, total, floor)
    with pytest.raises(ValueError):
        WarmupCosine(_optimizer(), warmup, total, floor)


def test_invalid_step() -> None:
    with pytest.raises(ValueError, match="step"):
        warmup_cosine_factor(-1, 0, 4)
    with pytest.raises(TypeError):
        warmup_cosine_factor(0, 1.5, 4)  # type: ignore[arg-type]
