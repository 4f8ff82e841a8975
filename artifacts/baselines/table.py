"""Print the README table of this folder from its JSON runs.

Run ``python artifacts/baselines/table.py``.

One row per (task, probe, model): macro AUROC [95 % bootstrap CI] and, for every baseline,
the entry minus the baseline on the same bootstrap resamples of the same records.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def rows() -> list[str]:
    out = [
        "| task | probe | model | macro AUROC [95 % CI] | entry - model [paired 95 % CI] "
        "| entry better on | clearly |",
        "|---|---|---|---|---|---:|---|",
    ]
    for path in sorted(HERE.glob("*.json")):
        doc = json.loads(path.read_text())
        for r in doc["reports"]:
            m = r["metrics"]["auroc"]
            auroc = f"{m['value']:.3f} [{m['low']:.3f}, {m['high']:.3f}]"
            p = r["details"].get("paired_auroc_vs_entry")
            if p is None:
                diff, better, clear = "(entry)", "", ""
            else:
                diff = f"{p['difference']:+.3f} [{p['low']:+.3f}, {p['high']:+.3f}]"
                better = f"{100 * p['entry_better_fraction']:.1f} %"
                clear = "yes" if p["low"] > 0 or p["high"] < 0 else "no"
            out.append(
                f"| {r['task']} | {r['probe']} | {r['model']} | {auroc} | {diff} | {better} "
                f"| {clear} |"
            )
    return out


if __name__ == "__main__":
    print("\n".join(rows()))
