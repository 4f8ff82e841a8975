"""Throughput of ecgfm's batched view generators against per-sample augmentation libraries.

Two views per record, on a ``(B, C, T)`` float32 batch (default 256 x 12 x 5000, 500 Hz):

- ecgfm: CMSC + RLM, Interleave + RLM and the Stochastic (Dual-View) pipeline, batched, in
  the default mode (input untouched) and in the ``ViewCollate`` mode (in place, without the
  NaN/Inf check: the collate function owns the freshly stacked batch).
- ecgfm end to end: ``ViewCollate`` (its defaults: in place, NaN/Inf check) on a list of
  per-record tensors, i.e. stacking the raw records into a batch plus the views, which is
  what a ``DataLoader`` worker does with it.
- peers, applied per record as a ``Dataset.__getitem__`` would: ``ecgmentations`` and
  ``ecg-augmentations`` (plus the latter's batched mode), with comparable pipelines. Their
  per-record views must still be stacked into batches for a model; that collation
  (``np.stack``/``torch.stack``, what ``default_collate`` does) is timed separately, at the
  full batch size, and included in the "+ collate" rate.
- floors: what the memory, the RNG and the FFT of this machine allow for the same batch
  (memset of the masked half, copies, a Gaussian field, an rFFT round trip, resampling).

The peers are optional: install them in a separate environment (see docs/benchmarks.md); a
peer that is not importable is skipped with a note. Run from the repository root::

    python benchmarks/views.py                # full size
    python benchmarks/views.py --batch 16 --samples 1000 --repeats 1   # quick check
    python benchmarks/views.py --threads 1 --repeats 5                  # as in the docs

``--compare-fast-paths`` instead times each CPU fast path on against off
(``ecgfm.transforms.set_fast_paths``), end to end through ``ViewCollate`` (stack + views),
plus ``ViewCollate``'s in-place work against stacking and then calling the generator (which
copies), the configurations interleaved round by round so that load drift hits them alike;
it prints the ratios off / on of each round (median and range)::

    python benchmarks/views.py --threads 1 --compare-fast-paths --rounds 7
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ecgfm.transforms import _alloc, _rows, set_fast_paths
from ecgfm.transforms.augment import dual_view_ops
from ecgfm.transforms.views import CMSC, Interleave, Stochastic, ViewGenerator
from ecgfm.transforms.views_data import ViewCollate


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
    records = list(x.unbind(0))  # what a DataLoader hands to collate_fn (stacked, not touched)

    def fast(gen):  # the in-place work ViewCollate does on the batch it owns
        return lambda: gen._generate(work, None, g, False, True)

    def collate(gen):
        fn = ViewCollate(gen, seed=0)
        return lambda: fn(records)

    runs: dict[str, Callable[[], object]] = {}
    for name, gen in (("CMSC+RLM", cmsc), ("Interleave+RLM", inter), ("Stochastic", stoch)):
        runs[name] = lambda gen=gen: gen(x, generator=g)
        runs[f"{name} (collate mode)"] = fast(gen)
        runs[f"{name} (ViewCollate: stack + views)"] = collate(gen)
    return runs


def floor_runs(x: torch.Tensor) -> dict[str, Callable[[], object]]:
    """Kernels that bound the views from below on this machine (same batch).

    The compute floors (noise field, FFT, resampling) write into preallocated buffers and
    run 8 records at a time, so that they measure the kernels, not page faults.
    """
    b, c, n_t = x.shape
    half, quarter = x[: b // 2], x[: 3 * b // 4]
    work = x.clone()
    flat = work.view(b * c * 2, n_t // 2)  # CMSC halves as rows
    g = torch.Generator(device=x.device).manual_seed(1)
    rows = (torch.rand(flat.shape[0]) < 0.5).numpy()  # a random half
    out = torch.empty_like(x)
    spec = torch.empty((8, c, n_t // 2 + 1), dtype=torch.complex64, device=x.device)
    grid = torch.zeros((8, 1, n_t, 2), dtype=x.dtype, device=x.device)
    grid[..., 0] = torch.linspace(-0.95, 0.9, n_t, device=x.device)

    def scattered_memset():
        flat.numpy()[rows] = 0

    def strided_zero():  # Interleave: one of the two views of half the leads
        work.numpy().reshape(b * c, n_t // 2, 2)[: b * c // 2, :, 0] = 0

    # Interleave + RLM's real pattern: new random leads at every call (p = 0.5 per view), so
    # the zeroed memory is not the cache-resident region of the previous call.
    cpu_g = torch.Generator().manual_seed(2)
    drawn = [(torch.rand(b * c, 2, generator=cpu_g) < 0.5).numpy() for _ in range(8)]
    masks = itertools.cycle(drawn)

    def interleave_rlm_zero():
        m = next(masks)
        both = m.all(1)
        rows = work.numpy().reshape(b * c, n_t)
        rows[both] = 0
        pairs = rows.reshape(b * c, n_t // 2, 2)
        for k in range(2):
            pairs[(m[:, k] & ~both).nonzero()[0], :, k] = 0

    def fft_round_trip():
        for s in range(0, half.shape[0], 8):
            part = half[s : s + 8]
            torch.fft.rfft(part, out=spec[: part.shape[0]])
            torch.fft.irfft(spec[: part.shape[0]], n=n_t, out=out[s : s + part.shape[0]])

    def resample():
        for s in range(0, quarter.shape[0], 8):
            part = quarter[s : s + 8]
            at = grid[: part.shape[0]]
            dst = out[s : s + part.shape[0]]
            dst.copy_(F.grid_sample(part.unsqueeze(2), at, align_corners=True).squeeze(2))

    cpu_only = {
        "memset of a random half of the CMSC parts": scattered_memset,
        "zero every other sample of half the leads": strided_zero,
        "Interleave RLM zeroing, new random leads per call": interleave_rlm_zero,
    }
    return {
        "memset half the batch (one buffer)": lambda: work[: b // 2].zero_(),
        **(cpu_only if x.device.type == "cpu" else {}),
        "copy the batch into an existing buffer": lambda: out.copy_(x),
        "clone the batch (new allocation + copy)": lambda: x.clone(),
        "clone into numpy memory (huge pages), as ecgfm": lambda: _alloc.clone(x),
        "Gaussian field of half the batch (into a buffer)": lambda: torch.randn(
            half.shape, generator=g, device=x.device, out=out[: b // 2]
        ),
        "rfft + irfft of half the batch (8 records at a time)": fft_round_trip,
        "grid_sample of 3/4 of the batch (8 records at a time)": resample,
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


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def interleaved(
    configs: dict[str, tuple[dict, Callable[[], object]]], rounds: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Wall and thread-CPU ms of each ``(fast-path flags, call)``, one call per config per
    round (after one warm-up call each)."""
    out: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in configs}
    for _ in range(rounds + 1):
        for name, (flags, fn) in configs.items():
            with set_fast_paths(**flags):
                w0, c0 = time.perf_counter(), time.thread_time()
                fn()
                c1, w1 = time.thread_time(), time.perf_counter()
            out[name][0].append(1e3 * (w1 - w0))
            out[name][1].append(1e3 * (c1 - c0))
    return {k: (w[1:], c[1:]) for k, (w, c) in out.items()}  # drop the warm-up


