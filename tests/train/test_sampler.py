"""StepSampler: epochs cover the data once, ranks are disjoint, batches depend on the step only."""

from __future__ import annotations

import pytest
import torch

from ecgfm.train.sampler import StepSampler, derive_seed, step_generator


def test_epoch_is_a_permutation_minus_the_dropped_remainder() -> None:
    s = StepSampler(23, 4, seed=3)
    assert s.steps_per_epoch == 5
    seen = torch.cat([s.indices(step) for step in range(5)])
    assert len(set(seen.tolist())) == 20  # 5 batches of 4 distinct indices, 3 dropped
    assert seen.min() >= 0 and seen.max() < 23


def test_epochs_are_reshuffled_and_reproducible() -> None:
    s = StepSampler(30, 5, seed=1)
    e0 = torch.cat([s.indices(k) for k in range(6)])
    e1 = torch.cat([s.indices(k) for k in range(6, 12)])
    assert not torch.equal(e0, e1)
    assert sorted(e0.tolist()) == sorted(e1.tolist()) == list(range(30))
    again = StepSampler(30, 5, seed=1)
    assert torch.equal(again.indices(9), s.indices(9))  # no state: any step, any order
    assert not torch.equal(StepSampler(30, 5, seed=2).indices(0), s.indices(0))


def test_ranks_split_the_global_batch_of_a_single_process() -> None:
    one = StepSampler(40, 8, seed=5)
    ranks = [StepSampler(40, 4, rank=r, world_size=2, seed=5) for r in range(2)]
    for step in range(7):
        parts = [r.indices(step) for r in ranks]
        assert not set(parts[0].tolist()) & set(parts[1].tolist())
        # the same records as one process with the global batch, in the same order
        assert torch.equal(torch.cat(parts), one.indices(step))


def test_iteration_resumes_at_start_step() -> None:
    full = list(StepSampler(12, 2, seed=0, num_steps=9))
    tail = list(StepSampler(12, 2, seed=0, start_step=4, num_steps=5))
    assert tail == full[4:]
    epoch = StepSampler(12, 2, seed=0, start_step=2)
    assert len(epoch) == len(list(epoch)) == 4  # rest of the first epoch


def test_derived_seeds_and_generators() -> None:
    assert derive_seed(1, 2, 3) == derive_seed(1, 2, 3)
    assert len({derive_seed(0, s) for s in range(1000)}) == 1000
    assert derive_seed(1, 2) != derive_seed(2, 1)
    a = torch.rand(3, generator=step_generator(7, 10, rank=0))
    b = torch.rand(3, generator=step_generator(7, 10, rank=0))
    c = torch.rand(3, generator=step_generator(7, 10, rank=1))
    d = torch.rand(3, generator=step_generator(7, 10, rank=0, stream=1))
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, d)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_samples": 7, "batch_size": 4, "world_size": 2},  # global batch > data
        {"num_samples": 10, "batch_size": 0},
        {"num_samples": 10, "batch_size": 2, "rank": 2, "world_size": 2},
        {"num_samples": 10, "batch_size": 2, "start_step": -1},
    ],
)
def test_invalid_configuration(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        StepSampler(**kwargs)


def test_invalid_step() -> None:
    with pytest.raises(ValueError, match="step"):
        StepSampler(10, 2).indices(-3)
    with pytest.raises(TypeError):
        derive_seed(1.5)  # type: ignore[arg-type]
