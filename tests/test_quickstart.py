"""examples/quickstart.py (the README's main job): embeds real ECGs with the bundled model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _shared import load_script

import ecgfm
from ecgfm.data import example_record, read_wfdb

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"


@pytest.fixture(scope="module")
def quickstart():
    return load_script(QUICKSTART, "ecgfm_quickstart")


pytestmark = pytest.mark.usefixtures("one_thread")


def test_bundled_record_is_embedded_with_the_bundled_model(quickstart, tmp_path, capsys) -> None:
    out = tmp_path / "emb.npz"
    assert quickstart.main(["--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "bundled selfmis-lead1.safetensors" in text and "1 record(s), 0 failed" in text
    saved = np.load(out)
    rec = example_record()
    expected = ecgfm.from_pretrained("selfmis-lead1").embed(rec.signal, fs=rec.fs, leads=rec.leads)
    assert list(saved["ids"]) == [rec.record_id]
    assert saved["embeddings"].shape == (1, 1024)
    np.testing.assert_allclose(saved["embeddings"][0], expected, rtol=0, atol=1e-6)


def test_single_lead_records_and_failures_are_counted(
    quickstart, data_dir, tmp_path, capsys
) -> None:
    cinc = data_dir / "cinc2017"
    good = str(cinc / "A00001")
    out = tmp_path / "emb.npz"
    # without --rename the reader cannot know that channel 'ECG' is lead I: reported, rc 1
    assert quickstart.main([good, "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "NOT embedded" in captured.err and "Pass --rename ECG=<lead>" in captured.err
    assert "0 record(s), 1 failed" in captured.out and not out.exists()

    missing = str(tmp_path / "no_such_record")
    assert quickstart.main([good, missing, "--rename", "ECG=I", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "1 record(s), 1 failed" in captured.out and "no_such_record" in captured.err
    rec = read_wfdb(good, rename={"ECG": "I"})
    expected = ecgfm.from_pretrained("selfmis-lead1").embed(rec.signal, fs=rec.fs, leads=rec.leads)
    np.testing.assert_allclose(np.load(out)["embeddings"][0], expected, rtol=0, atol=1e-6)


def test_rename_needs_channel_equals_lead(quickstart) -> None:
    with pytest.raises(SystemExit):
        quickstart.main(["--rename", "ECG"])
