"""Train a 12-lead Net1D teacher for SelfMIS, supervised on PTB-XL statements (training folds).

SelfMIS aligns a lead-I student with a frozen 12-lead teacher; the paper's teacher is
ECGFounder, itself a Net1D trained *supervised* on 150 statements of ~10 M labelled ECGs. Those
weights cannot be downloaded here, so this script builds the closest available analogue: a
Net1D trained multi-label on the PTB-XL statements (``--labels all``: 71 statements, including
the rhythm statements) of the pre-training folds only (default 1-7, so folds 8/9, which the PTB-XL
probes use for validation/test in this subset, are never seen). Validation: macro ROC-AUC on
held-aside patients of those folds. The labels are used for the teacher only; the model card of
any student says so. See docs/training.md.

    python examples/train_teacher.py --out runs/teacher --ptbxl-root ../shared/data/ptbxl \
        --arch net1d_ecgfounder --crop-samples 2500 --steps 2000 --threads 1
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import torch
from torch import nn

from ecgfm.data import PTBXL
from ecgfm.eval.metrics import macro_auroc
from ecgfm.train import args as A
from ecgfm.train.ddp import cleanup_distributed
from ecgfm.train.encoders import build_encoder
from ecgfm.train.export import EncoderExport
from ecgfm.train.loop import fit
from ecgfm.train.sampler import StepSampler, step_generator
from ecgfm.transforms import functional as Fn
from ecgfm.transforms.presets import get_preset

logger = logging.getLogger("train_teacher")


class Classifier(nn.Module):
    """Encoder + linear head on the pooled embedding: ``(B, 12, T) -> (B, K)`` logits."""

    def __init__(self, encoder: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(int(encoder.num_features), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder.forward_embedding(x))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    A.add_train_args(p, lr=1e-3, weight_decay=1e-2, batch_size=32)
    A.add_data_args(p)
    g = p.add_argument_group("teacher")
    g.add_argument("--arch", default="net1d_ecgfounder", help="12-lead Net1D architecture")
    g.add_argument("--arch-args", type=A.json_dict, default={})
    g.add_argument("--labels", default="all", help="PTB-XL label view (all, superclass, ...)")
    g.add_argument("--min-positives", type=int, default=5, help="drop rarer statements")
    g.add_argument("--crop-samples", type=int, default=0, help="train on random crops (0: all)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.synthetic:
        raise SystemExit("the supervised teacher needs labels: --synthetic must be 0")
    info = A.setup(args)
    dev = info.device
    data, train_idx, val_idx = A.load_data(args, get_preset("selfmis"), info)
    ptbxl = PTBXL(args.ptbxl_root, sampling_rate=args.ptbxl_fs, folds=args.folds)
    row_of = {int(e): i for i, e in enumerate(ptbxl.ecg_ids)}
    y_all, classes = ptbxl.labels(args.labels)
    y = y_all[[row_of[int(e)] for e in data.ecg_ids]]
    keep = y[train_idx].sum(0) >= args.min_positives
    y, classes = torch.from_numpy(y[:, keep]).float(), tuple(np.asarray(classes)[keep])
    logger.info("%d %r statements with >= %d training positives: %s",
                len(classes), args.labels, args.min_positives, ", ".join(classes))  # fmt: skip
    encoder = build_encoder(None, arch=args.arch, arch_args=args.arch_args, num_leads=12)
    model = Classifier(encoder, len(classes)).to(dev)
    loss_fn = nn.BCEWithLogitsLoss()
    sampler = StepSampler(
        len(train_idx), args.batch_size, rank=info.rank, world_size=info.world_size, seed=args.seed
    )

    def compute_loss(m: nn.Module, step: int) -> tuple[torch.Tensor, dict, int]:
        idx = torch.from_numpy(train_idx)[sampler.indices(step)]
        x = data.windows(idx, crop="center")
        if args.crop_samples:
            x = Fn.crop(
                x, args.crop_samples, "random", generator=step_generator(args.seed, step, info.rank)
            )
        return loss_fn(m(x.to(dev)).float(), y[idx].to(dev)), {}, len(idx)

    def evaluate(m: nn.Module) -> dict[str, float]:
        scores = []
        for start in range(0, len(val_idx), 64):
            idx = torch.from_numpy(val_idx[start : start + 64])
            scores.append(torch.sigmoid(m(data.windows(idx, crop="center").to(dev)).float()))
        yv = y[val_idx].numpy()
        present = (yv.sum(0) > 0) & (yv.sum(0) < len(yv))
        pv = torch.cat(scores).cpu().numpy()
        return {"val_macro_auroc": macro_auroc(yv[:, present], pv[:, present])}

    run_args = {**A.run_record(args, data, train_idx, val_idx), "classes": list(classes)}
    summary = fit(model, compute_loss, A.train_config(args), info,
                  evaluate=evaluate if len(val_idx) else None,
                  export=EncoderExport(encoder, preset="selfmis", directory="teacher"),
                  export_dtype=args.export_dtype,
                  run_args=run_args)  # fmt: skip
    cleanup_distributed()
    return summary


if __name__ == "__main__":
    main()
