"""Catalogue of bad inputs to the embedding engine (``ecgfm.hub.EmbeddingEngine``,
``RecordMeans``), to ``PretrainedEncoder.accelerate`` and to the deprecated ``fast=`` /
``quantize=`` of ``embed`` and ``embed_task``: each fails with the right error type and advice
that names the arguments of the interface the caller used. Nothing passes silently."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pytest
import torch
from _catalogue import advice_test, unique_ids_test
from _models import small_lead1_encoder
from torch import nn

from ecgfm.eval.embed_cache import embed_task
from ecgfm.eval.task_base import TaskData
from ecgfm.hub import EmbeddingEngine, PretrainedEncoder, RecordMeans, from_pretrained
from ecgfm.models import create_model
from ecgfm.transforms.presets import get_preset

FS = 500


@cache
def _net1d() -> PretrainedEncoder:
    return small_lead1_encoder("net1d-small-bad-inputs")


@cache
def _vit() -> PretrainedEncoder:
    return from_pretrained("st-mem-tiny")


class _Tiny(nn.Module):
    num_features = 4

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3, padding=1)

    def forward_embedding(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean(-1)


def _ecg(seconds: float = 10.0) -> np.ndarray:
    t = np.arange(int(seconds * FS)) / FS
    return (0.5 * np.sin(2 * np.pi * 1.1 * t))[None].astype(np.float32)


def _data() -> TaskData:
    return TaskData(
        task="synthetic", signals=np.zeros((2, 1, 500), np.float32) + _ecg(1.0)[:, :500],
        fs=100.0, leads=("I",), item_record=np.arange(2), record_ids=("a", "b"),
        labels=np.arange(2), classes=("x", "y"), split=np.array(["train", "test"]), notes=(),
    )  # fmt: skip


def _means(num: int = 3) -> RecordMeans:
    means = RecordMeans(num)
    means.add(torch.ones(2, 4), torch.tensor([0, 1]))
    return means


def _embed(**kwargs: Any) -> Any:
    return _net1d().embed(_ecg(), FS, ["I"], **kwargs)


W = torch.zeros(2, 1, 5000)
PRESET = get_preset("hl", leads=("I",), fs=200.0, length=400, min_length=400)

# (id, call, exception type, phrase of the advice)
BAD: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
    # the engine's arguments
    ("engine-batch-size-0", lambda: EmbeddingEngine(_Tiny(), batch_size=0), ValueError,
     "batch_size must be a positive integer"),
    ("engine-batch-size-bool", lambda: EmbeddingEngine(_Tiny(), batch_size=True), ValueError,
     "batch_size must be a positive integer"),
    ("engine-precision-fp16", lambda: EmbeddingEngine(_Tiny(), precision="fp16"), ValueError,
     r"precision must be None, 'fp32' or 'bf16'"),
    ("engine-compile-string", lambda: EmbeddingEngine(_Tiny(), compile="yes"), ValueError,
     "compile must be True or False"),
    ("engine-progress-int", lambda: EmbeddingEngine(_Tiny(), progress=1), ValueError,
     "progress must be True or False"),
    ("engine-acceleration-unknown", lambda: EmbeddingEngine(_Tiny(), acceleration="fast"),
     ValueError, r"acceleration must be 'auto' .*'int8' .*'off'"),
    ("engine-not-a-model", lambda: EmbeddingEngine(42), TypeError,
     r"ecgfm encoder \(forward_embedding\), a PretrainedEncoder or a callable"),
    ("engine-int8-callable", lambda: EmbeddingEngine(lambda x: x.mean(-1), acceleration="int8"),
     ValueError, "Net1D encoders only, not to a plain callable: pass the encoder itself"),
    ("engine-int8-vit", lambda: EmbeddingEngine(_vit(), acceleration="int8"), ValueError,
     "needs the fast path.*not a Net1D encoder"),
    ("engine-int8-bf16", lambda: EmbeddingEngine(_net1d(), acceleration="int8",
                                                 precision="bf16"),
     ValueError, r"needs the fast path.*precision='bf16'.*model.accelerate\('auto'\)"),
    ("engine-int8-float64", lambda: EmbeddingEngine(
        create_model("net1d_small", in_channels=1).double(), acceleration="int8"),
     ValueError, "weights are torch.float64, not float32"),
    ("engine-device-mismatch", lambda: EmbeddingEngine(_Tiny(), device="cuda"), ValueError,
     r"the model is on cpu: move the model with model.to\(device\)"),
    # the engine's windows
    ("windows-numpy", lambda: EmbeddingEngine(_Tiny())(np.zeros((2, 1, 50))), TypeError,
     r"windows must be a torch tensor \(N, C, L\).*model.prepare"),
    ("windows-2d", lambda: EmbeddingEngine(_Tiny())(torch.zeros(1, 50)), ValueError,
     r"windows must be \(N, C, L\) prepared windows .*got shape \(1, 50\)"),
    ("windows-wrong-card-shape", lambda: EmbeddingEngine(_net1d())(torch.zeros(2, 1, 400)),
     ValueError, r"takes windows prepared as the card says: \(B, 1, 5000\)"),
    ("callable-returns-1d", lambda: EmbeddingEngine(lambda x: x.mean((1, 2)))(W), ValueError,
     r"must return \(B, D\) for 2 windows, got \(2,\)"),
    ("callable-returns-list", lambda: EmbeddingEngine(lambda x: [0.0])(W), ValueError,
     r"must return \(B, D\) for 2 windows, got list"),
    ("record-means-nan", lambda: EmbeddingEngine(lambda x: x[:, 0, :3] * np.nan)
     .record_means([(W, torch.tensor([0, 1]))], 2), FloatingPointError,
     r"records \[0, 1\]: the encoder produced NaN/Inf"),
    # RecordMeans
    ("means-negative", lambda: RecordMeans(-1), ValueError, "num_records must be an integer >= 0"),
    ("means-shapes", lambda: RecordMeans(2).add(torch.ones(3, 4), torch.zeros(2, dtype=int)),
     ValueError, r"need per_window \(N, D\), record_index \(N,\); got \(3, 4\), \(2,\)"),
    ("means-float-index", lambda: RecordMeans(2).add(torch.ones(2, 4), torch.zeros(2)),
     ValueError, "record_index must hold integers, got torch.float32"),
    ("means-index-range", lambda: RecordMeans(2).add(torch.ones(2, 4), torch.tensor([0, 2])),
     ValueError, r"record_index must lie in \[0, 2\)"),
    ("means-width-changes", lambda: _means().add(torch.ones(1, 5), torch.tensor([2])),
     ValueError, "per_window has 5 features, earlier windows had 4"),
    ("means-missing-record", lambda: _means().result(), ValueError,
     r"records \[2\] have no window"),
    ("means-records-range", lambda: _means().result([0, 3]), ValueError,
     r"records must lie in \[0, 3\)"),
    # model.accelerate
    ("accelerate-unknown", lambda: _net1d().accelerate("fast"), ValueError,
     "acceleration must be 'auto'"),
    ("accelerate-int8-vit", lambda: _vit().accelerate("int8"), ValueError,
     r"accelerate\('int8'\) applies to Net1D encoders .* use 'auto' or 'off'"),
    ("accelerate-int8-then-bf16", lambda: _net1d().accelerate("int8").embed(
        _ecg(), FS, ["I"], precision="bf16"),
     ValueError, r"needs the fast path.*precision='bf16'"),
    # the deprecated aliases (still validated)
    ("embed-fast-not-bool", lambda: _embed(fast="no"), ValueError,
     "fast must be True or False"),
    ("embed-quantize-int4", lambda: _embed(quantize="int4"), ValueError,
     r"quantize must be None or 'int8', got 'int4'"),
    ("embed-int8-without-fast", lambda: _embed(fast=False, quantize="int8"), ValueError,
     r"needs the fast path: drop fast=False .*model.accelerate\('int8'\)"),
    ("embed-task-int8-callable", lambda: embed_task(lambda x: x.mean(-1), _data(),
                                                   preset=PRESET, cache=False, quantize="int8"),
     ValueError, "Net1D encoders only"),
    ("embed-task-preset-not-the-card", lambda: embed_task(_net1d(), _data(), preset=PRESET,
                                                          cache=False),
     ValueError, r"takes windows prepared as the card says.*use model.encoder"),
    ("embed-task-not-callable", lambda: embed_task(42, _data(), preset=PRESET, cache=False),
     TypeError, "embedder must be an ecgfm encoder"),
]  # fmt: skip


@pytest.fixture(autouse=True)
def _auto_mode():
    """Each case starts from a model in the default mode (the cases share cached models)."""
    yield
    _net1d().accelerate("auto")


test_catalogue_ids_unique = unique_ids_test(BAD, at_least=30)


test_bad_input_fails_with_advice = advice_test(BAD, filterwarnings=["ignore::DeprecationWarning"])
