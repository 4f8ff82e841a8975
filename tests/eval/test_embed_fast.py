"""embed_task runs a float32 Net1D on the CPU through its fast inference path.

The calls with fast=/quantize= check the deprecated aliases (until 0.2.0); the same behaviour
through model.accelerate is checked in tests/eval/test_embed_engine_cache.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgfm.eval.baselines import random_encoder
from ecgfm.eval.embed_cache import embed_task
from ecgfm.eval.task_base import TaskData
from ecgfm.models.net1d_inference import Net1DInference
from ecgfm.transforms.presets import get_preset

PRESET = get_preset("hl", leads=("I",), fs=200.0, length=400, min_length=400)


pytestmark = pytest.mark.usefixtures("one_thread")


def _data(n_records: int = 5) -> TaskData:
    rng = np.random.default_rng(1)
    sig = rng.normal(size=(n_records, 1, 500)).astype(np.float32)
    return TaskData(
        task="synthetic", signals=sig, fs=100.0, leads=("I",),
        item_record=np.arange(n_records), record_ids=tuple(f"r{i}" for i in range(n_records)),
        labels=np.arange(n_records) % 2, classes=("a", "b"),
        split=np.array(["train"] * n_records), notes=(),
    )  # fmt: skip


def test_embed_task_uses_the_fast_path_and_shares_the_cache(
    tmp_path: Path, built: list[Net1DInference]
) -> None:
    model = random_encoder("net1d_small", in_channels=1, seed=0)
    data = _data()
    fast = embed_task(model, data, preset=PRESET, batch_size=3, cache_dir=tmp_path)
    assert len(built) == 1 and built[0].quantize is None and not fast.from_cache
    with pytest.warns(DeprecationWarning, match="encoder.forward_embedding"):  # deprecated alias
        eager = embed_task(model, data, preset=PRESET, batch_size=3, cache=False, fast=False)
    assert len(built) == 1
    np.testing.assert_allclose(fast.embeddings, eager.embeddings, atol=1e-5, rtol=1e-5)
    # exact up to rounding, so the fp32 fast path and the plain forward share cache entries
    with pytest.warns(DeprecationWarning):
        assert embed_task(model, data, preset=PRESET, cache_dir=tmp_path, fast=False).from_cache


def test_embed_task_int8_is_opt_in_with_its_own_cache_entry(
    tmp_path: Path, built: list[Net1DInference]
) -> None:
    model = random_encoder("net1d_small", in_channels=1, seed=0)
    data = _data(3)
    fp32 = embed_task(model, data, preset=PRESET, cache_dir=tmp_path)
    with pytest.warns(DeprecationWarning, match="optimize_for_inference"):
        int8 = embed_task(model, data, preset=PRESET, cache_dir=tmp_path, quantize="int8")
    assert [b.quantize for b in built] == [None, "int8"]
    assert int8.key != fp32.key and not int8.from_cache
    with pytest.raises(ValueError, match="needs the fast path"), pytest.warns(DeprecationWarning):
        embed_task(model, data, preset=PRESET, cache=False, quantize="int8", precision="bf16")
    with pytest.raises(ValueError, match="Net1D encoders only"), pytest.warns(DeprecationWarning):
        embed_task(lambda x: x.mean(-1), data, preset=PRESET, cache=False, quantize="int8")
