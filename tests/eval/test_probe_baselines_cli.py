"""``ecgfm probe --baselines openecg,rr``: parsing, help, missing packages, paired comparisons."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from ecgfm.eval.cli_probe import main

pytestmark = pytest.mark.usefixtures("one_thread")

HAVE_OPENECG = importlib.util.find_spec("openecg") is not None
HAVE_NK = importlib.util.find_spec("neurokit2") is not None


def test_help_lists_the_values_of_task_probe_and_baselines(capsys) -> None:
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "one of: cinc2017, ptbxl-superclass, ptbxl-mi" in text
    assert "subset of: linear, logistic, logistic-cv" in text
    assert "subset of: random, supervised, openecg, rr; or none" in text
    assert "pip install openecg" in text and "pip install neurokit2" in text


def test_unknown_baseline_lists_the_valid_ones(capsys) -> None:
    code = main(["random:net1d_small", "--task", "ptbxl-mi", "--data-root", "x",
                 "--baselines", "random,openecg,hrv"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "--baselines must be a comma-separated subset of: random, supervised, openecg, rr" in err
    assert "(unknown: hrv)" in err


@pytest.mark.parametrize(("baseline", "module"), [("openecg", "openecg"), ("rr", "neurokit2")])
def test_missing_optional_package_is_a_usage_error_before_any_work(
    monkeypatch: pytest.MonkeyPatch, capsys, tmp_path, baseline: str, module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    code = main(["random:net1d_small", "--task", "cinc2017", "--data-root", str(tmp_path),
                 "--baselines", f"random,{baseline}"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert f"--baselines {baseline} needs the optional package {module}" in err
    assert f"pip install {module}" in err


def _reports(path) -> list[dict]:
    return json.loads(path.read_text())["reports"]


def _check_paired(reports: list[dict], entry: str) -> None:
    """Every baseline report carries its paired difference against the entry's same probe."""
    own = {r["probe"]: r["metrics"]["auroc"]["value"] for r in reports if r["model"] == entry}
    for r in reports:
        if r["model"] == entry:
            continue
        paired = r["details"]["paired_auroc_vs_entry"]
        assert paired["entry_probe"] == r["probe"]
        want = own[r["probe"]] - r["metrics"]["auroc"]["value"]
        assert paired["difference"] == pytest.approx(want, abs=1e-12)
        assert paired["low"] <= paired["difference"] <= paired["high"]


@pytest.mark.usefixtures("stand_in_neurokit2")
def test_rr_baseline_is_probed_and_paired_like_random_weights(data_dir, tmp_path, capsys):
    out = tmp_path / "o.json"
    entry = "random:net1d_small in_channels=1 seed 0"
    code = main([
        "random:net1d_small", "--arch-arg", "in_channels=1", "--task", "cinc2017",
        "--data-root", str(data_dir / "cinc2017"), "--limit", "4", "--probe",
        "logistic,logistic-cv", "--folds", "3", "--baselines", "rr", "--n-boot", "30",
        "--no-cache", "--json", str(out),
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    reports = _reports(out)
    assert [(r["model"] == entry, r["probe"]) for r in reports] == [
        (True, "logistic"),
        (True, "logistic-cv"),
        (False, "logistic"),
        (False, "logistic-cv"),
    ]
    assert reports[2]["model"].startswith("RR/HRV: 21 features")
    _check_paired(reports, entry)
    rr = reports[2]["details"]["rr_features"]
    assert rr["detector"].startswith("neurokit2 stand-in") and len(rr["features"]) == 22
    assert sum(rr["failed_records_by_split"].values()) == rr["failed_records"]
    assert any(n.startswith("RR baseline: R-peak detection") for n in reports[2]["notes"])
    assert "paired macro-AUROC differences" in capsys.readouterr().out


@pytest.mark.skipif(
    not (HAVE_OPENECG and HAVE_NK), reason="needs openecg and neurokit2 (optional; eval venv)"
)
def test_openecg_and_rr_baselines_with_the_real_packages(data_dir, tmp_path, capsys):
    out = tmp_path / "o.json"
    entry = "random:net1d_small in_channels=1 seed 0"
    code = main([
        "random:net1d_small", "--arch-arg", "in_channels=1", "--task", "cinc2017",
        "--data-root", str(data_dir / "cinc2017"), "--limit", "4", "--probe", "logistic-cv",
        "--folds", "3", "--baselines", "openecg,rr", "--n-boot", "30", "--cache-dir",
        str(tmp_path / "cache"), "--json", str(out),
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    reports = _reports(out)
    assert [r["model"].split(" ")[0] for r in reports] == ["random:net1d_small", "openecg",
                                                           "RR/HRV:"]  # fmt: skip
    _check_paired(reports, entry)
    assert reports[1]["details"]["openecg"]["checkpoint"] == "codec_v6.pt"
    assert "neurokit2" in reports[2]["details"]["rr_features"]["detector"]


@pytest.mark.skipif(not HAVE_OPENECG, reason="openecg is not installed (pip install openecg)")
def test_openecg_on_twelve_leads_asks_for_one_lead(data_dir, capsys) -> None:
    code = main(["random:net1d_small", "--task", "ptbxl-superclass", "--leads", "12",
                 "--data-root", str(data_dir / "ptbxl"), "--limit", "2", "--no-cache",
                 "--baselines", "openecg"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "single-lead encoder" in err and "--leads I" in err
