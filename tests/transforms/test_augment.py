"""Batched augmentations: invariants, exactness against naive references, seeding, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ecgfm.transforms import _random as R
from ecgfm.transforms.augment import (
    AddSine,
    AmplitudeScale,
    Augmentation,
    AugmentationPipeline,
    BaselineWander,
    Cutout,
    Flip,
    GaussianNoise,
    LeadErase,
    PartialSine,
    PartialWhiteNoise,
    PowerlineNoise,
    RandomBandPass,
    RandomDrop,
    TimeCrop,
    TimeShift,
    TimeWarp,
    artifact_ops,
    dual_view_ops,
    moco_ops,
)

FS = 500.0


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def all_ops(p: float = 1.0, fs: float = FS) -> list[Augmentation]:
    return [*dual_view_ops(fs, p), *moco_ops(fs, p), *artifact_ops(fs, p)]


def ecg_like(b: int, c: int, t: int, seed: int = 0) -> torch.Tensor:
    """Smooth random signals (sum of a few sines plus noise), in mV."""
    g = torch.Generator().manual_seed(seed)
    time = torch.arange(t, dtype=torch.float64) / FS
    freqs = torch.rand((b, c, 3, 1), generator=g, dtype=torch.float64) * 20 + 0.5
    amps = torch.rand((b, c, 3, 1), generator=g, dtype=torch.float64)
    x = (amps * torch.sin(2 * math.pi * freqs * time)).sum(2)
    return (x + 0.05 * torch.randn((b, c, t), generator=g, dtype=torch.float64)).float()


OP_IDS = [type(op).__name__ for op in all_ops()]


@pytest.mark.parametrize("op", all_ops(), ids=OP_IDS)
def test_shape_dtype_kind_and_finite(op: Augmentation) -> None:
    x = ecg_like(3, 12, 600)
    y = op(x, generator=gen())
    assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all()
    assert not torch.equal(y, x), "p=1 must change the signal"
    y_np = op(x[0].numpy(), generator=gen())
    assert isinstance(y_np, np.ndarray) and y_np.shape == (12, 600) and y_np.dtype == np.float32
    y64 = op(x.double(), generator=gen())
    assert y64.dtype == torch.float64


@pytest.mark.parametrize("op", all_ops(), ids=OP_IDS)
def test_same_seed_same_output_other_seed_differs(op: Augmentation) -> None:
    x = ecg_like(16, 12, 500)
    if isinstance(op, Flip):  # deterministic at p = 1: only its gate is random
        op = Flip(0.5)
    a, b = op(x, generator=gen(3)), op(x, generator=gen(3))
    assert torch.equal(a, b)
    c = op(x, generator=gen(4))
    assert not torch.equal(a, c)


@pytest.mark.parametrize("op", all_ops(p=0.0), ids=OP_IDS)
def test_p_zero_is_identity_and_input_untouched(op: Augmentation) -> None:
    x = ecg_like(2, 12, 400)
    before = x.clone()
    assert torch.equal(op(x, generator=gen()), x)
    assert torch.equal(x, before)


@pytest.mark.parametrize("op", all_ops(p=0.5), ids=OP_IDS)
def test_gate_is_per_record_and_leaves_others_bit_identical(op: Augmentation) -> None:
    x = ecg_like(64, 3, 200)
    y = op(x, generator=gen(1))
    changed = (y != x).flatten(1).any(1)
    # chosen records are exactly those of the gate drawn first from the same stream
    expected = torch.zeros(64, dtype=torch.bool)
    expected[R.gate(64, 0.5, gen(1))] = True
    assert not changed[~expected].any()
    assert 15 <= int(expected.sum()) <= 49  # Binomial(64, 0.5): ~6 sigma bounds


@pytest.mark.parametrize("op", all_ops(), ids=OP_IDS)
def test_inplace_matches_copy(op: Augmentation) -> None:
    x = ecg_like(3, 12, 300)
    ref = op(x, generator=gen(5))
    y = x.clone()
    with pytest.warns(DeprecationWarning, match=r"inplace=\.\.\.\) is deprecated.*op\.apply_"):
        out = op(y, generator=gen(5), inplace=True)
    assert torch.equal(out, ref) and torch.equal(y, ref)
    z = x.clone()
    assert op.apply_(z, gen(5)) is z and torch.equal(z, ref)  # the supported in-place call


@settings(max_examples=30, deadline=None)
@given(
    b=st.integers(1, 4),
    c=st.integers(1, 12),
    t=st.integers(24, 400),
    p=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**31),
    scale=st.floats(0.01, 100.0),
)
def test_property_finite_shape_for_any_shape(b, c, t, p, seed, scale) -> None:
    x = ecg_like(b, c, t, seed) * scale
    for op in all_ops(p):
        if isinstance(op, LeadErase) and c < 1:
            continue
        y = op(x, generator=gen(seed))
        assert y.shape == x.shape
        assert torch.isfinite(y).all(), type(op).__name__


def test_zero_signal_stays_finite() -> None:
    x = torch.zeros(2, 12, 300)
    for op in all_ops():
        assert torch.isfinite(op(x, generator=gen())).all(), type(op).__name__


def test_compose_equals_sequential_application() -> None:
    x = ecg_like(8, 12, 400)
    ops = dual_view_ops(FS, 0.5)
    g = gen(9)
    y = x
    for op in ops:
        y = op(y, generator=g)
    assert torch.equal(AugmentationPipeline(ops, fuse_remaps=False)(x, generator=gen(9)), y)
    # fused warp + crop: same draws, one interpolation instead of two
    fused = AugmentationPipeline(ops)(x, generator=gen(9))
    changed = (y != x).flatten(1).any(1)
    assert torch.equal((fused != x).flatten(1).any(1), changed)
    # (the signals carry white noise, which a second interpolation smooths a little more)
    assert float((fused - y).abs().mean()) < 5e-3 and float((fused - y).abs().max()) < 0.2


def test_fused_remap_composes_positions_exactly() -> None:
    # on a linear ramp, linear interpolation is exact: x(P(t)) = P(t) for both paths
    ramp = torch.arange(500, dtype=torch.float64).repeat(6, 2, 1)
    ops = [TimeWarp(1.0, strength=(0.2, 0.3)), TimeCrop(1.0, scale=(0.5, 0.7))]
    fused = AugmentationPipeline(ops)(ramp, generator=gen(1))
    g = gen(1)
    seq = ops[1](ops[0](ramp, generator=g), generator=g)
    torch.testing.assert_close(fused, seq, atol=1e-9, rtol=0)


# ---------------------------------------------------------------------- individual ops


def test_time_warp_and_crop_keep_length_and_reference() -> None:
    x = ecg_like(5, 4, 700).double()
    warp = TimeWarp(p=1.0, strength=(0.2, 0.4))
    y = warp(x, generator=gen(2))
    assert y.shape == x.shape
    assert torch.allclose(y[..., 0], x[..., 0]) and torch.allclose(y[..., -1], x[..., -1])
    g = gen(2)
    R.gate(5, 1.0, g)
    pos = warp.positions(5, 700, g)
    assert (pos.diff(dim=-1) > 0).all(), "warp must be monotone"
    ref = np.stack(
        [
            [np.interp(pos[i, 0].numpy(), np.arange(700), x[i, c].numpy()) for c in range(4)]
            for i in range(5)
        ]
    )
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-9)

    crop = TimeCrop(p=1.0, scale=(0.5, 0.8))
    y = crop(x, generator=gen(3))
    g = gen(3)
    R.gate(5, 1.0, g)
    pos = crop.positions(5, 700, g)
    span = pos[..., -1] - pos[..., 0]
    assert ((span >= 0.5 * 699 - 1e-9) & (span <= 0.8 * 699 + 1e-9)).all()
    ref = np.stack(
        [
            [np.interp(pos[i, 0].numpy(), np.arange(700), x[i, c].numpy()) for c in range(4)]
            for i in range(5)
        ]
    )
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-9)


def test_time_crop_full_scale_and_zero_warp_are_identity() -> None:
    x = ecg_like(2, 3, 300)
    torch.testing.assert_close(TimeCrop(1.0, scale=1.0)(x, generator=gen()), x)
    torch.testing.assert_close(TimeWarp(1.0, strength=0.0)(x, generator=gen()), x)


def test_time_shift_is_an_exact_integer_shift() -> None:
    n_t = 200
    x = torch.arange(1, n_t + 1, dtype=torch.float32).repeat(6, 2, 1)
    y = TimeShift(p=1.0, shift=(-0.3, 0.3))(x, generator=gen(4))
    for rec in y:
        nz = rec[0][rec[0] != 0]
        s = int(nz[0]) - 1  # first surviving value tells the shift
        shift = -s if s > 0 else int((rec[0] == 0).sum())
        expected = torch.zeros(n_t)
        if shift >= 0:
            expected[shift:] = x[0, 0, : n_t - shift]
        else:
            expected[:shift] = x[0, 0, -shift:]
        assert torch.equal(rec[0], expected) and torch.equal(rec[1], expected)
    yc = TimeShift(p=1.0, shift=(0.1, 0.1), circular=True)(x, generator=gen())
    assert torch.equal(yc, torch.roll(x, 20, dims=-1))


def test_cutout_zeroes_one_interval_of_all_leads() -> None:
    x = ecg_like(10, 12, 400) + 5.0  # no natural zeros
    y = Cutout(p=1.0, fraction=(0.1, 0.2))(x, generator=gen())
    for xr, yr in zip(x, y, strict=True):
        zero = (yr == 0).all(0)
        assert ((yr == 0).any(0) == zero).all(), "cut across all leads"
        idx = zero.nonzero().flatten()
        assert 40 <= idx.numel() <= 80 and (idx.diff() == 1).all()
        keep = ~zero
        assert torch.equal(yr[:, keep], xr[:, keep])


def test_lead_erase_erases_exact_count() -> None:
    x = ecg_like(20, 12, 100) + 5.0
    y = LeadErase(p=1.0, n_leads=(2, 4))(x, generator=gen())
    erased = (y == 0).all(-1)
    assert ((erased.sum(1) >= 2) & (erased.sum(1) <= 4)).all()
    assert torch.equal(y[~erased], x[~erased])


def test_flip_scale_drop() -> None:
    x = ecg_like(6, 12, 200)
    assert torch.equal(Flip(1.0)(x), -x)
    y = AmplitudeScale(1.0, scale=(0.5, 2.0))(x, generator=gen())
    ratio = y / x
    assert torch.allclose(ratio, ratio[:, :1, :1].expand_as(ratio), rtol=1e-5)
    assert ((ratio[:, 0, 0] >= 0.5) & (ratio[:, 0, 0] <= 2.0)).all()
    per_lead = AmplitudeScale(1.0, per_lead=True)(x, generator=gen()) / x
    assert not torch.allclose(per_lead[:, 0], per_lead[:, 1])
    xd = torch.ones(4, 12, 5000)
    drop = RandomDrop(1.0, rate=0.3)(xd, generator=gen())
    assert abs(float((drop == 0).float().mean()) - 0.3) < 0.01


def _snr_db(signal: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    return 10 * torch.log10(signal.double().var(-1) / noise.double().pow(2).mean(-1))


def test_gaussian_noise_hits_the_requested_snr() -> None:
    x = ecg_like(4, 12, 5000)
    y = GaussianNoise(1.0, snr_db=20.0)(x, generator=gen())
    snr = _snr_db(x, y - x)
    assert torch.allclose(snr, torch.full_like(snr, 20.0), atol=0.3)


def test_powerline_noise_frequency_and_snr() -> None:
    x = ecg_like(3, 12, 5000)
    y = PowerlineNoise(FS, 1.0, frequency=50.0, snr_db=25.0)(x, generator=gen())
    noise = (y - x).double()
    snr = _snr_db(x, noise)
    assert torch.allclose(snr, torch.full_like(snr, 25.0), atol=0.1)
    spec = torch.fft.rfft(noise).abs()
    freqs = torch.fft.rfftfreq(5000, 1 / FS)
    assert torch.allclose(freqs[spec.argmax(-1)], torch.tensor(50.0, dtype=freqs.dtype))


def test_baseline_wander_is_low_frequency() -> None:
    x = ecg_like(3, 12, 5000)
    y = BaselineWander(FS, 1.0)(x, generator=gen())
    window = torch.hann_window(5000, dtype=torch.float64)  # limits spectral leakage
    spec = torch.fft.rfft((y - x).double() * window).abs() ** 2
    freqs = torch.fft.rfftfreq(5000, 1 / FS)
    assert float(spec[..., freqs > 1.0].sum() / spec.sum()) < 1e-3


def test_sine_ops() -> None:
    x = ecg_like(3, 12, 2000) + 5.0
    y = AddSine(FS, 1.0, frequency=(2.0, 2.0))(x, generator=gen())
    spec = torch.fft.rfft((y - x).double()).abs()
    freqs = torch.fft.rfftfreq(2000, 1 / FS)
    assert torch.allclose(freqs[spec.argmax(-1)], torch.tensor(2.0, dtype=freqs.dtype))
    for op in (PartialSine(FS, 1.0, fraction=0.1), PartialWhiteNoise(1.0, fraction=0.1)):
        d = (op(x, generator=gen()) - x).abs().amax(1) > 0  # (B, T)
        for row in d:
            idx = row.nonzero().flatten()
            assert idx.numel() <= 200 and int(idx[-1] - idx[0]) < 200, type(op).__name__


@pytest.mark.parametrize("low,high", [(0.5, 40.0), (0.0, 25.0), (2.0, 10.0)])
def test_bandpass_gain_matches_zero_phase_butterworth(low: float, high: float) -> None:
    n_t, order = 5000, 2
    t = torch.arange(n_t, dtype=torch.float64) / FS
    tones = torch.tensor([0.2, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0], dtype=torch.float64)
    x = torch.sin(2 * math.pi * tones[:, None] * t)[None]  # (1, 7 tones, T)
    y = RandomBandPass(FS, 1.0, low_hz=low, high_hz=high, order=order)(x, generator=gen())
    core = slice(1000, 4000)  # away from the edges
    measured = y[0, :, core].pow(2).mean(-1).sqrt() / x[0, :, core].pow(2).mean(-1).sqrt()
    hp = 1 / (1 + (low / tones) ** (2 * order)) if low > 0 else torch.ones_like(tones)
    lp = 1 / (1 + (tones / high) ** (2 * order))
    expected = (hp * lp) ** 2
    assert torch.allclose(measured, expected, atol=0.02), (measured, expected)


def test_bandpass_edges_and_straight_lines() -> None:
    t = torch.arange(3000, dtype=torch.float64)
    line = (0.3 + 0.001 * t).repeat(2, 3, 1)
    # a zero-phase filter maps a straight line to DC gain x line: kept without a high-pass
    kept = RandomBandPass(FS, 1.0, low_hz=0.0, high_hz=30.0)(line, generator=gen())
    torch.testing.assert_close(kept, line, atol=1e-9, rtol=0)
    removed = RandomBandPass(FS, 1.0, low_hz=0.5, high_hz=30.0)(line, generator=gen())
    assert float(removed.abs().max()) < 1e-9
    # a 10 Hz tone with a large offset and drift: no wrap-around artifact at the edges
    tone = torch.sin(2 * math.pi * 10 * t / FS) + 5.0 + 0.002 * t
    y = RandomBandPass(FS, 1.0, low_hz=0.0, high_hz=40.0, order=4)(
        tone[None, None], generator=gen()
    )
    err = (y[0, 0] - tone).abs()
    # only the slope mismatch at the wrap remains: a few samples at each end, decaying fast
    # (without the line removal the 6 mV jump between the ends would ring across the record)
    assert float(err.max()) < 0.1 and float(err[50:-50].max()) < 0.005


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "factory",
    [
        lambda: AmplitudeScale(p=1.5),
        lambda: AmplitudeScale(p=-0.1),
        lambda: AmplitudeScale(p=float("nan")),
        lambda: AmplitudeScale(scale=(2.0, 1.0)),
        lambda: AmplitudeScale(scale=(0.0, 1.0)),
        lambda: TimeCrop(scale=(0.0, 0.5)),
        lambda: TimeCrop(scale=(0.5, 1.5)),
        lambda: TimeWarp(n_knots=1),
        lambda: RandomBandPass(FS, high_hz=(20.0, 250.0)),
        lambda: RandomBandPass(FS, low_hz=(0.5, 30.0), high_hz=(20.0, 40.0)),
        lambda: PowerlineNoise(100.0),
        lambda: PowerlineNoise(FS, harmonics=5),
        lambda: AddSine(-1.0),
        lambda: RandomDrop(rate=(0.0, 1.5)),
        lambda: LeadErase(n_leads=1.5),
    ],
)
def test_impossible_settings_raise(factory) -> None:
    with pytest.raises((ValueError, TypeError)):
        factory()


def test_bad_input_raises_clear_errors() -> None:
    op = GaussianNoise(1.0)
    x = ecg_like(2, 12, 100)
    bad = x.clone()
    bad[0, 3, 10] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        op(bad)
    with pytest.raises(TypeError, match="floating"):
        op(torch.ones(12, 100, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"x\[None, :\]"):
        op(torch.ones(100))
    with pytest.raises(ValueError, match=r"\(T, C\)"):
        op(torch.ones(100, 12))
    with pytest.raises(TypeError, match="Generator"):
        op(x, generator=0)
    with pytest.raises(ValueError, match="cannot erase"):
        LeadErase(1.0, n_leads=3)(ecg_like(1, 2, 50))
    with pytest.raises(ValueError, match="read-only"):
        ro = x.numpy().copy()
        ro.setflags(write=False)
        with pytest.warns(DeprecationWarning):
            op(ro, inplace=True)
    assert torch.isfinite(op(bad, check_finite=False)[1]).all()  # the check can be skipped


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu_with_cpu_generator() -> None:
    x = ecg_like(6, 12, 1000)
    for op in all_ops(0.5):
        cpu = op(x, generator=gen(11))
        cuda = op(x.cuda(), generator=gen(11))
        assert cuda.device.type == "cuda"
        torch.testing.assert_close(cuda.cpu(), cpu, atol=1e-4, rtol=1e-4)
