from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip(
    "deepfakeecg", reason="needs the synthetic extra: pip install 'ecgfm[synthetic]'"
)

from ecgfm.data.synthetic import DeepfakeECG
from ecgfm.leads import CANONICAL_LEADS


def test_records_are_12_lead_mv_and_limb_leads_consistent() -> None:
    ds = DeepfakeECG(6, seed=3, block_size=4)
    rec = ds[5]
    assert rec.signal.shape == (12, 5000) and rec.signal.dtype == np.float32
    assert rec.leads == CANONICAL_LEADS and rec.fs == 500.0
    s = rec.signal
    np.testing.assert_allclose(s[2], s[1] - s[0], atol=1e-6)  # III = II - I
    np.testing.assert_allclose(s[3], -(s[0] + s[1]) / 2, atol=1e-6)  # aVR
    # an ECG in mV: QRS peaks of a few tenths to a few mV, not uV or ADC counts
    assert 0.1 < np.abs(s[1]).max() < 20.0
    assert rec.record_id == "deepfake-3-5" and rec.patient_id == rec.record_id


def test_deterministic_by_seed_and_index_and_seeds_differ() -> None:
    a = DeepfakeECG(4, seed=1, block_size=4).signal(2)
    b = DeepfakeECG(4, seed=1, block_size=4).signal(2)
    c = DeepfakeECG(4, seed=2, block_size=4).signal(2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    ds = DeepfakeECG(4, seed=1, block_size=4)
    assert not np.allclose(ds.signal(0), ds.signal(1))


def test_disk_cache_round_trip(tmp_path) -> None:
    fresh = DeepfakeECG(4, seed=7, block_size=4, cache_dir=tmp_path)
    first = fresh.signal(1).copy()
    assert len(list(tmp_path.glob("*.npy"))) == 1
    reread = DeepfakeECG(4, seed=7, block_size=4, cache_dir=tmp_path)
    np.testing.assert_array_equal(reread.signal(1), first)
    uncached = DeepfakeECG(4, seed=7, block_size=4).signal(1)
    np.testing.assert_allclose(first, uncached, atol=2e-3 * np.abs(uncached).max())


@pytest.mark.parametrize("kwargs", [{"num_records": 0}, {"num_records": 4, "block_size": 0}])
def test_bad_arguments(kwargs) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        DeepfakeECG(**kwargs)


def test_index_out_of_range() -> None:
    with pytest.raises(IndexError, match="out of range"):
        DeepfakeECG(3, block_size=4).signal(3)
