"""Paired macro-AUROC differences between trained encoders on one ``ecgfm probe`` task.

``ecgfm probe`` pairs an entry with its baselines; this script pairs trained encoders with
each other, with the same library calls (``embed_task`` with each encoder's own preset, the
same embedding cache, ``probe_task`` with the CLI's defaults C = 0.1, 5 folds, seed 0, 1,000
resamples, and ``compare_reports``: both models scored on the same bootstrap resamples of the
same records). Run it after the ``ecgfm probe`` runs of the same encoders: their embeddings
then come from the cache.

    python artifacts/selfmis-v2/paired_models.py --task cinc2017 \
        --data-root ../shared/data/cinc2017 --probe linear,logistic,logistic-cv \
        --model C=selfmis-lead1 --model v2=runs/v2/cmsc_dir --model plain=runs/v2/plain_dir \
        --model random=random:C --pair v2-C --pair v2-plain --pair plain-C --json out.json

``random:LABEL`` is the seed-0 random-weight model of LABEL's architecture with LABEL's preset
(the ``--baselines random`` model of ``ecgfm probe LABEL``; LABEL must come before it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ecgfm.eval.baselines import random_encoder
from ecgfm.eval.compare import compare_reports
from ecgfm.eval.embed_cache import embed_task
from ecgfm.eval.task_report import probe_task
from ecgfm.eval.tasks import get_task
from ecgfm.hub import from_pretrained


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", required=True, choices=("cinc2017", "ptbxl-superclass", "ptbxl-mi"))
    p.add_argument("--data-root", required=True)
    p.add_argument("--probe", default="linear,logistic,logistic-cv")
    p.add_argument("--model", action="append", required=True, metavar="LABEL=NAME")
    p.add_argument("--pair", action="append", required=True, metavar="A-B")
    p.add_argument("--json", required=True)
    args = p.parse_args()
    models = dict(m.split("=", 1) for m in args.model)
    pairs = [tuple(x.split("-", 1)) for x in args.pair]
    if any(a not in models or b not in models for a, b in pairs):
        p.error(f"--pair A-B must name labels of --model ({sorted(models)})")
    options = {"leads": "I"} if args.task.startswith("ptbxl") else {}
    data = get_task(args.task, **options).load(args.data_root)
    reports = {}
    loaded = {}
    for label, name in models.items():
        if name.startswith("random:"):  # random:LABEL = seed-0 random weights of LABEL's
            base = loaded[name.split(":", 1)[1]]  # architecture, with its preset (as the CLI)
            enc = random_encoder(base.arch_name, seed=0, **base.arch_args)
            emb = embed_task(enc, data, preset=base.preset)
        else:
            enc = loaded[label] = from_pretrained(name)
            emb = embed_task(enc, data, preset=enc.preset)
        for probe in args.probe.split(","):
            reports[label, probe] = probe_task(emb, data, probe, model=name)
            auc = reports[label, probe].metrics["auroc"]
            print(f"{label:>6} {probe:<12} {auc.value:.4f} [{auc.low:.4f}, {auc.high:.4f}]")
    out = {"task": args.task, "data_root": args.data_root, "models": models, "auroc": {}}
    for (label, probe), rep in reports.items():
        auc = rep.metrics["auroc"]
        out["auroc"].setdefault(label, {})[probe] = {
            "value": auc.value,
            "low": auc.low,
            "high": auc.high,
            "evaluated_on": rep.evaluated_on,
        }
    out["paired"] = []
    for a, b in pairs:
        for probe in args.probe.split(","):
            d = compare_reports(reports[a, probe], reports[b, probe], data)
            print(f"{a} - {b} ({probe}): {d}  {a} better on {100 * d.a_better:.1f} % of resamples")
            out["paired"].append({
                "a": a, "b": b, "probe": probe, "difference": d.value, "low": d.low,
                "high": d.high, "level": d.level, "n_boot": d.n_boot, "a_better": d.a_better,
            })  # fmt: skip
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
