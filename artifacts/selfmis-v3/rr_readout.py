"""How linearly readable are the 21 RR features from each encoder's frozen CinC 2017 embedding?

For each encoder: per-record embeddings of the shared CinC 2017 records (``embed_task``, the
probe's cache), per-record RR features of the RR baseline (``record_rr_features``: NeuroKit2
R-peaks, the 7 records without detected peaks left out), and a standardise + ridge regression
(alpha 1.0) with 5-fold CV (seed 0); prints the out-of-fold R^2 per feature and their mean.
A diagnostic of the RR-distillation term (it trains a linear head for exactly this), not a
probe of any task label.

    ECGFM_CACHE=/work/cache python artifacts/selfmis-v3/rr_readout.py selfmis-lead1 \
        runs/v2/plain_dir runs/v2/rr/encoder random:net1d_ecgfounder_lead1 --json out.json
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ecgfm.eval.baselines import random_encoder
from ecgfm.eval.embed_cache import embed_task
from ecgfm.eval.rr_features import record_rr_features
from ecgfm.eval.tasks import get_task
from ecgfm.hub import from_pretrained
from ecgfm.rhythm import RR_FEATURE_NAMES
from ecgfm.transforms.presets import get_preset


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="+", help="registered names, directories, random:ARCH")
    p.add_argument("--data-root", default="../shared/data/cinc2017")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    data = get_task("cinc2017").load(args.data_root)
    rr = record_rr_features(data)
    keep = ~rr.failed
    y = rr.features[keep, :-1].astype(np.float64)
    folds = KFold(5, shuffle=True, random_state=0)
    out: dict[str, dict[str, float]] = {}
    for name in args.models:
        if name.startswith("random:"):
            # the probe's random baseline: seed 0, the lead-I selfmis preset
            model = random_encoder(name.split(":", 1)[1], seed=0)
            preset = get_preset("selfmis", leads=("I",))
        else:
            model, preset = from_pretrained(name), None
        x = embed_task(model, data, preset=preset).embeddings[keep]
        reg = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
        pred = cross_val_predict(reg, x, y, cv=folds)
        ss_res = ((y - pred) ** 2).sum(axis=0)
        ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
        r2 = 1.0 - ss_res / ss_tot
        out[name] = {n: float(v) for n, v in zip(RR_FEATURE_NAMES[:-1], r2, strict=True)}
        out[name]["mean"] = float(r2.mean())
        print(
            f"{name:40s} mean R^2 {r2.mean():.3f}  "
            + "  ".join(
                f"{n} {v:.2f}"
                for n, v in zip(RR_FEATURE_NAMES[:-1], r2, strict=True)
                if n in ("hr_mean_bpm", "rr_sdnn_ms", "rr_rmssd_ms", "rr_cv", "rr_entropy_bits")
            )
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"records": int(keep.sum()), "r2": out}, f, indent=1)


if __name__ == "__main__":
    main()
