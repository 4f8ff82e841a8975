"""Net1D fast path: chunking, dynamic int8 1x1 convolutions, compile padding, validation."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F
from _tolerance import close_after_reordering, network_reduction_lengths
from torch import nn

from ecgfm.models import create_model
from ecgfm.models import net1d_inference as ni
from ecgfm.models._int8_gemm import (
    MAX_K,
    Int8Linear,
    _shape_unsupported_reason,
    int8_gemm_unsupported_reason,
    quantize_rows,
    quantize_weight,
)
from ecgfm.models._net1d_btc import DenseLinear
from ecgfm.models.net1d import Net1D
from ecgfm.models.net1d_inference import optimize_for_inference

INT8_HW = int8_gemm_unsupported_reason(torch.device("cpu")) is None
needs_int8 = pytest.mark.skipif(not INT8_HW, reason="no fast int8 GEMM on this CPU")


def _small(seed: int = 0, **overrides: object) -> Net1D:
    torch.manual_seed(seed)
    model = create_model("net1d_small", **overrides)
    assert isinstance(model, Net1D)
    return model.eval()


def _reference(model: Net1D, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        return model.forward_features(x), model.forward_embedding(x)


# --- chunking -----------------------------------------------------------------------------------


@pytest.mark.parametrize("in_channels", [1, 12])
def test_chunked_equals_unchunked_equals_reference(in_channels: int) -> None:
    model = _small(seed=1, in_channels=in_channels)
    x = torch.randn(7, in_channels, 999)
    ref_map, ref = _reference(model, x)
    whole = optimize_for_inference(model, chunk_size=100)
    full_map, full = whole.forward_features(x), whole(x)
    # The fast path and chunking change the operation order (channels-last kernels, other
    # batch sizes): float32 reordering through every layer of the network.
    chain = network_reduction_lengths(model)
    close_after_reordering(full_map, ref_map, *chain)
    close_after_reordering(full, ref, *chain)
    for chunk in (1, 2, 3, 7, "auto"):
        fast = optimize_for_inference(model, chunk_size=chunk)
        close_after_reordering(fast(x), full, *chain)
        close_after_reordering(fast.forward_features(x), full_map, *chain)


def test_auto_chunk_size_follows_the_input_length_and_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast = optimize_for_inference(_small())
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert fast.chunk_records(5000) == round(ni.AUTO_CHUNK_SAMPLES / 5000)
    assert fast.chunk_records(10**9) == 1
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    assert fast.chunk_records(5000) == round(4 * ni.AUTO_CHUNK_SAMPLES / 5000)
    assert optimize_for_inference(_small(), chunk_size=3).chunk_records(5000) == 3


def test_compiled_graph_sees_one_chunk_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    """Partial chunks of >= half a chunk are zero-padded, smaller ones run eagerly."""
    shapes: list[tuple[int, ...]] = []

    def fake_compile(fn, **kwargs):
        def run(x: torch.Tensor) -> torch.Tensor:
            shapes.append(tuple(x.shape))
            return fn(x)

        return run

    monkeypatch.setattr(torch, "compile", fake_compile)
    model = _small(seed=2)
    fast = optimize_for_inference(model, compile=True, chunk_size=4)
    for batch, expected in ((7, [(4, 12, 300)] * 2), (5, [(4, 12, 300)]), (2, [(4, 12, 300)])):
        shapes.clear()
        x = torch.randn(batch, 12, 300)
        out = fast(x)
        assert shapes == expected
        torch.testing.assert_close(out, _reference(model, x)[1], atol=1e-5, rtol=1e-5)
    shapes.clear()
    fast(torch.randn(1, 12, 300))  # 1 < 4 / 2: eager, no new shape for the compiled graph
    assert shapes == []


# --- int8 ---------------------------------------------------------------------------------------


def test_quantize_rows_and_weight_round_trip() -> None:
    x = torch.randn(5, 7, 33) * torch.logspace(-3, 2, 7)[None, :, None]
    x[0, 3] = 0.0  # an all-zero row must not give NaN
    q, scale = quantize_rows(x[:, 1:])  # row-strided input
    assert q.dtype == torch.int8 and q.shape == (5, 6, 33) and q.is_contiguous()
    assert scale.shape == (5, 6, 1) and scale.dtype == torch.float32
    assert int(q.abs().max()) == 127 and int(q.min()) >= -127
    err = (q.float() * scale - x[:, 1:]).abs()
    assert bool((err <= scale / 2 * (1 + 1e-5)).all())
    assert not q[0, 2].any() and torch.isfinite(scale).all()
    w = torch.randn(8, 33)
    qw = quantize_weight(w, torch.ones(8))
    assert qw.qweight_t.shape == (33, 8) and qw.qweight_t.dtype == torch.int8
    err_w = (qw.qweight_t.t().float() * qw.scale[:, None] - w).abs()
    assert bool((err_w <= qw.scale[:, None] / 2 * (1 + 1e-5)).all())


@needs_int8
def test_int8_linear_close_to_float_and_shapes() -> None:
    conv = nn.Conv1d(64, 48, 1)
    lin = Int8Linear(conv)
    x = torch.randn(3, 50, 64)
    ref = F.linear(x, conv.weight.squeeze(2), conv.bias).detach()
    torch.testing.assert_close(lin(x), ref)  # before refresh(): exact float fallback
    assert lin.refresh() and not lin.refresh()
    with torch.inference_mode():
        out = lin(x)
    assert out.shape == (3, 50, 48) and out.dtype == torch.float32
    assert F.cosine_similarity(out.flatten(), ref.flatten(), dim=0) > 0.9999
    assert not torch.equal(out, ref)


@needs_int8
@pytest.mark.parametrize("in_channels", [1, 12])
def test_int8_path_cosine_and_dtype(in_channels: int) -> None:
    model = _small(seed=3, in_channels=in_channels)
    x = torch.randn(6, in_channels, 5000)
    ref_map, ref = _reference(model, x)
    fast = optimize_for_inference(model, quantize="int8", int8_min_features=0, chunk_size=4)
    assert len(fast._int8) == 2 * sum(model.m_blocks_list)  # every 1x1 convolution
    out, out_map = fast(x), fast.forward_features(x)
    assert out.shape == ref.shape and out.dtype == torch.float32
    assert out_map.shape == ref_map.shape and out_map.dtype == torch.float32
    assert F.cosine_similarity(out, ref).min() > 0.999
    assert not torch.equal(out, ref)
    # chunking does not change the int8 result either (rows are quantised independently);
    # the float32 layers between them may round differently with another batch size, and a
    # last-bit difference can move a value to the next int8 step, so the bound is that of the
    # quantisation against float32 above, not a float32 reordering bound
    one = optimize_for_inference(model, quantize="int8", int8_min_features=0, chunk_size=6)
    assert F.cosine_similarity(one(x), out).min() > 0.9999


@needs_int8
def test_int8_narrow_layers_stay_float(caplog: pytest.LogCaptureFixture) -> None:
    model = _small(seed=4)  # widths 16, 32, 32, 48, 48, 64, 64
    with caplog.at_level(logging.INFO, logger="ecgfm.models.net1d_inference"):
        fast = optimize_for_inference(model, quantize="int8", int8_min_features=48)
    quantised = {(lin.in_features, lin.out_features) for lin in fast._int8}
    assert quantised and all(min(k, n) >= 48 for k, n in quantised)
    dense = [lin for pair in fast._linears for lin in pair if isinstance(lin, DenseLinear)]
    assert dense and all(min(d.conv.in_channels, d.conv.out_channels) < 48 for d in dense)
    assert "stay float32" in caplog.text and "int8_min_features=48" in caplog.text
    x = torch.randn(2, 12, 1000)
    assert F.cosine_similarity(fast(x), _reference(model, x)[1]).min() > 0.999


def test_int8_without_int8_hardware_is_exact_float(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ni, "int8_gemm_unsupported_reason", lambda device: "no VNNI (test)")
    model = _small(seed=5)
    with caplog.at_level(logging.WARNING, logger="ecgfm.models.net1d_inference"):
        fast = optimize_for_inference(model, quantize="int8", int8_min_features=0)
    assert "no VNNI (test)" in caplog.text and fast._int8 == []
    x = torch.randn(2, 12, 500)
    torch.testing.assert_close(fast(x), _reference(model, x)[1], atol=1e-5, rtol=1e-5)


def test_int8_gemm_shape_rules() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert _shape_unsupported_reason(cpu, 1, 1, 1) is None
    assert "overflow" in str(_shape_unsupported_reason(cpu, 64, MAX_K + 1, 64))
    assert _shape_unsupported_reason(cuda, 32, 64, 64) is None
    assert "M > 16" in str(_shape_unsupported_reason(cuda, 16, 64, 64))
    assert "multiples of 8" in str(_shape_unsupported_reason(cuda, 32, 60, 64))


@needs_int8
def test_int8_call_falls_back_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    conv = nn.Conv1d(32, 32, 1)
    lin = Int8Linear(conv)
    lin.refresh()
    monkeypatch.setattr(Int8Linear, "qualifies", lambda self, x: False)
    x = torch.randn(2, 5, 32)
    with torch.no_grad():
        torch.testing.assert_close(lin(x), F.linear(x, conv.weight.squeeze(2), conv.bias))


@needs_int8
def test_int8_weights_follow_model_updates() -> None:
    model = _small(seed=6)
    fast = optimize_for_inference(model, quantize="int8", int8_min_features=0)
    x = torch.randn(2, 12, 500)
    before = fast(x)
    conv = model.stages[6][1].conv3
    with torch.no_grad():
        conv.weight.mul_(-1.0)  # in place: version counter
    after = fast(x)
    fresh = optimize_for_inference(model, quantize="int8", int8_min_features=0)
    torch.testing.assert_close(after, fresh(x), atol=1e-6, rtol=1e-6)
    assert not torch.allclose(before, after)
    conv.bias = nn.Parameter(conv.bias.detach() + 1.0)  # replaced parameter
    torch.testing.assert_close(fast(x), fresh(x), atol=1e-6, rtol=1e-6)
    assert not torch.allclose(after, fast(x))


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"quantize": "int4"}, "quantize"),
        ({"quantize": "int8", "dtype": torch.bfloat16}, "drop dtype"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"chunk_size": -2}, "chunk_size"),
        ({"chunk_size": True}, "chunk_size"),
        ({"chunk_size": 2.5}, "chunk_size"),
        ({"chunk_size": "big"}, "chunk_size"),
        ({"int8_min_features": "64"}, "int8_min_features"),
    ],
)
def test_arguments_are_validated(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        optimize_for_inference(_small(), **kwargs)  # type: ignore[arg-type]


def test_inputs_are_validated() -> None:
    fast = optimize_for_inference(_small(), quantize="int8")
    with pytest.raises(ValueError, match="expects 12 leads"):
        fast(torch.randn(2, 1, 500))
    with pytest.raises(ValueError, match="empty batch"):
        fast(torch.randn(0, 12, 500))
    with pytest.raises(TypeError, match="floating"):
        fast(torch.zeros(2, 12, 500, dtype=torch.int64))


@needs_int8
@pytest.mark.slow
def test_compiled_int8_matches_eager_int8_and_follows_weight_updates() -> None:
    model = _small(seed=7, in_channels=1)
    x = torch.randn(4, 1, 2000)
    kwargs = {"quantize": "int8", "int8_min_features": 0, "chunk_size": 4}
    eager = optimize_for_inference(model, **kwargs)  # type: ignore[arg-type]
    compiled = optimize_for_inference(model, compile=True, **kwargs)  # type: ignore[arg-type]
    torch.testing.assert_close(compiled(x), eager(x), atol=1e-4, rtol=1e-4)
    assert compiled._compiled is not None  # no fallback to eager
    with torch.no_grad():
        model.stages[5][0].conv1.weight.mul_(0.5)
    torch.testing.assert_close(compiled(x), eager(x), atol=1e-4, rtol=1e-4)
    assert F.cosine_similarity(compiled(x), _reference(model, x)[1]).min() > 0.999
