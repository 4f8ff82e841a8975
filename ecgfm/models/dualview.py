"""Dual-View transformer (Ali, "Impact of view generation strategies on self-supervised
dual-view representation learning for 12-lead ECG").

An ECG ``(B, C, T)`` (the paper writes ``(T, C)``) is read twice:

- **time stream**: ``T`` tokens (one per sample) of dimension ``C``, up-sampled to width ``D``
  by a convolutional block (``Conv1d(C, D/2, k) -> GELU -> Conv1d(D/2, D, k)``, "same"
  padding, then LayerNorm), plus a fixed sin-cos positional encoding;
- **channel stream**: ``C`` tokens (one per lead) of dimension ``T``, down-sampled to ``D`` by a
  convolutional block shared by all leads (two strided ``Conv1d`` + GELU, flatten,
  ``Linear -> D``, LayerNorm). No positional encoding: leads have no order.

Each stream runs its own self-attention blocks, then ``cross_depth`` **bidirectional
cross-attention** layers exchange information (time tokens attend to channel tokens and
channel tokens to time tokens, both from the same input states, each followed by an MLP).
Both streams are mean-pooled and fused by an FFN with residual links from the pooled streams:
``z = LayerNorm(FFN([t; c]) + t + c)``.

Attention maps (self time, self channel, time -> channel, channel -> time) are returned by
:meth:`DualViewTransformer.forward_with_attention`; every other path uses fused attention.

The paper gives no layer sizes beyond "~21.5 M parameters", so the widths, depths, kernel
sizes and strides below are ecgfm's choices (all constructor arguments). ``dualview_base``
(21.2 M parameters at 12 x 2500) is the paper-sized model; ``dualview_small`` (1.5 M) is for
quick experiments. Default input: 12 leads x 2500 samples (5 s at 500 Hz), the length of the
paper's segment views (two halves or interleaved halves of 10 s, 5000-sample records).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ecgfm.leads import CANONICAL_LEADS, normalize_lead_names
from ecgfm.models._base import check_encoder_input
from ecgfm.models._registry import register_model
from ecgfm.models._vit import Block, CrossAttention, Mlp, drop_path_schedule, sincos_table

__all__ = ["DualViewTransformer", "dualview_base", "dualview_small"]

DUALVIEW_BASE_ARGS: dict[str, Any] = {
    "embed_dim": 384,
    "num_heads": 6,
    "time_depth": 4,
    "channel_depth": 4,
    "cross_depth": 1,
    "channel_conv_channels": 64,
}
DUALVIEW_SMALL_ARGS: dict[str, Any] = {
    "embed_dim": 128,
    "num_heads": 4,
    "time_depth": 2,
    "channel_depth": 2,
    "cross_depth": 1,
    "channel_conv_channels": 16,
}
ATTENTION_KINDS = ("time_self", "channel_self", "time_to_channel", "channel_to_time")


def _conv_out(length: int, kernel: int, stride: int, padding: int) -> int:
    return (length + 2 * padding - kernel) // stride + 1


class TimeEmbed(nn.Module):
    """Time tokens: ``(B, C, T) -> (B, T, D)`` (lead dimension up-sampled ``C -> D``)."""

    def __init__(self, num_leads: int, embed_dim: int, kernel_size: int) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"time_kernel_size must be odd and >= 1, got {kernel_size}")
        pad = kernel_size // 2
        self.conv1 = nn.Conv1d(num_leads, embed_dim // 2, kernel_size, padding=pad)
        self.act = nn.GELU()
        self.conv2 = nn.Conv1d(embed_dim // 2, embed_dim, kernel_size, padding=pad)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv2(self.act(self.conv1(x))).transpose(1, 2))


class ChannelEmbed(nn.Module):
    """Channel tokens: ``(B, C, T) -> (B, C, D)`` (each lead's ``T`` samples down-sampled to ``D``
    by strided convolutions shared by all leads, then a linear map)."""

    def __init__(
        self, length: int, embed_dim: int, channels: int, kernel_size: int, stride: int
    ) -> None:
        super().__init__()
        if stride < 1 or kernel_size < stride or channels < 1:
            raise ValueError(
                "channel conv block needs stride >= 1, kernel_size >= stride and channels >= 1, "
                f"got {stride}, {kernel_size}, {channels}"
            )
        pad = kernel_size // 2
        self.conv1 = nn.Conv1d(1, channels, kernel_size, stride=stride, padding=pad)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size, stride=stride, padding=pad)
        self.act = nn.GELU()
        if length < stride**2:
            raise ValueError(
                f"input_length {length} is too short for the channel conv block (two convolutions "
                f"of stride {stride} need at least {stride**2} samples)"
            )
        reduced = _conv_out(_conv_out(length, kernel_size, stride, pad), kernel_size, stride, pad)
        self.proj = nn.Linear(channels * reduced, embed_dim)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t = x.shape
        h = self.act(self.conv2(self.act(self.conv1(x.reshape(b * c, 1, t)))))
        return self.norm(self.proj(h.flatten(1))).view(b, c, -1)


class BidirectionalCrossBlock(nn.Module):
    """Time <-> channel exchange: ``t`` (B, T, D), ``c`` (B, C, D) -> same shapes.

    ``t' = t + A_tc(norm(t), norm(c))`` and ``c' = c + A_ct(norm(c), norm(t))`` (both from the
    input states), then a pre-norm MLP on each stream.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_hidden_dim: int,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm_t = nn.LayerNorm(dim)
        self.norm_c = nn.LayerNorm(dim)
        self.time_from_channel = CrossAttention(
            dim, dim, num_heads, None, qkv_bias, attn_drop, drop
        )
        self.channel_from_time = CrossAttention(
            dim, dim, num_heads, None, qkv_bias, attn_drop, drop
        )
        self.norm_t2 = nn.LayerNorm(dim)
        self.mlp_t = Mlp(dim, mlp_hidden_dim, drop)
        self.norm_c2 = nn.LayerNorm(dim)
        self.mlp_c = Mlp(dim, mlp_hidden_dim, drop)

    def _forward(
        self, t: torch.Tensor, c: torch.Tensor, need_weights: bool
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        nt, nc = self.norm_t(t), self.norm_c(c)
        if need_weights:
            dt, w_tc = self.time_from_channel.forward_with_attention(nt, nc)
            dc, w_ct = self.channel_from_time.forward_with_attention(nc, nt)
            weights: tuple[torch.Tensor, torch.Tensor] | None = (w_tc, w_ct)
        else:
            dt, dc = self.time_from_channel(nt, nc), self.channel_from_time(nc, nt)
            weights = None
        t, c = t + dt, c + dc
        t = t + self.mlp_t(self.norm_t2(t))
        c = c + self.mlp_c(self.norm_c2(c))
        return t, c, weights

    def forward(self, t: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t, c, _ = self._forward(t, c, need_weights=False)
        return t, c

    def forward_with_attention(
        self, t: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Outputs plus weights ``(B, H, T, C)`` (time -> channel) and ``(B, H, C, T)``."""
        t, c, weights = self._forward(t, c, need_weights=True)
        assert weights is not None
        return t, c, weights[0], weights[1]


class DualViewTransformer(nn.Module):
    """Dual-View transformer encoder, input ``(B, C, T)`` with ``T = input_length``.

    Args:
        in_leads: names of the input channels, in order.
        input_length: samples per input ``T`` (the channel tokens are length-specific).
        embed_dim: width ``D`` of both streams and of the embedding.
        num_heads: heads of every attention layer.
        time_depth, channel_depth: self-attention blocks per stream.
        cross_depth: bidirectional cross-attention layers.
        mlp_ratio: MLP hidden width / ``D``.
        qkv_bias: bias in the attention projections.
        time_kernel_size: kernel of the two time-stream convolutions (odd).
        channel_conv_channels, channel_kernel_size, channel_stride: the channel-stream block
            (two convolutions of that stride: ``T`` shrinks by ``stride ** 2`` before the
            linear map to ``D``).
        fusion_hidden_dim: hidden width of the fusion FFN (default ``D``).
        drop_rate, attn_drop_rate, drop_path_rate: regularisation.
        num_classes: size of a linear head on the embedding (0: ``forward`` returns it).

    Attributes:
        num_features (``D``), in_leads, default_input_length.
    """

    def __init__(
        self,
        in_leads: Sequence[str] = CANONICAL_LEADS,
        input_length: int = 2500,
        embed_dim: int = 384,
        num_heads: int = 6,
        time_depth: int = 4,
        channel_depth: int = 4,
        cross_depth: int = 1,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        time_kernel_size: int = 7,
        channel_conv_channels: int = 64,
        channel_kernel_size: int = 11,
        channel_stride: int = 5,
        fusion_hidden_dim: int | None = None,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        if min(time_depth, channel_depth, cross_depth) < 1:
            raise ValueError("time_depth, channel_depth and cross_depth must all be >= 1")
        if embed_dim < 4 or embed_dim % 2 != 0:
            raise ValueError(f"embed_dim must be even and >= 4, got {embed_dim}")
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        self.in_leads = normalize_lead_names(in_leads)
        self.default_input_length = input_length
        self.num_features = self.embed_dim = embed_dim
        hidden = int(embed_dim * mlp_ratio)

        self.time_embed = TimeEmbed(len(self.in_leads), embed_dim, time_kernel_size)
        self.register_buffer(
            "time_pos_embed", sincos_table(input_length, embed_dim)[None], persistent=False
        )
        self.channel_embed = ChannelEmbed(
            input_length, embed_dim, channel_conv_channels, channel_kernel_size, channel_stride
        )
        self.pos_drop = nn.Dropout(drop_rate)

        def blocks(depth: int) -> nn.ModuleList:
            rates = drop_path_schedule(drop_path_rate, depth)
            return nn.ModuleList(
                Block(embed_dim, num_heads, hidden, None, qkv_bias, drop_rate, attn_drop_rate, r)
                for r in rates
            )

        self.time_blocks = blocks(time_depth)
        self.channel_blocks = blocks(channel_depth)
        self.cross_blocks = nn.ModuleList(
            BidirectionalCrossBlock(
                embed_dim, num_heads, hidden, qkv_bias, drop_rate, attn_drop_rate
            )
            for _ in range(cross_depth)
        )
        self.time_norm = nn.LayerNorm(embed_dim)
        self.channel_norm = nn.LayerNorm(embed_dim)
        fusion_hidden = fusion_hidden_dim or embed_dim
        self.fusion = nn.Sequential(
            nn.Linear(2 * embed_dim, fusion_hidden), nn.GELU(), nn.Linear(fusion_hidden, embed_dim)
        )
        self.fusion_norm = nn.LayerNorm(embed_dim)
        self.head: nn.Module = nn.Linear(embed_dim, num_classes) if num_classes else nn.Identity()
        self.apply(_init_weights)

    def _streams(
        self, x: torch.Tensor, need_weights: bool
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, list[torch.Tensor]]]:
        check_encoder_input(
            x, num_leads=len(self.in_leads), length=self.default_input_length, model="Dual-View"
        )
        maps: dict[str, list[torch.Tensor]] = {k: [] for k in ATTENTION_KINDS}
        t = self.pos_drop(self.time_embed(x) + self.time_pos_embed)
        c = self.pos_drop(self.channel_embed(x))
        t = _run_blocks(self.time_blocks, t, maps["time_self"] if need_weights else None)
        c = _run_blocks(self.channel_blocks, c, maps["channel_self"] if need_weights else None)
        for cross in self.cross_blocks:
            if need_weights:
                t, c, w_tc, w_ct = cross.forward_with_attention(t, c)
                maps["time_to_channel"].append(w_tc)
                maps["channel_to_time"].append(w_ct)
            else:
                t, c = cross(t, c)
        return self.time_norm(t), self.channel_norm(c), maps

    def _fuse(self, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        tp, cp = t.mean(dim=1), c.mean(dim=1)
        return self.fusion_norm(self.fusion(torch.cat([tp, cp], dim=-1)) + tp + cp)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Final tokens of both streams, ``(B, T + C, D)``: the ``T`` time tokens, then the ``C``
        channel tokens."""
        t, c, _ = self._streams(x, need_weights=False)
        return torch.cat([t, c], dim=1)

    def forward_streams(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Final time tokens ``(B, T, D)`` and channel tokens ``(B, C, D)``."""
        t, c, _ = self._streams(x, need_weights=False)
        return t, c

    def forward_embedding(self, x: torch.Tensor) -> torch.Tensor:
        """Fused representation ``(B, D)``."""
        t, c, _ = self._streams(x, need_weights=False)
        return self._fuse(t, c)

    def forward_with_attention(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, list[torch.Tensor]]]:
        """Embedding ``(B, D)`` and the attention maps of every layer (explicit softmax).

        Returns:
            ``(embedding, maps)`` with ``maps["time_self"]`` a list (one per time block) of
            ``(B, H, T, T)``, ``"channel_self"`` of ``(B, H, C, C)``, ``"time_to_channel"``
            (time queries over channel keys) of ``(B, H, T, C)`` and ``"channel_to_time"`` of
            ``(B, H, C, T)``, one per cross layer. Rows sum to 1.
        """
        t, c, maps = self._streams(x, need_weights=True)
        return self._fuse(t, c), maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``head(forward_embedding(x))``: ``(B, num_classes)``, or ``(B, D)`` without a head."""
        return self.head(self.forward_embedding(x))


def _run_blocks(
    blocks: nn.ModuleList, h: torch.Tensor, store: list[torch.Tensor] | None
) -> torch.Tensor:
    """Self-attention blocks; the attention weights go to ``store`` when it is given."""
    for block in blocks:
        if store is None:
            h = block(h)
        else:
            h, weights = block.forward_with_attention(h)
            store.append(weights)
    return h


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


@register_model("dualview_base", preset="dualview")
def dualview_base(**overrides: Any) -> DualViewTransformer:
    """Dual-View transformer near the paper's size (21.2 M parameters), 12 x 2500 at 500 Hz."""
    return DualViewTransformer(**{**DUALVIEW_BASE_ARGS, **overrides})


@register_model("dualview_small", preset="dualview")
def dualview_small(**overrides: Any) -> DualViewTransformer:
    """Small Dual-View transformer (width 128, 2 + 2 self blocks, 1 cross layer)."""
    return DualViewTransformer(**{**DUALVIEW_SMALL_ARGS, **overrides})
