"""ecgfm.plot: paper scale, layouts, views panels, attention maps (Agg backend)."""

from __future__ import annotations

import itertools
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
        plot_ecg(x, 500.0, layout="4x3")
    with pytest.raises(ValueError, match="speed"):
        plot_ecg(x, 500.0, speed=0)


def test_plot_views_panels_share_the_scale() -> None:
    x = record(1000)
    gen = torch.Generator().manual_seed(0)
    for views, n_rows in (
        (CMSC(rlm=0.5, fs=500.0)(torch.from_numpy(x), generator=gen), 12),
        (Interleave(fs=500.0)(torch.from_numpy(x)), 12),
        (SelfCut(fs=500.0)(x), 12),
    ):
        fig = plot_views(x, views, 500.0, speed=25.0)
        assert len(fig.axes) == 1 + len(views)
        scales = [_mm_per_unit(ax) for ax in fig.axes]
        for mm_x, mm_y in scales:
            assert mm_x == pytest.approx(25.0, rel=0.02) and mm_y == pytest.approx(5.0, rel=0.02)
        assert sum(len(ln.get_xdata()) > 1 for ln in fig.axes[0].lines) == n_rows
    # an interleaved view at fs/2 spans the full duration
    fig = plot_views(x, Interleave(fs=500.0)(x), 500.0, show_leads=["I", "V6"])
    (first, *_) = _traces(fig.axes[1])
    assert len(first.get_xdata()) == 500 and first.get_xdata()[-1] == pytest.approx(2.0 - 1 / 250)
    with pytest.raises(ValueError, match="names"):
        plot_views(x, Interleave(fs=500.0)(x), 500.0, names=["a"])
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


# ----------------------------------------------------------------------------- readability


def _traces(ax) -> list:
    return [ln for ln in ax.lines if ln.get_gid() == "trace"]


def _overlap(a, b, tol: float = 0.5) -> bool:
    """Two pixel boxes share an area wider and taller than ``tol`` px."""
    return min(a.x1, b.x1) - max(a.x0, b.x0) > tol and min(a.y1, b.y1) - max(a.y0, b.y0) > tol


def _no_overlaps(boxes: list, what: str) -> None:
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not _overlap(boxes[i], boxes[j]), f"{what} {i} and {j} overlap"


def _walk(n_ch: int, n_t: int) -> np.ndarray:
    """Random-walk leads in mV: unlike the periodic test record, no two pieces are alike."""
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n_ch, n_t)).cumsum(-1) * 0.02).astype(np.float32)


def _matches(trace, x: np.ndarray, starts: list[int]) -> list[tuple[int, int]]:
    """(lead, first sample) of the pieces of ``x`` (float32) that ``trace`` draws, shifted to
    its row: the drawn values are the float32 samples plus one float64 offset, so the
    difference is constant to float64 rounding of numbers below 100."""
    y = np.asarray(trace.get_ydata(), dtype=np.float64)
    out = []
    for c in range(x.shape[0]):
        for a in starts:
            piece = x[c, a : a + len(y)].astype(np.float64)
            if len(piece) == len(y) and np.ptp(y - piece) < 1e-12:
                out.append((c, a))
    return out


@pytest.mark.parametrize("seconds,n_rows", [(30.0, 3), (25.0, 3), (10.0, 1)])
def test_plot_ecg_wraps_a_long_single_lead_record_into_rows(seconds: float, n_rows: int) -> None:
    fs = 300.0
    x = _walk(1, int(seconds * fs))
    fig = plot_ecg(x, fs, ["I"], layout="12x1")
    w_mm, h_mm = fig.get_size_inches() * 25.4
    # one row is at most 10 s of paper (250 mm at 25 mm/s) plus the calibration margin;
    # before wrapping a 30 s record was one 770 mm x 37 mm line (3000 x 145 px at 100 dpi)
    assert w_mm <= 10 * 25 + 25
    assert h_mm >= n_rows * 25
    ax = fig.axes[0]
    assert _mm_per_unit(ax) == pytest.approx((25.0, 10.0), rel=0.01)  # still true scale
    traces = _traces(ax)
    assert len(traces) == n_rows
    # consecutive 10 s pieces (the last one shorter), top to bottom, each starting at x = 0
    starts = [round(k * 10 * fs) for k in range(n_rows)]
    assert [_matches(ln, x, starts) for ln in traces] == [[(0, a)] for a in starts]
    assert sum(len(ln.get_xdata()) for ln in traces) == x.shape[1]
    assert all(ln.get_xdata()[0] == 0 and ln.get_xdata()[-1] < 10.0 for ln in traces)
    offsets = [ln.get_ydata()[0] - x[0, a] for ln, a in zip(traces, starts, strict=True)]
    assert all(b < a for a, b in itertools.pairwise(offsets))
    labels = [tx.get_text() for tx in ax.texts if tx.get_gid() == "row-start"]
    assert labels == ([f"{10 * k} s" for k in range(n_rows)] if n_rows > 1 else [])


