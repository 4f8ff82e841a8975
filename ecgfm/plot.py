"""Plots: ECG paper, records with their views, attention maps (needs ``pip install ecgfm[plot]``).

- :func:`plot_ecg`: a record on the familiar paper grid — 1 mm minor and 5 mm major squares,
  paper speed ``speed`` mm/s (default 25) and gain ``gain`` mm/mV (default 10), lead labels,
  a 1 mV calibration pulse, in the standard ``"3x4"`` or ``"6x2"`` layout with a rhythm strip,
  or one lead per row (``"12x1"``). Records longer than ``row_seconds`` (default 10 s) wrap
  onto further rows, as on paper. The figure is sized in millimetres, so saved at any dpi it
  prints at true scale.
- :func:`plot_views`: a record and its views side by side on the same time and voltage scale.
- :func:`plot_attention`: attention weights ``(heads, Nq, Nk)`` or ``(Nq, Nk)`` as heat maps.

All functions take signals in mV, return the ``matplotlib.figure.Figure`` and never call
``plt.show()``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ecgfm._lazy import is_tensor
from ecgfm.leads import CANONICAL_LEADS, normalize_lead_names
from ecgfm.signal import ECGRecord, as_signal, check_fs

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_attention", "plot_ecg", "plot_views"]

Layout = Literal["3x4", "6x2", "12x1"]
# rows x columns of the 12-lead grid layouts; leads fill the columns in order
_GRIDS = {"3x4": (3, 4), "6x2": (6, 2)}

_MINOR_COLOR = "#f6c8c8"
_MAJOR_COLOR = "#e88e8e"
_PAPER_COLOR = "#fff8f5"
_MM_PER_INCH = 25.4
_ROW_MM = 25.0  # height of one lead row at the default 10 mm/mV gain (2.5 mV)
_MIN_COLUMN_MM = 10.0  # narrowest column of a grid layout that fits its lead label
_MIN_PAPER_MM = 45.0  # narrowest paper of plot_ecg (the scale line below the traces fits)
_MIN_PANEL_MM = 36.0  # narrowest panel of plot_views (its title fits)


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("ecgfm.plot needs matplotlib: pip install 'ecgfm[plot]'") from e
    return plt


def _as_numpy(x: Any, what: str) -> np.ndarray:
    """Any array-like as a numpy array (torch tensors detached and moved to the CPU)."""
    if is_tensor(x):
        x = x.detach().cpu()
        half = x.is_floating_point() and x.element_size() < 4  # float16, bfloat16: no numpy dtype
        return (x.float() if half else x).numpy()
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError):
        arr = np.empty(0, dtype=object)
    if arr.dtype == object:
        raise TypeError(
            f"{what}: cannot read {type(x).__name__} as an array of numbers; pass a "
            "rectangular numpy array or torch tensor"
        )
    return arr


def _signal(
    x: Any, fs: Any, leads: Sequence[str] | None, what: str, arg: str = "x"
) -> tuple[np.ndarray, float, tuple[str, ...]]:
    """Validate one record ``(C, T)`` in mV (or an ECGRecord) for plotting.

    Returns the float64 signal ``(C, T)``, its sampling rate and lead names. Shape, lead and
    dtype checks are those of :func:`ecgfm.signal.as_signal` (without its amplitude check: a
    plot may show z-scored model input); integer and NaN input get plot-specific advice.
    """
    if isinstance(x, ECGRecord):
        if fs is not None and check_fs(fs) != x.fs:
            raise ValueError(
                f"{what}: {arg} is an ECGRecord at {x.fs:g} Hz but fs={fs!r} was passed; drop "
                "fs= (the record's own rate is used)"
            )
        if leads is not None and normalize_lead_names(leads) != x.leads:
            raise ValueError(
                f"{what}: {arg} is an ECGRecord with leads {list(x.leads)} but leads="
                f"{list(leads)} was passed; drop leads= (the record's own names are used)"
            )
        return x.signal.astype(np.float64), x.fs, x.leads
    arr = _as_numpy(x, what)
    if arr.dtype.kind in "iu":
        raise TypeError(
            f"{what}: {arg} holds integers (dtype {arr.dtype}), which look like raw ADC counts; "
            "plot float millivolts, e.g. ecgfm.signal.as_signal(x, fs, leads, gain=<ADC units "
            "per mV>)"
        )
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3:
        raise ValueError(
            f"{what}: {arg} is a batch of {arr.shape[0]} records (shape {arr.shape}); plot one "
            f"record (C, T) at a time, e.g. {arg}[i]"
        )
    if fs is None:
        raise ValueError(f"{what}: pass fs= (sampling rate in Hz) to place the time axis")
    if leads is None:
        n_ch = len(CANONICAL_LEADS)
        if arr.ndim == 2 and n_ch not in arr.shape:
            raise ValueError(
                f"{what}: {arg} has {arr.shape[0]} channels (shape {arr.shape}); pass leads=[...] "
                f"naming them (the default is the canonical {n_ch} leads)"
            )
        leads = CANONICAL_LEADS
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ValueError(
            f"{what}: {arg} holds {bad} NaN/Inf values; repair them before plotting (e.g. "
            "ecgfm.signal.repair_nonfinite(x), which sets them to 0) or drop the record"
        )
    sig = as_signal(
        arr,
        fs,
        leads,
        check_amplitude=False,
        allow_batch=False,
        min_samples=2,
        what=f"{what} ({arg})",
    )
    return np.asarray(sig, dtype=np.float64), check_fs(fs), normalize_lead_names(leads)


def _positive(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a positive number, got {type(v).__name__}: {v!r}")
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a positive, finite number, got {v!r}")
    return float(v)


def _pick_leads(name: str, wanted: Any, available: tuple[str, ...]) -> tuple[str, ...]:
    """Lead names chosen by argument ``name`` among ``available`` (aliases accepted)."""
    if isinstance(wanted, str) or not isinstance(wanted, Sequence):
        raise TypeError(f"{name} must be a list of lead names such as ['I', 'V1'], got {wanted!r}")
    try:
        picked = normalize_lead_names(wanted)
    except (TypeError, ValueError) as e:  # keep the diagnosis, replace the advice
        reason = str(e).split(";")[0]
        raise type(e)(f"{name}: {reason}; choose among {list(available)}") from None
    missing = [lead for lead in picked if lead not in available]
    if missing:
        raise ValueError(f"{name}: {missing} not among the leads; choose among {list(available)}")
    return picked


def _page_samples(n_t: int, fs: float, row_seconds: float | None) -> int:
    """Samples per row of paper: the whole record, or ``row_seconds`` if it is longer."""
    if row_seconds is None:
        return n_t
    return min(n_t, max(2, round(row_seconds * fs)))


def _grid_lines(lo: float, hi: float, step: float) -> np.ndarray:
    n = int(np.floor((hi - lo) / step + 1e-9))
    return lo + step * np.arange(n + 1)


def _paper(ax: Axes, x0: float, x1: float, y0: float, y1: float, speed: float, gain: float):
    """Turn ``ax`` (x in s, y in mV) into ECG paper: 1 mm minor, 5 mm major squares.

    The grid is drawn as two line collections (``gid`` ``"minor-grid"``/``"major-grid"``),
    much faster than hundreds of tick objects.
    """
    from matplotlib.collections import LineCollection

    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect(gain / speed)  # 1 s spans `speed` mm, 1 mV spans `gain` mm
    ax.set_facecolor(_PAPER_COLOR)
    for mm, color, width, gid in (
        (1.0, _MINOR_COLOR, 0.35, "minor-grid"),
        (5.0, _MAJOR_COLOR, 0.7, "major-grid"),
    ):
        xs = _grid_lines(x0, x1, mm / speed)
        ys = _grid_lines(y0, y1, mm / gain)
        segs = [((v, y0), (v, y1)) for v in xs] + [((x0, v), (x1, v)) for v in ys]
        lines = LineCollection(segs, colors=color, linewidths=width, zorder=0.5, gid=gid)
        ax.add_collection(lines, autolim=False)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _calibration(ax: Axes, t0: float, base: float, speed: float, color: str) -> float:
    """Draw a 1 mV, 0.2 s calibration pulse at ``t0``; return its width in seconds."""
    w = 5.0 / speed  # 5 mm wide
    ax.plot(
        [t0, t0 + w * 0.2, t0 + w * 0.2, t0 + w * 0.8, t0 + w * 0.8, t0 + w],
        [base, base, base + 1.0, base + 1.0, base, base],
        color=color,
        linewidth=0.8,
        gid="calibration",
    )
    return w


def _row_start_label(ax: Axes, x: float, base: float, seconds: float) -> None:
    """Start time of a wrapped row, under its calibration pulse."""
    ax.text(x, base - 0.45, f"{seconds:g} s", fontsize=6, color="#555555", gid="row-start")


def plot_ecg(
    x: Any,
    fs: float | None = None,
    leads: Sequence[str] | None = None,
    *,
    layout: Layout = "3x4",
    rhythm_lead: str | None = "II",
    row_seconds: float | None = 10.0,
    speed: float = 25.0,
    gain: float = 10.0,
    title: str | None = None,
    color: str = "black",
    linewidth: float = 0.6,
) -> Figure:
    """Plot one record on ECG paper.

    Args:
        x: one record ``(C, T)`` in mV (numpy, torch or an :class:`~ecgfm.signal.ECGRecord`,
            whose ``fs``/``leads`` are used).
        fs: sampling rate in Hz (required unless ``x`` is an ECGRecord).
        leads: channel names (default: the canonical 12 leads for 12 channels).
        layout: ``"3x4"`` — the standard printout: 4 columns of a quarter of the row each
            (I II III / aVR aVL aVF / V1 V2 V3 / V4 V5 V6, in the order of ``leads``) and a
            full-length rhythm strip of ``rhythm_lead``; ``"6x2"`` — 2 columns of 6 leads
            (limb leads, then chest leads) and the rhythm strip (both need 12 leads);
            ``"12x1"`` — every lead on its own row over the full length (any number of leads).
        rhythm_lead: lead of the rhythm strip in ``"3x4"``/``"6x2"`` (``None`` for none).
        row_seconds: longest row in seconds (default 10 s, one standard page). A longer record
            wraps like paper: page ``k`` holds seconds ``[k * row_seconds, (k + 1) *
            row_seconds)`` of the layout (every lead of ``"12x1"``, or the grid and its rhythm
            strip), pages stacked top to bottom, the first row of each labelled with its start
            time.
            In the grid layouts each column then spans ``row_seconds / columns``. ``None``:
            never wrap (one row as long as the record).
        speed: paper speed in mm/s; gain: mm per mV.
        title: figure title.

    Returns:
        The figure (one axes); 1 grid square is 1 mm when printed at the figure's size.
    """
    plt = _pyplot()
    arr, fs, names = _signal(x, fs, leads, "plot_ecg")
    speed, gain = _positive("speed", speed), _positive("gain", gain)
    if row_seconds is not None:
        row_seconds = _positive("row_seconds", row_seconds)
    if layout not in ("3x4", "6x2", "12x1"):
        raise ValueError(f"layout must be '3x4', '6x2' or '12x1', got {layout!r}")
    n_c, n_t = arr.shape
    n_rows, n_cols = _GRIDS.get(layout, (n_c, 1))
    if n_rows * n_cols != n_c:
        raise ValueError(
            f"layout {layout!r} needs 12 leads, got {n_c}; use layout='12x1' for other lead sets"
        )
    rhythm = None
    if n_cols > 1 and rhythm_lead is not None:
        if not isinstance(rhythm_lead, str):
            raise TypeError(
                f"rhythm_lead must be a lead name such as 'II' or None, got {rhythm_lead!r}"
            )
        rhythm = names.index(_pick_leads("rhythm_lead", [rhythm_lead], names)[0])
    per_page = _page_samples(n_t, fs, row_seconds)
    col_mm = per_page / fs / n_cols * speed
    if n_cols > 1 and col_mm < _MIN_COLUMN_MM:
        raise ValueError(
            f"plot_ecg: {per_page / fs:g} s rows give {col_mm:.1f} mm columns in layout "
            f"{layout!r}, too narrow for the lead labels; use layout='12x1', or a faster paper "
            f"speed (speed={math.ceil(speed * _MIN_COLUMN_MM / col_mm):g} or more)"
        )
    starts = range(0, n_t, per_page)
    rows_per_page = n_rows + (rhythm is not None)
    # (channel, row, first sample, end sample, x position of the first sample, column > 0)
    placements: list[tuple[int, int, int, int, float, bool]] = []
    for page, start in enumerate(starts):
        stop = min(start + per_page, n_t)
        bounds = [start + round(k * per_page / n_cols) for k in range(n_cols + 1)]
        for col in range(n_cols):
            a, b = min(bounds[col], stop), min(bounds[col + 1], stop)
            if b > a:
                for row in range(n_rows):
                    r = page * rows_per_page + row
                    placements.append((col * n_rows + row, r, a, b, (a - start) / fs, col > 0))
        if rhythm is not None:
            placements.append((rhythm, page * rows_per_page + n_rows, start, stop, 0.0, False))
    total_rows = len(starts) * rows_per_page
    row_mv = max(2.5, _ROW_MM / gain)  # 25 mm rows, at least 2.5 mV apart
    cal = 5.0 / speed  # calibration pulse width (s)
    x0 = -cal * 1.6
    x1 = max(per_page / fs, x0 + _MIN_PAPER_MM / speed)  # room for the scale line
    y1 = row_mv * 0.6
    y0 = y1 - row_mv * total_rows
    width_mm = (x1 - x0) * speed + 10
    height_mm = (y1 - y0) * gain + (12 if title else 6)
    fig = plt.figure(figsize=(width_mm / _MM_PER_INCH, height_mm / _MM_PER_INCH))
    ax = fig.add_axes(
        (5 / width_mm, 3 / height_mm, 1 - 10 / width_mm, (y1 - y0) * gain / height_mm)
    )
    _paper(ax, x0, x1, y0, y1, speed, gain)
    for row in range(total_rows):
        _calibration(ax, x0 + cal * 0.3, -row * row_mv, speed, color)
        if len(starts) > 1 and row % rows_per_page == 0:  # first row of each page
            start_s = starts[row // rows_per_page] / fs
            _row_start_label(ax, x0 + cal * 0.3, -row * row_mv, start_s)
    for ch, row, a, b, t0, later_column in placements:
        base = -row * row_mv
        t = t0 + np.arange(b - a) / fs
        ax.plot(t, arr[ch, a:b] + base, color=color, linewidth=linewidth, gid="trace")
        ax.text(t0 + 0.04, base + row_mv * 0.32, names[ch], fontsize=8, fontweight="bold")
        if later_column:
            ax.plot([t0, t0], [base - 0.25, base + 0.25], color=color, linewidth=0.8)
    ax.text(x1, y0 + 0.1, f"{speed:g} mm/s   {gain:g} mm/mV   {fs:g} Hz", fontsize=7, ha="right")
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 2 / height_mm, va="top")
    return fig


def _view_parts(view: Any, fs: Any, leads: Sequence[str] | None, what: str):
    if hasattr(view, "x") and hasattr(view, "fs") and hasattr(view, "leads"):
        return _signal(view.x, view.fs, view.leads, "plot_views", f"{what}.x")
    try:
        shape = tuple(np.shape(view))
    except ValueError:  # ragged: _signal says so
        shape = ()
    # (T, C) is left to _signal, which says "pass x.T"
    if leads is not None and len(shape) >= 2 and len(leads) not in shape[-2:]:
        raise ValueError(
            f"plot_views: {what} is an array of {shape[-2]} channels, but an array view takes the "
            f"record's {len(leads)} leads; pass it as a View(x, fs, leads) naming its own leads"
        )
    return _signal(view, fs, leads, "plot_views", what)


def plot_views(
    x: Any,
    views: Sequence[Any],
    fs: float | None = None,
    leads: Sequence[str] | None = None,
    *,
    show_leads: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    row_seconds: float | None = 10.0,
    speed: float = 12.5,
    gain: float = 5.0,
    title: str | None = None,
    color: str = "black",
    linewidth: float = 0.5,
) -> Figure:
    """Plot a record and its views side by side, one lead per row, on one paper scale.

    Args:
        x: the record ``(C, T)`` in mV (numpy, torch or ECGRecord).
        views: its views: :class:`~ecgfm.transforms.views.View` objects (their own ``fs`` and
            ``leads`` are used, so an interleaved view at ``fs / 2`` spans the full duration and
            a single-lead view has one row) or arrays shaped like ``x``.
        fs, leads: of ``x`` (and of array views).
        show_leads: lead rows to draw (default: all leads of ``x``); a lead a view lacks is
            left empty, a lead zeroed by masking shows as a flat line.
        names: panel titles (default ``"record"``, ``"view 1"``, ...).
        row_seconds: longest row in seconds; a longer record or view wraps onto further rows
            (page-wise, as in :func:`plot_ecg`). ``None``: never wrap.
        speed, gain: paper scale in mm/s and mm/mV. The defaults, 12.5 mm/s and 5 mm/mV, are
            standard 25 mm/s, 10 mm/mV paper at half size (same waveform shape), so three
            10 s panels of 12 leads fit one screen; the scale is printed on the figure.

    Returns:
        The figure; every panel has the same mm/s and mm/mV scale.
    """
    plt = _pyplot()
    arr, fs_x, lead_names = _signal(x, fs, leads, "plot_views")
    speed, gain = _positive("speed", speed), _positive("gain", gain)
    if row_seconds is not None:
        row_seconds = _positive("row_seconds", row_seconds)
    if hasattr(views, "x") and hasattr(views, "fs"):
        raise TypeError("views must be a sequence of views; wrap a single view in a list: [view]")
    if isinstance(views, (str, bytes)) or not isinstance(views, Sequence) or not views:
        raise TypeError(
            f"views must be a non-empty list of View objects or arrays, got {type(views).__name__}"
        )
    panels = [(arr, fs_x, lead_names)]
    panels += [_view_parts(v, fs_x, lead_names, f"views[{i}]") for i, v in enumerate(views)]
    titles = (
        list(names)
        if names is not None
        else ["record"] + [f"view {i + 1}" for i in range(len(views))]
    )
    if isinstance(names, str) or len(titles) != len(panels):
        raise ValueError(
            f"names must list one title per panel: {len(panels)} (the record, then each view)"
        )
    known = tuple(dict.fromkeys(lead for _, _, v_leads in panels for lead in v_leads))
    rows = _pick_leads("show_leads", show_leads, known) if show_leads is not None else lead_names
    row_mv = max(2.5, _ROW_MM / gain)
    pages = [_page_samples(p[0].shape[1], p[1], row_seconds) for p in panels]
    n_pages = [-(-p[0].shape[1] // per) for p, per in zip(panels, pages, strict=True)]
    # a panel shorter than its title gets blank paper after the trace (the scale is kept)
    widths_mm = [
        max(per / p[1] * speed, _MIN_PANEL_MM) for p, per in zip(panels, pages, strict=True)
    ]
    heights_mm = [n * len(rows) * row_mv * gain for n in n_pages]
    narrow = min(widths_mm) < 50.0  # panel titles on three lines
    gap, side, bottom = 4.0, 3.0, 6.0
    top = (12.5 if narrow else 9.0) + (6.0 if title else 0.0)
    fig_w = max(sum(widths_mm) + gap * (len(panels) - 1) + 2 * side, 2 * _MIN_PANEL_MM + 10)
    fig_h = max(heights_mm) + top + bottom
    fig = plt.figure(figsize=(fig_w / _MM_PER_INCH, fig_h / _MM_PER_INCH))
    left = side
    for (sig, fs_v, v_leads), title_v, w_mm, h_mm, per in zip(
        panels, titles, widths_mm, heights_mm, pages, strict=True
    ):
        box = (left / fig_w, (fig_h - top - h_mm) / fig_h, w_mm / fig_w, h_mm / fig_h)
        ax = fig.add_axes(box)
        left += w_mm + gap
        y1 = row_mv * 0.5
        _paper(ax, 0.0, w_mm / speed, y1 - h_mm / gain, y1, speed, gain)
        starts = range(0, sig.shape[1], per)
        for page, start in enumerate(starts):
            t = np.arange(min(per, sig.shape[1] - start)) / fs_v
            for r, lead in enumerate(rows):
                base = -(page * len(rows) + r) * row_mv
                label = lead if len(starts) == 1 else f"{lead}  {start / fs_v:g} s"
                if lead in v_leads:
                    y = sig[v_leads.index(lead), start : start + len(t)] + base
                    ax.plot(t, y, color=color, linewidth=linewidth, gid="trace")
                    ax.text(0.03, base + row_mv * 0.22, label, fontsize=6, fontweight="bold")
                else:  # a lead this panel does not have: an empty row, labelled so
                    label = f"{label} (not in this {'view' if sig is not arr else 'record'})"
                    ax.text(0.03, base + row_mv * 0.22, label, fontsize=6, color="#888888")
        sep = "\n" if narrow else ", "
        ax.set_title(
            f"{title_v}\n{sig.shape[1]} samples, {fs_v:g} Hz{sep}{len(v_leads)} lead(s)",
            fontsize=7,
        )
    fig.text(
        1 - side / fig_w,
        1.5 / fig_h,
        f"all panels: {speed:g} mm/s, {gain:g} mm/mV (true scale at the figure size)",
        fontsize=6,
        ha="right",
        va="bottom",
    )
    if title:
        fig.suptitle(title, fontsize=9, y=1 - 1.5 / fig_h, va="top", wrap=True)
    return fig


def _token_ticks(
    ax: Axes, axis: Literal["x", "y"], labels: Sequence[str] | None, n: int, length_in: float
) -> None:
    """Label the tokens along ``axis``; every k-th one when they would not fit."""
    if labels is None:
        return
    fontsize = 7
    fit = max(1, int(length_in * 72 / (fontsize * 1.5)))  # label slots along the axis
    step = -(-n // fit)
    idx = list(range(0, n, step))
    texts = [str(labels[i]) for i in idx]
    if axis == "x":
        ax.set_xticks(idx, texts, fontsize=fontsize, rotation=90)
    else:
        ax.set_yticks(idx, texts, fontsize=fontsize)


def plot_attention(
    attn: Any,
    *,
    heads: Literal["mean", "all"] | int = "mean",
    query_labels: Sequence[str] | None = None,
    key_labels: Sequence[str] | None = None,
    title: str | None = None,
    cmap: str = "viridis",
    max_cols: int = 4,
) -> Figure:
    """Plot attention weights as heat maps (query rows, key columns).

    Works for any attention matrix, e.g. the Dual-View encoder's time, channel and
    cross-attention maps. Key labels are vertical; when there are more labels than fit, every
    k-th is shown. With several panels, tick labels are drawn on the left column and the bottom
    row only (all panels share the tokens) and one colour bar serves all.

    Args:
        attn: ``(Nq, Nk)`` or ``(heads, Nq, Nk)`` (numpy or torch; a leading batch dim of 1
            is dropped).
        heads: ``"mean"`` (average the heads), ``"all"`` (one panel per head) or a head index.
        query_labels, key_labels: tick labels (e.g. lead names for channel tokens); must
            match ``Nq`` / ``Nk``.
        title: figure title.
        cmap: matplotlib colormap.
        max_cols: panels per row with ``heads="all"``.
    """
    plt = _pyplot()
    if isinstance(attn, dict):
        raise TypeError(
            "plot_attention: attn is a dict (the maps of forward_with_attention?); pass one map, "
            "e.g. maps['channel_self'][-1][0] (last layer, first sample)"
        )
    a = _as_numpy(attn, "plot_attention")
    if a.dtype.kind not in "fiu":
        raise TypeError(f"plot_attention: expected real attention weights, got dtype {a.dtype}")
    a, shape = a.astype(np.float64), a.shape
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or 0 in a.shape:
        hint = (
            "; pick one map, e.g. maps['channel_self'][layer][i] for sample i of a batch"
            if a.ndim >= 4
            else ""
        )
        raise ValueError(
            f"plot_attention: expected (Nq, Nk) or (heads, Nq, Nk), got shape {shape}{hint}"
        )
    if not np.isfinite(a).all():
        raise ValueError(
            "plot_attention: the attention weights hold NaN/Inf; check the model's output "
            "(e.g. a fully masked row) before plotting"
        )
    n_heads, n_q, n_k = a.shape
    if heads == "mean":
        maps, labels = [a.mean(axis=0)], ["mean over heads" if n_heads > 1 else "attention"]
    elif heads == "all":
        maps, labels = list(a), [f"head {h}" for h in range(n_heads)]
    elif isinstance(heads, (int, np.integer)) and not isinstance(heads, bool):
        if not -n_heads <= heads < n_heads:
            raise IndexError(
                f"heads={heads} is out of range for {n_heads} heads; pass an index in "
                f"[{-n_heads}, {n_heads - 1}], 'mean' or 'all'"
            )
        maps, labels = [a[heads]], [f"head {int(heads) % n_heads}"]
    else:
        raise ValueError(f"heads must be 'mean', 'all' or a head index, got {heads!r}")
    for name, lab, n in (("query_labels", query_labels, n_q), ("key_labels", key_labels, n_k)):
        if lab is None:
            continue
        if isinstance(lab, str) or not isinstance(lab, Sequence):
            raise TypeError(f"{name} must be a list of {n} labels, got {type(lab).__name__}")
        if len(lab) != n:
            where = "Nq, rows" if name == "query_labels" else "Nk, columns"
            raise ValueError(
                f"{name} has {len(lab)} entries for {n} tokens ({where} of attn shaped "
                f"{a.shape[1:]})"
            )
    if isinstance(max_cols, bool) or not isinstance(max_cols, (int, np.integer)) or max_cols < 1:
        raise ValueError(f"max_cols must be a positive integer, got {max_cols!r}")
    n_cols = min(int(max_cols), len(maps))
    n_rows = -(-len(maps) // n_cols)
    panel_in = 2.8
    fig = plt.figure(
        figsize=(panel_in * n_cols + 1.4, panel_in * n_rows + (0.9 if title else 0.6)),
        layout="constrained",
    )
    grid = fig.subplots(n_rows, n_cols, squeeze=False)
    for ax in list(grid.flat)[len(maps) :]:
        ax.remove()
    used = list(grid.flat)[: len(maps)]
    vmin, vmax = min(m.min() for m in maps), max(m.max() for m in maps)
    image = None
    for i, (ax, m, lab) in enumerate(zip(used, maps, labels, strict=True)):
        image = ax.imshow(
            m, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest"
        )
        ax.set_title(lab, fontsize=8)
        ax.tick_params(labelsize=7)
        _token_ticks(ax, "y", query_labels, n_q, panel_in * 0.7)
        _token_ticks(ax, "x", key_labels, n_k, panel_in * 0.7)
        if i % n_cols == 0:
            ax.set_ylabel("query", fontsize=8)
        else:
            ax.tick_params(labelleft=False)
        if i + n_cols >= len(maps):  # no panel below
            ax.set_xlabel("key", fontsize=8)
        else:
            ax.tick_params(labelbottom=False)
    fig.colorbar(image, ax=used, shrink=0.8, label="attention weight")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
