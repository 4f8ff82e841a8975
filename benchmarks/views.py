"""Throughput of ecgfm's batched view generators against per-sample augmentation libraries.

Two views per record, on a ``(B, C, T)`` float32 batch (default 256 x 12 x 5000, 500 Hz):

- ecgfm: CMSC + RLM, Interleave + RLM and the Stochastic (Dual-View) pipeline, batched, in
  the default mode (input untouched) and in the ``ViewCollate`` mode (``inplace=True``,
  ``check_finite=False``: the collate function owns the freshly stacked batch).
- peers, applied per record as a ``Dataset.__getitem__`` would: ``ecgmentations`` and
  ``ecg-augmentations`` (plus the latter's batched mode), with comparable pipelines. Their
  per-record views must still be stacked into batches for a model; that collation
  (``np.stack``/``torch.stack``, what ``default_collate`` does) is timed separately and
  included in the "+ collate" rate.

The peers are optional: install them in a separate environment (see docs/benchmarks.md); a
peer that is not importable is skipped with a note. Run from the repository root::

    python benchmarks/views.py                # full size
    python benchmarks/views.py --batch 16 --samples 1000 --repeats 1   # quick check
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np
import torch

from ecgfm.transforms.views import CMSC, Interleave, Stochastic


def best_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def ecgfm_runs(x: torch.Tensor, fs: float) -> dict[str, Callable[[], object]]:
    g = torch.Generator().manual_seed(0)
    cmsc, inter, stoch = CMSC(rlm=0.5, fs=fs), Interleave(rlm=0.5, fs=fs), Stochastic(fs=fs)
    work = x.clone()  # the in-place runs overwrite this copy, never `x`

    def fast(gen):
        return lambda: gen(work, generator=g, inplace=True, check_finite=False)

    return {
        "CMSC+RLM": lambda: cmsc(x, generator=g),
        "CMSC+RLM (collate mode)": fast(cmsc),
        "Interleave+RLM": lambda: inter(x, generator=g),
        "Interleave+RLM (collate mode)": fast(inter),
        "Stochastic": lambda: stoch(x, generator=g),
        "Stochastic (collate mode)": fast(stoch),
    }


def ecgmentations_runs(x: np.ndarray, fs: float) -> dict[str, Callable[[], list]] | str:
    try:
        import ecgmentations as E
    except ImportError as e:
        return f"ecgmentations not importable ({e}); skipped"
    n_t = x.shape[-1]
    h = n_t // 2
    drop = E.ChannelDropout(channel_drop_range=(1, x.shape[1] - 1), p=1.0)
    pool = E.Sequential(
        [
            E.RandomTimeWrap(p=0.5),
            E.Sequential(
                [E.RandomTimeCrop(length=int(0.9 * n_t)), E.TimePadIfNeeded(min_length=n_t)],
                p=0.5,
            ),
            E.BandPassFilter(ecg_frequency=fs, cutoff_frequencies=(0.5, 45.0), p=0.5),
            E.GaussNoise(p=0.5),
            E.AmplitudeScale(p=0.5),
        ]
    )

    def per_record(make_views):
        def run():
            return [make_views(rec.T) for rec in x]  # ecgmentations wants (T, C)

        return run

    return {
        "CMSC+RLM": per_record(lambda e: (drop(ecg=e[:h])["ecg"], drop(ecg=e[h:])["ecg"])),
        "Interleave+RLM": per_record(
            lambda e: (drop(ecg=e[0::2])["ecg"], drop(ecg=e[1::2])["ecg"])
        ),
        "Stochastic": per_record(lambda e: (pool(ecg=e)["ecg"], pool(ecg=e)["ecg"])),
    }


def ecg_augmentations_runs(x: torch.Tensor, fs: float) -> dict[str, Callable[[], list]] | str:
    try:
        import ecg_augmentations as A
    except ImportError as e:
        return f"ecg-augmentations not importable ({e}); skipped"
    n_t = x.shape[-1]
    h = n_t // 2
    mask = A.LeadMask(n_leads=(1, x.shape[1] - 1))
    pool = A.Compose(
        [
            A.RandomTimeWarp(p=0.5),
            A.RandomApply([A.RandomResizedCrop(n_t, scale=(0.5, 1.0))], p=0.5),
            A.RandomApply(
                [A.HighPassFilter(fs, cutoff=(0.05, 0.7)), A.LowPassFilter(fs, cutoff=(25, 45))],
                p=0.5,
            ),
            A.GaussianNoise(p=0.5),
            A.AmplitudeScale(p=0.5),
        ]
    )
    runs: dict[str, Callable[[], list]] = {
        "CMSC+RLM": lambda: [(mask(r[:, :h]), mask(r[:, h:])) for r in x],
        "Interleave+RLM": lambda: [(mask(r[:, 0::2]), mask(r[:, 1::2])) for r in x],
        "Stochastic": lambda: [(pool(r), pool(r)) for r in x],
        "Stochastic [batched mode]": lambda: [(pool(x), pool(x))],
    }
    return runs


def collate_time(views: list, repeats: int) -> float:
    """Time to stack per-record view pairs into two batches (what default_collate does)."""
    first = views[0][0]
    stack = np.stack if isinstance(first, np.ndarray) else torch.stack
    return best_time(lambda: [stack([v[k] for v in views]) for k in range(2)], repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--leads", type=int, default=12)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--fs", type=float, default=500.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--peer-records",
        type=int,
        default=64,
        help="records of the batch the per-sample peers process (rates are per record)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (default: torch's)"
    )
    parser.add_argument("--skip-peers", action="store_true")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((args.batch, args.leads, args.samples)).astype(np.float32)
    x = torch.from_numpy(x_np).to(args.device)
    print(
        f"batch ({args.batch}, {args.leads}, {args.samples}) float32, fs {args.fs:g} Hz, "
        f"device {x.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, load average "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    sync = torch.cuda.synchronize if x.device.type == "cuda" else (lambda: None)

    results: dict[str, dict[str, float]] = {}
    for name, fn in ecgfm_runs(x, args.fs).items():

        def timed(fn=fn):
            fn()
            sync()

        results.setdefault(name, {})["ecgfm"] = args.batch / best_time(timed, args.repeats)

    n_peer = min(args.peer_records, args.batch)
    peers = (
        {}
        if args.skip_peers
        else {
            "ecgmentations": ecgmentations_runs(x_np[:n_peer], args.fs),
            "ecg-augmentations": ecg_augmentations_runs(torch.from_numpy(x_np[:n_peer]), args.fs),
        }
    )
    for peer, runs in peers.items():
        if isinstance(runs, str):
            print(f"note: {runs}")
            continue
        for name, fn in runs.items():
            base, _, mode = name.partition(" [")
            label = f"{peer} {mode[:-1]}" if mode else peer
            t_views = best_time(fn, args.repeats)
            results.setdefault(base, {})[label] = n_peer / t_views
            if not mode:
                t_collate = collate_time(fn(), args.repeats)
                results[base][f"{label} + collate"] = n_peer / (t_views + t_collate)

    print(f"\nrecords/s (two views per record; best of {args.repeats}; peers on {n_peer} records)")
    for name, row in results.items():
        cells = ", ".join(f"{k}: {v:,.0f}" for k, v in row.items())
        print(f"  {name:32s} {cells}")
    print("\nspeed-up of ecgfm (default mode / collate mode) over each peer (+ collate):")
    for base in ("CMSC+RLM", "Interleave+RLM", "Stochastic") if peers else ():
        ours = results[base]["ecgfm"]
        ours_fast = results[f"{base} (collate mode)"]["ecgfm"]
        for k, v in results[base].items():
            if k != "ecgfm":
                print(f"  {base:16s} vs {k:36s} {ours / v:7.1f}x / {ours_fast / v:7.1f}x")


if __name__ == "__main__":
    main()
