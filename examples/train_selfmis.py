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

    python examples/train_selfmis.py --out runs/selfmis --ptbxl-root ../shared/data/ptbxl \
        --teacher path/to/12lead.safetensors --synthetic 2000 --steps 5000 --precision bf16
    torchrun --nproc_per_node 2 examples/train_selfmis.py ...   # DDP (gloo on CPU)
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import torch

from ecgfm.losses import PatientContrastiveLoss, SigLIPLoss
from ecgfm.models.selfmis import SelfMIS
from ecgfm.train import args as A
from ecgfm.train.ddp import DistInfo, barrier, cleanup_distributed
from ecgfm.train.encoders import build_encoder
from ecgfm.train.loop import fit
from ecgfm.train.objectives import SelfMISObjective
from ecgfm.train.pretrain_data import PretrainData
from ecgfm.train.retrieval import retrieval_recall
from ecgfm.train.sampler import StepSampler, derive_seed, step_generator
from ecgfm.train.single_lead import SingleLeadRecords
from ecgfm.train.teacher_cache import teacher_embeddings
from ecgfm.transforms import functional as Fn
from ecgfm.transforms.presets import get_preset

logger = logging.getLogger("train_selfmis")


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
    c = p.add_argument_group("patient-level contrast (CLOCS CMSC) on single-lead recordings")
    c.add_argument("--cmsc-weight", type=float, default=0.0, help="weight of the term (0: off)")
    c.add_argument("--cinc-root", default=None, help="CinC 2017 folder: unlabelled recordings")
    c.add_argument("--max-cinc", type=int, default=None, help="first N CinC recordings only")
    c.add_argument(
        "--cmsc-ptbxl",
        action="store_true",
        help="add lead I of the PTB-XL training records (two halves each)",
    )
    c.add_argument("--cmsc-batch-size", type=int, default=8, help="recordings per rank per step")
    c.add_argument("--cmsc-seconds", type=float, default=5.0, help="length of each view")
    c.add_argument("--cmsc-temperature", type=float, default=0.1)
    c.add_argument("--cmsc-dim", type=int, default=128, help="width of the projection head")
    args = p.parse_args(argv)
    uses = args.cinc_root is not None or args.cmsc_ptbxl
    if args.cmsc_weight < 0 or (args.cmsc_weight > 0) != uses:
        p.error(
            "--cmsc-weight > 0 needs --cinc-root and/or --cmsc-ptbxl, and these need "
            "--cmsc-weight > 0"
        )
    if args.cmsc_batch_size < 1 or args.cmsc_seconds <= 0:
        p.error("--cmsc-batch-size must be >= 1 and --cmsc-seconds > 0")
    return args


