"""ST-MEM: spatio-temporal masked ECG modelling (75 % of each lead's patches masked, MSE).

ST-MEM preset (250 Hz, random 9 s crops of the 10 s records, standardised), ViT encoder with a
lead-wise shared decoder, MSE on masked patches against per-patch normalised targets, AdamW
(betas 0.9/0.95, wd 0.01, base lr 1.5e-4 scaled by global batch / 256), cosine schedule
with warm-up; validation = masked reconstruction error on held-aside records with fixed masks.

    python examples/pretrain_stmem.py --out runs/stmem --ptbxl-root ../shared/data/ptbxl \
        --synthetic 2000 --steps 5000 --precision bf16
    torchrun --nproc_per_node 2 examples/pretrain_stmem.py ...
"""

from __future__ import annotations

import argparse

import torch

from ecgfm.methods.st_mem import STMEM
from ecgfm.train import args as A
from ecgfm.train.ddp import cleanup_distributed
from ecgfm.train.export import EncoderExport
from ecgfm.train.loop import fit
from ecgfm.train.sampler import StepSampler, step_generator

PAPER = (
    "Na et al. Guiding Masked Representation Learning to Capture Spatio-Temporal "
    "Relationship of Electrocardiogram. ICLR 2024 (ST-MEM, re-implemented by ecgfm)"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    A.add_train_args(p, lr=None, weight_decay=0.01, batch_size=64, betas=(0.9, 0.95))
    A.add_data_args(p)
    g = p.add_argument_group("ST-MEM")
    g.add_argument("--blr", type=float, default=1.5e-4, help="lr = blr * global batch / 256")
    g.add_argument("--model", default="st_mem_vit_small", help="st_mem_vit_small | _base")
    g.add_argument("--model-args", type=A.json_dict, default={}, help='e.g. {"depth": 4}')
    g.add_argument("--decoder-args", type=A.json_dict, default={}, help="decoder_dim, ...")
    g.add_argument("--mask-ratio", type=float, default=0.75)
    g.add_argument("--no-norm-pix", action="store_true", help="raw (not normalised) targets")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    info = A.setup(args)
    if args.lr is None:  # the MAE / ST-MEM linear scaling rule
        args.lr = args.blr * args.batch_size * info.world_size / 256
    dev = info.device
    method = STMEM(
        args.model,
        model_args=args.model_args,
        decoder_args=args.decoder_args,
        mask_ratio=args.mask_ratio,
        norm_pix=not args.no_norm_pix,
    )
    data, train_idx, val_idx = A.load_data(args, method.preset, info)
    model = method.objective.to(dev)
    sampler = StepSampler(
        len(train_idx), args.batch_size, rank=info.rank, world_size=info.world_size, seed=args.seed
    )

    def compute_loss(net: torch.nn.Module, step: int) -> tuple[torch.Tensor, dict, int]:
        idx = train_idx[sampler.indices(step).numpy()]
        x = data.windows(idx, crop="random", generator=step_generator(args.seed, step, info.rank))
        masks = step_generator(args.seed, step, info.rank, stream=1)
        loss, parts = method.training_loss(net, x.to(dev), generator=masks)
        return loss, parts, len(idx)

    def evaluate(net: torch.nn.Module) -> dict[str, float]:
        batches = data.center_batches(val_idx, 64)
        return method.validation_metrics(batches, seed=args.seed + 1, device=dev)

    run_args = A.run_record(args, data, train_idx, val_idx)
    summary = fit(
        model,
        compute_loss,
        A.train_config(args),
        info,
        evaluate=evaluate if len(val_idx) else None,
        export=EncoderExport(method.encoder, preset=method.preset, paper=PAPER),
        export_dtype=args.export_dtype,
        run_args=run_args,
    )
    cleanup_distributed()
    return summary


if __name__ == "__main__":
    main()
