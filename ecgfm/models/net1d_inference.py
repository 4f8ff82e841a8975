"""Fast inference path of :class:`~ecgfm.models.net1d.Net1D` (embeddings only, eval mode).

The training-friendly :class:`Net1D` keeps activations as ``(B, C, T)`` and pads explicitly
before every "same" convolution, like the official code. On CPU that costs more than it should:
the 1x1 convolutions (77 % of the multiply-adds of the ECGFounder configuration) go through
oneDNN convolution with a layout reorder of input, weight and output on every call, and every
padded convolution copies its input once more.

:class:`Net1DInference` runs the same maths on channels-last activations ``(B, T, C)``
(:mod:`ecgfm.models._net1d_btc`): 1x1 convolutions are one GEMM each, "same" padding is folded
into the grouped convolutions, the squeeze-excitation scale and the residual add are one
in-place pass, and eval-mode BatchNorm (``use_bn=True`` checkpoints) is a per-channel affine.
The batch is processed ``chunk_size`` records at a time, so that a chunk's activations stay in
the CPU caches (on the development CPU chunks of 8-16 ECGs of 5000 samples ran ~1.4x faster
than one batch of 64; the results are identical).

Precision:

- default: float32, the model's own weights (shared, not copied: later weight updates are seen);
  equal to ``model.forward_embedding`` up to float rounding (max abs error ~1e-6);
- ``quantize="int8"``: the large 1x1 convolutions run as dynamic int8 GEMMs
  (:mod:`ecgfm.models._int8_gemm`: weights per output channel, activations per time step,
  ``torch._int_mm``); everything else stays float32. Approximate: check the cosine similarity
  with the float32 embedding on your data (``docs/benchmarks.md`` reports >= 0.999 on random
  and trained ECGFounder weights). The int8 weights are a cached snapshot that is re-derived
  automatically before a forward when a weight was changed in place or replaced;
- ``dtype=torch.bfloat16``/``torch.float16``: autocast (for CPUs with AMX and GPUs).

``compile=True`` runs the channels-last graph through ``torch.compile`` for one chunk shape:
a last partial chunk of at least half a chunk is zero-padded to that shape, a smaller one runs
eagerly, so a new batch size never recompiles (a new input length does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from ecgfm.models._int8_gemm import (
    Int8Linear,
    _shape_unsupported_reason,
    int8_gemm_unsupported_reason,
)
from ecgfm.models._net1d_btc import DenseLinear, Linear, features_btc
from ecgfm.models.net1d import Net1D

__all__ = ["AUTO_CHUNK_SAMPLES", "INT8_MIN_FEATURES", "Net1DInference", "optimize_for_inference"]

_logger = logging.getLogger(__name__)

#: ``chunk_size="auto"``: records per chunk = this many time samples per torch thread / input
#: length (16 records of 5000 samples per thread; measured on the development CPU for 1 and 12
#: leads, see docs/benchmarks.md).
AUTO_CHUNK_SAMPLES = 80_000
#: ``quantize="int8"``: 1x1 convolutions with fewer input or output channels stay float32 (the
#: quantisation passes cost more than the faster GEMM saves on narrow layers).
INT8_MIN_FEATURES = 256

ChunkSize = int | Literal["auto"]


def _check_chunk_size(chunk_size: object) -> None:
    ok_int = isinstance(chunk_size, int) and not isinstance(chunk_size, bool) and chunk_size >= 1
    if chunk_size != "auto" and not ok_int:
        raise ValueError(f"chunk_size must be 'auto' or an int >= 1, got {chunk_size!r}")


class Net1DInference(nn.Module):
    """Eval-only fast embedding of a :class:`Net1D`: ``(B, C, T) -> (B, num_features)`` fp32.

    Args:
        model: the encoder; shared, not copied, and kept in ``eval()`` by this wrapper.
        dtype: ``None`` for float32 (default, exact up to rounding), or ``torch.bfloat16`` /
            ``torch.float16`` to run under ``torch.autocast`` (faster on CPUs with AMX and on
            GPUs; slower on CPUs without native bf16 GEMM; measure first).
        compile: run the channels-last graph through ``torch.compile`` (Inductor, needs a C++
            compiler on CPU; the first call compiles for a minute or more). If compilation
            fails, a warning is logged and the eager path is used from then on.
        quantize: ``None`` or ``"int8"`` (dynamic int8 GEMMs for the 1x1 convolutions with at
            least ``int8_min_features`` input and output channels; float32 elsewhere, and
            everywhere if the device has no fast int8 GEMM, with a warning). Not combinable
            with ``dtype``.
        chunk_size: records per internal chunk, or ``"auto"``: ``AUTO_CHUNK_SAMPLES`` time
            samples per chunk and torch thread (16 records of 5000 samples with one thread).
            Results do not depend on it.
        int8_min_features: see ``quantize``.
    """

    def __init__(
        self,
        model: Net1D,
        *,
        dtype: torch.dtype | None = None,
        compile: bool = False,
        quantize: Literal["int8"] | None = None,
        chunk_size: ChunkSize = "auto",
        int8_min_features: int = INT8_MIN_FEATURES,
    ) -> None:
        super().__init__()
        if not isinstance(model, Net1D):
            raise TypeError(f"Net1DInference expects a Net1D, got {type(model).__name__}")
        if dtype is not None and dtype not in (torch.bfloat16, torch.float16):
            raise ValueError(f"dtype must be None, torch.bfloat16 or torch.float16, got {dtype}")
        if quantize not in (None, "int8"):
            raise ValueError(f"quantize must be None or 'int8', got {quantize!r}")
        if quantize is not None and dtype is not None:
            raise ValueError(
                "quantize='int8' computes in float32 around the int8 GEMMs; drop dtype"
            )
        _check_chunk_size(chunk_size)
        if isinstance(int8_min_features, bool) or not isinstance(int8_min_features, int):
            raise ValueError(f"int8_min_features must be an int, got {int8_min_features!r}")
        self.model = model.eval()
        self.dtype = dtype
        self.quantize = quantize
        self.chunk_size = chunk_size
        self.num_features = model.num_features
        self.in_leads = model.in_leads
        self._linears = self._build_linears(int8_min_features)
        self._int8 = [lin for pair in self._linears for lin in pair if isinstance(lin, Int8Linear)]
        self._compiled: Callable[[torch.Tensor], torch.Tensor] | None = None
        if compile:
            self._compiled = torch.compile(self._features_btc, dynamic=False)

    def _build_linears(self, min_features: int) -> list[tuple[Linear, Linear]]:
        blocks = [block for stage in self.model.stages for block in stage]
        if self.quantize is None:
            return [(DenseLinear(b.conv1), DenseLinear(b.conv3)) for b in blocks]
        device = self.model.stem_conv.weight.device
        reason = int8_gemm_unsupported_reason(device)
        if reason is not None:
            _logger.warning("quantize='int8': %s; every layer stays float32", reason)
            return [(DenseLinear(b.conv1), DenseLinear(b.conv3)) for b in blocks]
        kept: list[str] = []

        def pick(conv: nn.Conv1d, name: str) -> Linear:
            k, n = conv.in_channels, conv.out_channels
            why = _shape_unsupported_reason(device, 1 << 20, k, n)
            if why is None and min(k, n) < min_features:
                why = f"fewer than int8_min_features={min_features} channels"
            if why is None:
                return Int8Linear(conv)
            kept.append(f"{name} ({k}->{n}: {why})")
            return DenseLinear(conv)

        out = []
        for i, b in enumerate(blocks):
            out.append((pick(b.conv1, f"block {i} conv1"), pick(b.conv3, f"block {i} conv3")))
        if kept:
            _logger.info(
                "quantize='int8': %d of %d 1x1 convolutions stay float32: %s",
                len(kept), 2 * len(blocks), "; ".join(kept),
            )  # fmt: skip
        return out

    def train(self, mode: bool = True) -> Net1DInference:
        if mode:
            raise RuntimeError("Net1DInference is inference-only; train the Net1D itself")
        return super().train(False)

    def chunk_records(self, length: int) -> int:
        """Records per chunk for inputs of ``length`` samples (with the current thread count)."""
        if self.chunk_size == "auto":
            samples = AUTO_CHUNK_SAMPLES * torch.get_num_threads()
            return max(1, round(samples / max(length, 1)))
        return int(self.chunk_size)

    def _features_btc(self, x: torch.Tensor) -> torch.Tensor:
        return features_btc(self.model, x, self._linears)

    def _run(self, x: torch.Tensor, chunk: int) -> torch.Tensor:
        """``(b, C, T)`` with ``b <= chunk`` -> ``(b, L, num_features)``."""
        b = x.shape[0]
        if self._compiled is not None and 2 * b >= chunk:
            xp = x if b == chunk else torch.cat([x, x.new_zeros(chunk - b, *x.shape[1:])])
            try:
                return self._compiled(xp)[:b]
            except Exception as exc:  # no compiler / backend failure: stay correct, slower
                self._compiled = None
                _logger.warning("torch.compile failed (%s); using the eager fast path", exc)
        return self._features_btc(x)

    def _apply(self, x: torch.Tensor, pool: bool) -> torch.Tensor:
        """Chunked channels-last run: ``(B, num_features)`` if ``pool`` else ``(B, L, C)``."""
        self.model.check_input(x)
        for lin in self._int8:
            lin.refresh()
        chunk = self.chunk_records(x.shape[-1])
        outs = []
        for start in range(0, x.shape[0], chunk):
            h = self._run(x[start : start + chunk], chunk)
            outs.append(h.float().mean(1) if pool else h.float())
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    def _autocast_apply(self, x: torch.Tensor, pool: bool) -> torch.Tensor:
        if self.dtype is None:
            return self._apply(x, pool)
        with torch.autocast(x.device.type, dtype=self.dtype):
            return self._apply(x, pool)

    @torch.inference_mode()
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Last-stage map ``(B, num_features, L)`` (a transposed view of the channels-last one)."""
        return self._autocast_apply(x, pool=False).transpose(1, 2)

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embedding ``(B, num_features)``, float32: the time mean of :meth:`forward_features`."""
        return self._autocast_apply(x, pool=True)


def optimize_for_inference(
    model: Net1D,
    *,
    dtype: torch.dtype | None = None,
    compile: bool = False,
    quantize: Literal["int8"] | None = None,
    chunk_size: ChunkSize = "auto",
    int8_min_features: int = INT8_MIN_FEATURES,
) -> Net1DInference:
    """Fast eval-mode embedding function of a :class:`Net1D` (see :class:`Net1DInference`)."""
    return Net1DInference(
        model, dtype=dtype, compile=compile, quantize=quantize, chunk_size=chunk_size,
        int8_min_features=int8_min_features,
    )  # fmt: skip
