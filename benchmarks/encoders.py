"""Embedding throughput, peak memory and bf16-vs-fp32 agreement of every ecgfm encoder.

For each encoder (random init, fixed seed, ``eval()``), on a ``(batch, C, T)`` float32 batch
at its ``default_input_length``:

- ``fp32``: plain eager ``forward_embedding`` under ``torch.no_grad()`` (the baseline);
- ``bf16``: the same under ``torch.autocast(dtype=torch.bfloat16)``;
- Net1D only, :func:`ecgfm.models.optimize_for_inference` (channels-last GEMM
  formulation): ``fast`` (fp32, chunked: ``chunk_size="auto"``), ``fast-unchunked`` (fp32,
  the whole batch as one chunk), ``fast+compile`` (``torch.compile``), ``fast+bf16``
  (autocast), ``fast+int8`` (``quantize="int8"``: dynamic int8 1x1 convolutions) and
  ``fast+int8+compile``. ``--no-compile`` skips the compiled variants.

Throughput is ``batch / time`` of one call, median and best of ``--repeats`` calls after a
warm-up call (which also compiles). The variants of one encoder are timed round-robin in one
process so that a shared machine's load hits them alike; the CPU time of the process during
each call is recorded too (``cpu_ratio``: fp32 CPU time / variant CPU time, medians), which a
busy machine distorts less than the wall time when ``--threads 1``. ``cos`` is the smallest
per-record cosine similarity of the variant's embedding with the ``fp32`` one.

Timing runs in a child process with the default allocator settings. Peak memory is measured in
a second child process: the growth of the resident set size during one call after the warm-up
(``/proc/self/statm`` sampled every ~0.5 ms by a thread; glibc is told to return large blocks
to the system at once via ``MALLOC_MMAP_THRESHOLD_``, which makes every large allocation
page-fault and would distort the timings), i.e. activations and workspaces, not weights or
input. On CUDA it is ``torch.cuda.max_memory_allocated`` growth.

Usage (from the repository root):

    python benchmarks/encoders.py                         # reference configs, batch 64
    python benchmarks/encoders.py --models net1d_ecgfounder_lead1 --repeats 5
    python benchmarks/encoders.py --models '*' --batch 8 --json out.json   # every arch
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ecgfm.models import create_model, list_models
from ecgfm.models.net1d import Net1D
from ecgfm.models.net1d_inference import optimize_for_inference

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _variant_workers import VariantWorkers, serve

DEFAULT_MODELS = [
    "net1d_ecgfounder_lead1",
    "net1d_ecgfounder",
    "st_mem_vit_base",
    "st_mem_vit_small",
    "hl_vit_p60_d2_w512",
    "dualview_base",
    "dualview_small",
]
GOAL_MODEL = "net1d_ecgfounder_lead1"

Embed = Callable[[torch.Tensor], torch.Tensor]


class _RssSampler:
    """Peak resident set size (bytes) seen by a polling thread between start() and stop()."""

    def __init__(self) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._stop = threading.Event()
        self.peak = 0

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.0005)

    def __enter__(self) -> _RssSampler:
        self.base = self._rss()
        self.peak = self.base
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def _variants(
    model: torch.nn.Module, device: torch.device, compile: bool, batch: int
) -> dict[str, Embed]:
    def fp32(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model.forward_embedding(x)

    def bf16(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16):
            return model.forward_embedding(x).float()

    out: dict[str, Embed] = {"fp32": fp32, "bf16": bf16}
    if isinstance(model, Net1D):
        out["fast"] = optimize_for_inference(model)
        out["fast-unchunked"] = optimize_for_inference(model, chunk_size=batch)
        if compile:
            out["fast+compile"] = optimize_for_inference(model, compile=True)
        out["fast+bf16"] = optimize_for_inference(model, dtype=torch.bfloat16)
        out["fast+int8"] = optimize_for_inference(model, quantize="int8")
        if compile:
            out["fast+int8+compile"] = optimize_for_inference(model, quantize="int8", compile=True)
    return out


def _variant_names(model_name: str, compile: bool) -> list[str]:
    """The variants :func:`_variants` builds for ``model_name`` (without building it)."""
    with torch.device("meta"):
        model = create_model(model_name)
    return list(_variants(model, torch.device("cpu"), compile, 1))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_memory_mb(fn: Embed, x: torch.Tensor, device: torch.device) -> float:
    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn(x)
        _sync(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    if not os.path.exists("/proc/self/statm"):
        return float("nan")
    with _RssSampler() as sampler:
        fn(x)
    return (sampler.peak - sampler.base) / 2**20


def _setup(config: dict[str, Any]) -> tuple[torch.nn.Module, torch.Tensor, dict[str, Embed]]:
    device = torch.device(config["device"])
    if config["threads"]:
        torch.set_num_threads(config["threads"])
    torch.manual_seed(0)
    model = create_model(config["model"]).to(device).eval()
    gen = torch.Generator().manual_seed(1)
    shape = (config["batch"], len(model.in_leads), model.default_input_length)
    x = torch.randn(shape, generator=gen).to(device)
    return model, x, _variants(model, device, config["compile"], config["batch"])


def _child_memory(config: dict[str, Any]) -> dict[str, float]:
    """Peak extra memory (MB) of one call of every variant, after a warm-up call."""
    _, x, variants = _setup(config)
    device = x.device
    out = {}
    for name, fn in variants.items():
        fn(x)
        _sync(device)
        out[name] = _peak_memory_mb(fn, x, device)
    return out


def _rows(
    config: dict[str, Any],
    shape: list[int],
    params: int,
    first: dict[str, torch.Tensor],
    warmup_s: dict[str, float],
    times: dict[str, list[float]],
    cpu: dict[str, list[float]],
) -> list[dict[str, Any]]:
    ref = first["fp32"]
    base_cpu = statistics.median(cpu["fp32"]) if cpu["fp32"] else float("nan")
    rows = []
    for name in first:
        ts = times[name] or [warmup_s[name]]
        cpu_median = statistics.median(cpu[name]) if cpu[name] else float("nan")
        rows.append(
            {
                "model": config["model"],
                "variant": name,
                "batch": config["batch"],
                "input": shape,
                "timing": config["timing"],
                "ecg_per_s_median": config["batch"] / statistics.median(ts),
                "ecg_per_s_best": config["batch"] / min(ts),
                "times_s": ts,
                "cpu_times_s": cpu[name],
                "cpu_ratio": base_cpu / cpu_median,
                "warmup_s": warmup_s[name],
                "peak_mb": float("nan"),
                "cos_min": float(F.cosine_similarity(first[name], ref, dim=-1).min()),
                "params": params,
                "threads": config["threads"] or torch.get_num_threads(),
            }
        )
    return rows


def _child(config: dict[str, Any]) -> list[dict[str, Any]]:
    """``--timing shared``: all variants of one encoder timed in this one (fresh) process."""
    model, x, variants = _setup(config)
    device = x.device
    first: dict[str, torch.Tensor] = {}
    warmup_s: dict[str, float] = {}
    for name, fn in variants.items():  # warm-up: oneDNN primitives, compilation
        start = time.perf_counter()
        first[name] = fn(x).float()
        _sync(device)
        warmup_s[name] = time.perf_counter() - start
    times: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(config["repeats"]):
        for name, fn in variants.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn(x)
            _sync(device)
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    params = sum(p.numel() for p in model.parameters())
    return _rows(config, list(x.shape), params, first, warmup_s, times, cpu)


def _worker(config: dict[str, Any]) -> None:
    """``--timing isolated``: this process serves one variant (see ``_variant_workers``)."""
    _, x, variants = _setup(config)
    serve(variants[config["variant"]], x, Path(config["out_dir"]) / f"{config['variant']}.pt")


def _time_in_workers(config: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
    """One worker process per variant, timed round-robin (the default)."""
    names = _variant_names(config["model"], config["compile"])
    with tempfile.TemporaryDirectory(prefix="ecgfm-bench-") as tmp:

        def argv_for(name: str) -> list[str]:
            cfg = {**config, "variant": name, "out_dir": tmp}
            return [sys.executable, __file__, "--worker", json.dumps(cfg)]

        workers = VariantWorkers(argv_for, names, dict(os.environ), Path(tmp), timeout)
        try:
            times: dict[str, list[float]] = {name: [] for name in names}
            cpu: dict[str, list[float]] = {name: [] for name in names}
            for _ in range(config["repeats"]):
                for name, (wall, cpu_s) in workers.time_round().items():
                    times[name].append(wall)
                    cpu[name].append(cpu_s)
        finally:
            workers.close()
        first = {name: torch.load(Path(tmp) / f"{name}.pt") for name in names}
    with torch.device("meta"):
        model = create_model(config["model"])
    params = sum(p.numel() for p in model.parameters())
    shape = [config["batch"], len(model.in_leads), model.default_input_length]
    return _rows(config, shape, params, first, workers.warmup_s, times, cpu)


def _run_child(config: dict[str, Any], timeout: float, env: dict[str, str]) -> Any:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed for {config}:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _run_isolated(config: dict[str, Any], timeout: float, memory: bool) -> list[dict[str, Any]]:
    """Timing (default allocator), then peak memory in another child."""
    if config["timing"] == "isolated":
        rows = _time_in_workers(config, timeout)
    else:
        rows = _run_child({**config, "phase": "time"}, timeout, dict(os.environ))
    if memory:
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}
        peaks = _run_child({**config, "phase": "memory"}, timeout, env)
        for r in rows:
            r["peak_mb"] = peaks[r["variant"]]
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| encoder | variant | ECG/s median | ECG/s best | vs fp32 (median) | vs fp32 (CPU time) "
        "| peak extra MB | cos vs fp32 (min) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    base = {r["model"]: r["ecg_per_s_median"] for r in rows if r["variant"] == "fp32"}
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['variant']} | {r['ecg_per_s_median']:.1f} | "
            f"{r['ecg_per_s_best']:.1f} | {r['ecg_per_s_median'] / base[r['model']]:.2f}x | "
            f"{r['cpu_ratio']:.2f}x | {r['peak_mb']:.0f} | {r['cos_min']:.6f} |"
        )
    return "\n".join(lines)


def _goal(rows: list[dict[str, Any]]) -> str | None:
    """Every variant of the goal model against >= 2x the fp32 median with cosine >= 0.999."""
    mine = {r["variant"]: r for r in rows if r["model"] == GOAL_MODEL}
    if "fp32" not in mine:
        return None
    base = mine["fp32"]["ecg_per_s_median"]
    parts = []
    for name, r in mine.items():
        if name == "fp32":
            continue
        ok = r["ecg_per_s_median"] >= 2 * base and r["cos_min"] >= 0.999
        parts.append(
            f"{name}: {r['ecg_per_s_median'] / base:.2f}x (CPU time {r['cpu_ratio']:.2f}x), "
            f"cos {r['cos_min']:.6f} ({'MEETS' if ok else 'misses'} >= 2x with cos >= 0.999)"
        )
    met = [n for n, r in mine.items() if n != "fp32" and r["ecg_per_s_median"] >= 2 * base
           and r["cos_min"] >= 0.999]  # fmt: skip
    verdict = f"met by {', '.join(met)}" if met else "not met by any variant"
    return (
        f"goal ({GOAL_MODEL}, median throughput vs plain fp32 eager in this run): {verdict}\n  "
        + "\n  ".join(parts)
    )


def _load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument(
        "--models",
        nargs="+",
        default=DEFAULT_MODELS,
        help="registered names or glob patterns ('*' = every architecture)",
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after the warm-up")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled variants")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory child")
    parser.add_argument(
        "--timing",
        choices=("isolated", "shared"),
        default="isolated",
        help="isolated (default): one worker process per variant, timed round-robin; shared: "
        "all variants in one process (they then change each other's allocator state)",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per encoder")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.worker:
        _worker(json.loads(args.worker))
        return
    if args.child:
        config = json.loads(args.child)
        result = _child_memory(config) if config["phase"] == "memory" else _child(config)
        print(json.dumps(result))
        return
    if args.batch < 1 or args.repeats < 0:
        parser.error("--batch must be >= 1 and --repeats >= 0")
    known = list_models()
    names: list[str] = []
    for pattern in args.models:
        matched = [n for n in known if fnmatch.fnmatch(n, pattern)]
        if not matched:
            parser.error(f"no registered architecture matches {pattern!r}")
        names += [n for n in matched if n not in names]
    print(
        f"torch {torch.__version__}, device {args.device}, {platform.processor() or 'cpu'}, "
        f"{os.cpu_count()} CPUs, load average at start {_load_average()}",
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    for name in names:
        config = {
            "model": name,
            "batch": args.batch,
            "repeats": args.repeats,
            "device": args.device,
            "threads": args.threads,
            "compile": not args.no_compile,
            "timing": args.timing,
        }
        result = _run_isolated(config, args.timeout, memory=not args.no_memory)
        rows += result
        for r in result:
            print(
                f"{name:24s} {r['variant']:17s} {r['ecg_per_s_median']:8.1f} ECG/s "
                f"CPU-time ratio {r['cpu_ratio']:5.2f}x {r['peak_mb']:8.0f} MB "
                f"cos {r['cos_min']:.6f}",
                file=sys.stderr,
                flush=True,
            )
    print(f"threads {rows[0]['threads'] if rows else '?'}, load average at end {_load_average()}")
    print(_table(rows))
    goal = _goal(rows)
    if goal:
        print(goal)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
