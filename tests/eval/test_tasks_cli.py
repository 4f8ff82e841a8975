"""``ecgfm probe``: end-to-end runs on a few records, JSON output, cache reuse, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecgfm.cli import main
from ecgfm.eval.baselines import random_encoder
from ecgfm.hub import make_card, save_pretrained
from ecgfm.transforms.presets import get_preset

pytestmark = pytest.mark.usefixtures("one_thread")


def _probe(*args: str) -> int:
    return main(["probe", *args])


def test_random_weights_on_cinc_writes_json_and_reuses_the_cache(data_dir, tmp_path, capsys):
    out = tmp_path / "r.json"
    args = [
        "random:net1d_small", "--arch-arg", "in_channels=1", "--task", "cinc2017",
        "--data-root", str(data_dir / "cinc2017"), "--limit", "4", "--probe",
        "logistic,logistic-cv", "--folds", "3", "--n-boot", "20", "--cache-dir",
        str(tmp_path / "cache"), "--json", str(out),
    ]  # fmt: skip
    assert _probe(*args) == 0
    text = capsys.readouterr().out
    assert "task: cinc2017 (lead I)" in text and "random:net1d_small in_channels=1" in text
    doc = json.loads(out.read_text())
    assert [r["probe"] for r in doc["reports"]] == ["logistic", "logistic-cv"]
    rep = doc["reports"][0]
    assert rep["n_records"] == {"train": 4, "val": 4, "test": 4}
    assert rep["support"]["test"] == {"N": 1, "A": 1, "O": 1, "~": 1}
    assert rep["evaluated_on"] == "test split, 4 records"
    assert 0.0 <= rep["metrics"]["auroc"]["value"] <= 1.0
    assert rep["details"]["embedding_from_cache"] is False
    assert doc["source"]["split_file"] == "cinc2017_v3.json"
    assert _probe(*args) == 0
    again = json.loads(out.read_text())["reports"][0]
    assert again["details"]["embedding_from_cache"] is True
    assert again["metrics"] == rep["metrics"]


def _saved_tiny_model(directory: Path) -> Path:
    model = random_encoder("net1d_small", in_channels=1, seed=7)
    card = make_card(
        model, name="tiny-test", preset=get_preset("selfmis", leads=("I",)), license="MIT",
        paper="none", training="random weights saved for a test",
    )  # fmt: skip
    return save_pretrained(model, directory, card)


def test_saved_model_is_reported_next_to_its_random_baseline(data_dir, tmp_path, capsys):
    directory = _saved_tiny_model(tmp_path / "tiny")
    code = _probe(
        str(directory), "--task", "ptbxl-mi", "--data-root", str(data_dir / "ptbxl"),
        "--limit", "10", "--probe", "logistic", "--n-boot", "20", "--no-cache", "--json",
        str(tmp_path / "o.json"),
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    doc = json.loads((tmp_path / "o.json").read_text())
    models = [(r["model"], r["probe"]) for r in doc["reports"]]
    assert models == [(str(directory), "logistic"), ("random:net1d_small seed 0", "logistic")]
    paired = doc["reports"][1]["details"]["paired_auroc_vs_entry"]  # same records, same resamples
    auroc = [r["metrics"]["auroc"]["value"] for r in doc["reports"]]
    assert paired["difference"] == pytest.approx(auroc[0] - auroc[1], abs=1e-12)
    assert paired["low"] <= paired["difference"] <= paired["high"]
    assert "paired macro-AUROC differences" in capsys.readouterr().out
    assert doc["task"] == "ptbxl-mi (lead I)"
    rep = doc["reports"][0]
    assert any("fallback" in n for n in rep["notes"])  # no fold 10 in the shared subset
    # classes without a positive among the 10 test records are named, not averaged
    zero = [c for c, n in rep["support"]["test"].items() if n == 0]
    assert zero and rep["excluded_classes"] == zero
    assert all(rep["per_class"][c]["auroc"] is None for c in zero)


def test_versus_compares_two_encoders_on_the_same_records(data_dir, tmp_path, capsys):
    first = _saved_tiny_model(tmp_path / "a")
    model = random_encoder("net1d_small", in_channels=1, seed=8)
    card = make_card(
        model, name="tiny-other", preset=get_preset("selfmis", leads=("I",)), license="MIT",
        paper="none", training="other random weights saved for a test",
    )  # fmt: skip
    second = save_pretrained(model, tmp_path / "b", card)
    code = _probe(
        str(first), "--task", "ptbxl-mi", "--data-root", str(data_dir / "ptbxl"), "--limit",
        "10", "--probe", "logistic", "--baselines", "none", "--versus", str(second),
        "--n-boot", "20", "--no-cache", "--json", str(tmp_path / "o.json"),
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    reports = json.loads((tmp_path / "o.json").read_text())["reports"]
    assert [r["model"] for r in reports] == [str(first), str(second)]
    paired = reports[1]["details"]["paired_auroc_vs_entry"]
    auroc = [r["metrics"]["auroc"]["value"] for r in reports]
    assert paired["difference"] == pytest.approx(auroc[0] - auroc[1], abs=1e-12)
    # a 12-lead encoder against a lead-I task, and an empty name: usage errors
    args = [str(first), "--task", "ptbxl-mi", "--data-root", str(data_dir / "ptbxl"),
            "--limit", "2", "--no-cache", "--baselines", "none"]  # fmt: skip
    assert _probe(*args, "--versus", "st-mem-tiny") == 2
    assert "same leads" in capsys.readouterr().err
    assert _probe(*args, "--versus", f"{second},") == 2
    assert "empty name" in capsys.readouterr().err


@pytest.mark.slow
def test_supervised_baseline_from_the_cli(data_dir, tmp_path, capsys):
    directory = _saved_tiny_model(tmp_path / "tiny")
    code = _probe(
        str(directory), "--task", "ptbxl-mi", "--data-root", str(data_dir / "ptbxl"),
        "--limit", "30", "--probe", "logistic", "--baselines", "supervised",
        "--supervised-epochs", "1", "--n-boot", "20", "--no-cache", "--json",
        str(tmp_path / "o.json"),
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    reports = json.loads((tmp_path / "o.json").read_text())["reports"]
    assert [r["probe"] for r in reports] == ["logistic", "supervised"]
    assert reports[1]["details"]["epochs_run"] == 1
    paired = reports[1]["details"]["paired_auroc_vs_entry"]  # both scored on the test split
    assert paired["entry_probe"] == "logistic"
    auroc = [r["metrics"]["auroc"]["value"] for r in reports]
    assert paired["difference"] == pytest.approx(auroc[0] - auroc[1], abs=1e-12)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["random:net1d_small", "--task", "cinc2017"], "lead"),  # 12-lead model, 1-lead data
        (["random:net1d_small", "--task", "ptbxl-mi", "--probe", "svm"], "--probe"),
        (["random:net1d_small", "--task", "ptbxl-mi", "--baselines", "x"], "--baselines"),
        (["no-such-model", "--task", "ptbxl-mi"], "no-such-model"),
        (["random:no_such_arch", "--task", "ptbxl-mi"], "no_such_arch"),
        (["random:net1d_small", "--task", "cinc2017", "--leads", "12"], "lead I only"),
        (["random:net1d_small", "--task", "ptbxl-mi", "--split-file", "s.json"], "cinc2017 only"),
    ],
)
def test_errors_exit_2_with_a_message(data_dir, capsys, args, message) -> None:
    root = data_dir / ("cinc2017" if "cinc2017" in args else "ptbxl")
    assert _probe(*args, "--data-root", str(root), "--limit", "2", "--no-cache") == 2
    err = capsys.readouterr().err
    assert err.startswith("ecgfm probe: error:") and message in err


def test_unknown_task_is_a_usage_error(capsys) -> None:
    assert _probe("random:net1d_small", "--task", "mitbih", "--data-root", ".") == 2
    assert "invalid choice" in capsys.readouterr().err


def test_arch_arg_needs_a_random_model(tmp_path: Path, capsys) -> None:
    code = _probe("ecgfounder-lead1", "--arch-arg", "x=1", "--task", "ptbxl-mi",
                  "--data-root", str(tmp_path))  # fmt: skip
    assert code == 2
