"""Bad-input catalogue of ecgfm.plot: each mistake fails with the right error type and a message
that says what to do with the arguments of the plot function that was called."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from _catalogue import advice_test, unique_ids_test

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ecgfm.leads import CANONICAL_LEADS  # noqa: E402
from ecgfm.plot import plot_attention, plot_ecg, plot_views  # noqa: E402
from ecgfm.signal import ECGRecord  # noqa: E402
from ecgfm.transforms.views import View  # noqa: E402

L12 = CANONICAL_LEADS
FS = 500.0


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _ecg(n_ch: int = 12, n_t: int = 1000) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n_ch, n_t)).cumsum(-1) * 0.03).astype(np.float32)


def _with_nan() -> np.ndarray:
    x = _ecg()
    x[3, 10] = np.nan
    return x


def _attn(*shape: int) -> np.ndarray:
    return np.full(shape, 1.0 / shape[-1])


def _record() -> ECGRecord:
    return ECGRecord(_ecg(), FS, L12)


def _view(x: Any) -> View:
    return View(x, FS, L12)


# (id, call, expected exception, phrase of the message that says what to do)
BAD: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
    # --- plot_ecg: the signal
    ("ecg-no-fs", lambda: plot_ecg(_ecg()), ValueError, "pass fs="),
    ("ecg-1d-single-lead", lambda: plot_ecg(_ecg(1)[0], FS, ["I"]), ValueError, r"x\[None, :\]"),
    ("ecg-T-C-transposed", lambda: plot_ecg(_ecg().T, FS), ValueError, r"pass x\.T"),
    ("ecg-batch", lambda: plot_ecg(np.stack([_ecg(), _ecg()]), FS), ValueError, r"x\[i\]"),
    ("ecg-nan", lambda: plot_ecg(_with_nan(), FS), ValueError, "repair_nonfinite"),
    ("ecg-nan-torch", lambda: plot_ecg(torch.from_numpy(_with_nan()), FS), ValueError,
     "repair_nonfinite"),
    ("ecg-int16-adc", lambda: plot_ecg((_ecg() * 1000).astype(np.int16), FS), TypeError,
     "float millivolts"),
    ("ecg-complex", lambda: plot_ecg(_ecg().astype(np.complex64), FS), TypeError, "real signal"),
    ("ecg-bool", lambda: plot_ecg(_ecg() > 0, FS), TypeError, "float32 millivolts"),
    ("ecg-ragged-list", lambda: plot_ecg([[0.1, 0.2, 0.3], [0.1, 0.2]], FS, ["I", "II"]),
     TypeError, "rectangular"),
    ("ecg-empty", lambda: plot_ecg(np.zeros((12, 0), np.float32), FS), ValueError, "empty"),
    ("ecg-one-sample", lambda: plot_ecg(np.zeros((1, 1), np.float32), FS, ["I"]), ValueError,
     "longer recording"),
    ("ecg-fs-zero", lambda: plot_ecg(_ecg(), 0), ValueError, "positive"),
    ("ecg-fs-string", lambda: plot_ecg(_ecg(), "500"), TypeError, "number"),
    # --- plot_ecg: lead names
    ("ecg-unnamed-channels", lambda: plot_ecg(_ecg(3), FS), ValueError, r"pass leads=\[\.\.\.\]"),
    ("ecg-lead-count", lambda: plot_ecg(_ecg(3), FS, ["I", "II"]), ValueError,
     "one name per channel"),
    ("ecg-leads-string", lambda: plot_ecg(_ecg(1), FS, "I"), TypeError, r"\['I', 'II'\]"),
    ("ecg-unknown-lead", lambda: plot_ecg(_ecg(2), FS, ["I", "lead Z"]), ValueError,
     "Rename the channel"),
    ("ecg-record-other-fs", lambda: plot_ecg(_record(), 250.0), ValueError, "drop fs="),
    ("ecg-record-other-leads", lambda: plot_ecg(_record(), leads=L12[::-1]), ValueError,
     "drop leads="),
    # --- plot_ecg: layout and scale
    ("ecg-layout-unknown", lambda: plot_ecg(_ecg(), FS, layout="4x3"), ValueError,
     "'3x4', '6x2' or '12x1'"),
    ("ecg-3x4-not-12-leads", lambda: plot_ecg(_ecg(3), FS, ["I", "II", "V1"]), ValueError,
     "layout='12x1'"),
    ("ecg-6x2-not-12-leads", lambda: plot_ecg(_ecg(1), FS, ["I"], layout="6x2"), ValueError,
     "layout='12x1'"),
    ("ecg-3x4-too-short", lambda: plot_ecg(_ecg(12, 500), FS), ValueError,
     r"layout='12x1', or a faster paper speed \(speed=40"),
    ("ecg-rhythm-lead-unknown", lambda: plot_ecg(_ecg(), FS, rhythm_lead="V7"), ValueError,
     "choose among"),
    ("ecg-rhythm-lead-number", lambda: plot_ecg(_ecg(), FS, rhythm_lead=2), TypeError,
     "such as 'II' or None"),
    ("ecg-speed-zero", lambda: plot_ecg(_ecg(), FS, speed=0), ValueError, "speed must be"),
    ("ecg-gain-negative", lambda: plot_ecg(_ecg(), FS, gain=-10), ValueError, "gain must be"),
    ("ecg-gain-string", lambda: plot_ecg(_ecg(), FS, gain="10"), TypeError, "gain must be"),
    ("ecg-row-seconds-zero", lambda: plot_ecg(_ecg(), FS, row_seconds=0), ValueError,
     "row_seconds must be"),
    ("ecg-row-seconds-inf", lambda: plot_ecg(_ecg(), FS, row_seconds=float("inf")), ValueError,
     "row_seconds must be"),
    # --- plot_views
    ("views-single-view", lambda: plot_views(_ecg(), _view(_ecg()), FS), TypeError,
     r"\[view\]"),
    ("views-empty", lambda: plot_views(_ecg(), [], FS), TypeError, "non-empty list"),
    ("views-array-stack", lambda: plot_views(_ecg(), np.stack([_ecg(), _ecg()]), FS), TypeError,
     "non-empty list"),
    ("views-no-fs", lambda: plot_views(_ecg(), [_ecg()]), ValueError, "pass fs="),
    ("views-batched-view", lambda: plot_views(_ecg(), [_view(np.stack([_ecg()] * 2))], FS),
     ValueError, r"views\[0\]\.x\[i\]"),
    ("views-nan-in-view", lambda: plot_views(_ecg(), [_view(_with_nan())], FS), ValueError,
     r"views\[0\]\.x holds 1 NaN"),
    ("views-wrong-shape-array", lambda: plot_views(_ecg(), [_ecg(3)], FS), ValueError,
     r"View\(x, fs, leads\)"),
    ("views-transposed-view", lambda: plot_views(_ecg(), [torch.zeros(1000, 12)], FS),
     ValueError, r"pass x\.T"),
    ("views-names-count", lambda: plot_views(_ecg(), [_ecg()], FS, names=["a"]), ValueError,
     "one title per panel: 2"),
    ("views-names-string", lambda: plot_views(_ecg(), [_ecg()], FS, names="ab"), ValueError,
     "one title per panel"),
    ("views-show-leads-unknown", lambda: plot_views(_ecg(), [_ecg()], FS, show_leads=["Q"]),
     ValueError, "choose among"),
    ("views-show-leads-absent",
     lambda: plot_views(_ecg(2), [_ecg(2)], FS, ["I", "II"], show_leads=["V1"]), ValueError,
     r"choose among \['I', 'II'\]"),
    ("views-show-leads-string", lambda: plot_views(_ecg(), [_ecg()], FS, show_leads="I"),
     TypeError, r"list of lead names"),
    ("views-speed-zero", lambda: plot_views(_ecg(), [_ecg()], FS, speed=0), ValueError,
     "speed must be"),
    # --- plot_attention
    ("attn-1d", lambda: plot_attention(np.ones(5)), ValueError, r"\(heads, Nq, Nk\)"),
    ("attn-empty", lambda: plot_attention(np.ones((0, 3))), ValueError, r"got shape \(0, 3\)"),
    ("attn-maps-dict", lambda: plot_attention({"channel_self": [_attn(1, 4, 12, 12)]}),
     TypeError, r"maps\['channel_self'\]\[-1\]\[0\]"),
    ("attn-list-of-layers", lambda: plot_attention([_attn(2, 4, 12, 12)] * 2), ValueError,
     "pick one map"),
    ("attn-batch", lambda: plot_attention(_attn(2, 4, 12, 12)), ValueError, "pick one map"),
    ("attn-nan", lambda: plot_attention(np.full((3, 3), np.nan)), ValueError, "NaN/Inf"),
    ("attn-complex", lambda: plot_attention(_attn(3, 3).astype(np.complex64)), TypeError,
     "real attention weights"),
    ("attn-head-out-of-range", lambda: plot_attention(_attn(4, 3, 3), heads=4), IndexError,
     r"\[-4, 3\]"),
    ("attn-heads-word", lambda: plot_attention(_attn(4, 3, 3), heads="max"), ValueError,
     "'mean', 'all' or a head index"),
    ("attn-key-labels-count", lambda: plot_attention(_attn(3, 5), key_labels=["a"]), ValueError,
     r"key_labels has 1 entries for 5 tokens \(Nk"),
    ("attn-query-labels-string", lambda: plot_attention(_attn(3, 3), query_labels="abc"),
     TypeError, "must be a list of 3 labels"),
    ("attn-max-cols-zero", lambda: plot_attention(_attn(4, 3, 3), heads="all", max_cols=0),
     ValueError, "max_cols must be a positive integer"),
]  # fmt: skip


test_catalogue_ids_are_unique = unique_ids_test(BAD, at_least=40)


test_bad_plot_input_fails_with_advice = advice_test(BAD)


def test_plots_accept_what_users_plot() -> None:
    """The checks refuse mistakes only: z-scored model input, torch half precision, a leading
    batch of one, lead aliases and a 0-d fs are all plotted."""
    z = _ecg()
    z = (z - z.mean(-1, keepdims=True)) / z.std(-1, keepdims=True)
    assert plot_ecg(z * 40, FS).axes  # z-scored values are not mV, yet a plot may show them
    assert plot_ecg(torch.from_numpy(_ecg()).to(torch.bfloat16)[None], FS).axes
    assert plot_ecg(_ecg(2), np.float32(FS), ["MLII", "avr"], layout="12x1").axes
    assert plot_views(_record(), [_view(_ecg())], show_leads=["AVR"]).axes
    assert plot_attention(torch.from_numpy(_attn(1, 2, 3, 3)), heads="all").axes
