"""Transformer building blocks shared by the ViT-style encoders (ST-MEM, HL) and Dual-View.

- :class:`Attention` / :class:`CrossAttention`: multi-head (cross-)attention on the fused
  :func:`torch.nn.functional.scaled_dot_product_attention` kernel; the explicit softmax path is
  used only when attention weights are requested (``forward_with_attention``).
- :class:`Mlp`, :class:`DropPath`, :class:`Block`: pre-norm transformer block
  ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))`` (GELU, qkv bias optional).
- :func:`sincos_table`: fixed 1-D sin-cos positional table (MAE convention: sines in the first
  half of the channels, cosines in the second).
- :func:`random_masking`: MAE-style random masking by sorting uniform noise, with an optional
  ``torch.Generator`` so that masks are reproducible.
- :class:`MaskedReconstructionOutput`: what the masked-modelling pre-training models return.

Shapes: ``B`` batch, ``N`` tokens, ``D`` width, ``H`` heads.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Attention",
    "Block",
    "CrossAttention",
    "DropPath",
    "MaskedReconstructionOutput",
    "MaskingIds",
    "Mlp",
    "drop_path_schedule",
    "random_masking",
    "sincos_table",
]


def _check_rate(name: str, value: float) -> float:
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return float(value)


def _resolve_heads(dim: int, num_heads: int, dim_head: int | None) -> int:
    """Head width; defaults to ``dim // num_heads`` (which must then divide exactly)."""
    if num_heads < 1:
        raise ValueError(f"num_heads must be >= 1, got {num_heads}")
    if dim_head is None:
        if dim % num_heads != 0:
            raise ValueError(
                f"width {dim} is not divisible by num_heads {num_heads}; pass dim_head explicitly"
            )
        return dim // num_heads
    if dim_head < 1:
        raise ValueError(f"dim_head must be >= 1, got {dim_head}")
    return dim_head


def _attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    dropout_p: float,
    need_weights: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Softmax attention of ``q`` (B, H, Nq, Dh) over ``k``/``v`` (B, H, Nk, Dh).

    Fused kernel unless ``need_weights``; then the explicit path returns the weights
    ``(B, H, Nq, Nk)`` (before attention dropout) as well.
    """
    if not need_weights:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p), None
    scores = torch.matmul(q, k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)
    weights = scores.softmax(dim=-1)
    dropped = F.dropout(weights, p=dropout_p) if dropout_p > 0 else weights
    return torch.matmul(dropped, v), weights


class Attention(nn.Module):
    """Multi-head self-attention ``(B, N, D) -> (B, N, D)``.

    Args:
        dim: token width ``D``.
        num_heads: number of heads ``H``.
        dim_head: width of one head; ``None`` means ``dim // num_heads``. ST-MEM fixes it to 64
            independently of ``dim``, so the inner width ``H * dim_head`` may differ from ``D``.
        qkv_bias: bias in the joint q/k/v projection.
        attn_drop: dropout on the attention weights (training only).
        proj_drop: dropout after the output projection.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        dim_head: int | None = None,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.dim_head = _resolve_heads(dim, num_heads, dim_head)
        inner = num_heads * self.dim_head
        self.attn_drop = _check_rate("attn_drop", attn_drop)
        # q, k and v are stacked along the output axis in that order, each as (heads, dim_head).
        self.qkv = nn.Linear(dim, 3 * inner, bias=qkv_bias)
        self.proj = nn.Linear(inner, dim)
        self.proj_drop = nn.Dropout(_check_rate("proj_drop", proj_drop))

    def _forward(
        self, x: torch.Tensor, need_weights: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        b, n, _ = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.num_heads, self.dim_head).permute(2, 0, 3, 1, 4)
        p = self.attn_drop if self.training else 0.0
        out, weights = _attend(qkv[0], qkv[1], qkv[2], dropout_p=p, need_weights=need_weights)
        out = out.transpose(1, 2).reshape(b, n, self.num_heads * self.dim_head)
        return self.proj_drop(self.proj(out)), weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, N, D) -> (B, N, D), fused attention."""
        return self._forward(x, need_weights=False)[0]

    def forward_with_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Same output as :meth:`forward` plus the attention weights ``(B, H, N, N)``."""
        out, weights = self._forward(x, need_weights=True)
        assert weights is not None
        return out, weights


