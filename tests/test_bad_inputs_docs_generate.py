"""Bad ``reports`` blocks of ``docs/generate.py`` (catalogue: id, call, exception, advice)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _catalogue import advice_test, unique_ids_test
from _shared import load_script

REPO = Path(__file__).resolve().parents[1]
JSON = "artifacts/selfmis-dev/card/probe_ptbxl-superclass.json"


GEN = load_script(REPO / "docs" / "generate.py", "docs_generate")


def _table(args: str) -> Any:
    return lambda: GEN.reports_table(REPO, args, "page.md")


def _page(begin: str) -> Any:
    text = f"<!-- begin generated:t {begin} -->\n<!-- end generated:t -->\n"
    return lambda: GEN.report_blocks(REPO, text, "page.md")


BAD = [
    ("no-json", _table("model=random:*"), GEN.SpecError, r"needs json=PATH"),
    ("missing-json", _table("json=artifacts/nope.json"), GEN.SpecError, r"cannot read"),
    ("word-without-value", _table(f"json={JSON} linear"), GEN.SpecError, r"KEY=VALUE"),
    ("unknown-key", _table(f"json={JSON} probes=linear"), GEN.SpecError, r"KEY one of"),
    ("empty-value", _table(f"json={JSON} model="), GEN.SpecError, r"KEY=VALUE"),
    ("unknown-column", _table(f"json={JSON} columns=task,auc"), GEN.SpecError, r"use \["),
    ("nothing-matches", _table(f"json={JSON} probe=logistic-cv"), GEN.SpecError, r"no report"),
    ("not-a-probe-output", _table("json=docs/card_specs/_shared.json"), GEN.SpecError,
     r"no report"),
    ("block-without-json", _page("reports"), GEN.SpecError, r"needs json=PATH"),
]  # fmt: skip

test_catalogue_ids_are_unique = unique_ids_test(BAD, at_least=9)
test_bad_reports_block_fails_with_advice = advice_test(BAD)
