"""PTBXL on the real subset in ../shared/data/ptbxl: counts, labels, splits, errors."""

from __future__ import annotations

import csv
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from ecgfm.data import PTBXL, PTBXL_MI_TYPES, read_wfdb
from ecgfm.leads import CANONICAL_LEADS


@pytest.fixture(scope="module")
def root(data_dir: Path) -> Path:
    return data_dir / "ptbxl"


@pytest.fixture(scope="module")
def ds100(root: Path) -> PTBXL:
    return PTBXL(root, 100)


def _csv_rows(root: Path) -> list[dict[str, str]]:
    with (root / "ptbxl_database.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def _row_labels(ds: PTBXL, ecg_id: int, view: str, **kw: float) -> set[str]:
    y, classes = ds.labels(view, **kw)
    i = int(np.flatnonzero(ds.ecg_ids == ecg_id)[0])
    return {c for c, v in zip(classes, y[i], strict=True) if v == 1.0}


def test_every_row_of_the_csv_with_files_is_an_item(root: Path, ds100: PTBXL) -> None:
    on_disk = sorted((root / "records100").glob("*/*_lr.hea"))
    assert len(ds100) == len(on_disk)
    assert 1000 < len(ds100) < 3000  # the shared subset: ~1.7k records with ecg_id < 2000
    assert ds100.missing == ()
    assert sorted(ds100.record_ids, key=int) == [str(int(p.name[:5])) for p in on_disk]
    assert list(ds100.ecg_ids) == sorted(ds100.ecg_ids)
    assert len(ds100.patient_ids) == len(ds100)


def test_500hz_reports_rows_without_files(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ecgfm.data.ptbxl"):
        ds = PTBXL(root, 500)
    on_disk = sorted((root / "records500").glob("*/*_hr.hea"))
    assert len(ds) == len(on_disk) and 100 < len(ds) < 1000
    n_rows = len(_csv_rows(root))
    assert len(ds.missing) == n_rows - len(ds)
    assert not set(ds.missing) & set(ds.record_ids)
    assert f"{len(ds.missing)} of {n_rows} selected rows have no waveform files" in caplog.text


def test_item_matches_direct_read_and_label_matrix(root: Path, ds100: PTBXL) -> None:
    y, classes = ds100.labels()
    assert classes == ds100.classes == ("CD", "HYP", "MI", "NORM", "STTC")
    for i in (0, len(ds100) // 3, -1):
        rec = ds100[i]
        j = i % len(ds100)
        assert rec.signal.shape == (12, 1000) and rec.signal.dtype == np.float32
        assert rec.fs == 100.0 and rec.leads == CANONICAL_LEADS
        assert rec.record_id == ds100.record_ids[j] and rec.patient_id == ds100.patient_ids[j]
        np.testing.assert_array_equal(rec.labels, y[j])
        assert rec.meta["ecg_id"] == int(ds100.ecg_ids[j])
        assert rec.meta["strat_fold"] == int(ds100.strat_folds[j])
        direct = read_wfdb(rec.meta["source"])
        np.testing.assert_array_equal(rec.signal, direct.signal)
    with pytest.raises(IndexError):
        ds100[len(ds100)]
    with pytest.raises(TypeError, match="Subset"):
        ds100[[0, 2]]  # type: ignore[call-overload]  (slices give lists: see below)


def test_slicing_like_a_sequence(ds100: PTBXL) -> None:
    part = ds100[1:7:2]
    assert [r.record_id for r in part] == list(ds100.record_ids[1:7:2])
    np.testing.assert_array_equal(part[2].signal, ds100[5].signal)
    assert [r.record_id for r in ds100[-3:]] == list(ds100.record_ids[-3:])
    assert ds100[:0] == []
    with pytest.raises(IndexError, match="out of range"):
        ds100[len(ds100)]
    with pytest.raises(TypeError, match="integers or slices"):
        ds100["1"]  # type: ignore[call-overload]


def test_patient_ids_are_integers_as_strings(root: Path, ds100: PTBXL) -> None:
    first = ds100[0]
    assert first.record_id == "1" and first.patient_id == "15709"  # csv: 15709.0
    expected = {row["ecg_id"]: row["patient_id"] for row in _csv_rows(root)}
    for rid, pid in zip(ds100.record_ids, ds100.patient_ids, strict=True):
        assert pid is not None and pid.isdigit()
        assert float(expected[rid]) == int(pid)
    # several records share a patient (what patient-level contrastive learning relies on)
    assert len(set(ds100.patient_ids)) < len(ds100)


def test_view_class_lists(ds100: PTBXL) -> None:
    sizes = {"all": 71, "diagnostic": 44, "subclass": 23, "superclass": 5, "form": 19}
    sizes.update(rhythm=12, mi=9)
    for view, k in sizes.items():
        y, classes = ds100.labels(view)
        assert y.shape == (len(ds100), k) and y.dtype == np.float32 and len(classes) == k
        assert set(np.unique(y)) <= {0.0, 1.0}
    assert ds100.labels("mi")[1] == PTBXL_MI_TYPES
    assert PTBXL_MI_TYPES == ("ALMI", "AMI", "ASMI", "ILMI", "IMI", "IPLMI", "IPMI", "LMI", "PMI")
    assert ds100.labels("all")[1] == tuple(sorted(ds100.statements))
    assert ds100.labels("superdiagnostic")[1] == ds100.labels("superclass")[1]
    assert ds100.view_classes("subdiagnostic") == ds100.labels("subclass")[1]
    with pytest.raises(ValueError, match="unknown PTB-XL label view 'rhythms'"):
        ds100.labels("rhythms")


# Expected labels derived by hand from the rows of ptbxl_database.csv and scp_statements.csv.
HAND_LABELS = {
    # {'NORM': 100.0, 'LVOLT': 0.0, 'SR': 0.0}
    1: {
        "all": {"LVOLT", "NORM", "SR"},
        "diagnostic": {"NORM"},
        "subclass": {"NORM"},
        "superclass": {"NORM"},
        "form": {"LVOLT"},
        "rhythm": {"SR"},
        "mi": set(),
    },
    # {'IMI': 15.0, 'LNGQT': 100.0, 'NST_': 100.0, 'DIG': 100.0, 'ABQRS': 0.0, 'SR': 0.0}
    39: {
        "all": {"ABQRS", "DIG", "IMI", "LNGQT", "NST_", "SR"},
        "diagnostic": {"DIG", "IMI", "LNGQT", "NST_"},
        "subclass": {"IMI", "NST_", "STTC"},
        "superclass": {"MI", "STTC"},
        "form": {"ABQRS", "DIG", "LNGQT", "NST_"},
        "rhythm": {"SR"},
        "mi": {"IMI"},
    },
    # {'IMI': 15.0, 'LAFB': 100.0, 'ABQRS': 0.0, 'STACH': 0.0}
    103: {
        "subclass": {"IMI", "LAFB/LPFB"},
        "superclass": {"CD", "MI"},
        "form": {"ABQRS"},
        "rhythm": {"STACH"},
        "mi": {"IMI"},
    },
    # {'ASMI': 100.0, 'ALMI': 100.0, 'IMI': 15.0, 'ANEUR': 50.0}
    181: {
        "all": {"ALMI", "ANEUR", "ASMI", "IMI"},
        "subclass": {"AMI", "IMI", "STTC"},
        "superclass": {"MI", "STTC"},
        "form": set(),
        "rhythm": set(),
        "mi": {"ALMI", "ASMI", "IMI"},
    },
}


@pytest.mark.parametrize("ecg_id", sorted(HAND_LABELS))
def test_label_views_match_hand_derived_labels(ds100: PTBXL, ecg_id: int) -> None:
    for view, expected in HAND_LABELS[ecg_id].items():
        assert _row_labels(ds100, ecg_id, view) == expected, view


def test_min_likelihood_drops_only_uncertain_diagnostic_statements(ds100: PTBXL) -> None:
    # ecg 39: IMI has likelihood 15; ABQRS and SR (no likelihood, stored as 0) stay
    assert _row_labels(ds100, 39, "superclass", min_likelihood=50) == {"STTC"}
    assert _row_labels(ds100, 39, "mi", min_likelihood=50) == set()
    assert _row_labels(ds100, 39, "all", min_likelihood=100) == {
        "ABQRS",
        "DIG",
        "LNGQT",
        "NST_",
        "SR",
    }
    assert _row_labels(ds100, 181, "mi", min_likelihood=100) == {"ALMI", "ASMI"}
    with pytest.raises(ValueError, match="min_likelihood"):
        ds100.labels("all", min_likelihood=150)


def test_official_split_is_disjoint_and_complete(
    root: Path, ds100: PTBXL, caplog: pytest.LogCaptureFixture
) -> None:
    train, val = PTBXL(root, split="train"), PTBXL(root, split="val")
    with caplog.at_level(logging.WARNING, logger="ecgfm.data.ptbxl"):
        test = PTBXL(root, split="test")
    assert "fold(s) [10] have no rows" in caplog.text and "the dataset is empty" in caplog.text
    assert len(test) == 0 and test.load_all().shape == (0, 12, 1000)
    assert test.labels()[0].shape == (0, 5)
    assert set(train.strat_folds) == set(range(1, 9)) and set(val.strat_folds) == {9}
    ids_train, ids_val = set(train.record_ids), set(val.record_ids)
    assert not ids_train & ids_val
    assert ids_train | ids_val == set(ds100.record_ids)
    # the official folds are patient-disjoint as well
    assert not set(train.patient_ids) & set(val.patient_ids)
    assert PTBXL(root, folds=[9]).record_ids == val.record_ids
    assert PTBXL(root, folds=(2, 1, 2)).folds == (1, 2)


def test_load_all_stacks_items(root: Path) -> None:
    ds = PTBXL(root, folds=[9], leads=["I"], labels="mi")
    x = ds.load_all()
    assert x.shape == (len(ds), 1, 1000) and x.dtype == np.float32
    for i in (0, len(ds) - 1):
        np.testing.assert_array_equal(x[i], ds[i].signal)
    np.testing.assert_array_equal(x[:, 0], PTBXL(root, folds=[9]).load_all()[:, 0])
    assert ds.classes == PTBXL_MI_TYPES and ds[0].labels.shape == (9,)


def test_metadata_and_scp_codes(ds100: PTBXL) -> None:
    row = ds100.metadata(0)
    assert row["ecg_id"] == "1" and row["filename_lr"] == "records100/00000/00001_lr"
    assert ds100.scp_codes[0] == {"NORM": 100.0, "LVOLT": 0.0, "SR": 0.0}
    assert ds100[0].meta["scp_codes"] == ds100.scp_codes[0]


def test_no_labels_on_items(root: Path) -> None:
    ds = PTBXL(root, folds=[9], labels=None)
    assert ds.classes is None and ds[0].labels is None
    assert ds.labels("superclass")[0].shape == (len(ds), 5)
    with pytest.raises(ValueError, match="pass a view"):
        ds.labels()


def _partial_copy(root: Path, dst: Path, keep: int) -> list[str]:
    """A PTB-XL root with both csv files but only the first ``keep`` 100 Hz records."""
    dst.mkdir()
    for name in ("ptbxl_database.csv", "scp_statements.csv"):
        shutil.copy(root / name, dst / name)
    kept = []
    for hea in sorted((root / "records100").glob("*/*_lr.hea"))[:keep]:
        target = dst / hea.parent.relative_to(root)
        target.mkdir(parents=True, exist_ok=True)
        for ext in (".hea", ".dat"):
            (target / (hea.stem + ext)).symlink_to(hea.with_suffix(ext))
        kept.append(str(int(hea.name[:5])))
    return kept


def test_any_subset_on_disk(root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    kept = _partial_copy(root, tmp_path / "ptbxl", keep=5)
    with caplog.at_level(logging.WARNING, logger="ecgfm.data.ptbxl"):
        ds = PTBXL(tmp_path / "ptbxl")
    n_rows = len(_csv_rows(root))
    assert list(ds.record_ids) == kept
    assert len(ds.missing) == n_rows - 5
    assert f"{n_rows - 5} of {n_rows} selected rows" in caplog.text
    assert ds.load_all().shape == (5, 12, 1000)
    with caplog.at_level(logging.WARNING, logger="ecgfm.data.ptbxl"):
        none = PTBXL(tmp_path / "ptbxl", 500)
    assert len(none) == 0 and len(none.missing) == n_rows


def test_invalid_samples_follow_nan_policy(root: Path, tmp_path: Path) -> None:
    kept = _partial_copy(root, tmp_path / "ptbxl", keep=2)
    dat = sorted((tmp_path / "ptbxl" / "records100").glob("*/*.dat"))[0]  # item 0
    adc = np.fromfile(dat, dtype="<i2")
    adc[[0, 13, 500]] = -32768  # WFDB's missing-sample marker
    dat.unlink()  # drop the symlink (never write through it) and write a corrupted copy
    adc.tofile(dat)
    strict = PTBXL(tmp_path / "ptbxl")
    assert list(strict.record_ids) == kept
    with pytest.raises(ValueError, match="3 invalid samples"):
        strict[0]
    assert strict[1].meta["nonfinite_repaired"] == 0
    lenient = PTBXL(tmp_path / "ptbxl", nan_policy="zero")
    assert lenient[0].meta["nonfinite_repaired"] == 3
    assert lenient.load_all().shape == (2, 12, 1000)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"sampling_rate": 250}, ValueError, "100 Hz .* 500 Hz"),
        ({"sampling_rate": "100"}, TypeError, "sampling_rate"),
        ({"split": "validation"}, ValueError, "unknown split"),
        ({"split": "val", "folds": [9]}, ValueError, "either split= or folds="),
        ({"folds": [11]}, ValueError, "unknown PTB-XL fold 11"),
        ({"folds": [0, 1]}, ValueError, "unknown PTB-XL fold 0"),
        ({"folds": 9}, TypeError, "iterable"),
        ({"folds": "9"}, TypeError, "iterable"),
        ({"folds": [9.0]}, TypeError, "integers"),
        ({"folds": []}, ValueError, "folds is empty"),
        ({"labels": "superclasses"}, ValueError, "unknown PTB-XL label view"),
        ({"leads": ["I", "Q"]}, ValueError, "unknown lead name"),
        ({"nan_policy": "drop"}, ValueError, "nan_policy"),
    ],
)
def test_bad_arguments(root: Path, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        PTBXL(root, **kwargs)


def test_bad_roots(root: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a directory"):
        PTBXL(tmp_path / "absent")
    (tmp_path / "scp_statements.csv").write_bytes((root / "scp_statements.csv").read_bytes())
    with pytest.raises(FileNotFoundError, match=r"ptbxl_database\.csv not found"):
        PTBXL(tmp_path)
    (tmp_path / "ptbxl_database.csv").write_text("ecg_id,patient_id\n1,2.0\n")
    with pytest.raises(ValueError, match="lacks columns"):
        PTBXL(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(root / "ptbxl_database.csv", other)
    with pytest.raises(FileNotFoundError, match=r"scp_statements\.csv"):
        PTBXL(other)


def test_malformed_scp_codes(root: Path, tmp_path: Path) -> None:
    kept = _partial_copy(root, tmp_path / "ptbxl", keep=1)
    db = tmp_path / "ptbxl" / "ptbxl_database.csv"
    rows = _csv_rows(root)
    rows[0]["scp_codes"] = "NORM=100"
    with db.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[:1])
    assert kept == [rows[0]["ecg_id"]]
    with pytest.raises(ValueError, match="not a dict literal"):
        PTBXL(tmp_path / "ptbxl")


@pytest.mark.slow
def test_every_record_reads_at_both_rates(root: Path) -> None:
    for rate, folder in ((100, "records100"), (500, "records500")):
        ds = PTBXL(root, rate)
        assert len(ds) == len(list((root / folder).glob("*/*.hea")))
        x = ds.load_all()
        assert x.shape == (len(ds), 12, 10 * rate)
        assert np.isfinite(x).all()
        # plausible ECG amplitudes in mV, and no flat record
        assert 0.05 < np.median(np.abs(x).max(axis=(1, 2))) < 10
        assert (x.std(axis=2).max(axis=1) > 0).all()
        for i in range(0, len(ds), 97):  # cross-check the wfdb package on a spread sample
            via_wfdb = read_wfdb(ds[i].meta["source"], backend="wfdb")
            np.testing.assert_array_equal(x[i], via_wfdb.signal)
