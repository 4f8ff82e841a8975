"""Dynamic int8 GEMM for linear maps (the 1x1 convolutions of Net1D), without ``torch.ao``.

``y = x @ W.T + b`` with ``x`` ``(M, K)`` float and ``W`` ``(N, K)``:

- weights: symmetric int8 per output channel, ``W ~ Wq * w_scale[:, None]`` with
  ``w_scale = max|W[n]| / 127`` (computed once, see :class:`Int8Linear`);
- activations: symmetric int8 per row (per time step of one record), computed at run time:
  ``x ~ xq * x_scale[:, None]`` with ``x_scale = max|x[m]| / 127``;
- ``torch._int_mm(xq, Wq.T)`` accumulates exactly in int32, and
  ``y = acc * x_scale[:, None] * w_scale[None, :] + b`` in float32.

Rounding is to nearest (ties to even); ``-128`` is never produced. Rows are independent, so a
record's output does not depend on the other records of the batch.

Where ``torch._int_mm`` is usable (:func:`int8_gemm_unsupported_reason`): on CPU it runs a
oneDNN int8 kernel only with AVX-512 VNNI (otherwise a slow reference loop, so ecgfm refuses
it); on CUDA it needs ``M > 16`` and ``K``, ``N`` multiples of 8. The int32 accumulator cannot
overflow for ``K <= 133,143`` (``K * 127 * 127 < 2**31``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Int8Linear",
    "Int8Weight",
    "int8_gemm_unsupported_reason",
    "quantize_rows",
    "quantize_weight",
]

_QMAX = 127.0
# Smallest max-abs value used as a scale (all-zero rows/channels): 127 / _TINY stays finite.
_TINY = 1e-30
MAX_K = (2**31 - 1) // (127 * 127)


@dataclass(frozen=True)
class Int8Weight:
    """Quantised weight of a linear map ``(N, K)``.

    Attributes:
        qweight_t: ``(K, N)`` int8, the transposed view of a contiguous ``(N, K)`` tensor
            (the layout ``torch._int_mm`` reads fastest).
        scale: ``(N,)`` float32 per-output-channel scale.
        bias: ``(N,)`` float32 or ``None``.
    """

    qweight_t: torch.Tensor
    scale: torch.Tensor
    bias: torch.Tensor | None


def quantize_weight(weight: torch.Tensor, bias: torch.Tensor | None) -> Int8Weight:
    """Per-output-channel symmetric int8 of ``weight`` ``(N, K)`` (a snapshot, detached)."""
    w = weight.detach().float()
    scale = w.abs().amax(1).clamp_min(_TINY) / _QMAX
    q = torch.round(w / scale[:, None]).to(torch.int8)
    b = None if bias is None else bias.detach().float().clone()
    return Int8Weight(q.t(), scale, b)


def quantize_rows(x: torch.Tensor, *, inplace: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row symmetric int8 of ``x`` ``(..., K)`` (any strides).

    Returns ``(q, scale)``: ``q`` int8 of the shape of ``x`` (contiguous if ``x`` is or has
    row-strided rows), ``scale`` ``(..., 1)`` float32, with ``x ~ q * scale``. ``inplace``:
    ``x`` is scratch and may be overwritten (saves one allocation).
    """
    # max(max, -min): two read-only reductions, cheaper than abs() then amax().
    amax = torch.maximum(x.amax(-1, keepdim=True), x.amin(-1, keepdim=True).neg_())
    amax.clamp_min_(_TINY)
    inv = torch.reciprocal(amax).mul_(_QMAX)
    scaled = x.mul_(inv) if inplace else x.mul(inv)
    return scaled.round_().to(torch.int8), amax.div_(_QMAX)


def int8_gemm_unsupported_reason(device: torch.device) -> str | None:
    """Why ``torch._int_mm`` is not a fast int8 GEMM on ``device`` (``None``: it is)."""
    if device.type == "cuda":
        return None
    if device.type != "cpu":
        return f"no int8 GEMM path for device {device.type!r} in ecgfm"
    if not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled):
        return "oneDNN (mkldnn) is not available or disabled: torch._int_mm would be slow"
    is_vnni = getattr(torch.cpu, "_is_vnni_supported", None)
    if is_vnni is None or not is_vnni():
        return "this CPU has no AVX-512 VNNI: torch._int_mm would run a slow reference kernel"
    return None


def _shape_unsupported_reason(device: torch.device, m: int, k: int, n: int) -> str | None:
    """Why an ``(m, k) x (k, n)`` int8 GEMM is not possible on ``device`` (``None``: it is)."""
    if k > MAX_K:
        return f"K={k} > {MAX_K} could overflow the int32 accumulator"
    if device.type == "cuda" and (m <= 16 or k % 8 or n % 8):
        return f"CUDA torch._int_mm needs M > 16 and K, N multiples of 8 (M={m}, K={k}, N={n})"
    return None


class Int8Linear:
    """Dynamic-int8 replacement of a 1x1 ``nn.Conv1d`` ``(C_out, C_in, 1)`` on ``(..., C_in)``.

    The quantised weight is a snapshot, re-derived by :meth:`refresh` when the convolution's
    weight or bias was modified in place (version counter) or replaced; the inference wrapper
    calls :meth:`refresh` before every forward. Rows that cannot use ``torch._int_mm``
    (:meth:`qualifies` false, or before the first :meth:`refresh`) go through the exact
    float32 ``F.linear``.
    """

    def __init__(self, conv: nn.Conv1d) -> None:
        if conv.kernel_size != (1,) or conv.groups != 1:
            raise ValueError("Int8Linear replaces 1x1 convolutions without groups only")
        self.conv = conv
        self.in_features = conv.in_channels
        self.out_features = conv.out_channels
        self._key: tuple[int, ...] | None = None
        self.weight: Int8Weight | None = None

    def _version_key(self) -> tuple[int, ...]:
        key: list[int] = []
        for t in (self.conv.weight, self.conv.bias):
            if t is None:
                continue
            try:
                version = t._version
            except RuntimeError:  # inference tensor: no version counter (cannot change in place)
                version = -1
            key += [id(t), t.data_ptr(), version]
        return tuple(key)

    def refresh(self) -> bool:
        """Re-quantise the weight if it changed since the last call; True if it did."""
        key = self._version_key()
        if key == self._key:
            return False
        self.weight = quantize_weight(self.conv.weight.squeeze(2), self.conv.bias)
        self._key = key
        return True

    def qualifies(self, x: torch.Tensor) -> bool:
        """Whether ``x`` ``(..., C_in)`` can take the int8 GEMM."""
        m = x.numel() // max(self.in_features, 1)
        return _shape_unsupported_reason(x.device, m, self.in_features, self.out_features) is None

    def __call__(self, x: torch.Tensor, scratch: bool = False) -> torch.Tensor:
        """``(..., C_in)`` float -> ``(..., C_out)`` float32; ``scratch``: ``x`` may be
        overwritten."""
        w = self.weight
        if w is None or not self.qualifies(x):  # exact float32 for what _int_mm cannot take
            return F.linear(x, self.conv.weight.squeeze(2), self.conv.bias)
        q, row_scale = quantize_rows(x, inplace=scratch)
        acc = torch._int_mm(q.reshape(-1, self.in_features), w.qweight_t)
        y = acc.to(torch.float32).mul_(row_scale.view(-1, 1))
        if w.bias is None:
            y.mul_(w.scale)
        else:
            torch.addcmul(w.bias, y, w.scale, out=y)
        return y.view(*x.shape[:-1], self.out_features)
