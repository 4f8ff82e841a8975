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

from ecgfm.methods.hl import HybridLearning
from ecgfm.train import args as A
from ecgfm.train.ddp import cleanup_distributed
from ecgfm.train.export import EncoderExport
from ecgfm.train.loop import fit
from ecgfm.train.pretrain_data import same_patient_partners
from ecgfm.train.sampler import StepSampler, step_generator

PAPER = (
    "Song et al. Foundation models for ECG: leveraging hybrid self-supervised learning for "
    "advanced cardiac diagnostics. KDD 2025 (HL, re-implemented by ecgfm)"
)


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
    method = HybridLearning(
        args.model,
        model_args=args.model_args,
        decoder_args=args.decoder_args,
        mask_ratio=args.mask_ratio,
        weights=args.weights,
        gather_distributed=info.distributed,
    )
    data, train_idx, val_idx = A.load_data(args, method.preset, info)
    pairs = not args.no_patient_pairs
    if pairs and args.batch_size % 2:
        raise SystemExit("--batch-size must be even with patient pairs (anchors + partners)")
    patients = {p: k for k, p in enumerate(sorted(set(data.patient_ids)))}
    patient_codes = torch.tensor([patients[p] for p in data.patient_ids])
    objective = method.objective.to(dev)
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
        masks = step_generator(args.seed, step, info.rank, stream=1)
        total, parts = method.training_loss(
            net, x, patient_codes[idx], generator=g, mask_generator=masks, device=dev
        )
        return total, parts, len(idx)

    def evaluate(net: torch.nn.Module) -> dict[str, float]:
        batches = data.center_batches(val_idx, 64)
        return method.validation_metrics(batches, seed=args.seed + 1, device=dev)

    run_args = A.run_record(args, data, train_idx, val_idx)
    summary = fit(
        objective,
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
