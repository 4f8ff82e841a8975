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

from ecgfm.losses import MaskedReconstructionLoss
from ecgfm.models import create_model
from ecgfm.models.st_mem import ST_MEM_DECODER_ARGS, STMEMPretrain
from ecgfm.train import args as A
from ecgfm.train.distributed import cleanup_distributed
from ecgfm.train.loop import fit
from ecgfm.train.sampler import StepSampler, step_generator
from ecgfm.transforms.presets import get_preset


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
    data, train_idx, val_idx = A.load_data(args, get_preset("st_mem"), info)
    encoder = create_model(args.model, **args.model_args)
    model = STMEMPretrain(
        encoder,
        **{**ST_MEM_DECODER_ARGS, **args.decoder_args},
        mask_ratio=args.mask_ratio,
        norm_pix_loss=not args.no_norm_pix,
    )
    model = model.to(dev)
    # pred and target come normalised from the model when norm_pix_loss is on
    recon = MaskedReconstructionLoss("mse")
    sampler = StepSampler(
        len(train_idx), args.batch_size, rank=info.rank, world_size=info.world_size, seed=args.seed
    )

    def compute_loss(net: torch.nn.Module, step: int) -> tuple[torch.Tensor, dict, int]:
        idx = train_idx[sampler.indices(step).numpy()]
        x = data.windows(idx, crop="random", generator=step_generator(args.seed, step, info.rank))
        out = net(x.to(dev), generator=step_generator(args.seed, step, info.rank, stream=1))
        return recon(out.pred, out.target, out.mask), {}, len(idx)

    def evaluate(net: STMEMPretrain) -> dict[str, float]:
        total, count = 0.0, 0
        masks = torch.Generator().manual_seed(args.seed + 1)  # the same masks at every validation
        for start in range(0, len(val_idx), 64):
            idx = val_idx[start : start + 64]
            out = net(data.windows(idx, crop="center").to(dev), generator=masks)
            total += float(recon(out.pred, out.target, out.mask)) * len(idx)
            count += len(idx)
        return {"recon_mse": total / count}

    run_args = A.run_record(args, data, train_idx, val_idx)
    summary = fit(
        model,
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