class CrossAttention(nn.Module):
    """Multi-head cross-attention: queries from ``x`` (B, Nq, D), keys/values from ``context``
    (B, Nk, Dc); output (B, Nq, D)."""

    def __init__(
        self,
        dim: int,
        context_dim: int | None = None,
        num_heads: int = 8,
        dim_head: int | None = None,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        context_dim = dim if context_dim is None else context_dim
        self.num_heads = num_heads
        self.dim_head = _resolve_heads(dim, num_heads, dim_head)
        inner = num_heads * self.dim_head
        self.attn_drop = _check_rate("attn_drop", attn_drop)
        self.q = nn.Linear(dim, inner, bias=qkv_bias)
        self.kv = nn.Linear(context_dim, 2 * inner, bias=qkv_bias)
        self.proj = nn.Linear(inner, dim)
        self.proj_drop = nn.Dropout(_check_rate("proj_drop", proj_drop))

    def _forward(
        self, x: torch.Tensor, context: torch.Tensor, need_weights: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        b, nq, _ = x.shape
        nk = context.shape[1]
        q = self.q(x).view(b, nq, self.num_heads, self.dim_head).transpose(1, 2)
        kv = self.kv(context).view(b, nk, 2, self.num_heads, self.dim_head).permute(2, 0, 3, 1, 4)
        p = self.attn_drop if self.training else 0.0
        out, weights = _attend(q, kv[0], kv[1], dropout_p=p, need_weights=need_weights)
        out = out.transpose(1, 2).reshape(b, nq, self.num_heads * self.dim_head)
        return self.proj_drop(self.proj(out)), weights

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """``x`` (B, Nq, D) attends to ``context`` (B, Nk, Dc) -> (B, Nq, D)."""
        return self._forward(x, context, need_weights=False)[0]

    def forward_with_attention(
        self, x: torch.Tensor, context: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Same output as :meth:`forward` plus the weights ``(B, H, Nq, Nk)``."""
        out, weights = self._forward(x, context, need_weights=True)
        assert weights is not None
        return out, weights


class Mlp(nn.Module):
    """Two-layer feed-forward ``(…, D) -> (…, hidden) -> (…, D)`` with GELU (exact, erf)."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0) -> None:
        super().__init__()
        if hidden_dim < 1:
            raise ValueError(f"hidden_dim must be >= 1, got {hidden_dim}")
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(_check_rate("drop", drop))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch of a sample with probability ``p``
    during training and rescale the kept ones by ``1 / (1 - p)``."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = _check_rate("drop_path", p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Block(nn.Module):
    """Pre-norm transformer block ``(B, N, D) -> (B, N, D)``.

    ``x = x + drop_path(attn(norm1(x)))``; ``x = x + drop_path(mlp(norm2(x)))``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_hidden_dim: int,
        dim_head: int | None = None,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, dim_head, qkv_bias, attn_drop, drop)
        self.drop_path1 = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, mlp_hidden_dim, drop)
        self.drop_path2 = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path1(self.attn(self.norm1(x)))
        return x + self.drop_path2(self.mlp(self.norm2(x)))

    def forward_with_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Same output as :meth:`forward` plus the attention weights ``(B, H, N, N)``."""
        out, weights = self.attn.forward_with_attention(self.norm1(x))
        x = x + self.drop_path1(out)
        return x + self.drop_path2(self.mlp(self.norm2(x))), weights


def drop_path_schedule(rate: float, depth: int) -> list[float]:
    """Linearly increasing stochastic-depth rates ``0 … rate`` over ``depth`` blocks."""
    _check_rate("drop_path_rate", rate)
    if depth == 1:
        return [0.0]
    return [rate * i / (depth - 1) for i in range(depth)]


def sincos_table(num_positions: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """Fixed 1-D sin-cos positional table ``(num_positions, dim)``, float32.

    Row ``p``, channel ``i < dim/2``: ``sin(p * w_i)``; channel ``dim/2 + i``: ``cos(p * w_i)``
    with ``w_i = temperature ** (-i / (dim/2))`` (the MAE / ST-MEM convention).
    """
    if dim % 2 != 0 or dim < 2:
        raise ValueError(f"a sin-cos table needs an even width >= 2, got {dim}")
    if num_positions < 1:
        raise ValueError(f"num_positions must be >= 1, got {num_positions}")
    half = dim // 2
    omega = 1.0 / temperature ** (torch.arange(half, dtype=torch.float64) / half)
    angles = torch.arange(num_positions, dtype=torch.float64)[:, None] * omega[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


class MaskingIds(NamedTuple):
    """Indices of one random masking over the last axis of ``num_tokens`` tokens.

    Attributes:
        ids_keep: ``(…, num_keep)`` indices of the kept (visible) tokens, in shuffled order.
        ids_restore: ``(…, num_tokens)`` permutation that puts ``[kept, masked]`` back in order.
        mask: ``(…, num_tokens)`` float, 1 = masked, 0 = visible (original order).
    """

    ids_keep: torch.Tensor
    ids_restore: torch.Tensor
    mask: torch.Tensor


def random_masking(
    batch_shape: tuple[int, ...],
    num_tokens: int,
    mask_ratio: float,
    *,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> MaskingIds:
    """MAE random masking: keep ``int(num_tokens * (1 - mask_ratio))`` tokens of each sequence.

    Every sequence of ``batch_shape`` gets its own permutation from uniform noise. With
    ``mask_ratio == 0`` nothing is shuffled (identity order), as in ST-MEM. The noise is drawn on
    ``generator``'s device (so a CPU generator gives the same masks on any device) and moved to
    ``device``.

    Raises:
        ValueError: ``mask_ratio`` outside ``[0, 1)`` or so large that no token is kept.
    """
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    num_keep = int(num_tokens * (1 - mask_ratio))
    if num_keep < 1:
        raise ValueError(f"mask_ratio {mask_ratio} keeps no token of {num_tokens}; lower the ratio")
    shape = (*batch_shape, num_tokens)
    if mask_ratio == 0.0:
        ids_restore = torch.arange(num_tokens, device=device).expand(shape).contiguous()
        mask = torch.zeros(shape, device=device)
        return MaskingIds(ids_restore.clone(), ids_restore, mask)
    noise_device = generator.device if generator is not None else device
    noise = torch.rand(shape, generator=generator, device=noise_device).to(device)
    ids_shuffle = torch.argsort(noise, dim=-1)
    ids_restore = torch.argsort(ids_shuffle, dim=-1)
    mask = torch.ones(shape, device=device)
    mask[..., :num_keep] = 0.0
    mask = torch.gather(mask, -1, ids_restore)
    return MaskingIds(ids_shuffle[..., :num_keep], ids_restore, mask)


class MaskedReconstructionOutput(NamedTuple):
    """Output of a masked-modelling pre-training model; ready for a reconstruction loss.

    Attributes:
        pred: ``(B, C, N, P)`` predicted patches (P samples each), every patch predicted.
        target: ``(B, C, N, P)`` the input cut into the same patches (per-patch normalised when
            the model's ``norm_pix_loss`` is on).
        mask: ``(B, C, N)`` float, 1 = masked (the loss is taken on these), 0 = visible.
        loss: the model's own objective (ST-MEM: MSE, HL: L1) averaged over masked patches;
            ``None`` when nothing was masked (``mask_ratio = 0``).
    """

    pred: torch.Tensor
    target: torch.Tensor
    mask: torch.Tensor
    loss: torch.Tensor | None
