"""ecgfm.plot: paper scale, layouts, views panels, attention maps (Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ecgfm.leads import CANONICAL_LEADS  # noqa: E402
from ecgfm.plot import plot_attention, plot_ecg, plot_views  # noqa: E402
from ecgfm.signal import ECGRecord  # noqa: E402
from ecgfm.transforms.views import CMSC, Interleave, SelfCut  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def record(t: int = 5000) -> np.ndarray:
    time = np.arange(t) / 500.0
    return np.stack([np.sin(2 * np.pi * (1 + c / 10) * time) for c in range(12)]).astype(np.float32)


def _mm_per_unit(ax) -> tuple[float, float]:
    """Millimetres per data unit along x and y, measured from the drawn axes box."""
    fig = ax.figure
    ax.apply_aspect()  # what a draw does to the axes box, without rendering
    box = ax.get_window_extent()
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    px_per_mm = fig.dpi / 25.4
    return box.width / px_per_mm / (x1 - x0), box.height / px_per_mm / (y1 - y0)


@pytest.mark.parametrize("speed,gain", [(25.0, 10.0), (50.0, 20.0), (12.5, 5.0)])
def test_plot_ecg_is_true_scale(speed: float, gain: float) -> None:
    fig = plot_ecg(record(1000), 500.0, layout="12x1", speed=speed, gain=gain)
    ax = fig.axes[0]
    mm_x, mm_y = _mm_per_unit(ax)
    assert mm_x == pytest.approx(speed, rel=0.01)  # mm per second
    assert mm_y == pytest.approx(gain, rel=0.01)  # mm per mV
    # minor grid every 1 mm, major every 5 mm, in both directions
    for gid, mm in (("minor-grid", 1.0), ("major-grid", 5.0)):
        (grid,) = [c for c in ax.collections if c.get_gid() == gid]
        segs = grid.get_segments()
        vertical = np.array([s[0][0] for s in segs if s[0][0] == s[1][0]])
        horizontal = np.array([s[0][1] for s in segs if s[0][1] == s[1][1]])
        assert np.diff(vertical) * speed == pytest.approx(np.full(len(vertical) - 1, mm))
        assert np.diff(horizontal) * gain == pytest.approx(np.full(len(horizontal) - 1, mm))


def test_plot_ecg_layouts_labels_and_traces(tmp_path: Path) -> None:
    x = record()
    fig = plot_ecg(x, 500.0, title="demo")
    ax = fig.axes[0]
    texts = {t.get_text() for t in ax.texts}
    assert set(CANONICAL_LEADS) <= texts
    traces = [ln for ln in ax.lines if len(ln.get_xdata()) >= 1250]
    assert len(traces) == 13  # 12 quarter-length leads + the lead II rhythm strip
    strip = max(traces, key=lambda ln: len(ln.get_xdata()))
    assert len(strip.get_xdata()) == 5000
    np.testing.assert_allclose(strip.get_ydata() - strip.get_ydata()[0], x[1] - x[1, 0], atol=1e-6)
    fig.savefig(tmp_path / "ecg.png", dpi=30)
    assert (tmp_path / "ecg.png").stat().st_size > 1000
    fig3 = plot_ecg(x[:3], 500.0, ["I", "II", "V1"], layout="12x1")
    assert {"I", "II", "V1"} <= {t.get_text() for t in fig3.axes[0].texts}
    rec = ECGRecord(x, 500.0, CANONICAL_LEADS)
    assert plot_ecg(rec).axes


def test_plot_ecg_errors() -> None:
    x = record()
    with pytest.raises(ValueError, match="fs="):
        plot_ecg(x)
    with pytest.raises(ValueError, match="12 leads"):
        plot_ecg(x[:3], 500.0, ["I", "II", "V1"])
    with pytest.raises(ValueError, match="leads="):
        plot_ecg(x[:3], 500.0)
    with pytest.raises(ValueError, match="one record"):
        plot_ecg(np.stack([x, x]), 500.0)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        plot_ecg(bad, 500.0)
    with pytest.raises(ValueError, match="layout"):
        plot_ecg(x, 500.0, layout="6x2")
    with pytest.raises(ValueError, match="speed"):
        plot_ecg(x, 500.0, speed=0)


def test_plot_views_panels_share_the_scale() -> None:
    x = record(1000)
    gen = torch.Generator().manual_seed(0)
    for views, n_rows in (
        (CMSC(rlm=0.5)(torch.from_numpy(x), generator=gen), 12),
        (Interleave()(torch.from_numpy(x)), 12),
        (SelfCut()(x), 12),
    ):
        fig = plot_views(x, views, 500.0)
        assert len(fig.axes) == 1 + len(views)
        scales = [_mm_per_unit(ax) for ax in fig.axes]
        for mm_x, mm_y in scales:
            assert mm_x == pytest.approx(25.0, rel=0.02) and mm_y == pytest.approx(5.0, rel=0.02)
        assert sum(len(ln.get_xdata()) > 1 for ln in fig.axes[0].lines) == n_rows
    # an interleaved view at fs/2 spans the full duration
    fig = plot_views(x, Interleave()(x), 500.0, show_leads=["I", "V6"])
    assert fig.axes[1].get_xlim()[1] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="names"):
        plot_views(x, Interleave()(x), 500.0, names=["a"])
    with pytest.raises(TypeError, match="non-empty"):
        plot_views(x, [], 500.0)


def test_plot_attention_mean_all_and_single_head() -> None:
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 12, 30))
    attn = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    fig = plot_attention(torch.from_numpy(attn), key_labels=None, query_labels=CANONICAL_LEADS)
    image = fig.axes[0].images[0]
    np.testing.assert_allclose(image.get_array(), attn.mean(0))
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(CANONICAL_LEADS)
    fig = plot_attention(attn, heads="all", max_cols=2)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 4
    for h, ax in enumerate(panels):
        np.testing.assert_allclose(ax.images[0].get_array(), attn[h])
    fig = plot_attention(attn[None], heads=-1)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), attn[3])
    fig = plot_attention(attn[0])
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), attn[0])


def test_plot_attention_errors() -> None:
    attn = np.full((2, 3, 3), 1 / 3)
    with pytest.raises(ValueError, match="heads, Nq, Nk"):
        plot_attention(np.ones(5))
    with pytest.raises(ValueError, match="key_labels"):
        plot_attention(attn, key_labels=["a"])
    with pytest.raises(IndexError):
        plot_attention(attn, heads=2)
    with pytest.raises(ValueError, match="heads"):
        plot_attention(attn, heads="max")
    bad = attn.copy()
    bad[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN"):
        plot_attention(bad)


def test_docs_figures_exist() -> None:
    for name in (
        "ptbxl_00001_paper",
        "views_selfcut",
        "views_cmsc",
        "views_interleave",
        "views_stochastic",
    ):
        path = REPO / "docs" / "img" / f"{name}.png"
        assert path.exists() and path.stat().st_size > 10_000, path
