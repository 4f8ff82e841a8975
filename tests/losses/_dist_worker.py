"""Scenarios of the distributed loss test and the worker that runs them on one rank.

Every scenario builds the same global batch on every process (fixed seed), takes this rank's
rows, computes its loss with ``gather_distributed`` on, and backpropagates. The test compares
the per-rank results with the same scenario run in one process on the whole batch
(``gather=False``). Everything is float64 so the comparison can be tight.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ecgfm import distributed
from ecgfm.losses import HybridLoss, InfoNCELoss, PatientContrastiveLoss, SigLIPLoss

WORLD_SIZE = 2
DIM = 6
# Patients shared across the two ranks for both shard layouts (3|5 and 4|4).
PATIENT_IDS = [0, 1, 2, 0, 3, 1, 2, 0]

Result = dict[str, Any]  # {"loss": 0-d, "local": {name: grad}, "shared": {name: grad}}


def full_inputs(seed: int = 0) -> dict[str, torch.Tensor]:
    n = len(PATIENT_IDS)
    g = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    mask = torch.zeros(n, 6, dtype=torch.bool)
    for i in range(n):  # the same number of masked patches on every row
        mask[i, torch.randperm(6, generator=g)[:3]] = True
    return {
        "z0": torch.randn(n, DIM, generator=g, dtype=f64),
        "z1": torch.randn(n, DIM, generator=g, dtype=f64),
        "x0": torch.randn(n, 5, generator=g, dtype=f64),
        "x1": torch.randn(n, 5, generator=g, dtype=f64),
        "pred": torch.randn(n, 6, 4, generator=g, dtype=f64),
        "target": torch.randn(n, 6, 4, generator=g, dtype=f64),
        "mask": mask,
        "ids": torch.tensor(PATIENT_IDS),
        "negatives": torch.randn(4, DIM, generator=g, dtype=f64),  # same bank on every rank
    }


_ROW_KEYS = ("z0", "z1", "x0", "x1", "pred", "target", "mask", "ids")


def shard(full: dict[str, torch.Tensor], rank: int, sizes: tuple[int, ...]) -> dict:
    start = sum(sizes[:rank])
    stop = start + sizes[rank]
    return {k: (v[start:stop].clone() if k in _ROW_KEYS else v.clone()) for k, v in full.items()}


def _leaf(t: torch.Tensor) -> torch.Tensor:
    return t.detach().clone().requires_grad_(True)


def _result(loss: torch.Tensor, local: dict, shared: dict) -> Result:
    loss.backward()
    return {
        "loss": loss.detach(),
        "local": {k: v.grad.detach().clone() for k, v in local.items()},
        "shared": {k: v.grad.detach().clone() for k, v in shared.items()},
    }


def _siglip(chunk: int | None, frozen: bool) -> Callable[[dict, bool], Result]:
    def run(x: dict, gather: bool) -> Result:
        z0 = _leaf(x["z0"])
        z1 = x["z1"] if frozen else _leaf(x["z1"])
        loss = SigLIPLoss(chunk_size=chunk, gather_distributed=gather)(z0, z1)
        return _result(loss, {"z0": z0} if frozen else {"z0": z0, "z1": z1}, {})

    return run


def _siglip_learnable(x: dict, gather: bool) -> Result:
    z0, z1 = _leaf(x["z0"]), _leaf(x["z1"])
    module = SigLIPLoss(10.0, -10.0, learnable=True, chunk_size=3, gather_distributed=gather)
    module.double()
    loss = module(z0, z1)
    return _result(loss, {"z0": z0, "z1": z1}, {"log_scale": module.log_scale, "bias": module.bias})


def _siglip_passed_scale(x: dict, gather: bool) -> Result:
    z0, z1 = _leaf(x["z0"]), _leaf(x["z1"])
    scale = torch.tensor(7.0, dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(-2.0, dtype=torch.float64, requires_grad=True)
    loss = SigLIPLoss(gather_distributed=gather)(z0, z1, scale, bias)
    return _result(loss, {"z0": z0, "z1": z1}, {"logit_scale": scale, "logit_bias": bias})


def _infonce(**options: Any) -> Callable[[dict, bool], Result]:
    with_negatives = options.pop("with_negatives", False)

    def run(x: dict, gather: bool) -> Result:
        z0, z1 = _leaf(x["z0"]), _leaf(x["z1"])
        negatives = x["negatives"] if with_negatives else None
        loss = InfoNCELoss(0.2, gather_distributed=gather, **options)(z0, z1, negatives)
        return _result(loss, {"z0": z0, "z1": z1}, {})

    return run


def _patient(**options: Any) -> Callable[[dict, bool], Result]:
    def run(x: dict, gather: bool) -> Result:
        z0, z1 = _leaf(x["z0"]), _leaf(x["z1"])
        loss = PatientContrastiveLoss(0.1, gather_distributed=gather, **options)(z0, z1, x["ids"])
        return _result(loss, {"z0": z0, "z1": z1}, {})

    return run


def _hybrid(x: dict, gather: bool) -> Result:
    z0, z1, pred = _leaf(x["z0"]), _leaf(x["z1"]), _leaf(x["pred"])
    module = HybridLoss(weighting="uncertainty", gather_distributed=gather).double()
    out = module(pred=pred, target=x["target"], mask=x["mask"], z0=z0, z1=z1, patient_ids=x["ids"])
    return _result(out.total, {"z0": z0, "z1": z1, "pred": pred}, {"log_vars": module.log_vars})


def _linear(seed: int) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(5, DIM).double()


def _ddp_selfmis(x: dict, gather: bool) -> Result:
    """A student encoder against a frozen teacher: parameter gradients, as DDP sees them."""
    student, teacher = _linear(1), _linear(2).requires_grad_(False)
    with torch.no_grad():
        z1 = teacher(x["x1"])
    loss = SigLIPLoss(chunk_size=2, gather_distributed=gather)(student(x["x0"]), z1)
    return _result(loss, {}, dict(student.named_parameters()))


def _ddp_patient(x: dict, gather: bool) -> Result:
    encoder = _linear(3)
    loss = PatientContrastiveLoss(gather_distributed=gather, include_intra_view=True)(
        encoder(x["x0"]), encoder(x["x1"]), x["ids"]
    )
    return _result(loss, {}, dict(encoder.named_parameters()))


def _gather_only(x: dict, gather: bool) -> Result:
    """``ecgfm.distributed.gather`` itself, under the losses' convention: local rows against
    all gathered rows, scaled by world_size / N."""
    z0 = _leaf(x["z0"])
    rows, offset = distributed.gather(z0) if gather else (z0, 0)
    world = WORLD_SIZE if gather else 1
    n = rows.shape[0]
    weights = torch.arange(n * n, dtype=torch.float64).reshape(n, n).sin()
    block = weights[offset : offset + z0.shape[0]]
    loss = ((z0 @ rows.T).tanh() * block).sum() * (world / n)
    return _result(loss, {"z0": z0}, {})


# name -> (shard sizes, scenario)
SCENARIOS: dict[str, tuple[tuple[int, ...], Callable[[dict, bool], Result]]] = {
    "gather": ((3, 5), _gather_only),
    "siglip_frozen_teacher": ((3, 5), _siglip(None, frozen=True)),
    "siglip_frozen_teacher_chunked": ((3, 5), _siglip(2, frozen=True)),
    "siglip_both_sides": ((4, 4), _siglip(None, frozen=False)),
    "siglip_learnable_chunked": ((3, 5), _siglip_learnable),
    "siglip_passed_scale": ((4, 4), _siglip_passed_scale),
    "infonce": ((3, 5), _infonce()),
    "infonce_ntxent_chunked": ((3, 5), _infonce(include_intra_view=True, chunk_size=3)),
    "infonce_one_way_negatives": ((4, 4), _infonce(symmetric=False, with_negatives=True)),
    "patient": ((3, 5), _patient()),
    "patient_intra_chunked": ((4, 4), _patient(include_intra_view=True, chunk_size=2)),
    "hybrid_uncertainty": ((4, 4), _hybrid),
    "ddp_selfmis_student": ((4, 4), _ddp_selfmis),
    "ddp_patient_encoder": ((3, 5), _ddp_patient),
}


def run_worker(rank: int, init_file: str, out_dir: str) -> None:
    """Entry point of one spawned rank: run every scenario, save the results."""
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{init_file}",
        rank=rank,
        world_size=WORLD_SIZE,
        timeout=timedelta(seconds=60),
    )
    try:
        assert distributed.get_rank() == rank and distributed.get_world_size() == WORLD_SIZE
        full = full_inputs()
        results = {}
        for name, (sizes, scenario) in SCENARIOS.items():
            results[name] = scenario(shard(full, rank, sizes), True)
        torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
        dist.barrier()
    finally:
        dist.destroy_process_group()
