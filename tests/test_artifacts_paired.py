"""The paired-comparison table in artifacts/paired/README.md matches the committed JSON runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "artifacts" / "paired"
ROW = re.compile(
    r"^\| `(?P<name>[^`]+)` \| (?P<task>[\w-]+)(?: \(lead I\))? \| (?P<probe>[\w-]+) \| "
    r"(?P<entry>[\d.]+) \| (?P<base>[\d.]+) \| (?P<diff>[+-][\d.]+) \[(?P<low>[+-][\d.]+), "
    r"(?P<high>[+-][\d.]+)\] \| (?P<better>[\d.]+) % \| (?P<clear>yes|no) \|$"
)


def _reports() -> dict[tuple[str, str, str], tuple[dict, dict]]:
    """(entry, task, probe) -> (entry report, random-baseline report) from every JSON here."""
    out = {}
    for path in sorted(ROOT.glob("*.json")):
        doc = json.loads(path.read_text())
        name, task = doc["arguments"]["name"], doc["arguments"]["task"]
        for base in doc["reports"]:
            paired = base["details"].get("paired_auroc_vs_entry")
            if paired is None:
                continue
            entry = next(r for r in doc["reports"]
                         if r["model"] == name and r["probe"] == paired["entry_probe"])  # fmt: skip
            out[(name, task, base["probe"])] = (entry, base)
    return out


def test_every_row_matches_its_json_and_every_comparison_has_a_row() -> None:
    rows = [m for line in (ROOT / "README.md").read_text().splitlines() if (m := ROW.match(line))]
    reports = _reports()
    assert len(rows) == len(reports) == 19
    for m in rows:
        entry, base = reports[(m["name"], m["task"], m["probe"])]
        paired = base["details"]["paired_auroc_vs_entry"]
        got = {
            "entry": entry["metrics"]["auroc"]["value"],
            "base": base["metrics"]["auroc"]["value"],
            "diff": paired["difference"],
            "low": paired["low"],
            "high": paired["high"],
        }
        for key, value in got.items():
            assert float(m[key]) == pytest.approx(value, abs=5e-4), (m.group(0), key)
        assert float(m["better"]) == pytest.approx(100 * paired["entry_better_fraction"], abs=0.05)
        assert (m["clear"] == "yes") == (paired["low"] > 0 or paired["high"] < 0)
