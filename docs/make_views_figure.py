"""Regenerate the figures of docs/views.md from PTB-XL record 1 (500 Hz, 12 leads, 10 s).

Run from the repository root (needs the ``plot`` and ``data`` extras: matplotlib, wfdb)::

    python docs/make_views_figure.py [--record ../shared/data/ptbxl/records500/00000/00001_hr]

The record is read directly with wfdb (units mV). Without ``--record`` the script looks in
``../shared/data`` next to the repository and falls back to the copy bundled in
``ecgfm/_assets``. Writes ``docs/img/ptbxl_00001_paper.png`` and ``docs/img/views_*.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import torch
import wfdb

from ecgfm.leads import CANONICAL_LEADS, select_leads
from ecgfm.plot import plot_ecg, plot_views
from ecgfm.transforms.augment import AugmentationPipeline, moco_ops
from ecgfm.transforms.views import (
    CMSC,
    Interleave,
    MultiView,
    SelfCut,
    Stochastic,
)

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "img"
CANDIDATES = (
    REPO.parent / "shared" / "data" / "ptbxl" / "records500" / "00000" / "00001_hr",
    REPO / "ecgfm" / "_assets" / "00001_hr",
)


def read_record(path: Path) -> tuple[np.ndarray, float]:
    """PTB-XL record as float32 mV ``(12, T)`` in canonical lead order, and its fs."""
    rec = wfdb.rdrecord(str(path))
    units = {u.lower() for u in rec.units}
    if units != {"mv"}:
        raise ValueError(f"{path}: expected units mV, got {rec.units}")
    x = rec.p_signal.T.astype(np.float32)
    return select_leads(x, rec.sig_name, CANONICAL_LEADS), float(rec.fs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", type=Path, default=None, help="WFDB record path (no ext.)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    path = args.record or next(p for p in CANDIDATES if p.with_suffix(".hea").exists())
    x, fs = read_record(path)
    OUT.mkdir(parents=True, exist_ok=True)

    fig = plot_ecg(x, fs, title="PTB-XL record 1 (500 Hz, 10 s) on ECG paper")
    fig.savefig(OUT / "ptbxl_00001_paper.png", dpi=110)

    show = ["I", "II", "V1", "V2", "V5", "V6"]
    runs = {
        "selfcut": (SelfCut(fs=fs), ["lead I", "12-lead (untouched)"]),
        "cmsc": (CMSC(rlm=0.5, fs=fs), ["segment 1 + RLM", "segment 2 + RLM"]),
        "interleave": (Interleave(rlm=0.5, fs=fs), ["even samples + RLM", "odd samples + RLM"]),
        "stochastic": (Stochastic(fs=fs), ["stochastic view 1", "stochastic view 2"]),
        "moco": (
            MultiView(AugmentationPipeline(moco_ops(fs)), fs=fs),
            ["MoCo view 1", "MoCo view 2"],
        ),
    }
    for name, (gen, titles) in runs.items():
        generator = torch.Generator().manual_seed(args.seed)
        views = gen(torch.from_numpy(x), generator=generator)
        fig = plot_views(
            x,
            views,
            fs,
            show_leads=show,
            names=["record", *titles],
            title=f"{type(gen).__name__} views of PTB-XL record 1 (leads {', '.join(show)})",
            speed=12.5,
        )
        fig.savefig(OUT / f"views_{name}.png", dpi=130)
        print(f"wrote {OUT / f'views_{name}.png'}")


if __name__ == "__main__":
    main()
