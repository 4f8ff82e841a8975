"""Plots: ECG paper, records with their views, attention maps (needs ``pip install ecgfm[plot]``).

- :func:`plot_ecg`: a record on the familiar paper grid — 1 mm minor and 5 mm major squares,
  paper speed ``speed`` mm/s (default 25) and gain ``gain`` mm/mV (default 10), lead labels,
  a 1 mV calibration pulse, in the standard ``"3x4"`` layout with a rhythm strip or one lead
  per row (``"12x1"``). The figure is sized in millimetres, so saved at any dpi it prints at
  true scale.
- :func:`plot_views`: a record and its views side by side on the same time and voltage scale.
- :func:`plot_attention`: attention weights ``(heads, Nq, Nk)`` or ``(Nq, Nk)`` as heat maps.

All functions return the ``matplotlib.figure.Figure`` and never call ``plt.show()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from ecgfm.leads import CANONICAL_LEADS, normalize_lead_names
from ecgfm.signal import ECGRecord, check_fs

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_attention", "plot_ecg", "plot_views"]

Layout = Literal["3x4", "12x1"]

_MINOR_COLOR = "#f6c8c8"
_MAJOR_COLOR = "#e88e8e"
_PAPER_COLOR = "#fff8f5"
_MM_PER_INCH = 25.4
_ROW_MM = 25.0  # height of one lead row at the default 10 mm/mV gain (2.5 mV)


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("ecgfm.plot needs matplotlib: pip install 'ecgfm[plot]'") from e
    return plt


def _as_numpy(x: Any, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise TypeError(f"{what}: expected a real numeric array, got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


def _signal(
    x: Any, fs: float | None, leads: Sequence[str] | None, what: str
) -> tuple[np.ndarray, float, tuple[str, ...]]:
    """Validate one record ``(C, T)`` (or an ECGRecord) for plotting."""
    if isinstance(x, ECGRecord):
        return x.signal.astype(np.float64), x.fs, x.leads
    arr = _as_numpy(x, what)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        hint = " (plot one record of a batch: x[i])" if arr.ndim == 3 else ""
        raise ValueError(f"{what}: expected one record (C, T), got shape {arr.shape}{hint}")
    if fs is None:
        raise ValueError(f"{what}: pass fs= (sampling rate in Hz) to place the time axis")
    fs = check_fs(fs)
    if leads is None:
        if arr.shape[0] != len(CANONICAL_LEADS):
            raise ValueError(
                f"{what}: {arr.shape[0]} channels; pass leads=[...] naming them (the default "
                "is the canonical 12 leads)"
            )
        leads = CANONICAL_LEADS
    names = normalize_lead_names(leads)
    if len(names) != arr.shape[0]:
        raise ValueError(
            f"{what}: {len(names)} lead names for {arr.shape[0]} channels (shape {arr.shape}); "
            "signals are channels first (C, T)"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"{what}: the signal holds NaN/Inf; repair or drop them before plotting")
    return arr, fs, names


def _check_scale(speed: float, gain: float) -> None:
    for name, v in (("speed", speed), ("gain", gain)):
        if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive number, got {v!r}")


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
    )
    return w


def plot_ecg(
    x: Any,
    fs: float | None = None,
    leads: Sequence[str] | None = None,
    *,
    layout: Layout = "3x4",
    rhythm_lead: str | None = "II",
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
        layout: ``"3x4"`` — the standard printout: 4 columns of T/4 each (I II III / aVR aVL
            aVF / V1 V2 V3 / V4 V5 V6, in the order of ``leads``), 3 rows, and a full-length
            rhythm strip of ``rhythm_lead`` (needs 12 leads); ``"12x1"`` — every lead on its
            own row over the full length (any number of leads).
        rhythm_lead: lead of the rhythm strip in ``"3x4"`` (``None`` for none).
        speed: paper speed in mm/s; gain: mm per mV.
        title: figure title.

    Returns:
        The figure; 1 grid square is 1 mm when printed at the figure's size.
    """
    plt = _pyplot()
    arr, fs, names = _signal(x, fs, leads, "plot_ecg")
    _check_scale(speed, gain)
    if layout not in ("3x4", "12x1"):
        raise ValueError(f"layout must be '3x4' or '12x1', got {layout!r}")
    n_c, n_t = arr.shape
    duration = n_t / fs
    row_mv = max(2.5, _ROW_MM / gain)  # 25 mm rows, at least 2.5 mV apart
    cal = 5.0 / speed  # calibration pulse width (s)
    if layout == "3x4":
        if n_c != 12:
            raise ValueError(
                f"layout '3x4' needs 12 leads, got {n_c}; use layout='12x1' for other lead sets"
            )
        rhythm = None
        if rhythm_lead is not None:
            (rname,) = normalize_lead_names([rhythm_lead])
            if rname not in names:
                raise ValueError(f"rhythm_lead {rhythm_lead!r} is not among the leads {names}")
            rhythm = names.index(rname)
        n_rows = 3 + (rhythm is not None)
        seg = n_t // 4
        placements = [
            (col * 3 + row, row, col * seg, (col + 1) * seg, col * seg / fs)
            for col in range(4)
            for row in range(3)
        ]
        if rhythm is not None:
            placements.append((rhythm, 3, 0, n_t, 0.0))
    else:
        n_rows = n_c
        placements = [(c, c, 0, n_t, 0.0) for c in range(n_c)]
    x0, x1 = -cal * 1.6, duration
    y1 = row_mv * 0.6
    y0 = y1 - row_mv * n_rows
    width_mm = (x1 - x0) * speed + 10
    height_mm = (y1 - y0) * gain + (12 if title else 6)
    fig = plt.figure(figsize=(width_mm / _MM_PER_INCH, height_mm / _MM_PER_INCH))
    ax = fig.add_axes(
        (5 / width_mm, 3 / height_mm, 1 - 10 / width_mm, (y1 - y0) * gain / height_mm)
    )
    _paper(ax, x0, x1, y0, y1, speed, gain)
    for row in range(n_rows):
        _calibration(ax, x0 + cal * 0.3, -row * row_mv, speed, color)
    for ch, row, a, b, t0 in placements:
        base = -row * row_mv
        t = t0 + np.arange(b - a) / fs
        ax.plot(t, arr[ch, a:b] + base, color=color, linewidth=linewidth)
        ax.text(t0 + 0.04, base + row_mv * 0.32, names[ch], fontsize=8, fontweight="bold")
        if layout == "3x4" and a > 0 and row < 3:
            ax.plot([t0, t0], [base - 0.25, base + 0.25], color=color, linewidth=0.8)
    ax.text(x1, y0 + 0.1, f"{speed:g} mm/s   {gain:g} mm/mV   {fs:g} Hz", fontsize=7, ha="right")
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 2 / height_mm, va="top")
    return fig


