"""CinC2017 on the real half of the training set in ../shared/data/cinc2017."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from ecgfm.data import CINC2017_CLASSES, CinC2017

SEG = 3000  # 10 s at 300 Hz


@pytest.fixture(scope="module")
def root(data_dir: Path) -> Path:
    return data_dir / "cinc2017"


@pytest.fixture(scope="module")
def lengths(root: Path) -> dict[str, int]:
    """Record length from each header's record line (``A00001 1 300 9000 ...``)."""
    out = {}
    for hea in sorted(root.glob("A*.hea")):
        fields = hea.read_text().split("\n")[0].split()
        assert fields[2] == "300"
        out[hea.stem] = int(fields[3])
    return out


@pytest.fixture(scope="module")
def reference(root: Path) -> dict[str, str]:
    rows = (root / "REFERENCE-v3.csv").read_text().split()
    return dict(row.split(",") for row in rows)


@pytest.fixture(scope="module")
def whole(root: Path) -> CinC2017:
    return CinC2017(root)


@pytest.fixture(scope="module")
def segmented(root: Path) -> CinC2017:
    return CinC2017(root, segment_seconds=10.0)


def test_every_record_on_disk_is_an_item(
    whole: CinC2017, lengths: dict[str, int], reference: dict[str, str]
) -> None:
    assert len(whole) == len(lengths)
    assert 4000 < len(whole) < 5000  # about half of the 8528 training records
    assert set(whole.record_ids) == set(lengths) == set(reference)
    assert whole.missing == () and whole.unlabeled == () and whole.too_short == ()
    assert whole.classes == CINC2017_CLASSES == ("N", "A", "O", "~")
    targets, classes = whole.labels()
    assert [classes[t] for t in targets] == [reference[r] for r in whole.record_ids]
    assert whole.patient_ids == (None,) * len(whole)


