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
    python benchmarks/import_time.py --baseline-tree /tmp/base   # against another version

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
import tempfile
import time
from pathlib import Path

PY = sys.executable
# Commands run outside the repository, so that `python -m` does not pick up ./ecgfm.
NEUTRAL_DIR = tempfile.gettempdir()


def ecgfm_script() -> str:
    """The ``ecgfm`` console script of this interpreter's environment."""
    beside = Path(PY).with_name("ecgfm")
    found = str(beside) if beside.exists() else shutil.which("ecgfm")
    if found is None:
        raise SystemExit("the `ecgfm` command is not installed: run `pip install -e .` first")
    return found


def commands(baseline_tree: Path | None) -> dict[str, tuple[list[str], dict[str, str] | None]]:
    """Label -> (argv, environment or None for this one), baselines first.

    With ``baseline_tree`` (a directory holding another ``ecgfm/`` package, e.g. an older
    commit extracted with ``git archive``), every ecgfm command runs a second time with that
    tree first on ``PYTHONPATH``, in the same round robin.
    """
    ecgfm_cmds = {
        "import ecgfm": [PY, "-c", "import ecgfm"],
        "ecgfm.from_pretrained": [PY, "-c", "import ecgfm; ecgfm.from_pretrained"],
        "ecgfm.data.read_wfdb": [PY, "-c", "import ecgfm; ecgfm.data.read_wfdb"],
        "ecgfm.eval.probe_task": [PY, "-c", "import ecgfm; ecgfm.eval.probe_task"],
        "ecgfm list": [ecgfm_script(), "list"],
        "python -m ecgfm.cli list": [PY, "-m", "ecgfm.cli", "list"],
    }
    cmds: dict[str, tuple[list[str], dict[str, str] | None]] = {
        "python -c pass": ([PY, "-c", "pass"], None),
        "import numpy": ([PY, "-c", "import numpy"], None),
        "import torch": ([PY, "-c", "import torch"], None),
    }
    cmds.update({label: (argv, None) for label, argv in ecgfm_cmds.items()})
    if baseline_tree is not None:
        env = {**os.environ, "PYTHONPATH": str(baseline_tree)}
        where = [PY, "-c", "import ecgfm; print(ecgfm.__file__)"]
        found = subprocess.run(where, env=env, cwd=NEUTRAL_DIR, capture_output=True, text=True)
        if not found.stdout.startswith(str(baseline_tree)):
            raise SystemExit(f"--baseline-tree {baseline_tree} has no importable ecgfm package")
        cmds.update({f"{label} [baseline]": (argv, env) for label, argv in ecgfm_cmds.items()})
    return cmds


def time_once(argv: list[str], env: dict[str, str] | None) -> float:
    """Seconds from spawn to exit of ``argv``; raises if it fails."""
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=NEUTRAL_DIR, capture_output=True, text=True)
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
    ap.add_argument(
        "--baseline-tree",
        type=Path,
        help="directory with another ecgfm/ package to time in the same run (e.g. the parent "
        "commit: mkdir /tmp/base && git archive HEAD~1 ecgfm | tar -x -C /tmp/base)",
    )
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")

    tree = None if args.baseline_tree is None else args.baseline_tree.resolve()
    cmds = commands(tree)
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    for argv, env in cmds.values():  # warm the OS file cache; not timed
        time_once(argv, env)
    times: dict[str, list[float]] = {label: [] for label in cmds}
    for _ in range(args.repeats):
        for label, (argv, env) in cmds.items():
            times[label].append(time_once(argv, env))

    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    import torch

    import ecgfm

    print(f"CPU: {cpu_model()} ({os.cpu_count()} logical cores)")
    print(
        f"Python {platform.python_version()}, torch {torch.__version__}, ecgfm {ecgfm.__version__}"
    )
    print(f"ecgfm imported from {Path(ecgfm.__file__).parent}")
    if tree is not None:
        print(f"[baseline]: the same command with PYTHONPATH={tree}")
    print(f"1-min load average before / after: {load_before:.2f} / {load_after:.2f}")
    print(f"{args.repeats} fresh processes per command, run round robin after one warm-up each\n")
    torch_median = statistics.median(times["import torch"])
    width = max(len(label) for label in times) + 2
    print(f"| {'command':<{width}} | median (s) | min (s) | median / import torch |")
    print(f"|{'-' * (width + 2)}|-----------:|--------:|----------------------:|")
    for label, ts in times.items():
        med, cell = statistics.median(ts), f"`{label}`"
        print(f"| {cell:<{width}} | {med:10.2f} | {min(ts):7.2f} | {med / torch_median:21.2f} |")


if __name__ == "__main__":
    main()
