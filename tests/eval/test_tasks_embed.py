"""Record embeddings (naive references, cache), probe reports and baselines on small tasks."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from ecgfm.eval.baselines import (
    SupervisedConfig,
    preset_for_arch,
    random_encoder,
    supervised_baseline,
    train_supervised,
)
from ecgfm.eval.embed_cache import (
    average_by_record,
    bf16_agreement,
    embed_task,
    model_identity,
)
from ecgfm.eval.metrics import macro_auroc
from ecgfm.eval.task_base import TaskData
from ecgfm.eval.task_report import format_reports, probe_task, score_report
from ecgfm.eval.tasks import get_task
from ecgfm.transforms.presets import get_preset

pytestmark = pytest.mark.usefixtures("one_thread")


# No filters (fast): resample 100 -> 200 Hz, 2 s windows, z-score.
FAST = get_preset("hl", leads=("I",), fs=200.0, length=400, min_length=400)


def _stats_embed(x: torch.Tensor) -> torch.Tensor:
    """A deterministic embedder (B, 1, L) -> (B, 3): roughness (separates 2 Hz from 12 Hz
    tones) and peak."""
    d = x.diff(dim=-1)[:, 0]
    return torch.stack([d.abs().mean(-1), d.std(-1), x.abs().amax(-1)[:, 0]], 1)


def _synthetic(n_records: int = 30, seed: int = 0, multilabel: bool = False) -> TaskData:
    """Records of 1-3 items of 5 s at 100 Hz; class 1 has a 12 Hz tone, class 0 a 2 Hz one."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 4, n_records)
    item_record = np.repeat(np.arange(n_records), counts)
    labels = np.arange(n_records) % 2
    t = np.arange(500) / 100.0
    freq = np.where(labels[item_record] == 1, 12.0, 2.0)
    sig = np.sin(2 * np.pi * freq[:, None] * t) + 0.1 * rng.normal(size=(item_record.size, 500))
    split = np.array(["train", "val", "test"])[np.arange(n_records) % 3]
    y = np.stack([labels, 1 - labels, np.zeros(n_records, int)], 1) if multilabel else labels
    y = y.copy()
    if multilabel:
        y[split != "test", 2] = np.arange((split != "test").sum()) % 2  # no test positive
    return TaskData(
        task="synthetic", signals=sig[:, None].astype(np.float32), fs=100.0, leads=("I",),
        item_record=item_record, record_ids=tuple(f"r{i:02d}" for i in range(n_records)),
        labels=y, classes=("a", "b", "c") if multilabel else ("slow", "fast"), split=split,
        notes=("synthetic",),
    )  # fmt: skip


# ----------------------------------------------------------------------------- embeddings


def test_average_by_record_equals_a_naive_loop() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 7)).astype(np.float32)
    idx = rng.integers(0, 9, 50)
    idx[:9] = np.arange(9)
    got = average_by_record(torch.from_numpy(x), torch.from_numpy(idx), 9)
    for r in range(9):
        np.testing.assert_allclose(got[r], x[idx == r].mean(0), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="no window"):
        average_by_record(x, np.zeros(50, int), 2)
    with pytest.raises(ValueError, match="lie in"):
        average_by_record(x, np.full(50, 9), 9)


def test_embed_task_equals_per_record_naive_loop(tmp_path: Path) -> None:
    data = _synthetic()
    got = embed_task(_stats_embed, data, preset=FAST, batch_size=5, chunk_items=7, cache=False)
    for r in range(data.num_records):
        per_window = []
        for item in np.flatnonzero(data.item_record == r):
            windows, _ = FAST.prepare(data.signals[item], data.fs, data.leads)
            per_window += [_stats_embed(w[None])[0] for w in windows]
        np.testing.assert_allclose(
            got.embeddings[r], torch.stack(per_window).mean(0).numpy(), rtol=1e-5, atol=1e-5
        )
        assert got.num_windows[r] == len(per_window)
    assert got.record_ids == data.record_ids and not got.from_cache


