"""Regenerate the figures of docs/views.md from PTB-XL record 1 (500 Hz, 12 leads, 10 s).

Run from the repository root (needs the ``plot`` extra, matplotlib)::

    python docs/make_views_figure.py [--record path/to/a/wfdb/record]

Without ``--record`` the record bundled with ecgfm is used (:func:`ecgfm.data.example_record`,
PTB-XL ``00001_hr``); with it, any WFDB record read by :func:`ecgfm.data.read_wfdb`. The views
take the record's sampling rate from the record itself. Writes
``docs/img/ptbxl_00001_paper.png`` and ``docs/img/views_*.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import torch

from ecgfm.data import example_record, read_wfdb
from ecgfm.leads import CANONICAL_LEADS
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--record",
        type=Path,
        default=None,
        help="WFDB record path (no extension); default: the bundled PTB-XL record 1",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.record is None:
        record = example_record()
    else:
        record = read_wfdb(args.record, leads=CANONICAL_LEADS)
    x, fs = record.signal, record.fs
    OUT.mkdir(parents=True, exist_ok=True)

    fig = plot_ecg(x, fs, title="PTB-XL record 1 (500 Hz, 10 s) on ECG paper")
    fig.savefig(OUT / "ptbxl_00001_paper.png", dpi=110)

    show = ["I", "II", "V1", "V2", "V5", "V6"]
    runs = {
        "selfcut": (SelfCut(), ["lead I", "12-lead (untouched)"]),
        "cmsc": (CMSC(rlm=0.5), ["segment 1 + RLM", "segment 2 + RLM"]),
        "interleave": (Interleave(rlm=0.5), ["even samples + RLM", "odd samples + RLM"]),
        "stochastic": (Stochastic(), ["stochastic view 1", "stochastic view 2"]),
        "moco": (MultiView(AugmentationPipeline(moco_ops(fs))), ["MoCo view 1", "MoCo view 2"]),
    }
    for name, (gen, titles) in runs.items():
        generator = torch.Generator().manual_seed(args.seed)
        views = gen(record, generator=generator)  # the record carries its rate
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
