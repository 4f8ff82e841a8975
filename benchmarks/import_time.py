"""Start-up cost of ``import ecgfm`` and of the ``ecgfm`` command, against baselines.

Every measurement is a fresh interpreter (``subprocess``), timed from spawn to exit, so it
includes interpreter start-up and the import of everything the command needs. The commands are
run round robin (one of each per repetition) so that load from other processes on a shared
machine spreads over all of them; the baselines measured in the same run make the numbers
comparable between machines:

- ``python -c pass``: interpreter start-up (site, the editable-install finder);
- ``import numpy`` and ``import torch``: what any code that touches arrays or models pays;
- ``import ecgfm``: the package with its lazy attributes (no torch, SciPy, scikit-learn);
- ``ecgfm.from_pretrained`` / ``ecgfm.data.read_wfdb`` / ``ecgfm.eval.probe_task``: first
  access to a public name, which imports what that name needs;
- ``ecgfm list`` (console script) and ``python -m ecgfm.cli list``: the command line's
  cheapest command (the pretrained cards are data).

Run from the repository root with the environment that has ecgfm installed::

    python benchmarks/import_time.py              # 5 repetitions (as in docs/benchmarks.md)
    python benchmarks/import_time.py --repeats 15

To see where the time goes: ``python -X importtime -c "import ecgfm" 2>&1 | sort -t'|' -k2 -n
| tail -30``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

PY = sys.executable


def ecgfm_script() -> str:
    """The ``ecgfm`` console script of this interpreter's environment."""
    beside = Path(PY).with_name("ecgfm")
    found = str(beside) if beside.exists() else shutil.which("ecgfm")
    if found is None:
        raise SystemExit("the `ecgfm` command is not installed: run `pip install -e .` first")
    return found


def commands() -> dict[str, list[str]]:
    """Label -> argv, baselines first."""
    return {
        "python -c pass": [PY, "-c", "pass"],
        "import numpy": [PY, "-c", "import numpy"],
        "import torch": [PY, "-c", "import torch"],
        "import ecgfm": [PY, "-c", "import ecgfm"],
        "ecgfm.from_pretrained": [PY, "-c", "import ecgfm; ecgfm.from_pretrained"],
        "ecgfm.data.read_wfdb": [PY, "-c", "import ecgfm; ecgfm.data.read_wfdb"],
        "ecgfm.eval.probe_task": [PY, "-c", "import ecgfm; ecgfm.eval.probe_task"],
        "ecgfm list": [ecgfm_script(), "list"],
        "python -m ecgfm.cli list": [PY, "-m", "ecgfm.cli", "list"],
    }


def time_once(argv: list[str]) -> float:
    """Seconds from spawn to exit of ``argv``; raises if it fails."""
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
    return elapsed


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--repeats", type=int, default=5, help="fresh processes per command")
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")

    cmds = commands()
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    for argv in cmds.values():  # warm the OS file cache; not timed
        time_once(argv)
    times: dict[str, list[float]] = {label: [] for label in cmds}
    for _ in range(args.repeats):
        for label, argv in cmds.items():
            times[label].append(time_once(argv))

    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    import torch

    import ecgfm

    print(f"CPU: {cpu_model()} ({os.cpu_count()} logical cores)")
    print(
        f"Python {platform.python_version()}, torch {torch.__version__}, ecgfm {ecgfm.__version__}"
    )
    print(f"ecgfm imported from {Path(ecgfm.__file__).parent}")
    print(f"1-min load average before / after: {load_before:.2f} / {load_after:.2f}")
    print(f"{args.repeats} fresh processes per command, run round robin after one warm-up each\n")
    torch_median = statistics.median(times["import torch"])
    print(f"| {'command':<26} | median (s) | min (s) | median / import torch |")
    print(f"|{'-' * 28}|-----------:|--------:|----------------------:|")
    for label, ts in times.items():
        med, cell = statistics.median(ts), f"`{label}`"
        print(f"| {cell:<26} | {med:10.2f} | {min(ts):7.2f} | {med / torch_median:21.2f} |")


if __name__ == "__main__":
    main()