def report(title: str, times: dict[str, tuple[list[float], list[float]]]) -> None:
    base_w, base_c = next(iter(times.values()))
    print(f"\n{title}\n  {'':34s} {'wall ms':>8s} {'CPU ms':>8s}   ratio to the first row, "
          "per round: wall median [range] | CPU median [range]")  # fmt: skip
    for name, (w, c) in times.items():
        rw = [a / b for a, b in zip(w, base_w, strict=True)]
        rc = [a / b for a, b in zip(c, base_c, strict=True)]
        print(
            f"  {name:34s} {statistics.median(w):8.1f} {statistics.median(c):8.1f}   "
            f"{statistics.median(rw):5.2f} [{min(rw):.2f}-{max(rw):.2f}] | "
            f"{statistics.median(rc):5.2f} [{min(rc):.2f}-{max(rc):.2f}]"
        )


def compare_fast_paths(x: torch.Tensor, fs: float, rounds: int, chunk_bytes: list[int]) -> None:
    """Each CPU fast path on against off, end to end (``ViewCollate``: stack + views)."""
    records = list(x.unbind(0))
    g = torch.Generator().manual_seed(0)
    off = {"row_loops": False, "huge_pages": False, "numpy_zeroing": False}

    def collate(gen: ViewGenerator) -> Callable[[], object]:
        fn = ViewCollate(gen, seed=0)
        return lambda: fn(records)

    def copying(gen: ViewGenerator) -> Callable[[], object]:  # stack, then views of a copy
        return lambda: gen(_alloc.stack(records), generator=g)

    split = (("CMSC+RLM", CMSC(rlm=0.5, fs=fs)), ("Interleave+RLM", Interleave(rlm=0.5, fs=fs)))
    for name, gen in split:
        configs = {
            "all on": ({}, collate(gen)),
            "huge_pages off": ({"huge_pages": False}, collate(gen)),
            "numpy_zeroing off": ({"numpy_zeroing": False}, collate(gen)),
            "not in place (stack, gen(batch))": ({}, copying(gen)),
            "all off, not in place": (off, copying(gen)),
        }
        report(f"{name}, ViewCollate (stack + views); load {load()}", interleaved(configs, rounds))
    stoch = Stochastic(fs=fs)
    configs = {
        "all on": ({}, collate(stoch)),
        "row_loops off": ({"row_loops": False}, collate(stoch)),
        "huge_pages off": ({"huge_pages": False}, collate(stoch)),
        "not in place (stack, gen(batch))": ({}, copying(stoch)),
        "all off, not in place": (off, copying(stoch)),
    }
    report(f"Stochastic, ViewCollate (stack + views); load {load()}", interleaved(configs, rounds))
    if not chunk_bytes:
        return
    # What-if on the piece size of the row loops (a fixed constant: it also defines the
    # noise stream, so the noise differs between these runs; only the speed is compared).
    every = Stochastic(dual_view_ops(fs, 1.0), fs=fs)  # each op on all 256 records: one run

    def with_chunk(size: int) -> Callable[[], object]:
        fn = collate(every)

        def run() -> object:
            saved, _rows.CHUNK_BYTES = _rows.CHUNK_BYTES, size
            try:
                return fn()
            finally:
                _rows.CHUNK_BYTES = saved

        return run

    configs = {"pieces of 2 MB (the constant)": ({}, with_chunk(2 << 20))}
    for size in chunk_bytes:
        label = "whole runs" if size >= x[0].numel() * 4 * x.shape[0] else f"{size / 2**20:g} MB"
        configs[f"pieces of {label}"] = ({}, with_chunk(size))
    configs["row_loops off"] = ({"row_loops": False}, collate(every))
    report(
        f"Stochastic with every op at p = 1, ViewCollate; load {load()}",
        interleaved(configs, rounds),
    )


