"""Time and peak memory of SigLIPLoss and InfoNCELoss, chunked vs unchunked.

Each configuration runs in a fresh subprocess so its memory high-water mark is its own:

- CUDA: ``torch.cuda.max_memory_allocated`` minus what the inputs already hold;
- CPU: the growth of the process's peak resident set size (``resource.getrusage``) during the
  first forward + backward (tracemalloc does not see torch's allocations). RSS includes
  allocator and thread-pool overheads, so small configurations read as a few MB of noise.

Time is the median wall-clock of ``--repeats`` forward + backward passes after that first one.

SigLIP is run as in SelfMIS (gradient for the student rows only, frozen teacher); InfoNCE is
symmetric with gradient for both views. Inputs are float32, L2-normalised inside the loss.

Usage (from the repository root):

    python benchmarks/losses.py                       # 128 / 1024 / 8192 at dim 1024
    python benchmarks/losses.py --batches 128 1024 --repeats 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import torch

from ecgfm.losses import InfoNCELoss, SigLIPLoss


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    scale = 1.0 / 1024 if sys.platform != "darwin" else 1.0 / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _child(config: dict[str, Any]) -> dict[str, Any]:
    """One configuration in this (fresh) process."""
    device = torch.device(config["device"])
    if config["threads"]:
        torch.set_num_threads(config["threads"])
    batch, dim, chunk = config["batch"], config["dim"], config["chunk_size"]
    g = torch.Generator(device="cpu").manual_seed(0)
    z0 = torch.randn(batch, dim, generator=g).to(device).requires_grad_(True)
    if config["loss"] == "siglip":
        z1 = torch.randn(batch, dim, generator=g).to(device)  # frozen teacher
        loss_fn = SigLIPLoss(chunk_size=chunk, check_finite=False)
        leaves = [z0]
    else:
        z1 = torch.randn(batch, dim, generator=g).to(device).requires_grad_(True)
        loss_fn = InfoNCELoss(0.1, chunk_size=chunk, check_finite=False)
        leaves = [z0, z1]

    def step() -> float:
        for leaf in leaves:
            leaf.grad = None
        out = loss_fn(z0, z1)
        out.backward()
        _sync(device)
        return float(out.detach())

    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        value = step()
        peak_mb = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    else:
        base = _peak_rss_mb()
        value = step()
        peak_mb = _peak_rss_mb() - base
    times = []
    for _ in range(config["repeats"]):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {
        **config,
        "loss_value": value,
        "time_ms": 1e3 * statistics.median(times) if times else float("nan"),
        "peak_mb": peak_mb,
        "logits_mb": batch * batch * 4 / 2**20,
        "torch": torch.__version__,
        "threads_used": torch.get_num_threads(),
    }


def _run_isolated(config: dict[str, Any], timeout: float) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed for {config}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| loss | batch | dim | chunk | time fwd+bwd (ms) | peak extra memory (MB) | "
        "one B x B fp32 matrix (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        chunk = "—" if r["chunk_size"] is None else str(r["chunk_size"])
        lines.append(
            f"| {r['loss']} | {r['batch']} | {r['dim']} | {chunk} | {r['time_ms']:.1f} | "
            f"{r['peak_mb']:.1f} | {r['logits_mb']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--losses", nargs="+", default=["siglip", "infonce"], choices=["siglip", "infonce"]
    )
    parser.add_argument("--batches", nargs="+", type=int, default=[128, 1024, 8192])
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=512,
        help="columns per block for the chunked runs (default 512)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed passes after the first")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per config")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return
    if args.chunk_size < 1 or args.repeats < 0 or args.dim < 1 or min(args.batches) < 1:
        parser.error("chunk-size, dim and batches must be >= 1, repeats >= 0")
    rows = []
    for loss in args.losses:
        for batch in args.batches:
            for chunk in (None, args.chunk_size):
                config = {
                    "loss": loss,
                    "batch": batch,
                    "dim": args.dim,
                    "chunk_size": chunk,
                    "repeats": args.repeats,
                    "device": args.device,
                    "threads": args.threads,
                }
                row = _run_isolated(config, args.timeout)
                rows.append(row)
                print(
                    f"{loss:8s} B={batch:5d} chunk={chunk!s:5s} {row['time_ms']:10.1f} ms "
                    f"{row['peak_mb']:9.1f} MB",
                    file=sys.stderr,
                    flush=True,
                )
    device = rows[0]["device"] if rows else args.device
    print(
        f"device: {device}, torch {rows[0]['torch'] if rows else torch.__version__}, "
        f"threads {rows[0]['threads_used'] if rows else torch.get_num_threads()}"
    )
    print(_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
