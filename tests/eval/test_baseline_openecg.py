"""OpenECG peer baseline: the adapter's contract, checked against OpenECG's own forward.

``openecg`` is an optional package (an evaluation environment installs it; ecgfm does not
depend on it). Tests that run its model are skipped with the reason when it is missing; the
missing-package error is tested everywhere.
"""

from __future__ import annotations

import importlib.util
import math
import sys

import numpy as np
import pytest
import torch

from ecgfm.eval.baseline_openecg import (
    OPENECG_FS,
    OPENECG_LENGTH,
    OpenECGEncoder,
    openecg_preset,
    require_openecg,
)

pytestmark = pytest.mark.usefixtures("one_thread")

HAVE_OPENECG = importlib.util.find_spec("openecg") is not None
needs_openecg = pytest.mark.skipif(
    not HAVE_OPENECG, reason="openecg is not installed (optional: pip install openecg)"
)


def test_missing_openecg_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openecg", None)  # import openecg -> ImportError
    with pytest.raises(ImportError, match="pip install openecg"):
        require_openecg()
    with pytest.raises(ImportError, match="pip install openecg"):
        OpenECGEncoder()


def test_preset_is_openecg_input_contract() -> None:
    p = openecg_preset("I")
    assert (p.fs, p.length, p.leads) == (OPENECG_FS, OPENECG_LENGTH, ("I",))
    assert len(p.filters) == 0 and len(p.normalize) == 0  # rank normalisation is OpenECG's
    x = np.random.default_rng(0).standard_normal((2, 1, 3000)).astype(np.float32)  # 10 s, 300 Hz
    windows, index = p.prepare(x, 300.0, ("I",))
    assert windows.shape == (2, 1, 5000) and index.tolist() == [0, 1]


def _windows(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, OPENECG_LENGTH, generator=g).cumsum(-1) * 0.02


@pytest.fixture(scope="module")
def encoder() -> OpenECGEncoder:
    if not HAVE_OPENECG:
        pytest.skip("openecg is not installed (optional: pip install openecg)")
    return OpenECGEncoder()


@needs_openecg
def test_embedding_is_the_heads_input_averaged_over_time(encoder: OpenECGEncoder) -> None:
    """The heads are linear, so head(embedding) must equal the time mean of the head outputs
    of OpenECG's own forward on its own rank-normalised input."""
    import openecg

    x = _windows(3)
    emb = encoder(x)
    assert emb.shape == (3, encoder.num_features) == (3, 128)
    ranked = torch.from_numpy(np.stack([openecg.rank_normalize(w) for w in x[:, 0].numpy()]))
    with torch.inference_mode():
        frame, beat, rhythm = encoder.model(ranked, torch.zeros(3, dtype=torch.long))
    m = encoder.model
    for head, out in ((m.head_sample, frame), (m.beat_sample, beat), (m.rhythm_sample, rhythm)):
        got = head(emb).detach()
        want = out.mean(dim=1)
        # float32 means over T = 5000 in another order, then a 128-term dot product
        tol = (math.sqrt(OPENECG_LENGTH) + math.sqrt(128)) * 1.2e-7 * float(out.abs().max())
        torch.testing.assert_close(got, want, rtol=0.0, atol=4 * tol)


@needs_openecg
def test_embedding_ignores_units_and_is_deterministic(encoder: OpenECGEncoder) -> None:
    x = _windows(2, seed=1)
    a = encoder(x)
    torch.testing.assert_close(encoder(x), a, rtol=0, atol=0)
    # rank normalisation: a positive power-of-two gain (mV vs 2 mV) changes nothing
    torch.testing.assert_close(encoder(4.0 * x), a, rtol=0, atol=0)
    # each window is embedded on its own: batch composition does not matter
    single = encoder(x[1:])
    torch.testing.assert_close(single[0], a[1], rtol=1e-5, atol=1e-5)


@needs_openecg
def test_two_encoders_share_the_cached_model_without_double_capture() -> None:
    a, b = OpenECGEncoder(), OpenECGEncoder()  # openecg.load_codec returns the same module
    x = _windows(1)
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
    assert a.model_id == b.model_id and "sha256:" in a.model_id


@needs_openecg
@pytest.mark.parametrize(
    ("shape", "phrase"), [((2, 5000), "prepare them"), ((1, 2, 5000), r"\(B, 1, 5000\)"),
                          ((1, 1, 2500), "one lead, 10 s at 500 Hz")],
)  # fmt: skip
def test_bad_windows_say_how_to_prepare_them(
    encoder: OpenECGEncoder, shape: tuple[int, ...], phrase: str
) -> None:
    with pytest.raises(ValueError, match=phrase):
        encoder(torch.zeros(shape))


@needs_openecg
def test_embed_task_with_the_adapter(encoder: OpenECGEncoder, tmp_path) -> None:
    from ecgfm.eval import embed_task
    from ecgfm.eval.task_base import TaskData

    sig = _windows(3, seed=2)[:, :, :3000].numpy()  # three 10 s items at 300 Hz
    data = TaskData(
        task="toy", signals=sig, fs=300.0, leads=("I",), item_record=np.array([0, 0, 1]),
        record_ids=("a", "b"), labels=np.array([0, 1]), classes=("x", "y"),
        split=np.array(["train", "test"]),
    )  # fmt: skip
    kw = {"preset": encoder.preset, "model_id": encoder.model_id, "cache_dir": tmp_path}
    emb = embed_task(encoder, data, **kw)
    assert emb.embeddings.shape == (2, 128) and emb.num_windows.tolist() == [2, 1]
    windows, _ = encoder.preset.prepare(sig, 300.0, ("I",))
    per_window = encoder(windows).double().numpy()
    np.testing.assert_allclose(emb.embeddings[0], per_window[:2].mean(0), rtol=1e-5, atol=1e-6)
    assert embed_task(encoder, data, **kw).from_cache