def test_embed_cache_round_trip_and_keys(tmp_path: Path, caplog) -> None:
    data = _synthetic(6)
    model = random_encoder("net1d_small", in_channels=1, seed=0)
    first = embed_task(model, data, preset=FAST, cache_dir=tmp_path)
    assert not first.from_cache and len(list(tmp_path.glob("*.npz"))) == 1
    again = embed_task(model, data, preset=FAST, cache_dir=tmp_path)
    assert again.from_cache and again.key == first.key
    np.testing.assert_array_equal(again.embeddings, first.embeddings)
    np.testing.assert_array_equal(again.num_windows, first.num_windows)
    # other weights, preset or data: another key
    other = random_encoder("net1d_small", in_channels=1, seed=1)
    assert embed_task(other, data, preset=FAST, cache_dir=tmp_path).key != first.key
    p2 = get_preset("hl", leads=("I",), fs=200.0, length=200, min_length=200)
    assert embed_task(model, data, preset=p2, cache_dir=tmp_path).key != first.key
    # a damaged entry is recomputed, with a warning
    (tmp_path / f"{first.key}.npz").write_bytes(b"not a zip")
    with caplog.at_level(logging.WARNING, logger="ecgfm.eval.embed_cache"):
        redo = embed_task(model, data, preset=FAST, cache_dir=tmp_path)
    assert not redo.from_cache and "unreadable" in caplog.text
    np.testing.assert_array_equal(redo.embeddings, first.embeddings)


def test_plain_callable_is_cached_only_with_a_model_id(tmp_path: Path) -> None:
    data = _synthetic(9)
    embed_task(_stats_embed, data, preset=FAST, cache_dir=tmp_path)
    assert not list(tmp_path.glob("*.npz"))
    a = embed_task(_stats_embed, data, preset=FAST, cache_dir=tmp_path, model_id="stats-v1")
    b = embed_task(_stats_embed, data, preset=FAST, cache_dir=tmp_path, model_id="stats-v1")
    assert not a.from_cache and b.from_cache


def test_embed_task_input_errors() -> None:
    data = _synthetic(6)
    with pytest.raises(TypeError, match="pass preset="):
        embed_task(_stats_embed, data, cache=False)
    with pytest.raises(TypeError, match="embedder must be"):
        embed_task(42, data, preset=FAST, cache=False)
    with pytest.raises(ValueError, match="precision"):
        embed_task(_stats_embed, data, preset=FAST, precision="fp16", cache=False)
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        embed_task(lambda x: x.mean(-1)[:, 0], data, preset=FAST, cache=False)
    with pytest.raises(FloatingPointError, match="NaN"):
        embed_task(lambda x: x[:, 0, :2] * np.nan, data, preset=FAST, cache=False)


