"""Every generated file equals what ``python docs/generate.py`` produces from its sources.

The pretrained cards (``weights/*.card.json``), the unregistered checkpoint's ``config.json``,
``docs/model_zoo.md`` and the generated tables in README.md, docs/*.md and artifacts/*/README.md are
never edited by hand: their only sources are ``docs/card_specs/`` and the committed probe
outputs, logs and weight files (docs/card_specs/README.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from _shared import load_script

import ecgfm
from ecgfm.hub._bundle import CARD_SUFFIX

REPO = Path(__file__).resolve().parents[1]
DUALVIEW = REPO / "artifacts" / "dualview-small-cmsc" / "checkpoint"


def _generator() -> ModuleType:
    return load_script(REPO / "docs" / "generate.py", "docs_generate")


def test_generated_files_are_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "docs" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_a_hand_edit_of_a_generated_file_is_stale(tmp_path: Path) -> None:
    gen = _generator()
    generated = gen.outputs(REPO)
    readme = generated["README.md"]
    assert readme is not None and "| 0.930 |" in readme  # the CinC supervised baseline
    (tmp_path / "README.md").write_text(readme.replace("| 0.930 |", "| 0.931 |"))
    assert gen.stale(tmp_path, {"README.md": readme}) == ["README.md"]
    (tmp_path / "README.md").write_text(readme)
    assert gen.stale(tmp_path, {"README.md": readme}) == []


def test_registry_holds_exactly_the_generated_cards() -> None:
    on_disk = sorted(
        p.name.removesuffix(CARD_SUFFIX) for p in (REPO / "weights").glob(f"*{CARD_SUFFIX}")
    )
    specs = sorted(p.stem for p in (REPO / "docs" / "card_specs").glob("[!_]*.json"))
    assert ecgfm.list_pretrained() == on_disk
    assert set(on_disk) < set(specs)  # the unregistered checkpoint has a spec, no card here
    page = (REPO / "docs" / "model_zoo.md").read_text()
    for name in on_disk:
        assert f"`{name}`" in page
        assert ecgfm.pretrained_card(name).to_dict() == json.loads(
            (REPO / "weights" / f"{name}{CARD_SUFFIX}").read_text()
        )


def test_directory_format_version_is_the_saved_one() -> None:
    from ecgfm.hub._save import FORMAT_VERSION

    assert _generator().FORMAT_VERSION == FORMAT_VERSION


def test_dualview_is_an_unregistered_loadable_checkpoint() -> None:
    """Issue 14: no gain over random weights on independent data, so out of the registry; its
    weights stay in artifacts/ as a warm-restart checkpoint that from_pretrained loads."""
    assert "dualview-small-cmsc" not in ecgfm.list_pretrained()
    assert not (REPO / "weights" / "dualview-small-cmsc.safetensors").exists()
    model = ecgfm.from_pretrained(str(DUALVIEW))  # sha256 checked against config.json
    assert model.card.name == "dualview-small-cmsc"
    assert model.card.weights.sha256 == ecgfm.hub.sha256_file(DUALVIEW / "model.safetensors")
    assert "0.737 against 0.736" in model.card.limitations


def test_model_zoo_keeps_code_blocks_of_the_cards_intact() -> None:
    """The cards' headings move one level down in the zoo, but a Python comment inside a
    usage block is not a heading (it became ``## or: ...``)."""
    page = (REPO / "docs" / "model_zoo.md").read_text()
    assert "\n# or: ecgfm.from_pretrained(" in page
    assert "## or:" not in page
    assert "\n## selfmis-lead1\n" in page and "\n### Metrics\n" in page


def _probe_json(tmp_path: Path) -> str:
    """A copy of a committed probe output under ``tmp_path`` (its path relative to it)."""
    src = REPO / "artifacts" / "selfmis-dev" / "card" / "probe_ptbxl-superclass.json"
    (tmp_path / "probe.json").write_text(src.read_text())
    return "probe.json"


def test_reports_block_is_the_table_of_its_json(tmp_path: Path) -> None:
    """Issue 15: a ``reports`` block in a page is rebuilt from the probe output it names, so a
    copied number cannot drift from its JSON."""
    gen = _generator()
    rel = _probe_json(tmp_path)
    page = (
        f"text\n<!-- begin generated:t reports json={rel} model=random:* probe=linear "
        "columns=probe,auroc,per-class -->\nold\n<!-- end generated:t -->\n"
    )
    blocks = gen.report_blocks(tmp_path, page, "page.md")
    doc = json.loads((tmp_path / rel).read_text())
    (report,) = [
        r for r in doc["reports"] if r["model"].startswith("random:") and r["probe"] == "linear"
    ]
    auroc = report["metrics"]["auroc"]
    assert blocks["t"].splitlines()[2] == (
        f"| linear | {auroc['value']:.3f} [{auroc['low']:.3f}, {auroc['high']:.3f}] | "
        + ", ".join(
            f"{c} {v['auroc']:.3f} ({v['positives']})" for c, v in report["per_class"].items()
        )
        + " |"
    )
    assert len(blocks["t"].splitlines()) == 3  # header, rule, the one matching report
    filled = gen.fill_blocks(page, blocks, "page.md")
    assert "old" not in filled and filled.startswith("text\n<!-- begin generated:t reports")
    auroc["value"] += 0.01  # a new measurement changes the generated page
    (tmp_path / rel).write_text(json.dumps(doc))
    assert gen.fill_blocks(page, gen.report_blocks(tmp_path, page, "p"), "p") != filled


def test_reports_blocks_of_the_docs_are_generated() -> None:
    """docs/evaluation.md shows the random-weight lead-I baselines from their JSON."""
    generated = _generator().outputs(REPO)
    page = generated["docs/evaluation.md"]
    assert page is not None and "<!-- begin generated:random-lead1 reports json=" in page
    doc = json.loads((REPO / "artifacts/selfmis-dev/card/probe_cinc2017.json").read_text())
    cv = next(r for r in doc["reports"] if r["probe"] == "logistic-cv" and "random" in r["model"])
    assert "{value:.3f} [{low:.3f}, {high:.3f}]".format(**cv["metrics"]["auroc"]) in page


def test_reports_block_shows_a_report_kept_in_two_files_once(tmp_path: Path) -> None:
    gen = _generator()
    rel = _probe_json(tmp_path)
    (tmp_path / "copy.json").write_text((tmp_path / rel).read_text())
    one = gen.reports_table(tmp_path, f"json={rel} columns=file,model,probe", "p")
    two = gen.reports_table(tmp_path, f"json={rel},copy.json columns=file,model,probe", "p")
    assert two == one and f"| `{rel}` |" in one and "copy.json" not in one
    n_reports = len(json.loads((tmp_path / rel).read_text())["reports"])
    assert len(one.splitlines()) == 2 + n_reports


def test_reports_block_paired_column_marks_the_entry(tmp_path: Path) -> None:
    """Without a pairing, the entry's rows say ``(entry)`` and the other models' ``-``."""
    gen = _generator()
    rel = _probe_json(tmp_path)  # run with --baselines random, no pairing recorded
    rows = gen.reports_table(tmp_path, f"json={rel} columns=model,paired", "p").splitlines()[2:]
    assert rows and all(
        row.endswith("| (entry) |") == row.startswith("| `selfmis-lead1` |") for row in rows
    )
    assert any(row.endswith("| - |") for row in rows)


def test_reports_block_keeps_equal_differences_against_other_entries(tmp_path: Path) -> None:
    """A paired row repeats when its difference is against another file's entry."""
    gen = _generator()
    src = REPO / "artifacts" / "selfmis-v2" / "probe_cinc2017_C.json"
    doc = json.loads(src.read_text())
    (tmp_path / "a.json").write_text(json.dumps(doc))
    for r in doc["reports"]:
        if r["model"] == doc["model"]:
            r["model"] = "other"
    doc["model"] = "other"  # the same random-weight reports, paired against another entry
    (tmp_path / "b.json").write_text(json.dumps(doc))
    args = "json=a.json,b.json model=random:* columns=model,probe,auroc,paired"
    rows = gen.reports_table(tmp_path, args, "p").splitlines()[2:]
    one = gen.reports_table(tmp_path, args.replace(",b.json", ""), "p").splitlines()[2:]
    assert rows == one + one and len(one) == 3


def test_reports_block_better_and_clear_columns() -> None:
    """``better`` and ``clear`` come from each report's pairing (empty on the entry's rows)."""
    gen = _generator()
    rel = "artifacts/baselines/selfmis-lead1_cinc2017.json"
    rows = gen.reports_table(REPO, f"json={rel} columns=better,clear", "p").splitlines()[2:]
    doc = json.loads((REPO / rel).read_text())
    expected = []
    for r in doc["reports"]:
        p = r["details"].get("paired_auroc_vs_entry")
        if p is None:
            expected.append("|  |  |")
        else:
            clear = "yes" if p["low"] > 0 or p["high"] < 0 else "no"
            expected.append(f"| {100 * p['entry_better_fraction']:.1f} % | {clear} |")
    # rows equal in both cells are shown once
    assert rows == list(dict.fromkeys(expected)) and "| yes |" in "".join(rows)
