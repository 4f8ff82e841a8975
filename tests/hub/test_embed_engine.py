"""The embedding engine (``ecgfm.hub.EmbeddingEngine``, ``RecordMeans``) against naive loops,
and ``PretrainedEncoder.accelerate``, the one place for the speed options of ``embed``.

Exact comparisons (``torch.equal``) where the engine runs the same computation as the
reference (same batch, same order); tolerances from ``tests/_tolerance.py`` where batching
changes the order of the float operations.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from _models import small_lead1_encoder
from _tolerance import close_after_reordering, network_reduction_lengths

import ecgfm
from ecgfm.hub import EmbeddingEngine, PretrainedEncoder, RecordMeans
from ecgfm.models.net1d_inference import Net1DInference

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def net1d_encoder() -> PretrainedEncoder:
    return small_lead1_encoder("net1d-small-engine")


def _signals(n: int = 3, seconds: float = 15.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * 500)) / 500.0
    sig = np.sin(2 * np.pi * 1.2 * t)[None] + 0.1 * rng.normal(size=(n, t.size))
    return sig[:, None].astype(np.float32)


# ------------------------------------------------------------------------ engine vs naive


def test_engine_equals_one_window_at_a_time(model) -> None:
    windows = torch.randn(11, 3, 400, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        naive = torch.cat([model.encoder.forward_embedding(w[None]) for w in windows])
        whole = model.encoder.forward_embedding(windows)
    # batch_size=1: the same computation as the naive loop -> exact
    assert torch.equal(EmbeddingEngine(model, batch_size=1)(windows), naive)
    # one batch of all windows: the same call as forward_embedding(windows) -> exact
    assert torch.equal(EmbeddingEngine(model, batch_size=11)(windows), whole)
    # batches of 4 (4 + 4 + 3): only the GEMM blocking differs
    got = EmbeddingEngine(model, batch_size=4)(windows)
    close_after_reordering(got, naive, *network_reduction_lengths(model.encoder))
    assert got.dtype == torch.float32 and got.device.type == "cpu"


def test_record_means_is_the_float64_mean_in_window_order() -> None:
    gen = torch.Generator().manual_seed(2)
    per_window = (torch.randn(40, 5, generator=gen) * 1e3 + 1e4).float()
    record_index = torch.randint(0, 6, (40,), generator=gen)
    record_index[:6] = torch.arange(6)
    means = RecordMeans(6)
    means.add(per_window[:17], record_index[:17])  # two chunks: the order is kept
    means.add(per_window[17:], record_index[17:])
    naive = torch.zeros(6, 5, dtype=torch.float64)
    for row, r in zip(per_window, record_index.tolist(), strict=True):
        naive[r] += row.double()
    counts = torch.bincount(record_index, minlength=6)
    assert torch.equal(means.result(), (naive / counts[:, None].double()).float())
    assert torch.equal(means.counts, counts)
    assert torch.equal(means.result([4, 1]), means.result()[[4, 1]])
    # float32 accumulation would lose these digits: the float64 sum is not a no-op
    f32 = torch.zeros(6, 5).index_add_(0, record_index, per_window) / counts[:, None]
    assert not torch.equal(f32, means.result())


def test_record_means_of_the_engine_equals_embed(model) -> None:
    x = [np.random.default_rng(i).normal(0, 0.3, (3, 100 * s)).astype(np.float32)
         for i, s in enumerate((4, 9, 13))]  # fmt: skip
    prepared = model.prepare(x, fs=100, leads=["I", "II", "V1"])
    engine = EmbeddingEngine(model, batch_size=64)
    means = engine.record_means([(prepared.windows, prepared.record_index)], 3)
    assert torch.equal(means.result(), torch.from_numpy(model.embed(x, 100, ["I", "II", "V1"])))
    assert means.counts.tolist() == torch.bincount(prepared.record_index).tolist()
    # chunks of windows (as the evaluation cache feeds them) give the same means: exact
    halves = [(prepared.windows[:3], prepared.record_index[:3]),
              (prepared.windows[3:], prepared.record_index[3:])]  # fmt: skip
    assert torch.equal(engine.record_means(iter(halves), 3).result(), means.result())


def test_bf16_precision_is_autocast_of_the_forward(model) -> None:
    windows = torch.randn(5, 3, 400, generator=torch.Generator().manual_seed(3))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        ref = model.encoder.forward_embedding(windows).float()
    assert torch.equal(EmbeddingEngine(model, batch_size=5, precision="bf16")(windows), ref)


def test_training_flags_are_restored_and_callables_run_on_the_given_device(model) -> None:
    model.encoder.train()
    EmbeddingEngine(model)(torch.randn(2, 3, 400))
    assert model.encoder.training and not model.training
    seen: list[torch.device] = []

    def fn(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.device)
        return x.mean(-1)

    out = EmbeddingEngine(fn, batch_size=3, device="cpu")(torch.randn(7, 2, 50))
    assert out.shape == (7, 2) and len(seen) == 3


def test_compile_pads_the_last_batch_and_falls_back(
    model, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    shapes: list[tuple[int, ...]] = []

    def fake_compile(fn, dynamic=None):  # records the shapes the compiled graph would see
        assert dynamic is False

        def run(x: torch.Tensor) -> torch.Tensor:
            shapes.append(tuple(x.shape))
            return fn(x)

        return run

    monkeypatch.setattr(torch, "compile", fake_compile)
    windows = torch.randn(10, 3, 400, generator=torch.Generator().manual_seed(4))
    got = EmbeddingEngine(model.accelerate("off"), batch_size=4, compile=True)(windows)
    assert shapes == [(4, 3, 400)] * 3  # 4 + 4 + (2 padded to 4): one static shape
    with torch.no_grad():
        ref = torch.cat([model.encoder.forward_embedding(windows[s : s + 4]) for s in (0, 4)]
                        + [model.encoder.forward_embedding(torch.cat(
                            [windows[8:], windows.new_zeros(2, 3, 400)]))[:2]])  # fmt: skip
    assert torch.equal(got, ref)

    def broken_compile(fn, dynamic=None):
        def run(x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("no C++ compiler")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    with caplog.at_level(logging.WARNING, logger="ecgfm.hub._engine"):
        eager = EmbeddingEngine(model, batch_size=4, compile=True)(windows)
    assert "torch.compile failed" in caplog.text
    assert torch.equal(eager, EmbeddingEngine(model, batch_size=4)(windows))


# ------------------------------------------------------------------ model.accelerate


def test_accelerate_chooses_the_path_of_embed(
    net1d_encoder: PretrainedEncoder, built: list[Net1DInference]
) -> None:
    x = _signals(2)
    assert net1d_encoder.acceleration == "auto"
    fast = net1d_encoder.embed(x, fs=500, leads=["I"])
    assert [b.quantize for b in built] == [None]
    assert net1d_encoder.accelerate("off") is net1d_encoder  # in place, chainable
    plain = net1d_encoder.embed(x, fs=500, leads=["I"])
    assert len(built) == 1  # "off": the plain forward_embedding
    windows = net1d_encoder.prepare(x, fs=500, leads=["I"]).windows
    with torch.no_grad():
        ref = net1d_encoder.encoder.forward_embedding(windows)
    per_window = EmbeddingEngine(net1d_encoder)(windows)
    assert torch.equal(per_window, ref)  # same batch, same forward: exact
    close_after_reordering(
        torch.from_numpy(fast), torch.from_numpy(plain),
        *network_reduction_lengths(net1d_encoder.encoder),
    )  # fmt: skip
    int8 = net1d_encoder.accelerate("int8").embed(x, fs=500, leads=["I"])
    assert [b.quantize for b in built] == [None, "int8"]
    cos = (int8 * fast).sum(1) / np.linalg.norm(int8, axis=1) / np.linalg.norm(fast, axis=1)
    assert cos.min() > 0.999
    with pytest.raises(ValueError, match=r"needs the fast path.*precision='bf16'"):
        net1d_encoder.embed(x, fs=500, leads=["I"], precision="bf16")
    # the engine's acceleration= overrides the model's for one engine
    assert EmbeddingEngine(net1d_encoder, acceleration="auto").quantize is None
    assert net1d_encoder.accelerate().acceleration == "auto"


def test_embed_task_and_cli_paths_use_the_engine_of_the_model(
    net1d_encoder: PretrainedEncoder, built: list[Net1DInference]
) -> None:
    engine = EmbeddingEngine(net1d_encoder.accelerate("int8"))
    assert engine.fast_path and engine.quantize == "int8" and built == []  # built on use
    engine(torch.randn(1, 1, 5000))
    engine(torch.randn(1, 1, 5000))
    assert len(built) == 1  # one fast path per engine
    assert not EmbeddingEngine(net1d_encoder, precision="bf16", acceleration="auto").fast_path


# ------------------------------------------------------------------ deprecated aliases


def test_fast_and_quantize_warn_and_equal_accelerate(
    net1d_encoder: PretrainedEncoder, tmp_path: Path
) -> None:
    x = _signals(2)
    for kwargs, mode in (({"fast": False}, "off"), ({"quantize": "int8"}, "int8"),
                         ({"fast": True}, "auto")):  # fmt: skip
        with pytest.warns(DeprecationWarning, match=rf"model.accelerate\('{mode}'\)") as rec:
            old = net1d_encoder.embed(x, fs=500, leads=["I"], **kwargs)
        assert rec[0].filename == __file__  # the caller's line, not ecgfm's
        new = net1d_encoder.accelerate(mode).embed(x, fs=500, leads=["I"])
        net1d_encoder.accelerate("auto")
        assert np.array_equal(old, new)
    assert net1d_encoder.acceleration == "auto"  # the alias does not change the model
    # through ecgfm.embed (which forwards embed's arguments): still the caller's line
    with pytest.warns(DeprecationWarning, match="fast=False") as rec:
        ecgfm.embed(net1d_encoder, x, 500, ["I"], fast=False)
    assert rec[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        net1d_encoder.embed(x, fs=500, leads=["I"])  # no warning without the aliases
