"""Tasks on the shared data: the committed CinC 2017 split, task loading, PTB-XL folds."""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ecgfm.data import PTBXL, CinC2017
from ecgfm.eval.tasks import (
    SPLITS,
    TaskData,
    get_task,
    list_tasks,
    make_cinc2017_split,
    read_split_file,
    write_split_file,
)


@pytest.fixture(scope="module")
def cinc_root(data_dir: Path) -> Path:
    return data_dir / "cinc2017"


@pytest.fixture(scope="module")
def ptbxl_root(data_dir: Path) -> Path:
    return data_dir / "ptbxl"


@pytest.fixture(scope="module")
def committed() -> dict:
    return read_split_file()


def _reference_labels(root: Path) -> dict[str, str]:
    with (root / "REFERENCE-v3.csv").open() as f:
        return {row[0]: row[1] for row in csv.reader(f) if row}


# ------------------------------------------------------------------------------- split file


def test_committed_split_is_what_the_documented_generator_makes(cinc_root: Path, committed):
    assert make_cinc2017_split(cinc_root) == committed
    assert committed["generator"] == "ecgfm.eval.task_cinc2017.make_cinc2017_split"


def test_split_is_disjoint_stratified_and_labelled_like_the_reference(cinc_root, committed):
    rows = committed["records"]
    names = [n for s in SPLITS for n, _ in rows[s]]
    assert len(names) == len(set(names))
    ref = _reference_labels(cinc_root)
    assert all(ref[n] == lab for s in SPLITS for n, lab in rows[s])
    ds = CinC2017(cinc_root, segment_seconds=10.0)
    assert set(names) == set(ds.recordings)  # every record of >= 10 s, nothing else
    assert not set(names) & set(ds.too_short)
    total = Counter(lab for s in SPLITS for _, lab in rows[s])
    for s, frac in (("train", 0.6), ("val", 0.2), ("test", 0.2)):
        counts = Counter(lab for _, lab in rows[s])
        assert counts == Counter(committed["counts"][s])
        for cls, n in total.items():
            assert abs(counts[cls] - frac * n) <= 1


def test_split_depends_on_the_seed_and_round_trips(cinc_root: Path, committed, tmp_path: Path):
    other = make_cinc2017_split(cinc_root, seed=1)
    assert other["records"] != committed["records"]
    assert other["counts"] == committed["counts"]
    path = write_split_file(other, tmp_path / "s.json")
    assert read_split_file(path) == other


