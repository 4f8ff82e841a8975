"""Channels-last ``(B, T, C)`` eval maths of :class:`~ecgfm.models.net1d.Net1D` (fast path).

Used by :mod:`ecgfm.models.net1d_inference`. Every function computes exactly what the module
of the same name in :mod:`ecgfm.models.net1d` computes in ``eval()``, on activations laid out
``(B, T, C)`` so that the 1x1 convolutions are plain GEMMs over ``B * T`` rows:

- 1x1 convolutions are a :data:`Linear` callable (float32 ``F.linear``, or int8);
- grouped/stem convolutions are ``conv2d`` on a channels-last ``(B, C, 1, T)`` view, with the
  "same" padding folded into the convolution whenever possible, and otherwise written once
  into a zero-bordered buffer by the activation that precedes the convolution;
- the squeeze-excitation scale and the residual add are one fused in-place pass.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ecgfm.models.net1d import Net1D, _Net1DBlock, _OptionalBatchNorm1d, _same_pad

__all__ = ["DenseLinear", "Linear", "features_btc"]

#: A 1x1 convolution on channels-last activations: ``(x (..., C_in), scratch) -> (..., C_out)``;
#: ``scratch``: ``x`` is not used afterwards and may be overwritten.
Linear = Callable[[torch.Tensor, bool], torch.Tensor]


class DenseLinear:
    """Float 1x1 convolution as ``F.linear`` on the live weights of ``conv``."""

    def __init__(self, conv: nn.Conv1d) -> None:
        self.conv = conv

    def __call__(self, x: torch.Tensor, scratch: bool = False) -> torch.Tensor:
        return F.linear(x, self.conv.weight.squeeze(2), self.conv.bias)


def _affine(norm: _OptionalBatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """Eval-mode BatchNorm on the last axis of ``(B, T, C)``."""
    scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
    return torch.addcmul(norm.bias - norm.running_mean * scale, x, scale)


def _silu_padded(x: torch.Tensor, left: int, right: int) -> torch.Tensor:
    """``F.pad(silu(x), rows left/right)`` for ``(B, T, C)`` in one write of the activation."""
    if torch.compiler.is_compiling():  # Dynamo refuses strided out=; Inductor fuses this anyway
        return F.pad(F.silu(x), (0, 0, left, right))
    b, t, c = x.shape
    out = x.new_empty(b, left + t + right, c)
    out[:, :left].zero_()
    out[:, left + t :].zero_()
    torch._C._nn.silu(x, out=out[:, left : left + t])
    return out


def _conv2d(x: torch.Tensor, conv: nn.Conv1d, stride: int, padding: int) -> torch.Tensor:
    """``conv`` on ``(B, T, C_in)`` (any row stride) -> contiguous ``(B, T_out, C_out)``."""
    view = x.transpose(1, 2).unsqueeze(2)  # channels-last (B, C, 1, T), no copy
    weight = conv.weight.unsqueeze(2)  # (C_out, C_in / g, 1, k)
    y = F.conv2d(view, weight, conv.bias, stride=(1, stride), padding=(0, padding),
                 groups=conv.groups)  # fmt: skip
    return y.squeeze(2).transpose(1, 2)


def silu_conv_btc(h: torch.Tensor, conv: nn.Conv1d) -> tuple[torch.Tensor, int]:
    """ "Same" ``conv`` of ``silu(h)`` for ``h`` ``(B, T, C_in)`` (``h`` may be overwritten).

    Returns ``(y, skip)`` with ``y[:, skip:]`` the result ``(B, ceil(T / s), C_out)``; ``y``
    is contiguous. ``skip = 1`` when the padding was folded into the convolution as ``right``
    zeros on both sides (stride 1, ``right = left + 1``): the first output row is then one too
    early. Keeping it until after the next 1x1 convolution lets that GEMM run on contiguous rows.
    """
    k, s = conv.kernel_size[0], conv.stride[0]
    left, right = _same_pad(h.shape[1], k, s)
    if left == right:
        return _conv2d(F.silu(h, inplace=True), conv, s, left), 0
    if s == 1 and right == left + 1:
        return _conv2d(F.silu(h, inplace=True), conv, 1, right), 1
    return _conv2d(_silu_padded(h, left, right), conv, s, 0), 0


def _max_pool_btc(x: torch.Tensor, k: int) -> torch.Tensor:
    """Official "same" max-pool (zero pad ``k - 1``, window = stride = ``k``) on ``(B, T, C)``."""
    if k == 1:
        return x
    if k == 2 and not torch.compiler.is_compiling():
        # One pass of maximum() over row pairs: no padded copy, no -inf-filled amax output.
        n, odd = divmod(x.shape[1], 2)
        out = x.new_empty(x.shape[0], n + odd, x.shape[2])
        torch.maximum(x[:, 0 : 2 * n : 2], x[:, 1 : 2 * n : 2], out=out[:, :n])
        if odd:  # the last window is (x[T - 1], zero padding)
            torch.clamp_min(x[:, 2 * n :], 0.0, out=out[:, n:])
        return out
    left = (k - 1) // 2
    if left or x.shape[1] % k:  # otherwise the padding is never inside a window
        x = F.pad(x, (0, 0, left, k - 1 - left))
    n_out = x.shape[1] // k
    return x[:, : n_out * k].unflatten(1, (n_out, k)).amax(2)


def _scale_add(
    h: torch.Tensor, gate: torch.Tensor, shortcut: torch.Tensor, pad: tuple[int, int]
) -> torch.Tensor:
    """In place ``h = h * gate + channel-padded shortcut`` (the end of a block)."""
    front, back = pad
    if torch.compiler.is_compiling():  # Dynamo refuses strided out=; Inductor fuses this anyway
        return h * gate + F.pad(shortcut, (front, back))
    if front == 0 and back == 0:
        return torch.addcmul(shortcut, h, gate, out=h)
    if front >= 0 and back >= 0:  # widening block: zero channels around the shortcut
        stop = h.shape[2] - back
        inner = h[:, :, front:stop]
        torch.addcmul(shortcut, inner, gate[:, :, front:stop], out=inner)
        h[:, :, :front].mul_(gate[:, :, :front])
        h[:, :, stop:].mul_(gate[:, :, stop:])
        return h
    # narrowing block: the official F.pad with negative widths crops the shortcut
    return torch.addcmul(F.pad(shortcut, (front, back)), h, gate, out=h)


def block_btc(block: _Net1DBlock, x: torch.Tensor, conv1: Linear, conv3: Linear) -> torch.Tensor:
    """One bottleneck block on ``(B, T, C_in)`` -> ``(B, T', C_out)``, possibly a row-strided
    view (see :func:`silu_conv_btc`). ``conv1``/``conv3`` implement the 1x1 convolutions."""
    bn = block.use_bn
    h = x
    if not block.is_first_block:
        h = F.silu(_affine(block.norm1, h) if bn else h)
    h = conv1(h, not block.is_first_block)  # the first block's input is also the shortcut
    h, skip = silu_conv_btc(_affine(block.norm2, h) if bn else h, block.conv2)
    h = F.silu(_affine(block.norm3, h) if bn else h, inplace=True)
    h = conv3(h, True)[:, skip:]
    gate = block.se.fc2(F.silu(block.se.fc1(h.mean(1))))
    shortcut = _max_pool_btc(x, block.stride) if block.downsample else x
    return _scale_add(h, torch.sigmoid(gate).unsqueeze(1), shortcut, block._shortcut_pad[2:])


def stem_btc(model: Net1D, x: torch.Tensor) -> torch.Tensor:
    """Stem of ``x`` ``(B, C, T)`` -> ``(B, ceil(T / 2), base_filters)``, possibly row-strided."""
    conv = model.stem_conv
    # A channels-last input makes oneDNN write a channels-last (= (B, T, C) contiguous) output.
    # With one lead both layouts have the same bytes and PyTorch calls the tensor NCHW unless
    # its strides say otherwise, hence the explicit strides.
    b, c, t = x.shape
    if c == 1:
        x = x if x.stride(2) == 1 else x.contiguous()
        h = x.as_strided((b, t, 1), (x.stride(0), 1, 1))
    else:
        h = x.unsqueeze(2).contiguous(memory_format=torch.channels_last).squeeze(2).transpose(1, 2)
    k, s = conv.kernel_size[0], conv.stride[0]
    left, right = _same_pad(h.shape[1], k, s)
    skip = 0
    if left == right:
        h = _conv2d(h, conv, s, left)
    elif s == 1 and right == left + 1:
        h, skip = _conv2d(h, conv, 1, right), 1
    else:
        h = _conv2d(F.pad(h, (0, 0, left, right)), conv, s, 0)
    h = _affine(model.stem_norm, h) if model.use_bn else h
    return F.silu(h, inplace=True)[:, skip:]


def features_btc(
    model: Net1D, x: torch.Tensor, linears: list[tuple[Linear, Linear]]
) -> torch.Tensor:
    """Last-stage map ``(B, L, num_features)`` of ``x`` ``(B, C, T)``; ``linears`` holds the
    ``(conv1, conv3)`` implementations of every block in order."""
    h = stem_btc(model, x)
    i = 0
    for stage in model.stages:
        for block in stage:
            h = block_btc(block, h, *linears[i])
            i += 1
    return h