def test_records_equal_loadmat(root: Path, whole: CinC2017, reference: dict[str, str]) -> None:
    for i in (0, 1, len(whole) // 2, len(whole) - 1):
        rec = whole[i]
        adc = scipy.io.loadmat(root / f"{rec.record_id}.mat")["val"]  # (1, T), 1000 adu/mV
        np.testing.assert_array_equal(
            rec.signal, (adc.astype(np.float64) / 1000).astype(np.float32)
        )
        assert rec.leads == ("I",) and rec.fs == 300.0
        assert rec.meta["renamed_channels"] == {"ECG": "I"}
        assert "lead-I-like" in rec.meta["lead_note"]
        assert CINC2017_CLASSES[rec.labels] == reference[rec.record_id] == rec.meta["label"]
        assert "segment_index" not in rec.meta
    with pytest.raises(ValueError, match=r"different lengths \(\d+-\d+ samples\).*segment_seconds"):
        whole.load_all()  # variable lengths cannot be stacked


def test_slicing_like_a_sequence(whole: CinC2017, segmented: CinC2017) -> None:
    part = whole[2:5]  # issue 13: CinC2017 could not be sliced
    assert isinstance(part, list) and [r.record_id for r in part] == list(whole.record_ids[2:5])
    np.testing.assert_array_equal(part[1].signal, whole[3].signal)
    assert [r.record_id for r in whole[-2:]] == list(whole.record_ids[-2:])
    assert [r.record_id for r in whole[:7:3]] == list(whole.record_ids[:7:3])
    assert whole[len(whole) :] == [] and whole[-1].record_id == whole.record_ids[-1]
    segments = segmented[1:4]
    assert [r.meta["segment_index"] for r in segments] == list(segmented.segment_indices[1:4])
    with pytest.raises(TypeError, match=r"integers or slices.*Subset"):
        whole[[0, 1]]  # type: ignore[call-overload]


def test_v1_labels_differ_where_the_files_differ(
    root: Path, whole: CinC2017, reference: dict[str, str]
) -> None:
    v1 = CinC2017(root, labels="v1")
    ref_v1 = dict(row.split(",") for row in (root / "REFERENCE-v1.csv").read_text().split())
    assert [CINC2017_CLASSES[t] for t in v1.targets] == [ref_v1[r] for r in v1.record_ids]
    assert v1.record_ids == whole.record_ids
    i = whole.record_ids.index("A00022")  # O in the first release, ~ (noisy) in v3
    assert CINC2017_CLASSES[whole.targets[i]] == "~" and CINC2017_CLASSES[v1.targets[i]] == "O"
    n_changed = sum(ref_v1[r] != reference[r] for r in whole.record_ids)
    assert 0 < n_changed == int((v1.targets != whole.targets).sum())


def test_segments_count_and_shortfalls(
    segmented: CinC2017, lengths: dict[str, int], caplog: pytest.LogCaptureFixture, root: Path
) -> None:
    assert len(segmented) == sum(n // SEG for n in lengths.values())
    short = sorted(r for r, n in lengths.items() if n < SEG)
    assert short, "the shared data has records under 10 s"
    assert sorted(segmented.too_short) == short
    assert set(segmented.recordings) == set(lengths) - set(short)
    with caplog.at_level(logging.WARNING, logger="ecgfm.data.cinc2017"):
        CinC2017(root, segment_seconds=10.0)
    assert f"{len(short)} records are shorter than one 10 s segment" in caplog.text
    assert segmented.segment_samples == SEG
    targets, _ = segmented.labels()
    first_item = {rid: i for i, rid in reversed(list(enumerate(segmented.record_ids)))}
    for rid, t in zip(segmented.recordings, segmented.recording_targets, strict=True):
        assert t == targets[first_item[rid]]


def test_segments_concatenate_to_the_record_start(
    segmented: CinC2017, whole: CinC2017, lengths: dict[str, int]
) -> None:
    ids = np.asarray(segmented.record_ids)
    for rid in [segmented.recordings[k] for k in (0, 3, len(segmented.recordings) - 1)]:
        items = np.flatnonzero(ids == rid)
        k = lengths[rid] // SEG
        assert len(items) == k
        segs = [segmented[int(i)] for i in items]
        assert [s.meta["segment_index"] for s in segs] == list(range(k))
        assert [segmented.segment_indices[int(i)] for i in items] == list(range(k))
        assert all(s.record_id == rid and s.signal.shape == (1, SEG) for s in segs)
        assert all(s.meta["segment_start"] == j * SEG for j, s in enumerate(segs))
        full = whole[whole.record_ids.index(rid)].signal
        np.testing.assert_array_equal(
            np.concatenate([s.signal for s in segs], axis=1), full[:, : k * SEG]
        )
        assert len({s.labels for s in segs}) == 1


def test_other_segment_lengths(root: Path, lengths: dict[str, int]) -> None:
    ds = CinC2017(root, segment_seconds=30)
    assert len(ds) == sum(n // 9000 for n in lengths.values())
    assert ds[0].signal.shape == (1, 9000)
    with pytest.raises(ValueError, match="whole number of samples"):
        CinC2017(root, segment_seconds=0.0011)


def _partial_copy(root: Path, dst: Path, names: list[str]) -> None:
    dst.mkdir()
    for name in names:
        for ext in (".hea", ".mat"):
            (dst / (name + ext)).symlink_to(root / (name + ext))


def test_missing_and_unlabeled_are_reported(
    root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dst = tmp_path / "cinc"
    _partial_copy(root, dst, ["A00001", "A00003", "A00004"])
    (dst / "A00004.mat").unlink()  # header without signal file
    (dst / "RECORDS").write_text("A00001\nA00003\nA00004\nA09999\n")
    (dst / "REFERENCE-v3.csv").write_text("A00001,N\nA00004,A\nA09999,O\n")
    with caplog.at_level(logging.WARNING, logger="ecgfm.data.cinc2017"):
        ds = CinC2017(dst)
    assert ds.record_ids == ("A00001",)
    assert ds.missing == ("A00004", "A09999") and ds.unlabeled == ("A00003",)
    assert "2 of 4 records listed in RECORDS have no .hea or signal file" in caplog.text
    assert "1 records on disk have no label" in caplog.text
    (dst / "RECORDS").unlink()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ecgfm.data.cinc2017"):
        ds = CinC2017(dst)
    assert "RECORDS not found" in caplog.text and ds.record_ids == ("A00001",)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"labels": "v2"}, "'v3'"),
        ({"segment_seconds": 0}, "segment_seconds"),
        ({"segment_seconds": -10.0}, "segment_seconds"),
        ({"segment_seconds": float("nan")}, "segment_seconds"),
        ({"segment_seconds": True}, "segment_seconds"),
        ({"nan_policy": "drop"}, "nan_policy"),
    ],
)
def test_bad_arguments(root: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CinC2017(root, **kwargs)


def test_bad_roots(root: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a directory"):
        CinC2017(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match=r"REFERENCE-v3\.csv not found"):
        CinC2017(tmp_path)
    (tmp_path / "REFERENCE-v3.csv").write_text("A00001,X\n")
    with pytest.raises(ValueError, match="unknown label 'X'"):
        CinC2017(tmp_path)
    (tmp_path / "REFERENCE-v3.csv").write_text("A00001,N\nA00001,A\n")
    with pytest.raises(ValueError, match="labelled twice"):
        CinC2017(tmp_path)
    (tmp_path / "REFERENCE-v3.csv").write_text("A00001,N\n")
    (tmp_path / "RECORDS").write_text("A00001\nA00001\n")
    with pytest.raises(ValueError, match="more than once"):
        CinC2017(tmp_path)
    shutil.copy(root / "A00001.mat", tmp_path)
    (tmp_path / "RECORDS").write_text("A00001\n")
    (tmp_path / "A00001.hea").write_text("A00001 2 300 9000\nA00001.mat 16+24 1000/mV\n")
    with pytest.raises(ValueError, match="declares 2 signals"):
        CinC2017(tmp_path)


@pytest.mark.slow
def test_every_record_and_segment_reads(root: Path, lengths: dict[str, int]) -> None:
    ds = CinC2017(root)
    for i in range(len(ds)):
        rec = ds[i]
        assert rec.signal.shape == (1, lengths[rec.record_id]) and np.isfinite(rec.signal).all()
    seg = CinC2017(root, segment_seconds=10.0)
    x = seg.load_all()
    assert x.shape == (sum(n // SEG for n in lengths.values()), 1, SEG)
    assert np.isfinite(x).all() and np.abs(x).max() <= 32.768
