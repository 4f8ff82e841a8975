"""PretrainedEncoder.embed runs a float32 Net1D on the CPU through its fast inference path.

The calls with fast=/quantize= check the deprecated aliases of model.accelerate (until 0.2.0);
tests/hub/test_embed_engine.py checks the same behaviour through model.accelerate.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _models import small_lead1_encoder

from ecgfm.hub import PretrainedEncoder
from ecgfm.models.net1d_inference import Net1DInference


@pytest.fixture
def net1d_encoder() -> PretrainedEncoder:
    return small_lead1_encoder("net1d-small-test")


def _signals(n: int = 3) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(7500) / 500.0
    sig = np.sin(2 * np.pi * 1.2 * t)[None] + 0.1 * rng.normal(size=(n, 7500))
    return sig[:, None].astype(np.float32)  # (n, 1, 7500): 15 s, two windows each


def test_embed_uses_the_fast_path_and_equals_the_eager_result(
    net1d_encoder: PretrainedEncoder, built: list[Net1DInference]
) -> None:
    x = _signals()
    fast = net1d_encoder.embed(x, fs=500, leads=["I"], batch_size=4)
    assert len(built) == 1 and built[0].quantize is None
    with pytest.warns(DeprecationWarning, match=r"model.accelerate\('off'\)"):  # deprecated alias
        eager = net1d_encoder.embed(x, fs=500, leads=["I"], batch_size=4, fast=False)
    assert len(built) == 1  # fast=False: the plain forward_embedding
    assert fast.shape == (3, 64) and fast.dtype == np.float32
    np.testing.assert_allclose(fast, eager, atol=1e-5, rtol=1e-5)
    per_window, _ = net1d_encoder.embed(x, fs=500, leads=["I"], reduce="none")
    windows = net1d_encoder.prepare(x, fs=500, leads=["I"]).windows
    with torch.no_grad():
        ref = net1d_encoder.encoder.forward_embedding(windows).numpy()
    np.testing.assert_allclose(per_window, ref, atol=1e-5, rtol=1e-5)


def test_int8_only_when_asked_and_only_where_it_applies(
    net1d_encoder: PretrainedEncoder, built: list[Net1DInference]
) -> None:
    x = _signals(2)
    with pytest.warns(DeprecationWarning, match=r"model.accelerate\('int8'\)"):
        out = net1d_encoder.embed(x, fs=500, leads=["I"], quantize="int8")
    assert [b.quantize for b in built] == ["int8"]
    with pytest.warns(DeprecationWarning):
        ref = net1d_encoder.embed(x, fs=500, leads=["I"], fast=False)
    cos = (out * ref).sum(1) / np.linalg.norm(out, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() > 0.999
    with pytest.raises(ValueError, match="needs the fast path"), pytest.warns(DeprecationWarning):
        net1d_encoder.embed(x, fs=500, leads=["I"], quantize="int8", precision="bf16")
    with pytest.raises(ValueError, match="needs the fast path"):
        net1d_encoder.embed(x, fs=500, leads=["I"], quantize="int8", fast=False)
    with pytest.raises(ValueError, match="quantize must be"):
        net1d_encoder.embed(x, fs=500, leads=["I"], quantize="int4")  # type: ignore[arg-type]


def test_fast_path_skipped_for_bf16_and_keeps_the_training_mode(
    net1d_encoder: PretrainedEncoder, built: list[Net1DInference]
) -> None:
    x = _signals(1)
    net1d_encoder.embed(x, fs=500, leads=["I"], precision="bf16")
    assert built == []
    net1d_encoder.encoder.train()
    net1d_encoder.embed(x, fs=500, leads=["I"])
    assert len(built) == 1 and net1d_encoder.encoder.training