def collate_time(views: list, repeats: int, batch: int) -> float:
    """Time to stack ``batch`` per-record view pairs into two batches (what default_collate
    does with a batch of that size; the peers' views are reused to fill it)."""
    first = views[0][0]
    stack = np.stack if isinstance(first, np.ndarray) else torch.stack
    full = [views[i % len(views)] for i in range(batch)]
    return best_time(lambda: [stack([v[k] for v in full]) for k in range(2)], repeats)


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
    parser.add_argument("--skip-floors", action="store_true")
    parser.add_argument("--floor-repeats", type=int, default=10)
    parser.add_argument(
        "--compare-fast-paths",
        action="store_true",
        help="time each CPU fast path on vs off (ecgfm.transforms.set_fast_paths), end to end",
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds of --compare-fast-paths")
    parser.add_argument(
        "--chunk-bytes",
        type=int,
        nargs="*",
        default=[],
        help="with --compare-fast-paths: also time these piece sizes of the row loops (bytes)",
    )
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((args.batch, args.leads, args.samples)).astype(np.float32)
    x = torch.from_numpy(x_np).to(args.device)
    print(
        f"batch ({args.batch}, {args.leads}, {args.samples}) float32, fs {args.fs:g} Hz, "
        f"device {x.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs, {cpu_name()}, load average {load()}"
    )
    if args.compare_fast_paths:
        compare_fast_paths(x, args.fs, args.rounds, args.chunk_bytes)
        print(f"\nload average at the end {load()}")
        return
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
                t_collate = collate_time(fn(), args.repeats, args.batch) * n_peer / args.batch
                results[base][f"{label} + collate"] = n_peer / (t_views + t_collate)

    print(f"\nrecords/s (two views per record; best of {args.repeats}; peers on {n_peer} records)")
    for name, row in results.items():
        cells = ", ".join(f"{k}: {v:,.0f}" for k, v in row.items())
        print(f"  {name:44s} {cells}")
    print(
        "\nspeed-up of ecgfm (default mode / collate mode / ViewCollate: stack + views) over "
        "each peer (+ collate):"
    )
    for base in ("CMSC+RLM", "Interleave+RLM", "Stochastic") if peers else ():
        ours = [
            results[name]["ecgfm"]
            for name in (base, f"{base} (collate mode)", f"{base} (ViewCollate: stack + views)")
        ]
        for k, v in results[base].items():
            if k != "ecgfm":
                cells = " / ".join(f"{o / v:6.1f}x" for o in ours)
                print(f"  {base:16s} vs {k:36s} {cells}")
    if not args.skip_floors:
        print(f"\nfloors (best of {args.floor_repeats}; ms for the whole batch):")
        for name, fn in floor_runs(x).items():

            def timed(fn=fn):
                fn()
                sync()

            print(f"  {name:54s} {1e3 * best_time(timed, args.floor_repeats):8.2f}")


if __name__ == "__main__":
    main()
