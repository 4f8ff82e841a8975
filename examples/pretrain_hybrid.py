"""Hybrid Learning (HL): masked reconstruction (L1) + patient-level + sample-level InfoNCE, 1:1:1.

HL preset (250 Hz, 10 s, mV, no filter), HL ViT (default patch 60, depth 2, width 512: the
paper's best HL model), MAE decoder; two augmented views of every record (the Dual-View
stochastic pool: warp, crop, band-pass, noise, scale) for the sample-level term; each batch
pairs records with another ECG of the same patient when one exists, so the patient-level term
sees different ECGs of one patient as positives. Validation: masked L1 with fixed masks and
view-1 -> view-2 retrieval R@1/R@5 on held-aside records.

    python examples/pretrain_hybrid.py --out runs/hl --ptbxl-root ../shared/data/ptbxl \
        --synthetic 2000 --steps 5000
    torchrun --nproc_per_node 2 examples/pretrain_hybrid.py ...
"""

from __future__ import annotations

import argparse

import torch

from ecgfm.losses import HybridLoss
from ecgfm.models import create_model
from ecgfm.models.hl_vit import HLPretrain
from ecgfm.train import args as A
from ecgfm.train.distributed import cleanup_distributed
from ecgfm.train.loop import fit
from ecgfm.train.objectives import HybridObjective
from ecgfm.train.pretrain_data import same_patient_partners
from ecgfm.train.retrieval import retrieval_recall
from ecgfm.train.sampler import StepSampler, step_generator
from ecgfm.transforms.presets import get_preset
from ecgfm.transforms.views import Stochastic


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    A.add_train_args(p, lr=1e-4, weight_decay=0.05, batch_size=64, betas=(0.9, 0.95))
    A.add_data_args(p)
    g = p.add_argument_group("Hybrid Learning")
    g.add_argument("--model", default="hl_vit_p60_d2_w512", help="hl_vit_p{P}_d{depth}_w{width}")
    g.add_argument("--model-args", type=A.json_dict, default={})
    g.add_argument("--decoder-args", type=A.json_dict, default={}, help="decoder_dim, ...")
    g.add_argument("--mask-ratio", type=float, default=0.75)
    g.add_argument(
        "--weights",
        type=float,
        nargs=3,
        default=[1.0, 1.0, 1.0],
        metavar=("RECON", "PATIENT", "SAMPLE"),
        help="loss weights (paper 1:1:1)",
    )
    g.add_argument(
        "--no-patient-pairs",
        action="store_true",
        help="plain random batches (no same-patient partner records)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    info = A.setup(args)
    dev = info.device
    preset = get_preset("hl")
    data, train_idx, val_idx = A.load_data(args, preset, info)
    pairs = not args.no_patient_pairs
    if pairs and args.batch_size % 2:
        raise SystemExit("--batch-size must be even with patient pairs (anchors + partners)")
    patients = {p: k for k, p in enumerate(sorted(set(data.patient_ids)))}
    patient_codes = torch.tensor([patients[p] for p in data.patient_ids])
    encoder = create_model(args.model, **args.model_args)
    model = HLPretrain(encoder, mask_ratio=args.mask_ratio, **args.decoder_args)
    loss_fn = HybridLoss(args.weights, gather_distributed=info.distributed)
    objective = HybridObjective(model, loss_fn).to(dev)
    views = Stochastic(fs=preset.fs)
    sampler = StepSampler(
        len(train_idx),
        args.batch_size // 2 if pairs else args.batch_size,
        rank=info.rank,
        world_size=info.world_size,
        seed=args.seed,
    )

    def compute_loss(net: torch.nn.Module, step: int) -> tuple[torch.Tensor, dict, int]:
        g = step_generator(args.seed, step, info.rank)
        idx = torch.from_numpy(train_idx)[sampler.indices(step)]
        if pairs:
            idx = torch.cat([idx, same_patient_partners(idx, data.patient_ids, train_idx, g)])
        x = data.windows(idx, crop="center", generator=g)
        v0, v1 = views(x, generator=g, check_finite=False)
        masks = step_generator(args.seed, step, info.rank, stream=1)
        total, parts = net(
            x.to(dev), v0.x.to(dev), v1.x.to(dev), patient_codes[idx].to(dev), generator=masks
        )
        return total, {f"loss/{k}": float(v) for k, v in parts.items()}, len(idx)

    def evaluate(net: HybridObjective) -> dict[str, float]:
        g = torch.Generator().manual_seed(args.seed + 1)  # the same masks and views every time
        l1, z0, z1 = 0.0, [], []
        for start in range(0, len(val_idx), 64):
            x = data.windows(val_idx[start : start + 64], crop="center")
            rec = net.model(x.to(dev), generator=g)
            l1 += float(net.loss.reconstruction(rec.pred, rec.target, rec.mask)) * len(x)
            v0, v1 = views(x, generator=g)
            z0.append(net.model.forward_contrastive(v0.x.to(dev)).float())
            z1.append(net.model.forward_contrastive(v1.x.to(dev)).float())
        return {
            "recon_l1": l1 / len(val_idx),
            **retrieval_recall(torch.cat(z0), torch.cat(z1), (1, 5)),
        }

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
