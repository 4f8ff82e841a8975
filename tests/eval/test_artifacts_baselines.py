"""The JSON runs of artifacts/baselines (its README table is generated from them by
docs/generate.py; tests/test_generated.py checks that it is up to date)."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "artifacts" / "baselines"


def test_every_baseline_is_paired_with_the_entry_and_counts_rr_failures() -> None:
    for path in sorted(ROOT.glob("*.json")):
        doc = json.loads(path.read_text())
        baselines = [r for r in doc["reports"] if r["model"] != doc["model"]]
        assert {r["model"].split(" ")[0] for r in baselines} >= {"openecg", "RR/HRV:"}, path
        for r in baselines:
            assert "paired_auroc_vs_entry" in r["details"], (path.name, r["model"])
            if r["model"].startswith("RR/HRV"):
                rr = r["details"]["rr_features"]
                assert sum(rr["failed_records_by_split"].values()) == rr["failed_records"]
                assert any(n.startswith("RR baseline: R-peak detection") for n in r["notes"])
