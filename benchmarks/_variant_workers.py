"""Round-robin timing of benchmark variants, each in its own worker process.

Why separate processes: glibc's malloc adapts its mmap threshold to the sizes a process has
freed, so a variant that frees large blocks changes whether the *next* variant's large
allocations page-fault. Timing every variant in one process therefore lets the variants change
each other's speed (the plain fp32 forward ran 4-15 % faster after a variant with 41 MB
activations had run in the same process). A user runs one of them; so does each worker here.
The parent still interleaves the timed calls (one call of each worker in turn), so a shared
machine's load hits every variant alike, and only one worker computes at a time.

Protocol (one JSON object per line): the worker warms up, saves its first output to
``<out_dir>/<variant>.pt`` and sends ``{"warmup_s": ...}``; then, for every ``run`` line it
receives, it times one call and sends ``{"wall": ..., "cpu": ...}``; ``quit`` ends it. Anything
else the worker's libraries print to stdout goes to its stderr (a log file).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import torch

__all__ = ["VariantWorkers", "serve"]


def serve(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, out_path: Path) -> None:
    """Worker side: warm up (compiles), save the first output, then answer ``run`` lines."""
    proto: TextIO = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # stray prints of libraries must not corrupt the protocol

    def sync() -> None:
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)

    def send(message: dict[str, Any]) -> None:
        proto.write(json.dumps(message) + "\n")
        proto.flush()

    start = time.perf_counter()
    first = fn(x).float()
    sync()
    warmup_s = time.perf_counter() - start
    torch.save(first.cpu().clone(), out_path)
    send({"warmup_s": warmup_s})
    for line in sys.stdin:
        if line.strip() != "run":
            break
        start, start_cpu = time.perf_counter(), time.process_time()
        fn(x)
        sync()
        send({"wall": time.perf_counter() - start, "cpu": time.process_time() - start_cpu})


class _Worker:
    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._log_file = open(log, "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log_file, env=env
        )
        self._buffer = b""

    def read(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(left, 0.0))
            if not ready:
                raise TimeoutError(f"benchmark worker silent for {timeout:.0f} s (log: {self.log})")
            chunk = os.read(fd, 65536)
            if not chunk:
                tail = self.log.read_text()[-4000:]
                raise RuntimeError(f"benchmark worker exited ({self.log}):\n{tail}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()


class VariantWorkers:
    """One worker process per variant; ``time_round`` runs one timed call of each in turn.

    Args:
        argv_for: command line of the worker of a variant.
        names: the variants, in timing order.
        env: environment of the workers.
        log_dir: where each worker's stderr goes (``<variant>.log``).
        timeout: seconds to wait for any one message (the warm-up includes compilation).
    """

    def __init__(
        self,
        argv_for: Callable[[str], list[str]],
        names: list[str],
        env: dict[str, str],
        log_dir: Path,
        timeout: float,
    ) -> None:
        self.timeout = timeout
        self.workers: dict[str, _Worker] = {}
        self.warmup_s: dict[str, float] = {}
        try:
            for name in names:  # warm up one at a time: compilations do not compete
                safe = name.replace("+", "_")
                self.workers[name] = _Worker(argv_for(name), env, log_dir / f"{safe}.log")
                self.warmup_s[name] = self.workers[name].read(timeout)["warmup_s"]
        except BaseException:
            self.close()
            raise

    def time_round(self) -> dict[str, tuple[float, float]]:
        """``{variant: (wall s, process CPU s)}`` of one call of every worker, in order."""
        out = {}
        for name, worker in self.workers.items():
            worker.send("run")
            message = worker.read(self.timeout)
            out[name] = (message["wall"], message["cpu"])
        return out

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()
