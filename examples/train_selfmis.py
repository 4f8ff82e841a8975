"""SelfMIS: align a single-lead (lead I) Net1D student with a frozen 12-lead teacher (SigLIP).

Self-cutting (lead I of the same record, no other augmentation), frozen teacher, SigLIP loss
with the paper's fixed logit scale 1/0.07 and bias 0, AdamW (lr 1e-4, wd 0.1), cosine schedule,
gradient clipping 1.0; validation = 1-lead -> 12-lead retrieval R@1/5/10 on held-aside records.
The teacher's embeddings are computed once and cached (it is frozen and sees un-augmented
records), so a step runs the student only. See docs/training.md.

Optional patient-level contrast on single-lead recordings (CLOCS CMSC, not in the SelfMIS
paper): ``--cmsc-weight W`` adds ``W x PatientContrastiveLoss`` of two ``--cmsc-seconds``
windows of each of ``--cmsc-batch-size`` recordings per step, drawn from the CinC 2017
recordings of ``--cinc-root`` (unlabelled: their labels are never read into training) and/or
lead I of the PTB-XL training records (``--cmsc-ptbxl``: their two halves).

Optional RR distillation on the same single-lead recordings (not in the SelfMIS paper either):
``--rr-weight W`` adds ``W x FeatureRegressionLoss`` of a linear head on the student's
embedding predicting 21 standardised RR / heart-rate-variability features (R-peaks by the
optional neurokit2) of one random 10 s window of each of ``--rr-batch-size`` recordings per
step (ecgfm.train.rr_targets; windows without detectable R-peaks are left out of the term).

    python examples/train_selfmis.py --out runs/selfmis --ptbxl-root ../shared/data/ptbxl \
        --teacher path/to/12lead.safetensors --synthetic 2000 --steps 5000 --precision bf16
    torchrun --nproc_per_node 2 examples/train_selfmis.py ...   # DDP (gloo on CPU)
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import torch

from ecgfm.methods.selfmis import SelfMISMethod
from ecgfm.train import args as A
from ecgfm.train.ddp import cleanup_distributed
from ecgfm.train.export import EncoderExport
from ecgfm.train.loop import fit
from ecgfm.train.objectives import SelfMISObjective
from ecgfm.train.sampler import StepSampler, derive_seed, step_generator
from ecgfm.train.teacher_cache import teacher_embeddings

logger = logging.getLogger("train_selfmis")

PAPER = (
    "Self-alignment learning to improve myocardial infarction detection from single-lead ECG "
    "(SelfMIS), anonymous authors, under double-blind review (re-implemented by ecgfm)"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    A.add_train_args(p, lr=1e-4, weight_decay=0.1, batch_size=32)
    A.add_data_args(p)
    g = p.add_argument_group("SelfMIS")
    g.add_argument(
        "--teacher",
        required=True,
        help="'random' (frozen random init) or weights: "
        "ecgfm directory / registered name / .safetensors / ECGFounder .pth",
    )
    g.add_argument("--teacher-arch", default="net1d_ecgfounder", help="for random/plain files")
    g.add_argument("--teacher-args", type=A.json_dict, default={})
    g.add_argument("--student-arch", default="net1d_ecgfounder_lead1")
    g.add_argument("--student-args", type=A.json_dict, default={})
    g.add_argument("--student-init", default=None, help="weights to start from (default random)")
    g.add_argument(
        "--proj-dim",
        type=int,
        default=None,
        help="shared projection width (default: "
        "none, or a student->teacher head when the widths differ)",
    )
    g.add_argument(
        "--crop-samples",
        type=int,
        default=0,
        help="student sees random crops of this "
        "length (0: all 5000; teacher: always all). A deviation that cuts compute",
    )
    g.add_argument("--no-teacher-cache", action="store_true", help="run the teacher every step")
    g.add_argument("--teacher-precision", choices=("fp32", "bf16"), default="fp32")
    g.add_argument("--logit-scale", type=float, default=1 / 0.07)
    g.add_argument("--logit-bias", type=float, default=0.0)
    g.add_argument("--learnable-logits", action="store_true", help="learn scale and bias")
    c = p.add_argument_group(
        "single-lead terms: patient-level contrast (CLOCS CMSC) and RR distillation"
    )
    c.add_argument("--cmsc-weight", type=float, default=0.0, help="weight of CMSC (0: off)")
    c.add_argument("--rr-weight", type=float, default=0.0, help="weight of RR distillation")
    c.add_argument("--rr-batch-size", type=int, default=16, help="RR windows per rank per step")
    c.add_argument("--rr-fit-windows", type=int, default=512, help="windows to standardise on")
    c.add_argument("--cinc-root", default=None, help="CinC 2017 folder: unlabelled recordings")
    c.add_argument("--max-cinc", type=int, default=None, help="first N CinC recordings only")
    c.add_argument(
        "--cmsc-ptbxl",
        action="store_true",
        help="add lead I of the PTB-XL training records to the single-lead recordings",
    )
    c.add_argument("--cmsc-batch-size", type=int, default=8, help="recordings per rank per step")
    c.add_argument("--cmsc-seconds", type=float, default=5.0, help="length of each view")
    c.add_argument("--cmsc-temperature", type=float, default=0.1)
    c.add_argument("--cmsc-dim", type=int, default=128, help="width of the projection head")
    args = p.parse_args(argv)
    uses = args.cinc_root is not None or args.cmsc_ptbxl
    if args.cmsc_weight < 0 or args.rr_weight < 0:
        p.error("--cmsc-weight and --rr-weight must be >= 0")
    if (args.cmsc_weight > 0 or args.rr_weight > 0) != uses:
        p.error(
            "--cmsc-weight > 0 or --rr-weight > 0 needs --cinc-root and/or --cmsc-ptbxl, and "
            "these need one of the two weights > 0"
        )
    if args.cmsc_batch_size < 1 or args.cmsc_seconds <= 0:
        p.error("--cmsc-batch-size must be >= 1 and --cmsc-seconds > 0")
    if args.rr_batch_size < 1 or args.rr_fit_windows < 8:
        p.error("--rr-batch-size must be >= 1 and --rr-fit-windows >= 8")
    if not 0 <= args.crop_samples <= 5000:
        p.error("--crop-samples must be 0 (the whole window) or at most 5000 (10 s at 500 Hz)")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    info = A.setup(args)
    dev = info.device
    method = SelfMISMethod(
        args.student_arch, teacher=args.teacher, model_args=args.student_args,
        model_init=args.student_init, teacher_arch=args.teacher_arch,
        teacher_args=args.teacher_args, proj_dim=args.proj_dim, crop_samples=args.crop_samples,
        logit_scale=args.logit_scale, logit_bias=args.logit_bias,
        learnable_logits=args.learnable_logits, contrast_weight=args.cmsc_weight,
        contrast_temperature=args.cmsc_temperature, contrast_dim=args.cmsc_dim,
        contrast_seconds=args.cmsc_seconds, rr_weight=args.rr_weight,
        gather_distributed=info.distributed,
    )  # fmt: skip
    data, train_idx, val_idx = A.load_data(args, method.preset, info)
    objective = method.objective.to(dev)
    cmsc = rr = None
    if args.cmsc_weight or args.rr_weight:
        ptb = train_idx[[data.sources[i] == "ptbxl" for i in train_idx]]
        if args.cmsc_ptbxl and ptb.size == 0:
            raise SystemExit("--cmsc-ptbxl: no PTB-XL training record; pass --ptbxl-root")
        single = method.contrast_recordings(
            cinc_root=args.cinc_root, max_cinc=args.max_cinc,
            records=(data, ptb) if args.cmsc_ptbxl else None, cache_dir=args.cache_dir,
            use_cache=not args.no_cache, storage_dtype=args.cache_dtype, is_main=info.is_main,
        )  # fmt: skip
        cmsc = single if args.cmsc_weight else None
        if args.rr_weight:
            recs = single[0]
            usable = np.flatnonzero(recs.lengths >= method.rr_length)
            logger.info("RR term: %d of %d recordings are at least one %d-sample window",
                        usable.size, len(recs), method.rr_length)  # fmt: skip
            targets = method.rr_targets(recs, usable, sample=args.rr_fit_windows, seed=args.seed)
            rr = (recs, usable, targets)
    cached = None
    if not args.no_teacher_cache:
        cached = teacher_embeddings(
            method.teacher, data, device=dev, precision=args.teacher_precision,
            cache_dir=args.cache_dir, use_cache=not args.no_cache,
        )  # fmt: skip
    if args.crop_samples:
        logger.warning("deviation: student trained on random %d-sample crops", args.crop_samples)
    world = {"rank": info.rank, "world_size": info.world_size}
    sampler = StepSampler(len(train_idx), args.batch_size, **world, seed=args.seed)
    if cmsc is not None:
        cmsc_sampler = StepSampler(
            len(cmsc[1]), args.cmsc_batch_size, **world, seed=derive_seed(args.seed, 1)
        )
    if rr is not None:
        rr_sampler = StepSampler(
            len(rr[1]), args.rr_batch_size, **world, seed=derive_seed(args.seed, 2)
        )

    def compute_loss(net: torch.nn.Module, step: int) -> tuple[torch.Tensor, dict, int]:
        idx = torch.from_numpy(train_idx)[sampler.indices(step)]
        x = data.windows(idx, crop="center")  # the whole normalised 10 s window (B, 12, 5000)
        kw: dict = {"teacher_emb": None if cached is None else cached[idx]}
        n_ecg = len(idx)
        if cmsc is not None:
            recs, usable = cmsc
            pick = usable[cmsc_sampler.indices(step).numpy()]
            g = step_generator(args.seed, step, info.rank, stream=1)
            kw["views"] = recs.pair_views(pick, method.contrast_length, g)
            kw["view_ids"] = [recs.patient_ids[i] for i in pick]
            n_ecg += len(pick)
        if rr is not None:
            recs, usable, targets = rr
            pick = usable[rr_sampler.indices(step).numpy()]
            windows = recs.random_windows(
                pick, method.rr_length, step_generator(args.seed, step, info.rank, stream=2)
            )
            kw["rr_windows"] = windows
            kw["rr_target"], kw["rr_valid"] = targets(windows)
            n_ecg += len(pick)
        crops = step_generator(args.seed, step, info.rank)
        loss, parts = method.training_loss(net, x, generator=crops, device=dev, **kw)
        if rr is not None:
            parts["rr_valid"] = float(kw["rr_valid"].float().mean())
        return loss, parts, n_ecg

    def evaluate(net: torch.nn.Module) -> dict[str, float]:
        keys = None if cached is None else cached[val_idx]
        batches = data.center_batches(val_idx, 64)
        return method.validation_metrics(batches, teacher_emb=keys, device=dev)

    run_args = A.run_record(args, data, train_idx, val_idx)
    if cmsc is not None:
        run_args["cmsc_records"] = cmsc[0].counts()
        run_args["cmsc_pairs"] = cmsc[0].pair_counts(method.contrast_length)
    if rr is not None:
        run_args["rr_records"] = rr[0].counts()
        run_args["rr_usable_records"] = int(rr[1].size)
        run_args["rr_targets"] = rr[2].state()
    summary = fit(
        objective,
        compute_loss,
        A.train_config(args),
        info,
        evaluate=evaluate if len(val_idx) else None,
        export=EncoderExport(method.encoder, preset=method.preset, paper=PAPER),
        export_dtype=args.export_dtype,
        exclude_prefixes=(SelfMISObjective.TEACHER_PREFIX,),
        run_args=run_args,
    )
    cleanup_distributed()
    return summary


if __name__ == "__main__":
    main()