def cmsc_records(
    args: argparse.Namespace, info: DistInfo, data: PretrainData, train_idx: np.ndarray
) -> tuple[SingleLeadRecords, np.ndarray, int]:
    """``(recordings, usable indices, view length)`` of the CMSC term (logged counts)."""
    preset = get_preset("selfmis", leads=("I",))
    length = round(args.cmsc_seconds * preset.fs)
    parts = []
    if args.cinc_root is not None:
        kw = {"max_records": args.max_cinc, "cache_dir": args.cache_dir,
              "use_cache": not args.no_cache, "storage_dtype": args.cache_dtype}  # fmt: skip
        build = SingleLeadRecords.from_cinc2017
        cinc = build(args.cinc_root, preset, **kw) if info.is_main else None
        barrier()  # rank 0 wrote the cache; the others read it
        parts.append(cinc if cinc is not None else build(args.cinc_root, preset, **kw))
    if args.cmsc_ptbxl:
        ptb = train_idx[[data.sources[i] == "ptbxl" for i in train_idx]]
        if ptb.size == 0:
            raise SystemExit("--cmsc-ptbxl: no PTB-XL training record; pass --ptbxl-root")
        parts.append(SingleLeadRecords.from_pretrain(data, ptb, preset))
    recs = SingleLeadRecords.concat(parts) if len(parts) > 1 else parts[0]
    counts = recs.pair_counts(length)
    usable = np.flatnonzero(recs.lengths >= length)
    logger.info("CMSC recordings %s, %d-sample views: %s", recs.counts(), length, counts)
    if counts["too_short"]:
        logger.warning("CMSC: %d recordings shorter than one view are left out",
                       counts["too_short"])  # fmt: skip
    return recs, usable, length


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    info = A.setup(args)
    dev = info.device
    data, train_idx, val_idx = A.load_data(args, get_preset("selfmis"), info)
    teacher = build_encoder(
        args.teacher, arch=args.teacher_arch, arch_args=args.teacher_args, num_leads=12
    ).to(dev)
    student = build_encoder(args.student_init, arch=args.student_arch, arch_args=args.student_args)
    pair = SelfMIS(student.to(dev), teacher, proj_dim=args.proj_dim)
    loss_fn = SigLIPLoss(
        args.logit_scale,
        args.logit_bias,
        learnable=args.learnable_logits,
        gather_distributed=info.distributed,
    )
    contrast = None
    if args.cmsc_weight:
        contrast = PatientContrastiveLoss(
            args.cmsc_temperature, gather_distributed=info.distributed
        )
    objective = SelfMISObjective(
        pair, loss_fn, contrast=contrast, contrast_weight=args.cmsc_weight or 1.0,
        contrast_dim=args.cmsc_dim,
    ).to(dev)  # fmt: skip
    cmsc = cmsc_records(args, info, data, train_idx) if args.cmsc_weight else None
    cached = None
    if not args.no_teacher_cache:
        cached = teacher_embeddings(
            teacher,
            data,
            device=dev,
            precision=args.teacher_precision,
            cache_dir=args.cache_dir,
            use_cache=not args.no_cache,
        )
    if args.crop_samples:
        logger.warning("deviation: student trained on random %d-sample crops", args.crop_samples)
    sampler = StepSampler(
        len(train_idx), args.batch_size, rank=info.rank, world_size=info.world_size, seed=args.seed
    )
    if cmsc is not None:
        cmsc_sampler = StepSampler(
            len(cmsc[1]), args.cmsc_batch_size, rank=info.rank, world_size=info.world_size,
            seed=derive_seed(args.seed, 1),
        )  # fmt: skip

    def compute_loss(model: torch.nn.Module, step: int) -> tuple[torch.Tensor, dict, int]:
        idx = torch.from_numpy(train_idx)[sampler.indices(step)]
        x = data.windows(idx, crop="center")  # the whole normalised 10 s window (B, 12, 5000)
        s = pair.cut_student_view(x)  # self-cutting: lead I, (B, 1, 5000)
        if args.crop_samples:
            g = step_generator(args.seed, step, info.rank)
            s = Fn.crop(s, args.crop_samples, "random", generator=g)
        if cached is not None:
            kw: dict = {"teacher_emb": cached[idx].to(dev)}
        else:
            kw = {"teacher_x": x.to(dev)}
        n_ecg = len(idx)
        if cmsc is not None:
            recs, usable, length = cmsc
            pick = usable[cmsc_sampler.indices(step).numpy()]
            g = step_generator(args.seed, step, info.rank, stream=1)
            v0, v1 = recs.pair_views(pick, length, g)
            kw.update(views=(v0.to(dev), v1.to(dev)), view_ids=[recs.patient_ids[i] for i in pick])
            n_ecg += len(pick)
        loss, parts = model(s.to(dev), **kw)
        return loss, parts, n_ecg

    def evaluate(model: SelfMISObjective) -> dict[str, float]:
        queries, keys = [], []
        for start in range(0, len(val_idx), 64):
            idx = torch.from_numpy(val_idx[start : start + 64])
            x = data.windows(idx, crop="center").to(dev)
            queries.append(model.embed_student(pair.cut_student_view(x)).float())
            t = cached[idx].to(dev) if cached is not None else teacher.forward_embedding(x)
            keys.append(model.embed_teacher(t).float())
        return retrieval_recall(torch.cat(queries), torch.cat(keys), (1, 5, 10))

    run_args = A.run_record(args, data, train_idx, val_idx)
    if cmsc is not None:
        run_args["cmsc_records"] = cmsc[0].counts()
        run_args["cmsc_pairs"] = cmsc[0].pair_counts(cmsc[2])
    summary = fit(
        objective,
        compute_loss,
        A.train_config(args),
        info,
        evaluate=evaluate if len(val_idx) else None,
        export=(student, "student.safetensors"),
        export_dtype=args.export_dtype,
        exclude_prefixes=(SelfMISObjective.TEACHER_PREFIX,),
        run_args=run_args,
    )
    cleanup_distributed()
    return summary


if __name__ == "__main__":
    main()
