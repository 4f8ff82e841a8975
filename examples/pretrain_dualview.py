"""Dual-View transformer, contrastive pre-training with the paper's view strategies (InfoNCE).

Dual-View preset (500 Hz, 10 s, per-lead z-score; ``--fs 100`` for the paper's stochastic
setting), views: ``cmsc`` (two non-overlapping halves + random lead masking p = 0.5, the
paper's best), ``interleave`` (even / odd samples + RLM) or ``stochastic`` (the augmentation
pool twice, full length); InfoNCE (temperature 0.1) on a projection head. Validation:
view-1 -> view-2 retrieval R@1/R@5 on held-aside records with fixed views.

    python examples/pretrain_dualview.py --out runs/dualview --ptbxl-root ../shared/data/ptbxl \
        --synthetic 2000 --views cmsc --steps 5000
    torchrun --nproc_per_node 2 examples/pretrain_dualview.py ...
"""

from __future__ import annotations

import argparse

import torch

from ecgfm.losses import InfoNCELoss
from ecgfm.models import create_model
from ecgfm.train import args as A
from ecgfm.train.distributed import cleanup_distributed
from ecgfm.train.loop import fit
from ecgfm.train.objectives import ContrastiveObjective
from ecgfm.train.retrieval import retrieval_recall
from ecgfm.train.sampler import StepSampler, step_generator
from ecgfm.transforms.presets import get_preset
from ecgfm.transforms.views import CMSC, Interleave, Stochastic


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    A.add_train_args(p, lr=3e-4, weight_decay=0.05, batch_size=64)
    A.add_data_args(p)
    g = p.add_argument_group("Dual-View")
    g.add_argument("--model", default="dualview_base", help="dualview_base | dualview_small")
    g.add_argument("--model-args", type=A.json_dict, default={})
    g.add_argument("--views", choices=("cmsc", "interleave", "stochastic"), default="cmsc")
    g.add_argument(
        "--rlm", type=float, default=0.5, help="lead-masking probability (cmsc, interleave)"
    )
    g.add_argument("--fs", type=float, default=500.0, help="sampling rate of the preset")
    g.add_argument("--temperature", type=float, default=0.1)
    g.add_argument("--proj-dim", type=int, default=128, help="projection head width (0: none)")
    return p.parse_args(argv)


def make_views(kind: str, fs: float, rlm: float) -> CMSC | Interleave | Stochastic:
    if kind == "cmsc":
        return CMSC(2, rlm=rlm or None, fs=fs)
    if kind == "interleave":
        return Interleave(2, rlm=rlm or None, fs=fs)
    return Stochastic(fs=fs)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    info = A.setup(args)
    dev = info.device
    preset = get_preset("dualview", fs=args.fs, length=round(10 * args.fs))
    data, train_idx, val_idx = A.load_data(args, preset, info)
    views = make_views(args.views, preset.fs, args.rlm)
    view_length = preset.length if args.views == "stochastic" else preset.length // 2
    encoder = create_model(args.model, input_length=view_length, **args.model_args)
    loss_fn = InfoNCELoss(args.temperature, gather_distributed=info.distributed)
    objective = ContrastiveObjective(encoder, loss_fn, proj_dim=args.proj_dim).to(dev)
    sampler = StepSampler(
        len(train_idx), args.batch_size, rank=info.rank, world_size=info.world_size, seed=args.seed
    )

    def compute_loss(net: torch.nn.Module, step: int) -> tuple[torch.Tensor, dict, int]:
        idx = train_idx[sampler.indices(step).numpy()]
        x = data.windows(idx, crop="center")
        v0, v1 = views(x, generator=step_generator(args.seed, step, info.rank), inplace=True)
        return net(v0.x.contiguous().to(dev), v1.x.contiguous().to(dev)), {}, len(idx)

    def evaluate(net: ContrastiveObjective) -> dict[str, float]:
        g = torch.Generator().manual_seed(args.seed + 1)  # the same views at every validation
        z0, z1 = [], []
        for start in range(0, len(val_idx), 64):
            v0, v1 = views(data.windows(val_idx[start : start + 64], crop="center"), generator=g)
            z0.append(net.embed(v0.x.contiguous().to(dev)).float())
            z1.append(net.embed(v1.x.contiguous().to(dev)).float())
        return retrieval_recall(torch.cat(z0), torch.cat(z1), (1, 5))

    run_args = A.run_record(args, data, train_idx, val_idx)
    summary = fit(
        objective,
        compute_loss,
        A.train_config(args),
        info,
        evaluate=evaluate if len(val_idx) else None,
        export=(encoder, "encoder.safetensors"),
        export_dtype=args.export_dtype,
        run_args=run_args,
    )
    cleanup_distributed()
    return summary


if __name__ == "__main__":
    main()
