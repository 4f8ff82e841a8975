"""artifacts/baselines/README.md shows exactly the table that its JSON runs give."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "artifacts" / "baselines"


def test_readme_table_is_the_one_of_the_jsons() -> None:
    rows = runpy.run_path(str(ROOT / "table.py"))["rows"]()
    readme = (ROOT / "README.md").read_text().splitlines()
    missing = [r for r in rows if r not in readme]
    assert not missing, missing
    assert len(rows) > 2  # a header and at least one run


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
