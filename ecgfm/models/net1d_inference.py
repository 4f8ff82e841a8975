"""Fast inference path of :class:`~ecgfm.models.net1d.Net1D` (embeddings only, eval mode).

The training-friendly :class:`Net1D` keeps activations as ``(B, C, T)`` and pads explicitly
before every "same" convolution, like the official code. On CPU that costs more than it should:
the 1x1 convolutions (77 % of the multiply-adds of the ECGFounder configuration) go through
oneDNN convolution with a layout reorder of input, weight and output on every call, and every
padded convolution copies its input once more.

:class:`Net1DInference` runs the same maths on channels-last activations ``(B, T, C)``:

- 1x1 convolutions are ``F.linear`` (one GEMM over ``B * T`` rows, no reorder);
- grouped/stem convolutions are ``conv2d`` on a channels-last ``(B, C, 1, T)`` view, and
  "same" padding is folded into the convolution whenever it can be (symmetric padding; or one
  extra left column dropped afterwards for stride 1), so the activation is not copied;
- the squeeze-excitation scale and the residual add are done in place;
- BatchNorm (``use_bn=True`` checkpoints) is applied as its eval-mode per-channel affine.

It shares the weights of the wrapped model (no copy: later weight updates are seen) and returns
float32 embeddings equal to ``model.forward_embedding`` up to float rounding (max abs error
~1e-6 in fp32). Optional ``dtype`` (autocast) and ``compile`` (``torch.compile``) add speed on
hardware where they help; see ``docs/benchmarks.md`` for measurements.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ecgfm.models.net1d import Net1D, _Net1DBlock, _OptionalBatchNorm1d, _same_pad

__all__ = ["Net1DInference", "optimize_for_inference"]

_logger = logging.getLogger(__name__)


def _affine(norm: _OptionalBatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """Eval-mode BatchNorm on the last axis of ``(B, T, C)``."""
    scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
    return torch.addcmul(norm.bias - norm.running_mean * scale, x, scale)


def _conv_btc(x: torch.Tensor, conv: nn.Conv1d) -> tuple[torch.Tensor, int]:
    """'Same' convolution of ``(B, T, C_in)``: ``(y, skip)`` with ``y[:, skip:]`` the result
    ``(B, ceil(T / s), C_out)``; ``y`` itself is contiguous.

    ``skip = 1`` when the padding was folded into the convolution as ``right`` zeros on both
    sides (stride 1, ``right = left + 1``): the first output column is then one too early.
    Keeping it until after the next 1x1 convolution lets that GEMM run on contiguous rows.
    """
    k, s = conv.kernel_size[0], conv.stride[0]
    weight = conv.weight.unsqueeze(2)  # (C_out, C_in / g, 1, k)
    left, right = _same_pad(x.shape[1], k, s)
    view = x.transpose(1, 2).unsqueeze(2)  # channels-last (B, C, 1, T), no copy
    skip = 0
    if left == right:
        y = F.conv2d(view, weight, conv.bias, stride=(1, s), padding=(0, left), groups=conv.groups)
    elif s == 1 and right == left + 1:
        y = F.conv2d(view, weight, conv.bias, padding=(0, right), groups=conv.groups)
        skip = 1
    else:
        padded = F.pad(x, (0, 0, left, right)).transpose(1, 2).unsqueeze(2)
        y = F.conv2d(padded, weight, conv.bias, stride=(1, s), groups=conv.groups)
    return y.squeeze(2).transpose(1, 2), skip


def _linear_btc(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """1x1 convolution as a GEMM on ``(B, T, C_in)`` -> ``(B, T, C_out)``."""
    return F.linear(x, conv.weight.squeeze(2), conv.bias)


def _max_pool_btc(x: torch.Tensor, k: int) -> torch.Tensor:
    """Official "same" max-pool (zero pad ``k - 1``, window = stride = ``k``) on ``(B, T, C)``."""
    if k == 1:
        return x
    left = (k - 1) // 2
    if left or x.shape[1] % k:  # otherwise the padding is never inside a window
        x = F.pad(x, (0, 0, left, k - 1 - left))
    n_out = x.shape[1] // k
    return x[:, : n_out * k].unflatten(1, (n_out, k)).amax(2)


def _block_btc(block: _Net1DBlock, x: torch.Tensor) -> torch.Tensor:
    """One bottleneck block on ``(B, T, C_in)`` (eval maths of ``_Net1DBlock.forward``).

    Returns ``(B, T', C_out)``, possibly a row-strided view (see :func:`_conv_btc`).
    """
    bn = block.use_bn
    h = x
    if not block.is_first_block:
        h = F.silu(_affine(block.norm1, h) if bn else h)
    h = _linear_btc(h, block.conv1)
    h = _affine(block.norm2, h) if bn else h
    h, skip = _conv_btc(F.silu(h, inplace=True), block.conv2)
    h = F.silu(_affine(block.norm3, h) if bn else h, inplace=True)
    h = _linear_btc(h, block.conv3)[:, skip:]
    gate = block.se.fc2(F.silu(block.se.fc1(h.mean(1))))
    h.mul_(torch.sigmoid(gate).unsqueeze(1))
    shortcut = _max_pool_btc(x, block.stride) if block.downsample else x
    front, back = block._shortcut_pad[2:]
    if front == 0 and back == 0:
        h.add_(shortcut)
    elif front >= 0 and back >= 0:
        h[:, :, front : h.shape[2] - back].add_(shortcut)
    else:  # narrowing block: the official F.pad with negative widths crops the shortcut
        h.add_(F.pad(shortcut, (front, back)))
    return h


class Net1DInference(nn.Module):
    """Eval-only fast embedding of a :class:`Net1D`: ``(B, C, T) -> (B, num_features)`` fp32.

    Args:
        model: the encoder; shared, not copied, and kept in ``eval()`` by this wrapper.
        dtype: ``None`` for fp32 (default, exact up to rounding), or ``torch.bfloat16`` /
            ``torch.float16`` to run under ``torch.autocast`` (faster on CPUs with AMX and on
            GPUs; slower on CPUs without native bf16 GEMM; measure first).
        compile: run the channels-last graph through ``torch.compile`` (Inductor, needs a C++
            compiler on CPU; the first call compiles for a minute or more). If compilation
            fails, a warning is logged and the eager path is used from then on.
    """

    def __init__(
        self, model: Net1D, *, dtype: torch.dtype | None = None, compile: bool = False
    ) -> None:
        super().__init__()
        if not isinstance(model, Net1D):
            raise TypeError(f"Net1DInference expects a Net1D, got {type(model).__name__}")
        if dtype is not None and dtype not in (torch.bfloat16, torch.float16):
            raise ValueError(f"dtype must be None, torch.bfloat16 or torch.float16, got {dtype}")
        self.model = model.eval()
        self.dtype = dtype
        self.num_features = model.num_features
        self.in_leads = model.in_leads
        self._compiled: Callable[[torch.Tensor], torch.Tensor] | None = None
        if compile:
            self._compiled = torch.compile(self._features_btc, dynamic=False)

    def train(self, mode: bool = True) -> Net1DInference:
        if mode:
            raise RuntimeError("Net1DInference is inference-only; train the Net1D itself")
        return super().train(False)

    def _features_btc(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        h, skip = _conv_btc(x.transpose(1, 2), m.stem_conv)
        h = F.silu(_affine(m.stem_norm, h) if m.use_bn else h, inplace=True)[:, skip:]
        for stage in m.stages:
            for block in stage:
                h = _block_btc(block, h)
        return h

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        if self._compiled is not None:
            try:
                return self._compiled(x)
            except Exception as exc:  # no compiler / backend failure: stay correct, slower
                self._compiled = None
                _logger.warning("torch.compile failed (%s); using the eager fast path", exc)
        return self._features_btc(x)

    @torch.inference_mode()
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Last-stage map ``(B, num_features, L)`` (a transposed view of the channels-last one)."""
        self.model.check_input(x)
        if self.dtype is None:
            return self._run(x).transpose(1, 2)
        with torch.autocast(x.device.type, dtype=self.dtype):
            return self._run(x).float().transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embedding ``(B, num_features)``, float32: the time mean of :meth:`forward_features`."""
        return self.forward_features(x).mean(-1)


def optimize_for_inference(
    model: Net1D, *, dtype: torch.dtype | None = None, compile: bool = False
) -> Net1DInference:
    """Fast eval-mode embedding function of a :class:`Net1D` (see :class:`Net1DInference`)."""
    return Net1DInference(model, dtype=dtype, compile=compile)