def _view_parts(view: Any, fs: float | None, leads: Sequence[str] | None, what: str):
    if hasattr(view, "x") and hasattr(view, "fs") and hasattr(view, "leads"):
        return _signal(view.x, view.fs, view.leads, what)
    return _signal(view, fs, leads, what)


def plot_views(
    x: Any,
    views: Sequence[Any],
    fs: float | None = None,
    leads: Sequence[str] | None = None,
    *,
    show_leads: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    speed: float = 25.0,
    gain: float = 5.0,
    title: str | None = None,
    color: str = "black",
    linewidth: float = 0.5,
) -> Figure:
    """Plot a record and its views side by side, one lead per row, on one paper scale.

    Args:
        x: the record ``(C, T)`` (numpy, torch or ECGRecord).
        views: its views: :class:`~ecgfm.transforms.views.View` objects (their own ``fs`` and
            ``leads`` are used, so an interleaved view at ``fs / 2`` spans the full duration and
            a single-lead view has one row) or arrays shaped like ``x``.
        fs, leads: of ``x`` (and of array views).
        show_leads: lead rows to draw (default: all leads of ``x``); a lead a view lacks is
            left empty, a lead zeroed by masking shows as a flat line.
        names: panel titles (default ``"record"``, ``"view 1"``, ...).
        speed, gain: paper scale in mm/s and mm/mV (default 5 mm/mV to fit 12 rows).

    Returns:
        The figure; every panel has the same mm/s and mm/mV scale.
    """
    plt = _pyplot()
    arr, fs_x, lead_names = _signal(x, fs, leads, "plot_views")
    _check_scale(speed, gain)
    if isinstance(views, (str, bytes)) or not isinstance(views, Sequence) or not views:
        raise TypeError("views must be a non-empty sequence of View objects or arrays")
    panels = [(arr, fs_x, lead_names)]
    panels += [_view_parts(v, fs_x, lead_names, f"view {i + 1}") for i, v in enumerate(views)]
    titles = (
        list(names)
        if names is not None
        else ["record"] + [f"view {i + 1}" for i in range(len(views))]
    )
    if len(titles) != len(panels):
        raise ValueError(f"names has {len(titles)} entries for {len(panels)} panels")
    rows = normalize_lead_names(show_leads) if show_leads is not None else lead_names
    row_mv = max(2.5, _ROW_MM / gain)
    durations = [p[0].shape[1] / p[1] for p in panels]
    widths_mm = [d * speed + 4 for d in durations]
    height_mm = row_mv * gain * len(rows) + 14
    fig = plt.figure(figsize=((sum(widths_mm) + 6) / _MM_PER_INCH, height_mm / _MM_PER_INCH))
    left = 3.0
    for (sig, fs_v, v_leads), title_v, w_mm, dur in zip(
        panels, titles, widths_mm, durations, strict=True
    ):
        ax = fig.add_axes(
            (
                left / (sum(widths_mm) + 6),
                3 / height_mm,
                (w_mm - 4) / (sum(widths_mm) + 6),
                row_mv * gain * len(rows) / height_mm,
            )
        )
        left += w_mm
        y1 = row_mv * 0.5
        _paper(ax, 0.0, dur, y1 - row_mv * len(rows), y1, speed, gain)
        t = np.arange(sig.shape[1]) / fs_v
        for r, lead in enumerate(rows):
            base = -r * row_mv
            ax.text(0.03, base + row_mv * 0.22, lead, fontsize=6, fontweight="bold")
            if lead in v_leads:
                ax.plot(t, sig[v_leads.index(lead)] + base, color=color, linewidth=linewidth)
        ax.set_title(
            f"{title_v}\n{sig.shape[1]} samples, {fs_v:g} Hz, {len(v_leads)} lead(s)", fontsize=7
        )
    if title:
        fig.suptitle(title, fontsize=9, y=1.0, va="bottom")
    return fig


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
    cross-attention maps.

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
    a = _as_numpy(attn, "plot_attention")
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or 0 in a.shape:
        raise ValueError(
            f"plot_attention: expected (Nq, Nk) or (heads, Nq, Nk), got shape {np.shape(attn)}"
        )
    if not np.isfinite(a).all():
        raise ValueError("plot_attention: the attention weights hold NaN/Inf")
    n_heads, n_q, n_k = a.shape
    if heads == "mean":
        maps, labels = [a.mean(axis=0)], ["mean over heads" if n_heads > 1 else "attention"]
    elif heads == "all":
        maps, labels = list(a), [f"head {h}" for h in range(n_heads)]
    elif isinstance(heads, (int, np.integer)) and not isinstance(heads, bool):
        if not -n_heads <= heads < n_heads:
            raise IndexError(f"head {heads} out of range for {n_heads} heads")
        maps, labels = [a[heads]], [f"head {int(heads) % n_heads}"]
    else:
        raise ValueError(f"heads must be 'mean', 'all' or a head index, got {heads!r}")
    for name, lab, n in (("query_labels", query_labels, n_q), ("key_labels", key_labels, n_k)):
        if lab is not None and len(lab) != n:
            raise ValueError(f"{name} has {len(lab)} entries for {n} tokens")
    if not isinstance(max_cols, int) or max_cols < 1:
        raise ValueError(f"max_cols must be a positive integer, got {max_cols!r}")
    n_cols = min(max_cols, len(maps))
    n_rows = -(-len(maps) // n_cols)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(3.2 * n_cols + 0.6, 3.0 * n_rows + 0.4), squeeze=False
    )
    vmin, vmax = min(m.min() for m in maps), max(m.max() for m in maps)
    image = None
    for ax, m, lab in zip(axes.flat, maps, labels, strict=False):
        image = ax.imshow(
            m, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest"
        )
        ax.set_title(lab, fontsize=8)
        ax.set_xlabel("key", fontsize=7)
        ax.set_ylabel("query", fontsize=7)
        for setter, lab_list, n in (
            (ax.set_yticks, query_labels, n_q),
            (ax.set_xticks, key_labels, n_k),
        ):
            if lab_list is not None:
                setter(range(n), [str(s) for s in lab_list], fontsize=6)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(maps) :]:
        ax.axis("off")
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
