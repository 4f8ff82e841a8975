"""``embed_task`` is the embedding engine (``ecgfm.hub.EmbeddingEngine``) plus a cache: the
same numbers, the model's own speed options (``model.accelerate``), and what the engine does
for every caller (eval mode, the model's dtype, the model's own ``forward_embedding``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ecgfm.eval.baselines import random_encoder
from ecgfm.eval.embed_cache import bf16_agreement, embed_task
from ecgfm.eval.task_base import TaskData
from ecgfm.hub import EmbeddingEngine, PretrainedEncoder, make_card
from ecgfm.models.net1d_inference import Net1DInference
from ecgfm.transforms.presets import get_preset

PRESET = get_preset("hl", leads=("I",), fs=200.0, length=400, min_length=400)
CARD_PRESET = get_preset("selfmis", leads=("I",))  # 10 s at 500 Hz, what Net1D is built for

pytestmark = pytest.mark.usefixtures("one_thread")


def _data(n_records: int = 5, items_per_record: int = 2, samples: int = 500) -> TaskData:
    """Records of ``items_per_record`` items of ``samples`` samples at 100 Hz."""
    rng = np.random.default_rng(1)
    item_record = np.repeat(np.arange(n_records), items_per_record)
    sig = rng.normal(0.0, 0.3, size=(item_record.size, 1, samples)).astype(np.float32)
    return TaskData(
        task="synthetic", signals=sig, fs=100.0, leads=("I",), item_record=item_record,
        record_ids=tuple(f"r{i}" for i in range(n_records)),
        labels=np.arange(n_records) % 2, classes=("a", "b"),
        split=np.array(["train"] * n_records), notes=(),
    )  # fmt: skip


def _pretrained(model: nn.Module) -> PretrainedEncoder:
    card = make_card(
        model, name="net1d-small-eval", preset=CARD_PRESET, license="MIT", paper="none (test)",
        training="random weights",
    )  # fmt: skip
    return PretrainedEncoder(model, card)


class _Dropout(nn.Module):
    """An encoder with dropout: its embedding is deterministic only in eval mode."""

    def __init__(self) -> None:
        super().__init__()
        self.num_features = 8
        self.conv = nn.Conv1d(1, 8, 9, padding=4)
        self.drop = nn.Dropout(0.5)

    def forward_embedding(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(torch.tanh(self.conv(x))).mean(-1)


class _Projected(nn.Module):
    """A model holding a Net1D as ``.encoder`` whose embedding is *not* the encoder's."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = random_encoder("net1d_small", in_channels=1, seed=0)
        self.num_features = self.encoder.num_features

    def forward_embedding(self, x: torch.Tensor) -> torch.Tensor:
        return 2.0 * self.encoder.forward_embedding(x) + 1.0


def test_embed_task_equals_the_engine_on_the_preset_windows() -> None:
    data = _data()
    model = random_encoder("net1d_small", in_channels=1, seed=0)
    got = embed_task(model, data, preset=PRESET, batch_size=1, chunk_items=3, cache=False)
    windows, item_index = PRESET.prepare(data.signals, data.fs, data.leads)
    record_index = torch.from_numpy(data.item_record[item_index.numpy()])
    means = EmbeddingEngine(model, batch_size=1).record_means(
        [(windows, record_index)], data.num_records
    )
    # one window per forward in both, summed in the same order: exact
    assert np.array_equal(got.embeddings, means.result().numpy())
    assert np.array_equal(got.num_windows, means.counts.numpy())


def test_accelerate_sets_the_path_and_the_cache_entry_of_embed_task(
    tmp_path: Path, built: list[Net1DInference]
) -> None:
    data = _data(3, samples=1000)
    model = _pretrained(random_encoder("net1d_small", in_channels=1, seed=0))
    fp32 = embed_task(model, data, cache_dir=tmp_path)
    assert [b.quantize for b in built] == [None]
    # the exact fast path and the plain forward share the entry ("off" loads it)
    assert embed_task(model.accelerate("off"), data, cache_dir=tmp_path).from_cache
    int8 = embed_task(model.accelerate("int8"), data, cache_dir=tmp_path)
    assert [b.quantize for b in built] == [None, "int8"]
    assert int8.key != fp32.key and not int8.from_cache
    assert embed_task(model, data, cache_dir=tmp_path).from_cache  # its own entry
    with pytest.raises(ValueError, match="needs the fast path"):
        embed_task(model, data, cache=False, precision="bf16")
    plain = embed_task(model.accelerate("off"), data, cache=False)
    assert len(built) == 2
    np.testing.assert_allclose(plain.embeddings, fp32.embeddings, rtol=1e-5, atol=1e-5)


def test_a_module_in_train_mode_is_embedded_in_eval_mode() -> None:
    # before the engine, embed_task ran forward_embedding in the caller's mode: dropout on
    data = _data(4)
    torch.manual_seed(0)
    model = _Dropout()
    ref = embed_task(model.eval(), data, preset=PRESET, cache=False).embeddings
    model.train()
    got = embed_task(model, data, preset=PRESET, cache=False).embeddings
    assert np.array_equal(got, ref) and model.training


def test_a_model_wrapping_a_net1d_runs_its_own_forward_embedding(
    built: list[Net1DInference],
) -> None:
    # before the engine, any module with a Net1D `.encoder` ran the encoder's fast path
    data = _data(3)
    model = _Projected()
    got = embed_task(model, data, preset=PRESET, batch_size=64, cache=False).embeddings
    bare = embed_task(model.encoder, data, preset=PRESET, batch_size=64, cache=False)
    np.testing.assert_allclose(got, 2.0 * bare.embeddings + 1.0, rtol=1e-5, atol=1e-5)
    assert len(built) == 1  # the fast path of the bare Net1D only


def test_windows_are_cast_to_the_model_dtype() -> None:
    # before the engine, embed_task fed float32 windows to a float64 model (a dtype error)
    data = _data(2)
    torch.manual_seed(0)
    model = _Dropout().eval()
    ref = embed_task(model, data, preset=PRESET, cache=False).embeddings
    got = embed_task(model.double(), data, preset=PRESET, cache=False).embeddings
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_bf16_agreement_measures_the_bf16_path_embed_task_runs() -> None:
    # before the engine, its bf16 side ran the Net1D fast path under autocast, a path that
    # embed_task(precision="bf16") never takes; records of one window: means = windows
    data = _data(4, items_per_record=1, samples=200)
    model = random_encoder("net1d_small", in_channels=1, seed=0)
    fp32, bf16 = (
        torch.from_numpy(
            embed_task(model, data, preset=PRESET, precision=p, cache=False).embeddings
        )
        for p in (None, "bf16")
    )
    windows, _ = PRESET.prepare(data.signals, data.fs, data.leads)
    assert windows.shape[0] == data.num_records
    cos = torch.nn.functional.cosine_similarity(fp32, bf16, dim=1).min()
    assert bf16_agreement(model, windows) == float(cos)


def test_deprecated_fast_and_quantize_warn_at_the_caller(tmp_path: Path) -> None:
    data = _data(2, samples=1000)
    model = _pretrained(random_encoder("net1d_small", in_channels=1, seed=0))
    new = embed_task(model.accelerate("int8"), data, cache=False).embeddings
    model.accelerate("auto")
    with pytest.warns(DeprecationWarning, match=r"model.accelerate\('int8'\)") as rec:
        old = embed_task(model, data, cache=False, quantize="int8").embeddings
    assert rec[0].filename == __file__ and np.array_equal(old, new)
    assert model.acceleration == "auto"