def test_split_file_validation(tmp_path: Path, committed) -> None:
    bad = json.loads(json.dumps(committed))
    bad["records"]["test"].append(bad["records"]["train"][0])
    with pytest.raises(ValueError, match="listed twice"):
        write_split_file(bad, tmp_path / "x.json")
    (tmp_path / "y.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="not an ecgfm record split"):
        read_split_file(tmp_path / "y.json")
    with pytest.raises(FileNotFoundError, match="make_cinc2017_split"):
        read_split_file(tmp_path / "absent.json")
    with pytest.raises(ValueError, match="fractions"):
        make_cinc2017_split(tmp_path, fractions=(0.5, 0.5, 0.5))


# ------------------------------------------------------------------------------ CinC task


def test_cinc_task_items_labels_split_and_support(cinc_root: Path, committed) -> None:
    data = get_task("cinc2017").load(cinc_root, limit=6)
    assert data.split_sizes() == {"train": 6, "val": 6, "test": 6}
    file_split = {n: s for s in SPLITS for n, _ in committed["records"][s]}
    ref = _reference_labels(cinc_root)
    ds = CinC2017(cinc_root, segment_seconds=10.0)
    for r, name in enumerate(data.record_ids):
        assert data.split[r] == file_split[name]
        assert data.classes[data.labels[r]] == ref[name]
        items = np.flatnonzero(data.item_record == r)
        expected = [i for i, rid in enumerate(ds.record_ids) if rid == name]
        assert len(items) == len(expected) >= 1  # every 10 s segment of the record
        for j, i in zip(items, expected, strict=True):
            np.testing.assert_array_equal(data.signals[j], ds[i].signal)
    assert data.signals.shape[1:] == (1, 3000) and data.fs == 300.0 and data.leads == ("I",)
    # limit takes classes in turn: 6 records = all four classes, N and A twice
    for s in SPLITS:
        sup = data.support()[s]
        assert sup == {"N": 2, "A": 2, "O": 1, "~": 1}
        naive = Counter(
            ref[n] for n, sp in zip(data.record_ids, data.split, strict=True) if sp == s
        )
        assert sup == {c: naive.get(c, 0) for c in data.classes}
    assert any("limited to at most 6" in n for n in data.notes)


def _edited_split(committed: dict, tmp_path: Path, edit) -> Path:
    doc = json.loads(json.dumps(committed))
    edit(doc["records"])
    return write_split_file(doc, tmp_path / "edited.json")


def test_cinc_task_refuses_records_missing_on_disk(cinc_root, committed, tmp_path) -> None:
    path = _edited_split(committed, tmp_path, lambda r: r["test"].append(["A99999", "N"]))
    with pytest.raises(FileNotFoundError, match=r"1 of the 4274 records.*A99999.*allow_missing"):
        get_task("cinc2017", split_file=path).load(cinc_root, limit=2)
    data = get_task("cinc2017", split_file=path, allow_missing=True).load(cinc_root, limit=2)
    assert "A99999" not in data.record_ids
    assert any("A99999" in n and "left out" in n for n in data.notes)


def test_cinc_task_refuses_other_labels(cinc_root, committed, tmp_path) -> None:
    def relabel(r: dict) -> None:
        r["train"][0][1] = "~" if r["train"][0][1] != "~" else "N"

    path = _edited_split(committed, tmp_path, relabel)
    with pytest.raises(ValueError, match="another label on disk"):
        get_task("cinc2017", split_file=path).load(cinc_root, limit=2)


def test_cinc_task_reports_disk_records_outside_the_split(cinc_root, committed, tmp_path):
    # A user with more records than the split lists (e.g. the full training set).
    path = _edited_split(committed, tmp_path, lambda r: r["val"].pop(0))
    data = get_task("cinc2017", split_file=path).load(cinc_root, limit=2)
    assert any(n.startswith("1 usable records on disk are not in") for n in data.notes)


# ---------------------------------------------------------------------------- PTB-XL tasks


def test_ptbxl_tasks_fall_back_to_folds_7_8_9_without_fold_10(ptbxl_root: Path) -> None:
    data = get_task("ptbxl-mi").load(ptbxl_root, limit=15)
    ds = PTBXL(ptbxl_root, 100, labels="mi", leads=("I",))
    folds = dict(zip(ds.record_ids, ds.strat_folds.tolist(), strict=True))
    expect = {"train": set(range(1, 8)), "val": {8}, "test": {9}}
    for rid, s in zip(data.record_ids, data.split, strict=True):
        assert folds[rid] in expect[s]
    assert data.source["folds"] == {"train": list(range(1, 8)), "val": [8], "test": [9]}
    assert any("strat_fold 10" in n and "fallback" in n for n in data.notes)
    assert data.classes == ("ALMI", "AMI", "ASMI", "ILMI", "IMI", "IPLMI", "IPMI", "LMI", "PMI")
    y, _ = ds.labels("mi")
    row = {rid: i for i, rid in enumerate(ds.record_ids)}
    for r, rid in enumerate(data.record_ids):
        np.testing.assert_array_equal(data.labels[r], y[row[rid]])
        np.testing.assert_array_equal(data.signals[r], ds[row[rid]].signal)
    assert data.signals.shape[1:] == (1, 1000) and data.fs == 100.0  # 500 Hz copy incomplete


@pytest.mark.slow
def test_ptbxl_superclass_drops_unlabelled_records_with_support_counts(ptbxl_root: Path):
    data = get_task("ptbxl-superclass").load(ptbxl_root)
    assert data.signals.shape == (1713, 1, 1000)
    assert data.label_matrix().sum(1).min() >= 1
    assert any("19 records without a super-class statement" in n for n in data.notes)
    sup = data.support()
    assert sup["test"] == {"CD": 48, "HYP": 30, "MI": 55, "NORM": 111, "STTC": 69}
    assert data.split_sizes() == {"train": 1312, "val": 169, "test": 232}
    ds = PTBXL(ptbxl_root, 100, labels="superclass", folds=[9])
    y, _ = ds.labels()
    assert sup["test"] == dict(zip(data.classes, y.sum(0).astype(int).tolist(), strict=True))


def test_ptbxl_twelve_leads(ptbxl_root: Path) -> None:
    data = get_task("ptbxl-superclass", leads="12").load(ptbxl_root, limit=3)
    assert data.signals.shape == (9, 12, 1000)
    assert data.leads[:2] == ("I", "II") and len(data.leads) == 12


def test_ptbxl_uses_official_folds_when_fold_10_exists(ptbxl_root: Path, tmp_path: Path):
    # A copy in which the records of fold 9 are relabelled fold 10, and fold 8 fold 9.
    for name in ("scp_statements.csv", "records100"):
        os.symlink(ptbxl_root / name, tmp_path / name)
    with (ptbxl_root / "ptbxl_database.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        rows, fields = list(reader), reader.fieldnames
    for row in rows:
        fold = int(float(row["strat_fold"]))
        row["strat_fold"] = {9: "10", 8: "9"}.get(fold, row["strat_fold"])
    with (tmp_path / "ptbxl_database.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    data = get_task("ptbxl-superclass").load(tmp_path, limit=5)
    assert data.source["folds"] == {"train": list(range(1, 9)), "val": [9], "test": [10]}
    assert not any("fallback" in n for n in data.notes)
    assert data.split_sizes() == {"train": 5, "val": 5, "test": 5}


# -------------------------------------------------------------------------- registry, data


def test_registry_and_bad_options() -> None:
    assert list_tasks() == ["cinc2017", "ptbxl-mi", "ptbxl-superclass"]
    with pytest.raises(ValueError, match="Did you mean 'cinc2017'"):
        get_task("cinc2071")
    with pytest.raises(TypeError, match="bad options"):
        get_task("cinc2017", leads="12")
    with pytest.raises(ValueError, match="sampling_rate"):
        get_task("ptbxl-mi", sampling_rate=250)
    with pytest.raises(ValueError, match="disjoint"):
        get_task("ptbxl-mi", folds={"train": (1, 2), "val": (2,), "test": (3,)})
    assert get_task("ptbxl-superclass", leads="12").display_name == "ptbxl-superclass (12-lead)"


def test_limit_validation(cinc_root: Path) -> None:
    with pytest.raises(ValueError, match="limit"):
        get_task("cinc2017").load(cinc_root, limit=0)


def _tiny(**change) -> dict:
    base = dict(
        task="t", signals=np.zeros((3, 1, 10), np.float32), fs=100, leads=("I",),
        item_record=np.array([0, 0, 1]), record_ids=("a", "b"), labels=np.array([0, 1]),
        classes=("x", "y"), split=np.array(["train", "test"]),
    )  # fmt: skip
    base.update(change)
    return base


def test_taskdata_validation() -> None:
    data = TaskData(**_tiny())
    assert data.support() == {"train": {"x": 1, "y": 0}, "val": {"x": 0, "y": 0},
                              "test": {"x": 0, "y": 1}}  # fmt: skip
    with pytest.raises(ValueError, match="item_record"):
        TaskData(**_tiny(item_record=np.array([0, 0, 2])))
    with pytest.raises(ValueError, match="at least one item"):
        TaskData(**_tiny(item_record=np.array([0, 0, 0])))
    with pytest.raises(ValueError, match="split"):
        TaskData(**_tiny(split=np.array(["train", "dev"])))
    with pytest.raises(ValueError, match="NaN"):
        TaskData(**_tiny(signals=np.full((3, 1, 10), np.nan, np.float32)))
    with pytest.raises(ValueError, match="lead names"):
        TaskData(**_tiny(leads=("I", "II")))
    with pytest.raises(ValueError, match="class indices"):
        TaskData(**_tiny(labels=np.array([0, 2])))
    assert (
        data.fingerprint()
        != TaskData(**_tiny(signals=np.ones((3, 1, 10), np.float32))).fingerprint()
    )
