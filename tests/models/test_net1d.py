"""Net1D (ECGFounder backbone): structure facts, padding semantics, use_bn, validation, FLOPs."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ecgfm.leads import CANONICAL_LEADS
from ecgfm.models import create_model
from ecgfm.models.net1d import (
    ECGFOUNDER_NET1D_ARGS,
    Net1D,
    _Net1DBlock,
    _SameConv1d,
    _SameMaxPool1d,
    optimize_for_inference,
)

BN_PARAMS_FULL = 66_368  # weight + bias of every BatchNorm of the ECGFounder configuration


def _meta(name: str, **overrides: object) -> Net1D:
    with torch.device("meta"):
        model = create_model(name, **overrides)
    assert isinstance(model, Net1D)
    return model


def _n_params(model: nn.Module, *, trainable: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable)


def _small(seed: int = 0, **overrides: object) -> Net1D:
    torch.manual_seed(seed)
    model = create_model("net1d_small", **overrides)
    assert isinstance(model, Net1D)
    return model.eval()


# --- configuration facts ------------------------------------------------------------------------


def test_defaults_are_the_ecgfounder_configuration() -> None:
    assert ECGFOUNDER_NET1D_ARGS == {
        "in_channels": 12,
        "base_filters": 64,
        "ratio": 1,
        "filter_list": (64, 160, 160, 400, 400, 1024, 1024),
        "m_blocks_list": (2, 2, 2, 3, 3, 4, 4),
        "kernel_size": 16,
        "stride": 2,
        "groups_width": 16,
        "num_classes": 150,
        "use_bn": False,
        "use_do": False,
    }
    with torch.device("meta"):
        plain = Net1D()
    for key, value in ECGFOUNDER_NET1D_ARGS.items():
        assert getattr(plain, key) == value, key
    assert plain.in_leads == CANONICAL_LEADS
    assert plain.default_input_length == 5000
    assert plain.num_features == 1024


@pytest.mark.parametrize(
    ("name", "total", "without_head", "in_leads"),
    [
        ("net1d_ecgfounder", 30_819_014, 30_665_264, CANONICAL_LEADS),
        ("net1d_ecgfounder_lead1", 30_807_750, 30_654_000, ("I",)),
    ],
)
def test_parameter_counts_match_official(
    name: str, total: int, without_head: int, in_leads: tuple[str, ...]
) -> None:
    model = _meta(name)
    assert model.in_leads == in_leads
    assert _n_params(model) == total
    # BatchNorm layers exist (as in the official class) but are frozen when use_bn=False.
    assert _n_params(model, trainable=True) == total - BN_PARAMS_FULL
    assert _n_params(_meta(name, num_classes=0)) == without_head


def test_stage_lengths_for_5000_samples() -> None:
    model = _small()
    lengths = []
    hooks = [
        s.register_forward_hook(lambda m, i, o: lengths.append(o.shape[-1])) for s in model.stages
    ]
    with torch.no_grad():
        feats = model.forward_features(torch.randn(1, 12, 5000))
    for h in hooks:
        h.remove()
    assert lengths == [1250, 625, 313, 157, 79, 40, 20]
    assert feats.shape == (1, 64, 20)


@pytest.mark.parametrize("length", [1, 15, 16, 17, 999, 1000, 2250])
def test_any_length_gives_ceil_divided_output(length: int) -> None:
    model = _small()
    expected = -(-length // 2)  # stem
    for _ in model.stages:
        expected = -(-expected // 2)
    with torch.no_grad():
        assert model.forward_features(torch.randn(2, 12, length)).shape == (2, 64, expected)


def test_full_size_feature_map_and_embedding_shapes() -> None:
    model = _meta("net1d_ecgfounder_lead1")
    x = torch.empty(2, 1, 5000, device="meta")
    assert model.forward_features(x).shape == (2, 1024, 20)
    assert model.forward_embedding(x).shape == (2, 1024)
    assert model(x).shape == (2, 150)


def test_backbone_macs_about_1_15_g() -> None:
    """FLOPs of the 12-lead backbone on 12x5000, counted two independent ways."""
    model = _meta("net1d_ecgfounder", num_classes=0)
    x = torch.empty(1, 12, 5000, device="meta")
    hooked = 0

    def count(mod: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal hooked
        if isinstance(mod, nn.Conv1d):
            hooked += out.numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0]
        else:
            assert isinstance(mod, nn.Linear)
            hooked += out.numel() * mod.in_features

    hooks = [
        m.register_forward_hook(count)
        for m in model.modules()
        if isinstance(m, (nn.Conv1d, nn.Linear))
    ]
    counter = FlopCounterMode(display=False)
    with counter:
        model.forward_embedding(x)
    for h in hooks:
        h.remove()
    macs = counter.get_total_flops() // 2
    assert macs == hooked
    assert macs == 1_168_487_680  # 1.159 G in convolutions + 9.5 M in squeeze-excitation
    assert abs(macs / 1.15e9 - 1) < 0.03


# --- building blocks vs naive references --------------------------------------------------------


def _naive_same_conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, stride: int, groups: int):
    """Loop reference: zero "same" padding (left p // 2), then a strided grouped correlation."""
    k = w.shape[-1]
    length = x.shape[-1]
    out_len = -(-length // stride)
    total = max(0, (out_len - 1) * stride + k - length)
    xp = torch.cat(
        [x.new_zeros(*x.shape[:2], total // 2), x, x.new_zeros(*x.shape[:2], total - total // 2)],
        -1,
    )
    cin_g, cout_g = x.shape[1] // groups, w.shape[0] // groups
    out = torch.zeros(x.shape[0], w.shape[0], out_len, dtype=torch.float64)
    for o in range(w.shape[0]):
        g = o // cout_g
        for t in range(out_len):
            window = xp[:, g * cin_g : (g + 1) * cin_g, t * stride : t * stride + k]
            out[:, o, t] = (window.double() * w[o].double()).sum((1, 2)) + float(b[o])
    return out.float()


@pytest.mark.parametrize(("length", "stride", "groups"), [(37, 1, 1), (37, 2, 2), (40, 2, 4)])
def test_same_conv_matches_naive_reference(length: int, stride: int, groups: int) -> None:
    torch.manual_seed(1)
    conv = _SameConv1d(8, 8, kernel_size=5, stride=stride, groups=groups)
    x = torch.randn(2, 8, length)
    with torch.no_grad():
        got = conv(x)
    ref = _naive_same_conv(x, conv.weight.detach(), conv.bias.detach(), stride, groups)
    assert got.shape == (2, 8, -(-length // stride))
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


def test_same_max_pool_pads_with_zeros_like_the_official_code() -> None:
    x = -torch.arange(1.0, 6.0).view(1, 1, 5)  # [-1, -2, -3, -4, -5]
    out = _SameMaxPool1d(2)(x)
    # windows [-1, -2], [-3, -4], [-5, 0]: the zero pad wins in the last one
    assert out.tolist() == [[[-1.0, -3.0, 0.0]]]


@pytest.mark.parametrize(("c_in", "c_out"), [(4, 8), (4, 7), (8, 4)])
def test_shortcut_zero_pads_channels_front_then_back(c_in: int, c_out: int) -> None:
    block = _Net1DBlock(
        c_in, c_out, ratio=1, kernel_size=3, stride=2, groups=1, downsample=True,
        is_first_block=False, use_bn=False, use_do=False,
    )  # fmt: skip
    nn.init.zeros_(block.conv3.weight)
    nn.init.zeros_(block.conv3.bias)  # residual branch is exactly 0 -> output = shortcut
    x = torch.randn(1, c_in, 6)
    with torch.no_grad():
        out = block(x)
    pooled = F.max_pool1d(F.pad(x, (0, 1)), 2)  # length 6 -> 3 (even: no effective pad)
    front = (c_out - c_in) // 2
    expected = torch.zeros(1, c_out, 3)
    if c_out >= c_in:
        expected[:, front : front + c_in] = pooled
    else:
        expected = pooled[:, -front : -front + c_out]
    torch.testing.assert_close(out, expected)


def test_first_block_skips_pre_activation() -> None:
    model = _small()
    first, second = model.stages[0][0], model.stages[0][1]
    assert first.is_first_block and not second.is_first_block
    x = -torch.rand(1, first.in_channels, 50)  # Swish of a negative input is not identity
    with torch.no_grad():
        direct = first.conv1(x)
        seen = []
        h = first.conv1.register_forward_hook(lambda m, i, o: seen.append(i[0]))
        first(x)
        h.remove()
    torch.testing.assert_close(seen[0], x)
    torch.testing.assert_close(first.conv1(seen[0]), direct)


# --- use_bn semantics ---------------------------------------------------------------------------


def test_use_bn_false_norms_are_inert_frozen_and_not_saved() -> None:
    model = _small()
    norms = [m for n, m in model.named_modules() if "norm" in n.split(".")[-1]]
    assert len(norms) == 1 + 3 * sum(model.m_blocks_list)
    assert all(not p.requires_grad for m in norms for p in m.parameters())
    assert not any("norm" in k for k in model.state_dict())
    x = torch.randn(2, 12, 600)
    with torch.no_grad():
        before = model.forward_embedding(x)
        for m in norms:
            m.running_mean.fill_(3.0)
            m.weight.fill_(-2.0)
        after = model.forward_embedding(x)
    assert torch.equal(before, after)


def test_use_bn_false_rejects_bn_entries_on_strict_load() -> None:
    with_bn = _small(use_bn=True)
    without = _small(use_bn=False)
    with pytest.raises(RuntimeError, match=r"Unexpected key.*stem_norm\.weight"):
        without.load_state_dict(with_bn.state_dict())
    leftover = without.load_state_dict(with_bn.state_dict(), strict=False)
    assert "stem_norm.running_mean" in leftover.unexpected_keys


def test_use_bn_true_applies_running_statistics() -> None:
    model = _small(use_bn=True)
    assert any("norm3.running_var" in k for k in model.state_dict())
    assert all(p.requires_grad for p in model.parameters())
    x = torch.randn(2, 12, 600)
    with torch.no_grad():
        before = model.forward_embedding(x)
        model.stages[3][1].norm2.running_mean.add_(0.5)
        after = model.forward_embedding(x)
    assert not torch.allclose(before, after)


# --- interface, heads, modes --------------------------------------------------------------------


def test_forward_head_and_return_features() -> None:
    torch.manual_seed(0)
    model = _small(num_classes=5, return_features=True)
    x = torch.randn(3, 12, 1000)
    with torch.no_grad():
        logits, emb = model(x)
        assert logits.shape == (3, 5) and emb.shape == (3, 64)
        torch.testing.assert_close(emb, model.forward_features(x).mean(-1))
        torch.testing.assert_close(logits, model.head(emb))
        model.return_features = False
        torch.testing.assert_close(model(x), logits)


def test_no_head_forward_is_the_embedding_and_reset_classifier() -> None:
    model = _small()
    assert isinstance(model.head, nn.Identity)
    x = torch.randn(2, 12, 500)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.forward_embedding(x))
    model.reset_classifier(7)
    assert model.num_classes == 7 and model(x).shape == (2, 7)
    model.reset_classifier(0)
    assert isinstance(model.head, nn.Identity)
    with pytest.raises(ValueError, match="num_classes"):
        model.reset_classifier(-1)


def test_dropout_only_in_training() -> None:
    model = _small(use_do=True)
    x = torch.randn(2, 12, 500)
    with torch.no_grad():
        assert torch.equal(model.forward_embedding(x), model.forward_embedding(x))
        model.train()
        assert not torch.equal(model.forward_embedding(x), model.forward_embedding(x))


def test_verbose_logs_stage_shapes(caplog: pytest.LogCaptureFixture) -> None:
    model = _small(verbose=True)
    with caplog.at_level(logging.DEBUG, logger="ecgfm.models.net1d"), torch.no_grad():
        model.forward_features(torch.randn(1, 12, 5000))
    assert "stage 6 output (1, 64, 20)" in caplog.text


def test_in_leads() -> None:
    assert _small(in_channels=1).in_leads == ("I",)
    assert _small(in_channels=2, in_leads=["ii", "V5"]).in_leads == ("II", "V5")
    with pytest.raises(ValueError, match="pass in_leads"):
        _small(in_channels=3)
    with pytest.raises(ValueError, match="in_channels=1"):
        _small(in_channels=1, in_leads=("I", "II"))


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (torch.randn(2, 1, 500), ValueError, "expects 12 leads"),
        (torch.randn(2, 500, 12), ValueError, r"transpose"),
        (torch.randn(12, 500), ValueError, r"x\[None\]"),
        (torch.randint(0, 5, (2, 12, 500)), TypeError, "floating"),
        (torch.randn(2, 12, 500, dtype=torch.float64), TypeError, "does not match the weights"),
        (torch.randn(0, 12, 500), ValueError, "empty batch"),
    ],
)
def test_input_validation(x: torch.Tensor, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        _small().forward_embedding(x)


def test_bf16_input_accepted_under_autocast() -> None:
    model = _small()
    x = torch.randn(2, 12, 500)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.forward_embedding(x.bfloat16())
    assert out.shape == (2, 64) and torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"filter_list": (16, 32), "m_blocks_list": (1,)}, "same length"),
        ({"filter_list": (), "m_blocks_list": ()}, "non-empty"),
        ({"filter_list": (16, 24), "m_blocks_list": (1, 1)}, "multiple of groups_width"),
        ({"m_blocks_list": (2, 2, 0, 3, 3, 4, 4)}, ">= 1 block"),
        ({"kernel_size": 0}, "kernel_size must be a positive int"),
        ({"num_classes": -1}, "num_classes"),
        ({"ratio": 0}, "ratio"),
        ({"ratio": 0.3}, "bottleneck"),
    ],
)
def test_constructor_validation(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        create_model("net1d_small", **overrides)


# --- fast inference path ------------------------------------------------------------------------


def _randomise_bn(model: Net1D) -> None:
    gen = torch.Generator().manual_seed(5)
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm1d):
            c = mod.num_features
            mod.running_mean.copy_(0.3 * torch.randn(c, generator=gen))
            mod.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=gen))
            mod.weight.data.copy_(1 + 0.2 * torch.randn(c, generator=gen))
            mod.bias.data.copy_(0.2 * torch.randn(c, generator=gen))


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"use_bn": True},
        {"in_channels": 1},
        {"kernel_size": 5, "stride": 3},  # odd kernel: other padding branches
        {"kernel_size": 4},
        {"filter_list": (32, 16, 16, 48, 32, 64, 16)},  # narrowing blocks crop the shortcut
    ],
    ids=["default", "bn", "lead1", "k5s3", "k4", "narrowing"],
)
def test_fast_path_matches_reference_forward(overrides: dict[str, object]) -> None:
    model = _small(seed=2, **overrides)
    _randomise_bn(model)
    fast = optimize_for_inference(model)
    for length in (1000, 999, 17, 1):
        x = torch.randn(3, model.in_channels, length)
        with torch.no_grad():
            ref_map = model.forward_features(x)
            ref = model.forward_embedding(x)
        torch.testing.assert_close(fast.forward_features(x), ref_map, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(fast(x), ref, atol=1e-5, rtol=1e-5)


def test_fast_path_shares_weights_and_is_eval_only() -> None:
    model = _small()
    fast = optimize_for_inference(model)
    x = torch.randn(2, 12, 500)
    before = fast(x)
    with torch.no_grad():
        model.stages[6][3].conv3.bias.add_(1.0)
        torch.testing.assert_close(fast(x), model.forward_embedding(x), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(before, fast(x))
    with pytest.raises(RuntimeError, match="inference-only"):
        fast.train()
    with pytest.raises(ValueError, match="expects 12 leads"):
        fast(torch.randn(2, 1, 500))


def test_fast_path_bf16_autocast_close_to_fp32() -> None:
    model = _small(seed=3)
    x = torch.randn(4, 12, 5000)
    with torch.no_grad():
        ref = model.forward_embedding(x)
    out = optimize_for_inference(model, dtype=torch.bfloat16)(x)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert F.cosine_similarity(out, ref).min() > 0.999


def test_fast_path_falls_back_when_compile_fails(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_compile(fn, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    model = _small()
    fast = optimize_for_inference(model, compile=True, chunk_size=2)  # 2 = one full chunk
    x = torch.randn(2, 12, 500)
    with caplog.at_level(logging.WARNING, logger="ecgfm.models.net1d_inference"):
        out = fast(x)
    assert "no C++ compiler" in caplog.text
    with torch.no_grad():
        torch.testing.assert_close(out, model.forward_embedding(x), atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_fast_path_compiled_matches_reference() -> None:
    model = _small(seed=4)
    x = torch.randn(2, 12, 5000)
    with torch.no_grad():
        ref = model.forward_embedding(x)
    fast = optimize_for_inference(model, compile=True, chunk_size=2)  # 2 = one full chunk
    torch.testing.assert_close(fast(x), ref, atol=1e-5, rtol=1e-5)
    assert fast._compiled is not None  # compiled, no fallback to eager


def test_fast_path_validates_arguments() -> None:
    with pytest.raises(TypeError, match="Net1D"):
        optimize_for_inference(nn.Linear(2, 2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dtype"):
        optimize_for_inference(_small(), dtype=torch.int8)