def test_plot_ecg_of_a_30s_cinc_record_is_a_readable_page(data_dir: Path, tmp_path: Path) -> None:
    from ecgfm.data import read_wfdb

    rec = read_wfdb(data_dir / "cinc2017" / "A00001", rename={"ECG": "I"})
    assert rec.signal.shape == (1, 9000) and rec.fs == 300.0  # 30 s
    fig = plot_ecg(rec, layout="12x1", title="A00001")
    fig.savefig(tmp_path / "a00001.png", dpi=100)
    height, width = matplotlib.image.imread(tmp_path / "a00001.png").shape[:2]
    assert width <= 1100 and height >= 3 * 25 / 25.4 * 100  # three 10 s rows of 25 mm
    assert len(_traces(fig.axes[0])) == 3


@pytest.mark.parametrize(
    "layout,cols,rows_per_page", [("3x4", 4, 4), ("6x2", 2, 7), ("12x1", 1, 12)]
)
def test_plot_ecg_wraps_a_long_12_lead_record_page_by_page(
    layout: str, cols: int, rows_per_page: int
) -> None:
    x = _walk(12, 15000)  # 30 s at 500 Hz: three 10 s pages
    fig = plot_ecg(x, 500.0, layout=layout)
    ax = fig.axes[0]
    assert fig.get_size_inches()[0] * 25.4 <= 10 * 25 + 25
    n_cal = sum(ln.get_gid() == "calibration" for ln in ax.lines)
    assert n_cal == 3 * rows_per_page  # one calibration pulse per row
    traces = _traces(ax)
    assert len(traces) == 12 * 3 + (3 if cols > 1 else 0)  # + one rhythm strip per page
    # every lead of every page is drawn once per column slot, the strip over the full page
    col = 5000 // cols
    slots = [p * 5000 + k * col for p in range(3) for k in range(cols)]
    drawn = sorted(m for ln in traces if len(ln.get_xdata()) == col for m in _matches(ln, x, slots))
    rows_per_lead = 12 // cols
    expected = sorted(
        (c, p * 5000 + (c // rows_per_lead) * col) for p in range(3) for c in range(12)
    )
    assert drawn == expected
    if cols > 1:
        strips = [_matches(ln, x, [0, 5000, 10000]) for ln in traces if len(ln.get_xdata()) == 5000]
        assert strips == [[(1, 0)], [(1, 5000)], [(1, 10000)]]  # lead II, page after page
    labels = [tx.get_text() for tx in ax.texts]
    assert labels.count("I") == 3 and labels.count("V6") == 3
    page_starts = [tx.get_text() for tx in ax.texts if tx.get_gid() == "row-start"]
    assert page_starts == ["0 s", "10 s", "20 s"]


def test_plot_ecg_6x2_puts_limb_leads_left_and_chest_leads_right() -> None:
    x = _walk(12, 5000)
    fig = plot_ecg(x, 500.0, layout="6x2")
    traces = _traces(fig.axes[0])
    assert len(traces) == 13  # 12 half-length leads + the lead II rhythm strip
    left = sorted(m for ln in traces if ln.get_xdata()[0] == 0 for m in _matches(ln, x, [0]))
    right = [m for ln in traces if ln.get_xdata()[0] == 5.0 for m in _matches(ln, x, [2500])]
    assert sorted(right) == [(c, 2500) for c in range(6, 12)]  # V1..V6, second 5 s
    assert [c for c, _ in left if c != 1] + [1] == [0, 2, 3, 4, 5, 1]  # I..aVF (+ II strip)


def test_plot_ecg_row_seconds_none_keeps_one_row() -> None:
    fig = plot_ecg(record(15000)[:1], 500.0, ["I"], layout="12x1", row_seconds=None)
    assert len(_traces(fig.axes[0])) == 1
    assert fig.get_size_inches()[0] * 25.4 > 30 * 25  # 30 s at 25 mm/s


def test_plot_views_default_scale_fits_10s_views_and_is_printed() -> None:
    x = record(5000)  # 10 s
    fig = plot_views(x, Interleave(fs=500.0)(x), 500.0, title="interleave")
    # the default paper speed puts a 10 s strip on ~125 mm (~490 px at 100 dpi), not 250 mm
    for ax in fig.axes:
        mm_x, mm_y = _mm_per_unit(ax)
        assert mm_x * 10 <= 130
    assert fig.get_size_inches()[0] * 100 < 1600  # three 10 s panels
    # the scale written on the figure is the measured one
    scale = [t.get_text() for t in fig.texts if "mm/s" in t.get_text()]
    assert len(scale) == 1
    assert f"{round(mm_x, 2):g} mm/s" in scale[0] and f"{round(mm_y, 2):g} mm/mV" in scale[0]
    # the title is inside the figure and above the panel titles
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(r)
    assert title.y1 <= fig.bbox.y1 + 0.5 and title.y0 >= 0
    _no_overlaps([title] + [ax.title.get_window_extent(r) for ax in fig.axes], "titles")


def test_plot_views_wraps_long_records_and_views() -> None:
    fs = 300.0
    t = np.arange(9000) / fs
    x = np.sin(2 * np.pi * 1.3 * t)[None].astype(np.float32)  # 30 s, one lead
    views = CMSC(fs=fs, leads=["I"])(torch.from_numpy(x), generator=torch.Generator())
    fig = plot_views(x, views, fs, ["I"])
    assert [len(_traces(ax)) for ax in fig.axes] == [3, 2, 2]  # 30 s and two 15 s halves
    assert fig.get_size_inches()[0] * 25.4 <= 3 * (10 * 12.5 + 5) + 10
    for ax in fig.axes:
        assert _mm_per_unit(ax) == pytest.approx((12.5, 5.0), rel=0.02)


def _softmax(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    logits = np.random.default_rng(seed).standard_normal(shape)
    return np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)


def _dualview_maps() -> dict:
    from ecgfm.models import create_model

    torch.manual_seed(0)
    model = create_model("dualview_small", input_length=250).eval()
    with torch.no_grad():
        _, maps = model.forward_with_attention(torch.randn(1, 12, 250))
    return maps


@pytest.mark.parametrize(
    "source,kwargs",
    [
        ("channel", {"heads": "mean"}),
        ("channel", {"heads": "all"}),
        ("channel", {"heads": "all", "max_cols": 2}),
        ("channel", {"heads": "all", "max_cols": 3}),
        ("time_to_channel", {"heads": "all"}),
        ("channel_to_time", {"heads": 0}),
        ("many_labels", {"heads": "mean"}),
    ],
)
def test_plot_attention_labels_and_panels_do_not_overlap(source: str, kwargs: dict) -> None:
    leads = list(CANONICAL_LEADS)
    if source == "many_labels":
        attn = _softmax((2, 40, 300))
        labels = {"query_labels": [f"q{i}" for i in range(40)]}
        labels["key_labels"] = [f"t{i}" for i in range(300)]
    else:
        maps = _dualview_maps()
        key = {"channel": "channel_self"}.get(source, source)
        attn = maps[key][-1][0]
        n_q, n_k = attn.shape[-2:]
        labels = {
            "query_labels": leads if n_q == 12 else None,
            "key_labels": leads if n_k == 12 else None,
        }
    fig = plot_attention(attn, title="attention", **labels, **kwargs)
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    panels = [ax for ax in fig.axes if ax.images]
    for ax in panels:
        for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
            shown = [t for t in ticks if t.get_visible() and t.get_text()]
            _no_overlaps([t.get_window_extent(r) for t in shown], "tick labels")
    # panels with their labels and titles, the colour bar and the title: no overlaps, all inside
    boxes = [ax.get_tightbbox(r) for ax in fig.axes] + [fig._suptitle.get_window_extent(r)]
    _no_overlaps(boxes, "panels")
    for b in boxes:
        assert b.x0 >= -0.5 and b.y0 >= -0.5 and b.x1 <= fig.bbox.x1 + 0.5
        assert b.y1 <= fig.bbox.y1 + 0.5
    # every label that is shown names the token under it
    if labels["key_labels"] is not None:
        ax = panels[-1]
        for tick, text in zip(ax.get_xticks(), ax.get_xticklabels(), strict=True):
            assert text.get_text() == str(labels["key_labels"][int(tick)])


@pytest.mark.parametrize("n_t,layout,speed", [(300, "12x1", 25.0), (500, "3x4", 50.0)])
def test_plot_ecg_labels_of_a_short_record_fit(n_t: int, layout: str, speed: float) -> None:
    x = _walk(12, n_t) if layout == "3x4" else _walk(1, n_t)
    leads = None if layout == "3x4" else ["I"]
    fig = plot_ecg(x, 300.0 if layout == "12x1" else 500.0, leads, layout=layout, speed=speed)
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    ax = fig.axes[0]
    (scale,) = [t for t in ax.texts if "mm/s" in t.get_text()]
    box = scale.get_window_extent(r)
    assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 + 0.5  # the scale line is on the figure
    names = [t for t in ax.texts if t.get_text() in CANONICAL_LEADS]
    _no_overlaps([t.get_window_extent(r) for t in names] + [box], "labels")


@pytest.mark.parametrize("n_t", [100, 1000, 4000, 5000])
def test_plot_views_titles_and_scale_line_fit_short_views(n_t: int) -> None:
    x = _walk(12, n_t)
    views = CMSC(fs=500.0)(torch.from_numpy(x), generator=torch.Generator().manual_seed(0))
    fig = plot_views(x, views, 500.0, show_leads=["I", "V1"], title="short")
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    titles = [ax.title.get_window_extent(r) for ax in fig.axes]
    texts = [t.get_window_extent(r) for t in fig.texts]  # the scale line and the title
    _no_overlaps(titles + texts, "titles")
    for b in titles + texts:
        assert b.x0 >= -0.5 and b.x1 <= fig.bbox.x1 + 0.5 and b.y1 <= fig.bbox.y1 + 0.5
    for ax in fig.axes:  # blank paper may follow a short trace; the scale stays the same
        assert _mm_per_unit(ax) == pytest.approx((12.5, 5.0), rel=0.02)
