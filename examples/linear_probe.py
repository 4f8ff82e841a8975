"""Linear probing of a frozen ECG encoder on a public task, next to its random-weight baseline.

Evaluates a pretrained entry (registered name, ``save_pretrained`` directory or
``hf-hub:owner/repo``) or ``random:<arch>`` on one task with the ecgfm Python API: load the task
(fixed split), embed every record once (cached on disk), run the probes, print a table with
bootstrap 95 % CIs and the support per class and split, and write everything to JSON.

    python examples/linear_probe.py random:net1d_ecgfounder_lead1 --task cinc2017 \\
        --data-root ../shared/data/cinc2017 --probes logistic-cv,linear --out cinc.json
    python examples/linear_probe.py ./my-selfmis-dir --task ptbxl-mi \\
        --data-root ../shared/data/ptbxl --limit 50      # quick look on 50 records per split

The same evaluation is available as ``ecgfm probe`` (see ``docs/evaluation.md``).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ecgfm.eval import (
    embed_task,
    format_reports,
    get_task,
    preset_for_arch,
    probe_task,
    random_encoder,
)
from ecgfm.hub import from_pretrained


def load_encoder(name: str, seed: int):
    """-> (encoder, preset, label, random baseline or None)."""
    if name.startswith("random:"):
        arch = name.split(":", 1)[1]
        model = random_encoder(arch, seed=seed)
        return model, preset_for_arch(arch, model.in_leads), f"{name} seed {seed}", None
    enc = from_pretrained(name)
    baseline = random_encoder(enc.arch_name, seed=seed, **enc.arch_args)
    return enc, enc.preset, name, baseline


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="pretrained name / directory / hf-hub id, or random:ARCH")
    p.add_argument("--task", required=True, choices=["cinc2017", "ptbxl-superclass", "ptbxl-mi"])
    p.add_argument("--data-root", required=True, type=Path)
    p.add_argument("--leads", default=None, help="PTB-XL: I (default: the model's) or 12")
    p.add_argument("--probes", default="linear,logistic", help="linear,logistic,logistic-cv")
    p.add_argument("--limit", type=int, default=None, help="records per split (quick runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--compile", action="store_true", help="torch.compile the forward (CPU: ~2x)")
    p.add_argument("--out", type=Path, default=Path("probe_results.json"))
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    encoder, preset, label, baseline = load_encoder(args.model, args.seed)
    options = {}
    if args.task.startswith("ptbxl"):
        options["leads"] = args.leads or ",".join(preset.leads)
    task = get_task(args.task, **options)
    data = task.load(args.data_root, limit=args.limit)
    print(f"{task.display_name}: {data.split_sizes()} records, {data.signals.shape[0]} items")

    candidates = [(label, encoder)]
    if baseline is not None:
        candidates.append((f"random:{encoder.arch_name} seed {args.seed}", baseline))
    reports = []
    for name, model in candidates:
        emb = embed_task(model, data, preset=preset, compile=args.compile, progress=True)
        print(f"{name}: embeddings {emb.embeddings.shape} in {emb.seconds:.0f} s "
              f"({'cache' if emb.from_cache else 'computed'})")  # fmt: skip
        for probe in args.probes.split(","):
            reports.append(probe_task(emb, data, probe.strip(), model=name, seed=args.seed,
                                      n_boot=args.n_boot))  # fmt: skip

    print()
    print(format_reports(reports))
    doc = {"task": task.display_name, "source": data.source,
           "reports": [r.to_dict() for r in reports]}  # fmt: skip
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
