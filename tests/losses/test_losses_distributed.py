"""The losses across 2 processes (gloo on CPU) against one process on the concatenated batch.

Documented convention (docs/losses.md): with ``gather_distributed=True`` rank ``r`` returns
``L_r`` such that

- ``mean_r L_r`` equals the single-process loss ``L`` on the concatenated batch;
- the gradient of rank ``r``'s local shard equals ``world_size * dL/d(shard)`` — DDP averages
  gradients over ranks, so parameters receive exactly ``dL/dtheta``;
- gradients of tensors every rank holds (learnable scale/bias, log-variances, encoder weights)
  averaged over ranks equal the single-process gradient.

The 2 ranks are spawned once for all scenarios (module fixture) with torch.multiprocessing and
rendezvous through a file store in a temporary folder (no ports to race for).
"""

from __future__ import annotations

import time

import pytest
import torch
import torch.multiprocessing as mp
from _dist_worker import SCENARIOS, WORLD_SIZE, full_inputs, run_worker

pytestmark = pytest.mark.distributed

_TIMEOUT_S = 180.0


@pytest.fixture(scope="module")
def rank_results(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with the gloo backend is not available in this build")
    folder = tmp_path_factory.mktemp("dist")
    init_file = folder / "store"
    context = mp.start_processes(
        run_worker,
        args=(str(init_file), str(folder)),
        nprocs=WORLD_SIZE,
        join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + _TIMEOUT_S
    try:
        while not context.join(timeout=max(0.1, deadline - time.monotonic())):
            if time.monotonic() > deadline:
                pytest.fail(f"distributed workers did not finish within {_TIMEOUT_S:.0f} s")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.terminate()
                process.join(5)
    return [torch.load(folder / f"rank{r}.pt") for r in range(WORLD_SIZE)]


def _offsets(sizes: tuple[int, ...]) -> list[int]:
    return [sum(sizes[:r]) for r in range(len(sizes))]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_matches_single_process_on_concatenated_batch(name: str, rank_results: list[dict]) -> None:
    sizes, scenario = SCENARIOS[name]
    single = scenario(full_inputs(), False)
    per_rank = [results[name] for results in rank_results]

    mean_loss = sum(r["loss"] for r in per_rank) / WORLD_SIZE
    torch.testing.assert_close(mean_loss, single["loss"], rtol=1e-10, atol=1e-12)

    for key, full_grad in single["local"].items():
        for rank, (offset, size) in enumerate(zip(_offsets(sizes), sizes, strict=True)):
            got = per_rank[rank]["local"][key] / WORLD_SIZE
            want = full_grad[offset : offset + size]
            assert got.shape == want.shape
            torch.testing.assert_close(
                got, want, rtol=1e-9, atol=1e-12, msg=lambda m, k=key, r=rank: f"{k}@{r}: {m}"
            )
            assert torch.count_nonzero(want) > 0  # the comparison is not vacuous

    for key, full_grad in single["shared"].items():
        mean_grad = sum(r["shared"][key] for r in per_rank) / WORLD_SIZE
        torch.testing.assert_close(mean_grad, full_grad, rtol=1e-9, atol=1e-12)
        assert torch.count_nonzero(full_grad) > 0


def test_per_rank_losses_differ(rank_results: list[dict]) -> None:
    # Each rank scores its own anchors: the per-rank values are not copies of the global loss.
    for name in ("siglip_frozen_teacher", "infonce", "patient"):
        losses = [float(r[name]["loss"]) for r in rank_results]
        assert abs(losses[0] - losses[1]) > 1e-6, name


def test_single_process_gather_is_identity() -> None:
    from ecgfm import distributed

    x = torch.randn(3, 2)
    out, offset = distributed.gather(x)
    assert out is x and offset == 0
    assert distributed.get_world_size() == 1 and distributed.get_rank() == 0
    with pytest.raises(ValueError, match="leading batch axis"):
        distributed.gather(torch.tensor(1.0))
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        distributed.gather([1, 2])  # type: ignore[arg-type]


def test_gather_flag_without_process_group_is_single_process() -> None:
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    ids = [1, 1, 2, 3, 2]
    from ecgfm.losses import InfoNCELoss, PatientContrastiveLoss, SigLIPLoss

    for make in (SigLIPLoss, InfoNCELoss):
        torch.testing.assert_close(make(gather_distributed=True)(z0, z1), make()(z0, z1))
    torch.testing.assert_close(
        PatientContrastiveLoss(gather_distributed=True)(z0, z1, ids),
        PatientContrastiveLoss()(z0, z1, ids),
    )
