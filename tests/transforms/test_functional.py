"""Functional preprocessing against scipy references and hand-derived signals."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
import torch

from ecgfm.transforms import functional as Fn
from ecgfm.transforms.functional._filters import median_filter_torch, median_kernel

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _walk(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Random-walk test signal (broadband with drift), float64."""
    return np.random.default_rng(seed).standard_normal(shape).cumsum(-1) * 0.05


def _tone(freq: float, fs: float, seconds: float, phase: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * fs)) / fs
    return np.sin(2 * np.pi * freq * t + phase)


def _to(x: np.ndarray, device: str, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.as_tensor(x, dtype=dtype, device=device)


# ----------------------------------------------------------------------------- resample

RATES = [(300, 500), (100, 500), (500, 250), (500, 360), (250, 500), (257, 500)]


@pytest.mark.parametrize(("fs_in", "fs_out"), RATES)
@pytest.mark.parametrize("device", DEVICES)
def test_polyphase_matches_resample_poly(fs_in: int, fs_out: int, device: str) -> None:
    x = _walk((2, 3, 1001))
    up, down = Fn.resample_ratio(fs_in, fs_out)
    assert math.gcd(up, down) == 1 and up / down == pytest.approx(fs_out / fs_in, rel=1e-12)
    ref = scipy.signal.resample_poly(x, up, down, axis=-1)
    out_np = Fn.resample(x, fs_in, fs_out, "polyphase")
    np.testing.assert_allclose(out_np, ref, rtol=0, atol=1e-12)
    out_t = Fn.resample(_to(x, device), fs_in, fs_out, "polyphase")
    assert out_t.device.type == device and out_t.dtype == torch.float64
    assert out_t.shape[-1] == math.ceil(1001 * up / down)
    np.testing.assert_allclose(out_t.cpu().numpy(), ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize(("fs_in", "fs_out"), RATES)
@pytest.mark.parametrize("device", DEVICES)
def test_fft_matches_scipy_resample(fs_in: int, fs_out: int, device: str) -> None:
    for n_t in (1000, 1001):  # even and odd lengths exercise the unpaired Nyquist bin
        x = _walk((2, 3, n_t), seed=n_t)
        num = math.floor(n_t * fs_out / fs_in + 1e-9)
        ref = scipy.signal.resample(x, num, axis=-1)
        np.testing.assert_allclose(Fn.resample(x, fs_in, fs_out, "fft"), ref, atol=1e-12)
        out_t = Fn.resample(_to(x, device), fs_in, fs_out, "fft")
        assert out_t.shape == (2, 3, num)
        np.testing.assert_allclose(out_t.cpu().numpy(), ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", ["polyphase", "fft"])
def test_resample_float32_torch_close_to_scipy_float32(method: str) -> None:
    x = _walk((4, 1500)).astype(np.float32)
    ref = Fn.resample(x, 300, 500, method)  # scipy
    out = Fn.resample(torch.from_numpy(x), 300, 500, method)
    assert ref.dtype == np.float32 and out.dtype == torch.float32
    scale = np.abs(ref).max()
    np.testing.assert_allclose(out.numpy(), ref, rtol=0, atol=2e-6 * scale)


@pytest.mark.parametrize("method", ["polyphase", "fft"])
def test_resample_round_trip_band_limited(method: str) -> None:
    fs = 500
    # Tones below 40 Hz, periodic over the 10 s window (FFT resampling assumes periodicity).
    x = np.stack([_tone(f, fs, 10.0, phase=p) for f, p in [(1.0, 0.1), (7.3, 1.0), (31.0, 2)]])
    back = Fn.resample(Fn.resample(x, fs, 250, method), 250, fs, method)
    assert back.shape == x.shape
    inner = slice(250, -250)  # polyphase zero-pads the ends
    tol = 1e-9 if method == "fft" else 2e-3
    np.testing.assert_allclose(back[:, inner], x[:, inner], atol=tol)


def test_resample_same_rate_is_a_copy() -> None:
    x = _walk((2, 100))
    out = Fn.resample(x, 500, 500)
    np.testing.assert_array_equal(out, x)
    assert out is not x
    t = torch.from_numpy(x)
    out_t = Fn.resample(t, 500.0, 500)
    assert torch.equal(out_t, t) and out_t.data_ptr() != t.data_ptr()


def test_resample_ratio_examples_and_error() -> None:
    assert Fn.resample_ratio(300, 500) == (5, 3)
    assert Fn.resample_ratio(500, 250) == (1, 2)
    assert Fn.resample_ratio(44100, 48000) == (160, 147)
    with pytest.raises(ValueError, match="method='fft'"):
        Fn.resample_ratio(500, 500 * math.sqrt(2))
    with pytest.raises(ValueError, match="positive"):
        Fn.resample_ratio(500, 0)


def test_resample_batch_equals_per_record() -> None:
    x = torch.from_numpy(_walk((3, 2, 800)))
    for method in ("polyphase", "fft"):
        batch = Fn.resample(x, 500, 300, method)
        for b in range(3):
            torch.testing.assert_close(batch[b], Fn.resample(x[b], 500, 300, method))


# ----------------------------------------------------------------------------- IIR filters


def _sos(order: int, wn: float | list[float], btype: str, fs: float) -> np.ndarray:
    return scipy.signal.butter(order, wn, btype=btype, fs=fs, output="sos")


FILTER_CASES = [
    ("bandpass", dict(low=0.67, high=40.0, order=4), _sos(4, [0.67, 40.0], "bandpass", 500)),
    ("bandpass", dict(low=0.5, high=100.0, order=2), _sos(2, [0.5, 100.0], "bandpass", 500)),
    ("highpass", dict(cutoff=0.67, order=5), _sos(5, 0.67, "highpass", 500)),
    ("lowpass", dict(cutoff=40.0, order=5), _sos(5, 40.0, "lowpass", 500)),
]


@pytest.mark.parametrize(("name", "kwargs", "sos"), FILTER_CASES)
@pytest.mark.parametrize("device", DEVICES)
def test_butterworth_matches_sosfiltfilt(name: str, kwargs: dict, sos: np.ndarray, device: str):
    x = _walk((2, 3, 2000)) + 1.5  # DC offset exercises the steady-state initial conditions
    ref = scipy.signal.sosfiltfilt(sos, x, axis=-1)
    fn = getattr(Fn, name)
    np.testing.assert_allclose(fn(x, 500, **kwargs), ref, rtol=0, atol=1e-12)
    out = fn(_to(x, device), 500, **kwargs)
    assert out.device.type == device and out.dtype == torch.float64
    np.testing.assert_allclose(out.cpu().numpy(), ref, rtol=0, atol=1e-9)
    out32 = fn(_to(x, device, torch.float32), 500, **kwargs)
    assert out32.dtype == torch.float32
    np.testing.assert_allclose(out32.cpu().numpy(), ref, rtol=0, atol=1e-5 * np.abs(ref).max())


@pytest.mark.parametrize(("freq", "q", "fs"), [(50.0, 30.0, 500.0), (60.0, 30.0, 360.0)])
@pytest.mark.parametrize("device", DEVICES)
def test_notch_matches_filtfilt(freq: float, q: float, fs: float, device: str) -> None:
    x = _walk((3, 1500)) + 0.7
    b, a = scipy.signal.iirnotch(freq, q, fs=fs)
    ref = scipy.signal.filtfilt(b, a, x, axis=-1)
    np.testing.assert_allclose(Fn.notch(x, fs, freq, q), ref, atol=1e-12)
    np.testing.assert_allclose(Fn.notch(_to(x, device), fs, freq, q).cpu().numpy(), ref, atol=1e-9)


@pytest.mark.parametrize("as_torch", [False, True])
def test_bandpass_keeps_10hz_sine(as_torch: bool) -> None:
    x = 1.3 * _tone(10.0, 500, 10.0)[None]
    out = Fn.bandpass(torch.from_numpy(x) if as_torch else x, 500)
    inner = np.asarray(out)[0, 500:-500]  # 1 s away from the edges
    # Least-squares fit of a*sin + b*cos (+ slow drift left by the 0.67 Hz edge transient).
    t = np.arange(500, 4500) / 500
    design = np.stack([np.sin(2 * np.pi * 10 * t), np.cos(2 * np.pi * 10 * t), t**0, t])
    a, b, *_ = np.linalg.lstsq(design.T, inner, rcond=None)[0]
    assert math.hypot(a, b) == pytest.approx(1.3, rel=0.01)
    assert math.atan2(b, a) == pytest.approx(0.3, abs=0.01)  # zero phase: no lag


@pytest.mark.parametrize("as_torch", [False, True])
def test_60hz_tone_removed_by_notch_and_attenuated_by_lowpass(as_torch: bool) -> None:
    fs = 500
    tone = _tone(60.0, fs, 10.0)[None]
    x = torch.from_numpy(tone) if as_torch else tone
    notched = np.asarray(Fn.notch(x, fs, freq=60.0))[0, 500:-500]
    assert np.abs(notched).max() < 0.01
    low = np.asarray(Fn.lowpass(x, fs, cutoff=40.0, order=4))[0, 500:-500]
    # Digital (bilinear) 4th-order Butterworth: |H|^2 = 1 / (1 + (tan(pi f/fs) / tan(pi fc/fs))^8),
    # and filtfilt applies |H|^2 once overall.
    ratio = math.tan(math.pi * 60 / fs) / math.tan(math.pi * 40 / fs)
    expected_gain = 1 / (1 + ratio**8)
    assert np.sqrt(2) * low.std() == pytest.approx(expected_gain, rel=0.02)


@pytest.mark.parametrize("as_torch", [False, True])
def test_highpass_removes_dc(as_torch: bool) -> None:
    x = 2.5 + 0.4 * _tone(8.0, 500, 8.0)[None]
    out = np.asarray(Fn.highpass(torch.from_numpy(x) if as_torch else x, 500))
    assert abs(out[0, 500:-500].mean()) < 1e-3
    assert np.sqrt(2) * out[0, 500:-500].std() == pytest.approx(0.4, rel=0.01)


def test_filters_preserve_type_dtype_and_batching() -> None:
    x = _walk((2, 3, 600)).astype(np.float32)
    out = Fn.bandpass(x, 500)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == x.shape
    batch = Fn.bandpass(torch.from_numpy(x), 500)
    for b in range(2):
        torch.testing.assert_close(batch[b], Fn.bandpass(torch.from_numpy(x[b]), 500))


def test_filter_errors_say_what_to_do() -> None:
    x = _walk((1, 1000))
    with pytest.raises(ValueError, match="Nyquist"):
        Fn.bandpass(x, 500, high=250.0)
    with pytest.raises(ValueError, match="low < high"):
        Fn.bandpass(x, 500, low=40.0, high=10.0)
    with pytest.raises(ValueError, match="order"):
        Fn.bandpass(x, 500, order=0)
    with pytest.raises(ValueError, match="edge padding"):
        Fn.bandpass(x[:, :27], 500)  # sosfiltfilt padlen of order 4 band-pass is 27
    with pytest.raises(ValueError, match="quality factor"):
        Fn.notch(x, 500, q=0)
    bad = x.copy()
    bad[0, 3] = np.nan
    with pytest.raises(ValueError, match="repair_nonfinite"):
        Fn.lowpass(bad, 500)
    with pytest.raises(TypeError, match="ADC"):
        Fn.highpass(np.zeros((1, 1000), dtype=np.int16), 500)


def test_shortest_accepted_length_is_padlen_plus_one() -> None:
    sos = _sos(4, [0.67, 40.0], "bandpass", 500)
    x = _walk((1, 28))
    np.testing.assert_allclose(
        Fn.bandpass(torch.from_numpy(x), 500).numpy(), scipy.signal.sosfiltfilt(sos, x), atol=1e-9
    )


# ----------------------------------------------------------------------------- baseline


@pytest.mark.parametrize("device", DEVICES)
def test_remove_baseline_matches_medfilt(device: str) -> None:
    x = _walk((2, 2, 1200))
    ref = x - np.stack([[scipy.signal.medfilt(row, 201) for row in rec] for rec in x])
    np.testing.assert_allclose(Fn.remove_baseline(x, 500, 201), ref, atol=1e-12)
    out = Fn.remove_baseline(_to(x, device), 500, 201)
    np.testing.assert_allclose(out.cpu().numpy(), ref, atol=1e-12)
    # default: 0.402 s = 201 samples at 500 Hz
    np.testing.assert_allclose(Fn.remove_baseline(x, 500), ref, atol=1e-12)


@pytest.mark.parametrize("mode", ["nearest", "mirror"])
def test_remove_baseline_edge_modes_match_ndimage(mode: str) -> None:
    x = _walk((3, 400))
    ref = x - scipy.ndimage.median_filter(x, size=(1, 31), mode=mode)
    np.testing.assert_allclose(Fn.remove_baseline(x, 100, 31, mode=mode), ref, atol=1e-12)
    out = Fn.remove_baseline(torch.from_numpy(x), 100, 31, mode=mode)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-12)


def test_remove_baseline_torch_chunking_is_exact() -> None:
    x = torch.from_numpy(_walk((2, 3, 500)))
    full = Fn.remove_baseline(x, 250, 51)
    blocks = x - median_filter_torch(x, 51, "zeros", max_elements=1000)  # many time blocks
    torch.testing.assert_close(blocks, full, rtol=0, atol=0)


def test_remove_baseline_removes_offset_and_keeps_spikes() -> None:
    x = np.full((1, 1000), 3.0)
    x[0, 50::100] += 1.0  # narrow spikes (1 sample) do not move a 51-sample median
    out = Fn.remove_baseline(x, 250, 51, mode="nearest")
    np.testing.assert_allclose(out[0, 51::100], 0.0, atol=1e-12)
    np.testing.assert_allclose(out[0, 50::100], 1.0, atol=1e-12)


def test_median_kernel_from_seconds() -> None:
    assert median_kernel(500, None, 0.402) == 201
    assert median_kernel(250, None, 0.402) == 101  # 100.5 -> 100 -> next odd
    assert median_kernel(500, None, None) == 201
    with pytest.raises(ValueError, match="odd"):
        median_kernel(500, 200, None)
    with pytest.raises(ValueError, match="not both"):
        median_kernel(500, 201, 0.4)
    with pytest.raises(ValueError, match="shorter kernel"):
        Fn.remove_baseline(_walk((1, 100)), 500, 201)


# ----------------------------------------------------------------------------- z-score


@pytest.mark.parametrize("device", DEVICES)
def test_zscore_all_and_lead(device: str) -> None:
    x = _walk((3, 4, 700)) * np.array([1.0, 3.0, 0.2, 8.0])[:, None] + 5.0
    out_all = Fn.zscore(x, "all")
    np.testing.assert_allclose(out_all.mean(axis=(-2, -1)), 0.0, atol=1e-12)
    np.testing.assert_allclose(out_all.std(axis=(-2, -1)), 1.0, atol=1e-6)
    ref = (x - x.mean((-2, -1), keepdims=True)) / (x.std((-2, -1), keepdims=True) + 1e-8)
    np.testing.assert_allclose(out_all, ref, atol=1e-12)
    out_lead = Fn.zscore(x, "lead")
    np.testing.assert_allclose(out_lead.mean(axis=-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(out_lead.std(axis=-1), 1.0, atol=1e-6)
    for mode, ref_out in (("all", out_all), ("lead", out_lead)):
        out_t = Fn.zscore(_to(x, device), mode)
        np.testing.assert_allclose(out_t.cpu().numpy(), ref_out, atol=1e-10)


def test_zscore_eps_goes_on_the_std() -> None:
    x = np.array([[1.0, -1.0] * 50])  # mean 0, std 1
    np.testing.assert_allclose(Fn.zscore(x, eps=1.0), x / 2.0)


def test_zscore_constant_lead_is_zero_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    x = _walk((3, 300)).astype(np.float32)
    x[1] = 0.1  # a flat (e.g. disconnected) lead
    with caplog.at_level(logging.WARNING):
        out = Fn.zscore(x, "lead")
        out_t = Fn.zscore(torch.from_numpy(x), "lead")
    assert np.all(out[1] == 0) and torch.all(out_t[1] == 0)
    assert "constant leads" in caplog.text
    assert np.isfinite(out).all()


# ----------------------------------------------------------------------------- crop / pad


def test_crop_modes_exact() -> None:
    x = np.arange(2 * 3 * 10, dtype=np.float64).reshape(2, 3, 10)
    np.testing.assert_array_equal(Fn.crop(x, 4), x[..., 3:7])
    np.testing.assert_array_equal(Fn.crop(x, 4, "start"), x[..., :4])
    np.testing.assert_array_equal(Fn.crop(x, 4, "end"), x[..., 6:])
    np.testing.assert_array_equal(Fn.crop(x, 4, start=5), x[..., 5:9])
    assert torch.equal(Fn.crop(torch.from_numpy(x), 4), torch.from_numpy(x[..., 3:7]))
    with pytest.raises(ValueError, match="pad it first"):
        Fn.crop(x, 11)
    with pytest.raises(ValueError, match=r"\[0, 6\]"):
        Fn.crop(x, 4, start=7)


def test_random_crop_per_record_and_seeded() -> None:
    x = torch.arange(8 * 2 * 100, dtype=torch.float32).reshape(8, 2, 100)
    a = Fn.crop(x, 30, "random", generator=torch.Generator().manual_seed(3))
    b = Fn.crop(x, 30, "random", generator=torch.Generator().manual_seed(3))
    c = Fn.crop(x, 30, "random", generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    starts = (a[:, 0, 0] - x[:, 0, 0]).long()
    assert len(set(starts.tolist())) > 1  # each record gets its own offset
    for i, s in enumerate(starts.tolist()):
        assert 0 <= s <= 70
        assert torch.equal(a[i], x[i, :, s : s + 30])
    # numpy input uses the same torch generator and the same offsets
    a_np = Fn.crop(x.numpy(), 30, "random", generator=torch.Generator().manual_seed(3))
    np.testing.assert_array_equal(a_np, a.numpy())


@pytest.mark.parametrize("mode", ["zero", "edge", "reflect"])
@pytest.mark.parametrize("side", ["end", "start", "both"])
def test_pad_matches_numpy_pad(mode: str, side: str) -> None:
    x = _walk((2, 3, 7))
    for length in (7, 10, 30):  # 30 needs several reflections
        extra = length - 7
        left = {"end": 0, "start": extra, "both": extra // 2}[side]
        np_mode = {"zero": "constant", "edge": "edge", "reflect": "reflect"}[mode]
        ref = np.pad(x, [(0, 0), (0, 0), (left, extra - left)], mode=np_mode)
        out = Fn.pad(x, length, mode, side=side)
        np.testing.assert_array_equal(out, ref)
        np.testing.assert_array_equal(Fn.pad(torch.from_numpy(x), length, mode, side=side), ref)


def test_pad_and_fit_length_errors_and_lengths() -> None:
    x = _walk((3, 50))
    with pytest.raises(ValueError, match="crop it instead"):
        Fn.pad(x, 40)
    with pytest.raises(ValueError, match="positive"):
        Fn.pad(x, -5)
    assert Fn.fit_length(x, 20).shape == (3, 20)
    assert Fn.fit_length(x, 80, pad_mode="edge").shape == (3, 80)
    assert Fn.fit_length(torch.from_numpy(x), 50).shape == (3, 50)
    np.testing.assert_array_equal(Fn.fit_length(x, 80)[:, 50:], 0.0)


# ----------------------------------------------------------------------------- windows


def test_window_starts() -> None:
    assert Fn.window_starts(25, 10, "all") == [0, 10, 15]
    assert Fn.window_starts(30, 10, "all") == [0, 10, 20]
    assert Fn.window_starts(25, 10, "disjoint") == [0, 10]
    assert Fn.window_starts(25, 10, "center") == [7]
    assert Fn.window_starts(25, 10, "first") == [0]
    assert Fn.window_starts(2500, 2250, "spaced", num=3) == [0, 125, 250]
    with pytest.raises(ValueError, match="pad it first"):
        Fn.window_starts(5, 10)


def test_extract_windows_record_major() -> None:
    x = np.arange(2 * 1 * 20, dtype=np.float32).reshape(2, 1, 20)
    w = Fn.extract_windows(x, 5, [0, 10, 15])
    assert w.shape == (6, 1, 5)
    np.testing.assert_array_equal(w[4], x[1, :, 10:15])
    w_t = Fn.extract_windows(torch.from_numpy(x), 5, [0, 10, 15])
    np.testing.assert_array_equal(w_t.numpy(), w)
    with pytest.raises(ValueError, match="do not fit"):
        Fn.extract_windows(x, 5, [16])
