"""Dual-View transformer: sizes, streams, cross-attention directions and attention maps."""

from __future__ import annotations

import math

import pytest
import torch
from _tolerance import close_after_reordering, network_reduction_lengths

from ecgfm.models import create_model, list_models
from ecgfm.models.dualview import ATTENTION_KINDS, DualViewTransformer, dualview_base

T = 100


def tiny(**kw) -> DualViewTransformer:
    torch.manual_seed(0)
    args = {
        "input_length": T,
        "embed_dim": 32,
        "num_heads": 2,
        "time_depth": 2,
        "channel_depth": 1,
        "cross_depth": 2,
        "channel_conv_channels": 4,
        "channel_stride": 2,
        "channel_kernel_size": 5,
    }
    return DualViewTransformer(**{**args, **kw}).eval()


def test_registered_configurations() -> None:
    assert {"dualview_base", "dualview_small"} <= set(list_models("dualview_*"))
    with torch.device("meta"):
        base = dualview_base()
        small = create_model("dualview_small")
    n_base = sum(p.numel() for p in base.parameters())
    assert n_base == 21_228_288 and abs(n_base - 21.5e6) / 21.5e6 < 0.02  # paper: ~21.5 M
    assert sum(p.numel() for p in small.parameters()) < 2e6
    assert base.default_input_length == small.default_input_length == 2500
    assert base.num_features == 384 and small.num_features == 128


def test_shapes_and_streams() -> None:
    model = tiny()
    x = torch.randn(3, 12, T)
    with torch.no_grad():
        feats = model.forward_features(x)
        t, c = model.forward_streams(x)
        emb = model.forward_embedding(x)
    assert feats.shape == (3, T + 12, 32) and t.shape == (3, T, 32) and c.shape == (3, 12, 32)
    torch.testing.assert_close(feats, torch.cat([t, c], dim=1))
    tp, cp = t.mean(1), c.mean(1)
    fused = model.fusion_norm(model.fusion(torch.cat([tp, cp], -1)) + tp + cp)
    torch.testing.assert_close(emb, fused)
    assert emb.shape == (3, 32) and model(x).shape == (3, 32)


def test_attention_maps_match_the_fused_path() -> None:
    model = tiny()
    x = torch.randn(2, 12, T)
    with torch.no_grad():
        emb = model.forward_embedding(x)
        emb2, maps = model.forward_with_attention(x)
    # explicit attention (to return the maps) vs the fused kernel, through the whole network
    close_after_reordering(emb2, emb, *network_reduction_lengths(model, tokens=T + 12))
    assert set(maps) == set(ATTENTION_KINDS)
    expected = {
        "time_self": (2, (2, 2, T, T)),
        "channel_self": (1, (2, 2, 12, 12)),
        "time_to_channel": (2, (2, 2, T, 12)),
        "channel_to_time": (2, (2, 2, 12, T)),
    }
    for kind, (layers, shape) in expected.items():
        assert len(maps[kind]) == layers
        for w in maps[kind]:
            assert w.shape == shape and torch.all(w >= 0)
            torch.testing.assert_close(w.sum(-1), torch.ones(shape[:-1]))


def test_first_time_map_equals_manual_softmax() -> None:
    model = tiny()
    x = torch.randn(1, 12, T)
    with torch.no_grad():
        _, maps = model.forward_with_attention(x)
        tokens = model.time_embed(x) + model.time_pos_embed
        block = model.time_blocks[0]
        q, k, _ = block.attn.qkv(block.norm1(tokens)).chunk(3, -1)
        q = q.view(1, T, 2, 16).transpose(1, 2)
        k = k.view(1, T, 2, 16).transpose(1, 2)
        manual = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(16), dim=-1)
    # the model's and the manual q, k: layer norm, projection over 32, q.k over 16, softmax
    close_after_reordering(maps["time_self"][0], manual, 32, 32, 16, T)


def test_cross_attention_directions() -> None:
    """Channel tokens read the time stream: perturbing one time step changes channel tokens;
    without cross layers they would be independent of the time stream."""
    model = tiny(cross_depth=1)
    x = torch.randn(1, 12, T)
    with torch.no_grad():
        t_in = model.time_embed(x) + model.time_pos_embed
        c_in = model.channel_embed(x)
        cross = model.cross_blocks[0]
        t_out, c_out = cross(t_in, c_in)
        t_bumped = t_in.clone()
        t_bumped[:, 7] += torch.randn(32)  # not a constant: the block starts with LayerNorm
        t_out2, c_out2 = cross(t_bumped, c_in)
        c_bumped = c_in.clone()
        c_bumped[:, 3] += torch.randn(32)
        t_out3, _ = cross(t_in, c_bumped)
    assert (c_out2 - c_out).abs().max() > 1e-4  # channel <- time
    assert (t_out3 - t_out).abs().max() > 1e-4  # time <- channel
    # Time token 20 changes only through cross-attention to the (unchanged) channel tokens.
    torch.testing.assert_close(t_out2[:, 20], t_out[:, 20])


def test_channel_stream_has_no_positional_encoding() -> None:
    """Channel tokens are permutation-equivariant in the leads (no lead positions)."""
    model = tiny()
    x = torch.randn(2, 12, T)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        c = model.channel_embed(x)
        c_perm = model.channel_embed(x[:, perm])
        h = c
        for block in model.channel_blocks:
            h = block(h)
        h_perm = c_perm
        for block in model.channel_blocks:
            h_perm = block(h_perm)
    torch.testing.assert_close(c_perm, c[:, perm])
    chain = network_reduction_lengths(model.channel_blocks, tokens=12)  # permuted sums
    close_after_reordering(h_perm, h[:, perm], *chain)


def test_time_stream_is_position_aware() -> None:
    model = tiny()
    x = torch.zeros(1, 12, T)
    with torch.no_grad():
        tokens = model.time_embed(x) + model.time_pos_embed
    # A constant input gives identical conv outputs away from the borders; positions differ.
    assert (tokens[0, 10] - tokens[0, 50]).abs().max() > 1e-2


def test_backward_reaches_every_parameter() -> None:
    model = tiny().train()
    model.forward_embedding(torch.randn(2, 12, T)).pow(2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (torch.randn(1, 12, T + 1), f"expects T = {T} samples"),
        (torch.randn(1, 8, T), "expects 12 leads"),
        (torch.randn(1, T, 12), r"looks like \(B, T, C\)"),
        (torch.randn(12, T), "add a batch axis"),
    ],
)
def test_input_validation(x: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tiny().forward_embedding(x)


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="must all be >= 1"):
        tiny(cross_depth=0)
    with pytest.raises(ValueError, match="odd"):
        tiny(time_kernel_size=4)
    with pytest.raises(ValueError, match="too short"):
        tiny(input_length=20, channel_stride=5)
