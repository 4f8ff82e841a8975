"""read_wfdb: exact decoding of real PTB-XL / CinC 2017 records and strict header handling."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from ecgfm.data import read_wfdb
from ecgfm.leads import CANONICAL_LEADS, MissingLeadError

wfdb = pytest.importorskip("wfdb", reason="the data extra is needed: pip install 'ecgfm[data]'")

BACKENDS = ("auto", "numpy", "wfdb")


def _manual_ptbxl(hea: Path) -> np.ndarray:
    """Decode a PTB-XL record by hand: format 16, interleaved, gain/baseline from the header."""
    lines = hea.read_text().split("\n")
    n_sig, n_samples = int(lines[0].split()[1]), int(lines[0].split()[3])
    gains, baselines = [], []
    for line in lines[1 : 1 + n_sig]:
        field = line.split()[2]  # e.g. "1000.0(0)/mV"
        gains.append(float(field.split("(")[0]))
        baselines.append(float(field.split("(")[1].split(")")[0]))
    adc = np.fromfile(hea.with_suffix(".dat"), dtype="<i2").reshape(n_samples, n_sig).T
    g, b = np.asarray(gains)[:, None], np.asarray(baselines)[:, None]
    return ((adc.astype(np.float64) - b) / g).astype(np.float32)


@pytest.fixture(scope="module")
def ptbxl_headers(data_dir: Path) -> list[Path]:
    low = sorted((data_dir / "ptbxl" / "records100").glob("*/*.hea"))
    high = sorted((data_dir / "ptbxl" / "records500").glob("*/*.hea"))
    return [low[0], low[len(low) // 2], low[-1], high[0], high[-1]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_ptbxl_records_equal_manual_decoding(ptbxl_headers: list[Path], backend: str) -> None:
    for hea in ptbxl_headers:
        rec = read_wfdb(hea.with_suffix(""), backend=backend)
        expected = _manual_ptbxl(hea)
        assert rec.signal.dtype == np.float32
        np.testing.assert_array_equal(rec.signal, expected)
        assert rec.leads == CANONICAL_LEADS  # AVR/AVL/AVF normalised
        assert rec.fs == (500.0 if "_hr" in hea.name else 100.0)
        assert rec.record_id == hea.stem
        assert rec.meta["source"] == str(hea)
        assert rec.meta["source_units"] == ("mV",) * 12
        assert rec.meta["channel_names"][3:6] == ("AVR", "AVL", "AVF")
        assert rec.meta["nonfinite_repaired"] == 0
        assert rec.meta["decoder"] == ("wfdb" if backend == "wfdb" else "numpy")


def test_ptbxl_equals_wfdb_physical_signal(ptbxl_headers: list[Path]) -> None:
    for hea in ptbxl_headers:
        ref = wfdb.rdrecord(str(hea.with_suffix("")), physical=True).p_signal.T
        np.testing.assert_array_equal(read_wfdb(hea).signal, ref.astype(np.float32))


@pytest.mark.parametrize("backend", BACKENDS)
def test_cinc_records_equal_loadmat(data_dir: Path, backend: str) -> None:
    heads = sorted((data_dir / "cinc2017").glob("A*.hea"))
    for hea in heads[:: len(heads) // 4]:
        adc = scipy.io.loadmat(hea.with_suffix(".mat"))["val"]  # (1, T) int16, 1000/mV
        rec = read_wfdb(hea.with_suffix(".mat"), rename={"ECG": "I"}, backend=backend)
        np.testing.assert_array_equal(
            rec.signal, ((adc.astype(np.float64) - 0.0) / 1000.0).astype(np.float32)
        )
        assert rec.leads == ("I",) and rec.fs == 300.0
        assert rec.meta["renamed_channels"] == {"ECG": "I"}
        assert rec.meta["channel_names"] == ("ECG",)


def test_cinc_channel_name_needs_explicit_rename(data_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"'ECG'.*rename="):
        read_wfdb(data_dir / "cinc2017" / "A00001")


def test_path_forms_and_lead_selection(ptbxl_headers: list[Path]) -> None:
    hea = ptbxl_headers[0]
    full = read_wfdb(hea)
    for form in (str(hea), hea.with_suffix(""), hea.with_suffix(".dat"), str(hea.with_suffix(""))):
        np.testing.assert_array_equal(read_wfdb(form).signal, full.signal)
    sub = read_wfdb(hea, leads=["v1", "II", "I"])
    assert sub.leads == ("V1", "II", "I")
    np.testing.assert_array_equal(sub.signal, full.signal[[6, 1, 0]])
    assert sub.meta["derived_leads"] == ()


# --- synthetic records written in tmp_path ---------------------------------------------------


def _write16(folder: Path, name: str, adc: np.ndarray, lines: list[str], fs: str = "100") -> Path:
    """Write ``adc`` (C, T) as format 16 and a header with the given signal lines."""
    adc = np.asarray(adc, dtype="<i2")
    adc.T.tofile(folder / f"{name}.dat")
    head = f"{name} {adc.shape[0]} {fs} {adc.shape[1]}"
    (folder / f"{name}.hea").write_text("\n".join([head, *lines]) + "\n", encoding="utf-8")
    return folder / name


def _adc(c: int = 2, t: int = 50, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-800, 800, size=(c, t)).astype(np.int16)


def test_units_gain_and_baseline_are_honoured(tmp_path: Path) -> None:
    adc = _adc()
    path = _write16(
        tmp_path,
        "r",
        adc,
        ["r.dat 16 250(3)/uV 16 0 0 0 0 I", "r.dat 16 2e2/mV 16 7 0 0 0 lead II"],
    )
    rec = read_wfdb(path)
    assert rec.leads == ("I", "II")
    # channel 1 has no explicit baseline: the spec says baseline = ADC zero (7)
    np.testing.assert_array_equal(
        rec.signal[0], ((adc[0].astype(np.float64) - 3) / 250 * 1e-3).astype(np.float32)
    )
    np.testing.assert_array_equal(
        rec.signal[1], ((adc[1].astype(np.float64) - 7) / 200).astype(np.float32)
    )
    assert rec.meta["source_units"] == ("uV", "mV")
    assert rec.meta["gain"] == (250.0, 200.0) and rec.meta["baseline"] == (3, 7)


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_micro_sign_units_are_microvolts(tmp_path: Path, encoding: str) -> None:
    # wfdb 4.3 parses "µV" as "V" (a factor 1e6 off); ecgfm reads the header itself.
    adc = _adc(1)  # +-800 counts at 2 counts per µV: +-0.4 mV, a plausible ECG amplitude
    _write16(tmp_path, "r", adc, ["r.dat 16 2/µV 16 0 0 0 0 II"])
    hea = tmp_path / "r.hea"
    hea.write_bytes(hea.read_text(encoding="utf-8").encode(encoding))
    rec = read_wfdb(tmp_path / "r")
    np.testing.assert_array_equal(
        rec.signal[0], (adc[0].astype(np.float64) / 2 * 1e-3).astype(np.float32)
    )
    assert rec.meta["source_units"] == ("µV",)


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("r.dat 16", "no ADC gain"),
        ("r.dat 16 0/mV 16 0 0 0 0 I", "no ADC gain"),
        ("r.dat 16 100(0)/adu 16 0 0 0 0 I", "'adu' are not a voltage"),
        ("r.dat 16 100/NU 16 0 0 0 0 I", "'NU' are not a voltage"),
        ("r.dat 16 100/mmHg 16 0 0 0 0 I", "'mmHg' are not a voltage"),
        ("r.dat 16 200/mV 16 0 0 0 0", "has no name"),
        ("r.dat 16 200/mV 16 0 0 0 0 ABP", "not an ECG lead name"),
        ("r.dat 16x2 200/mV 16 0 0 0 0 I", "several sampling rates"),
        ("r.dat 16 abc/mV 16 0 0 0 0 I", "cannot parse the gain"),
        ("r.dat sixteen 200/mV 16 0 0 0 0 I", "cannot parse the storage format"),
    ],
)
def test_unusable_headers_are_refused(tmp_path: Path, line: str, match: str) -> None:
    path = _write16(tmp_path, "r", _adc(1), [line])
    with pytest.raises(ValueError, match=match):
        read_wfdb(path)


def test_header_without_sampling_frequency(tmp_path: Path) -> None:
    _write16(tmp_path, "r", _adc(1), ["r.dat 16 200/mV 16 0 0 0 0 I"])
    (tmp_path / "r.hea").write_text("r 1\nr.dat 16 200/mV 16 0 0 0 0 I\n")
    with pytest.raises(ValueError, match="no \\(positive\\) sampling frequency"):
        read_wfdb(tmp_path / "r")


def test_malformed_headers(tmp_path: Path) -> None:
    hea = tmp_path / "r.hea"
    for text, match in [
        ("# only a comment\n", "empty"),
        ("r/2 1 100 10\n", "multi-segment"),
        ("r 2 100 10\nr.dat 16 200/mV 16 0 0 0 0 I\n", "declares 2 signals but has 1"),
        ("r 0 100 10\n", "no signals"),
        ("r x 100\n", "malformed record line"),
    ]:
        hea.write_text(text)
        with pytest.raises(ValueError, match=match):
            read_wfdb(tmp_path / "r")


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="WFDB header not found"):
        read_wfdb(tmp_path / "nothing")
    path = _write16(tmp_path, "r", _adc(1), ["other.dat 16 200/mV 16 0 0 0 0 I"])
    with pytest.raises(FileNotFoundError, match=r"\['other.dat'\] not found"):
        read_wfdb(path)
    with pytest.raises(TypeError, match="path must be"):
        read_wfdb(3)  # type: ignore[arg-type]


def test_truncated_signal_file(tmp_path: Path) -> None:
    path = _write16(tmp_path, "r", _adc(1, 50), ["r.dat 16 200/mV 16 0 0 0 0 I"])
    (tmp_path / "r.hea").write_text("r 1 100 60\nr.dat 16 200/mV 16 0 0 0 0 I\n")
    with pytest.raises(ValueError, match="truncated"):
        read_wfdb(path, backend="numpy")


def test_invalid_samples_raise_or_are_repaired_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    adc = _adc(2, 40)
    adc[1, [3, 9, 30]] = -32768  # WFDB's "missing sample" for format 16
    lines = ["r.dat 16 200/mV 16 0 0 0 0 I", "r.dat 16 200/mV 16 0 0 0 0 II"]
    path = _write16(tmp_path, "r", adc, lines)
    with pytest.raises(ValueError, match="3 invalid samples"):
        read_wfdb(path)
    for backend in ("numpy", "wfdb"):
        with caplog.at_level(logging.WARNING):
            rec = read_wfdb(path, nan_policy="zero", backend=backend)
        assert rec.meta["nonfinite_repaired"] == 3
        assert "replaced 3 NaN/Inf values by 0" in caplog.text
        assert np.all(rec.signal[1, [3, 9, 30]] == 0.0)
        keep = np.ones(40, dtype=bool)
        keep[[3, 9, 30]] = False
        np.testing.assert_array_equal(rec.signal[1, keep], (adc[1, keep] / 200).astype(np.float32))
        caplog.clear()


def test_leads_derived_from_i_and_ii(tmp_path: Path) -> None:
    adc = _adc(8, 60)
    names = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    path = _write16(tmp_path, "r", adc, [f"r.dat 16 100/mV 16 0 0 0 0 {n}" for n in names])
    rec = read_wfdb(path, leads=CANONICAL_LEADS)
    assert rec.leads == CANONICAL_LEADS
    assert rec.meta["derived_leads"] == ("III", "aVR", "aVL", "aVF")
    np.testing.assert_allclose(rec.signal[2], rec.signal[1] - rec.signal[0], atol=1e-6)
    with pytest.raises(MissingLeadError):
        read_wfdb(path, leads=CANONICAL_LEADS, derive=False)
    with pytest.raises(ValueError, match="unknown lead name"):
        read_wfdb(path, leads=["I", "X7"])


def test_rename_must_name_existing_channels(tmp_path: Path) -> None:
    path = _write16(tmp_path, "r", _adc(1), ["r.dat 16 200/mV 16 0 0 0 0 ECG"])
    assert read_wfdb(path, rename={"ECG": "II"}).leads == ("II",)
    with pytest.raises(ValueError, match="not in the record"):
        read_wfdb(path, rename={"EKG": "I"})
    with pytest.raises(TypeError, match="rename must be a mapping"):
        read_wfdb(path, rename=[("ECG", "I")])  # type: ignore[arg-type]


def test_bad_options(tmp_path: Path) -> None:
    path = _write16(tmp_path, "r", _adc(1), ["r.dat 16 200/mV 16 0 0 0 0 I"])
    with pytest.raises(ValueError, match="nan_policy"):
        read_wfdb(path, nan_policy="drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="backend"):
        read_wfdb(path, backend="scipy")  # type: ignore[arg-type]


def _encode(digital: np.ndarray, fmt: str) -> bytes:
    """Encode frames ``(T, C)`` in a WFDB storage format (independently of both decoders)."""
    flat = digital.reshape(-1).astype(np.int64)  # frame-major, as WFDB interleaves
    if fmt == "80":
        return (flat + 128).astype(np.uint8).tobytes()
    if fmt in ("16", "61", "32"):
        return flat.astype({"16": "<i2", "61": ">i2", "32": "<i4"}[fmt]).tobytes()
    if fmt == "160":
        return (flat + 32768).astype("<u2").tobytes()
    if fmt == "24":
        u = flat & 0xFFFFFF
        return np.stack([u & 0xFF, (u >> 8) & 0xFF, u >> 16], axis=1).astype(np.uint8).tobytes()
    if fmt == "212":  # two 12-bit samples in three bytes
        u = (flat & 0xFFF).reshape(-1, 2)
        b = [u[:, 0] & 0xFF, ((u[:, 0] >> 8) & 0x0F) | ((u[:, 1] >> 4) & 0xF0), u[:, 1] & 0xFF]
        return np.stack(b, axis=1).astype(np.uint8).tobytes()
    raise AssertionError(fmt)


@pytest.mark.parametrize("fmt", ["80", "16", "61", "160", "24", "32", "212"])
def test_numpy_and_wfdb_decoders_agree_on_every_format(tmp_path: Path, fmt: str) -> None:
    bits = {"80": 8, "212": 12, "24": 24, "32": 32}.get(fmt, 16)
    rng = np.random.default_rng(int(fmt))
    full_scale = 2.0 ** (bits - 1)
    digital = rng.integers(-full_scale + 1, full_scale - 1, size=(64, 3)).astype(np.int64)
    gains = [full_scale / 4, full_scale / 4000, full_scale / 2]  # full scale 4 mV, 4000 uV, 2 mV
    baselines = [0, 11, -4]
    units = ["mV", "uV", "mV"]
    (tmp_path / "rec.dat").write_bytes(_encode(digital, fmt))
    lines = [
        f"rec.dat {fmt} {g!r}({b})/{u} {bits} 0 0 0 0 {name}"
        for g, b, u, name in zip(gains, baselines, units, ["I", "II", "V1"], strict=True)
    ]
    (tmp_path / "rec.hea").write_text("\n".join(["rec 3 250 64", *lines]) + "\n")

    expected = (digital.T.astype(np.float64) - np.array(baselines)[:, None]) / np.array(gains)[
        :, None
    ]
    expected *= np.array([[1.0], [1e-3], [1.0]])
    via_wfdb = read_wfdb(tmp_path / "rec", backend="wfdb")
    np.testing.assert_array_equal(via_wfdb.signal, expected.astype(np.float32))
    auto = read_wfdb(tmp_path / "rec")
    np.testing.assert_array_equal(auto.signal, via_wfdb.signal)
    native = fmt != "212"
    assert auto.meta["decoder"] == ("numpy" if native else "wfdb")
    if not native:
        with pytest.raises(ValueError, match="backend='numpy' reads"):
            read_wfdb(tmp_path / "rec", backend="numpy")


def test_missing_wfdb_package_gives_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write16(tmp_path, "r", _adc(1), ["r.dat 16 200/mV 16 0 0 0 0 I"])
    monkeypatch.setitem(sys.modules, "wfdb", None)  # makes `import wfdb` fail
    with pytest.raises(ImportError, match=r"pip install 'ecgfm\[data\]'"):
        read_wfdb(path, backend="wfdb")
    # format 16 needs no wfdb with the default backend
    assert read_wfdb(path).meta["decoder"] == "numpy"
