"""SelfMIS: align a single-lead (lead I) Net1D student with a frozen 12-lead teacher (SigLIP).

Self-cutting (lead I of the same record, no other augmentation), frozen teacher, SigLIP loss
with the paper's fixed logit scale 1/0.07 and bias 0, AdamW (lr 1e-4, wd 0.1), cosine schedule,
gradient clipping 1.0; validation = 1-lead -> 12-lead retrieval R@1/5/10 on held-aside records.
The teacher's embeddings are computed once and cached (it is frozen and sees un-augmented
records), so a step runs the student only. See docs/training.md.

    python examples/train_selfmis.py --out runs/selfmis --ptbxl-root ../shared/data/ptbxl \
        --teacher path/to/12lead.safetensors --synthetic 2000 --steps 5000 --precision bf16
    torchrun --nproc_per_node 2 examples/train_selfmis.py ...   # DDP (gloo on CPU)
"""

from __future__ import annotations

import argparse
import logging

import torch

from ecgfm.losses import SigLIPLoss
from ecgfm.models.selfmis import SelfMIS
from ecgfm.train import args as A
from ecgfm.train.distributed import cleanup_distributed
from ecgfm.train.encoders import build_encoder
from ecgfm.train.loop import fit
from ecgfm.train.objectives import SelfMISObjective
from ecgfm.train.retrieval import retrieval_recall
from ecgfm.train.sampler import StepSampler, step_generator
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
    return p.parse_args(argv)  # fmt: skip


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
    objective = SelfMISObjective(pair, loss_fn).to(dev)
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

    def compute_loss(model: torch.nn.Module, step: int) -> tuple[torch.Tensor, dict, int]:
        idx = torch.from_numpy(train_idx)[sampler.indices(step)]
        x = data.windows(idx, crop="center")  # the whole normalised 10 s window (B, 12, 5000)
        s = pair.cut_student_view(x)  # self-cutting: lead I, (B, 1, 5000)
        if args.crop_samples:
            g = step_generator(args.seed, step, info.rank)
            s = Fn.crop(s, args.crop_samples, "random", generator=g)
        if cached is not None:
            loss = model(s.to(dev), teacher_emb=cached[idx].to(dev))
        else:
            loss = model(s.to(dev), teacher_x=x.to(dev))
        return loss, {}, len(idx)

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