def test_model_identity_and_random_encoder_seeding() -> None:
    state = torch.random.get_rng_state()
    a = random_encoder("net1d_small", seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # caller's RNG untouched
    assert model_identity(a) == model_identity(random_encoder("net1d_small", seed=3))
    assert model_identity(a) != model_identity(random_encoder("net1d_small", seed=4))
    assert not a.training
    assert preset_for_arch("net1d_ecgfounder_lead1", ("I",)).leads == ("I",)
    with pytest.raises(ValueError, match="no default preset"):
        preset_for_arch("unknown_arch")


def test_bf16_agreement_of_a_random_net1d() -> None:
    model = random_encoder("net1d_small", in_channels=1)
    windows = torch.randn(4, 1, 1000)
    assert 0.99 < bf16_agreement(model, windows) <= 1.0 + 1e-6


def test_cinc_task_with_net1d_small_embeds_every_record(data_dir: Path) -> None:
    data = get_task("cinc2017").load(data_dir / "cinc2017", limit=3)
    model = random_encoder("net1d_small", in_channels=1)
    emb = embed_task(model, data, preset=preset_for_arch("net1d_small", ("I",)), cache=False)
    assert emb.embeddings.shape == (9, 64) and np.isfinite(emb.embeddings).all()
    # one 5000-sample window per 10 s segment: windows per record = segments per record
    np.testing.assert_array_equal(emb.num_windows, np.bincount(data.item_record))


# -------------------------------------------------------------------------------- reports


def test_probe_reports_on_separable_synthetic_data() -> None:
    data = _synthetic(60)
    emb = embed_task(_stats_embed, data, preset=FAST, cache=False)
    for probe in ("linear", "logistic", "logistic-cv"):
        rep = probe_task(emb, data, probe, model="stats", n_boot=50)
        assert rep.metrics["auroc"].value > 0.9, probe
        ci = rep.metrics["auroc"]
        assert ci.low <= ci.value <= ci.high
        assert rep.support == data.support() and rep.n_records == data.split_sizes()
        assert "synthetic" in rep.notes
    assert "5-fold CV over all 60" in rep.evaluated_on
    text = format_reports([rep])
    assert "slow" in text and "AUROC" in text and "notes:" in text
    with pytest.raises(ValueError, match="probe must be"):
        probe_task(emb, data, "svm")
    with pytest.raises(ValueError, match="embeddings"):
        probe_task(emb.embeddings[:5], data)


def test_classes_without_test_positives_are_excluded_and_named() -> None:
    data = _synthetic(30, multilabel=True)
    te = data.indices("test")
    rng = np.random.default_rng(1)
    scores = rng.random((te.size, 3))
    rep = score_report(data, te, scores, model="m", probe="p", evaluated_on="test", n_boot=50)
    assert rep.excluded_classes == ["c"]
    assert rep.per_class["c"]["auroc"] is None and rep.per_class["c"]["positives"] == 0
    y = data.labels[te]
    assert rep.metrics["auroc"].value == pytest.approx(macro_auroc(y[:, :2], scores[:, :2]))
    assert rep.per_class["a"]["auroc"] == pytest.approx(macro_auroc(y[:, [0]], scores[:, [0]]))
    assert any("without positives" in n for n in rep.notes)
    assert rep.rare_classes == ["a", "b"]  # 5 test positives each (< 10)
    d = rep.to_dict()
    assert d["metrics"]["auroc"]["value"] == rep.metrics["auroc"].value


def test_perfect_scores_give_one() -> None:
    data = _synthetic(30)
    te = data.indices("test")
    perfect = np.eye(2)[data.labels[te]]
    rep = score_report(data, te, perfect, model="m", probe="p", evaluated_on="t", n_boot=20)
    assert rep.metrics["auroc"].value == 1.0 and rep.metrics["f1"].value == 1.0


# ------------------------------------------------------------------------------ baselines


def test_supervised_baseline_is_seeded_and_scores_the_test_records() -> None:
    data = _synthetic(24)
    cfg = SupervisedConfig(epochs=2, batch_size=8, crop_seconds=1.0, seed=5)
    s1, d1 = train_supervised(data, FAST, cfg)
    s2, _ = train_supervised(data, FAST, cfg)
    np.testing.assert_array_equal(s1, s2)
    assert s1.shape == (8, 2)
    np.testing.assert_allclose(s1.sum(1), 1.0, atol=1e-5)
    assert 1 <= d1["best_epoch"] <= d1["epochs_run"] <= 2 and d1["crop_samples"] == 200
    assert (
        d1["parameters"]
        == sum(p.numel() for p in random_encoder("net1d_small", in_channels=1).parameters())
        + 64 * 2
        + 2
    )
    rep = supervised_baseline(data, FAST, SupervisedConfig(epochs=1, batch_size=8), n_boot=20)
    assert rep.probe == "supervised" and "net1d_small" in rep.model
    assert any("trained 1 epochs" in n for n in rep.notes)
    with pytest.raises(ValueError, match="epochs"):
        SupervisedConfig(epochs=0)
