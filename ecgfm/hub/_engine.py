"""The embedding engine: prepared windows ``(N, C, L)`` in, window and record embeddings out.

Every embedding in ecgfm runs through :class:`EmbeddingEngine`: :meth:`PretrainedEncoder.embed`
(and ``ecgfm.embed``), the ``ecgfm embed`` command line and the evaluation harness
(:func:`ecgfm.eval.embed_task` adds only its on-disk cache around the engine).

- :class:`EmbeddingEngine` runs a model on windows ``batch_size`` at a time in
  ``torch.inference_mode`` and eval mode (every submodule's training flag is restored), moves
  them to the model's device and dtype, and returns ``(N, D)`` float32 on the CPU.
  :meth:`EmbeddingEngine.record_means` embeds chunks of windows and averages the windows of
  each record.
- :class:`RecordMeans` is that average: float64 sums of the window embeddings of each record,
  added in window order, divided by the window count, returned as float32.

Speed options (all results deterministic; only the approximate ones change numbers):

- ``precision="bf16"``: bfloat16 autocast (approximate; faster on GPUs and CPUs with AMX).
- ``compile=True``: ``torch.compile`` of the forward; the last batch is zero-padded to
  ``batch_size`` so that one shape is compiled; falls back to eager with a logged warning.
- ``acceleration``, the Net1D inference path (:func:`ecgfm.models.optimize_for_inference`):

  - ``"auto"`` (default): a Net1D encoder (ECGFounder, SelfMIS) with float32 weights on the
    CPU and no bf16 runs through the channels-last path, equal to ``forward_embedding`` up
    to float rounding (~1e-6) and 1.4-2x faster (``docs/benchmarks.md``); every other model
    runs ``forward_embedding``;
  - ``"int8"``: that path with dynamic int8 1x1 convolutions (opt-in, approximate: cosine
    >= 0.999998 with float32 in ecgfm's measurements); an error where the path does not
    apply;
  - ``"off"``: ``forward_embedding`` always.

  A :class:`~ecgfm.hub.PretrainedEncoder` carries its mode, set with
  ``model.accelerate(mode)``: the one place a user chooses it, used by ``embed``,
  ``ecgfm.embed`` and ``embed_task`` (the command line loads models in the default mode).
  The engine's ``acceleration=`` overrides it for one engine (and is how a bare encoder gets
  ``"off"`` or ``"int8"``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from torch import nn

from ecgfm._deprecated import warn_deprecated

__all__ = [
    "ACCELERATIONS",
    "NONFINITE_ADVICE",
    "Acceleration",
    "EmbeddingEngine",
    "RecordMeans",
    "legacy_acceleration",
    "nonfinite_records",
]

logger = logging.getLogger(__name__)

Acceleration = Literal["auto", "int8", "off"]
ACCELERATIONS: tuple[str, ...] = ("auto", "int8", "off")
_PRECISIONS = (None, "fp32", "bf16")

NONFINITE_ADVICE = (
    "the encoder produced NaN/Inf embeddings; check the input (flat or saturated signals) "
    "or disable reduced-precision autocast"
)


def check_acceleration(mode: object) -> None:
    """Raise ``ValueError`` unless ``mode`` is ``"auto"``, ``"int8"`` or ``"off"``."""
    if not isinstance(mode, str) or mode not in ACCELERATIONS:
        raise ValueError(
            f"acceleration must be 'auto' (the exact Net1D fast path where it applies), 'int8' "
            f"(approximate, Net1D only) or 'off' (plain forward_embedding), got {mode!r}"
        )


def legacy_acceleration(
    fast: object, quantize: object, *, call: str, also: Mapping[str, str] | None = None
) -> str | None:
    """The acceleration mode meant by the deprecated ``fast=`` / ``quantize=`` of ``call``.

    ``None`` when neither was given. Otherwise a ``DeprecationWarning`` naming the
    replacement (``model.accelerate('off')`` for ``fast=False``, ``model.accelerate('int8')``
    for ``quantize='int8'``, then ``also[mode]``) and the mode: ``"int8"``, ``"off"`` or ``"auto"``
    (``fast=True``, the default before). Combinations that were errors stay errors. Removed
    in 0.2.0 with the arguments (``PretrainedEncoder.embed``, ``ecgfm.eval.embed_task``).
    """
    if fast is None and quantize is None:
        return None
    if fast is not None and not isinstance(fast, bool):
        raise ValueError(f"fast must be True or False, got {fast!r}")
    if quantize is not None and quantize != "int8":
        raise ValueError(f"quantize must be None or 'int8', got {quantize!r}")
    if quantize == "int8" and fast is False:
        raise ValueError(
            "quantize='int8' needs the fast path: drop fast=False (both are deprecated: "
            "use model.accelerate('int8'))"
        )
    mode = "int8" if quantize == "int8" else "off" if fast is False else "auto"
    given = f"fast={fast!r}" if quantize is None else f"quantize={quantize!r}"
    warn_deprecated(
        f"{call}(..., {given})", f"model.accelerate({mode!r}){(also or {}).get(mode, '')}"
    )
    return mode


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def nonfinite_records(per_window: torch.Tensor, record_index: torch.Tensor) -> list[int]:
    """Records (values of ``record_index`` ``(N,)``) with a NaN/Inf row in ``per_window``."""
    bad = ~torch.isfinite(per_window).all(dim=1)
    return sorted(set(torch.as_tensor(record_index).cpu()[bad.cpu()].tolist()))


class RecordMeans:
    """Mean window embedding of each of ``num_records`` records, accumulated in float64.

    ``add(per_window (N, D), record_index (N,))`` may be called any number of times (chunks
    of windows); each window's float32 embedding is added to its record's float64 sum in the
    order given. :meth:`result` divides by the window counts and returns float32.

    Example::

        means = RecordMeans(3)
        means.add(per_window, record_index)        # (N, D), (N,) with values in [0, 3)
        means.result()                             # (3, D) float32
    """

    def __init__(self, num_records: int) -> None:
        if isinstance(num_records, bool) or not isinstance(num_records, int) or num_records < 0:
            raise ValueError(f"num_records must be an integer >= 0, got {num_records!r}")
        self.num_records = num_records
        self._sums: torch.Tensor | None = None
        self._counts = torch.zeros(num_records, dtype=torch.long)

    def add(self, per_window: torch.Tensor | np.ndarray, record_index: Any) -> None:
        """Add window embeddings ``(N, D)`` of the records ``record_index`` ``(N,)``."""
        x = torch.as_tensor(per_window).detach().cpu()
        idx = torch.as_tensor(record_index).detach().cpu()
        if x.ndim != 2 or tuple(idx.shape) != (x.shape[0],):
            raise ValueError(
                f"need per_window (N, D), record_index (N,); got {tuple(x.shape)}, "
                f"{tuple(idx.shape)}"
            )
        if idx.dtype.is_floating_point or idx.dtype == torch.bool:
            raise ValueError(f"record_index must hold integers, got {idx.dtype}")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.num_records):
            raise ValueError(f"record_index must lie in [0, {self.num_records})")
        if self._sums is None:
            self._sums = torch.zeros(self.num_records, x.shape[1], dtype=torch.float64)
        elif x.shape[1] != self._sums.shape[1]:
            raise ValueError(
                f"per_window has {x.shape[1]} features, earlier windows had {self._sums.shape[1]}"
            )
        idx = idx.to(torch.long)
        self._sums.index_add_(0, idx, x.to(torch.float64))
        self._counts += torch.bincount(idx, minlength=self.num_records)

    @property
    def counts(self) -> torch.Tensor:
        """``(num_records,)`` int64: windows added per record."""
        return self._counts.clone()

    def result(self, records: Sequence[int] | None = None) -> torch.Tensor:
        """``(len(records), D)`` float32 means of ``records`` (default: all, in order).

        Raises ``ValueError`` naming the records that got no window.
        """
        rows = (
            torch.arange(self.num_records)
            if records is None
            else torch.as_tensor(list(records), dtype=torch.long)
        )
        if rows.numel() and (int(rows.min()) < 0 or int(rows.max()) >= self.num_records):
            raise ValueError(f"records must lie in [0, {self.num_records})")
        counts = self._counts[rows]
        if (counts == 0).any():
            missing = rows[counts == 0][:5].tolist()
            raise ValueError(f"records {missing} have no window")
        if self._sums is None:
            return torch.zeros(rows.numel(), 0)
        return (self._sums[rows] / counts.to(torch.float64)[:, None]).float()


_W = TypeVar("_W", bound="_EncoderWrapper")


class _EncoderWrapper(nn.Module):
    """Base of :class:`~ecgfm.hub.PretrainedEncoder`: an ``encoder`` whose embedding the
    wrapper's ``forward_embedding`` returns, plus the acceleration mode the engine uses."""

    encoder: nn.Module
    _acceleration: str = "auto"

    def _check_windows(self, x: Any, method: str) -> None:
        """Refuse windows the wrapper does not describe (PretrainedEncoder: the card's shape)."""

    @property
    def acceleration(self) -> str:
        """The acceleration mode of :meth:`embed` and of every engine built on this model."""
        return self._acceleration

    def accelerate(self: _W, mode: Acceleration = "auto") -> _W:
        """Choose how this model's embeddings are computed; in place, returns the model.

        The one place for the speed options of :meth:`embed`, ``ecgfm.embed`` and
        :func:`ecgfm.eval.embed_task` (``ecgfm embed`` runs models in the default mode):

        - ``"auto"`` (default): a Net1D encoder (ECGFounder, SelfMIS) with float32 weights on
          the CPU runs through :func:`ecgfm.models.optimize_for_inference` (equal to
          ``forward_embedding`` up to ~1e-6, faster) unless ``precision="bf16"``; other
          encoders run ``forward_embedding``.
        - ``"int8"``: that path with dynamic int8 1x1 convolutions (approximate: check the
          cosine with the ``"auto"`` embeddings on your data). Net1D encoders only; an
          ``embed`` on a GPU, in bf16 weights or with ``precision="bf16"`` is then an error.
        - ``"off"``: the plain ``forward_embedding``.
        """
        check_acceleration(mode)
        if mode == "int8" and _net1d_of(self) is None:
            raise ValueError(
                f"accelerate('int8') applies to Net1D encoders (ECGFounder, SelfMIS); this "
                f"model's encoder is a {type(self.encoder).__name__}: use 'auto' or 'off'"
            )
        self._acceleration = mode
        return self


def _net1d_of(model: object) -> nn.Module | None:
    """The Net1D that computes ``model``'s embedding (the model or its wrapped encoder)."""
    from ecgfm.models.net1d import Net1D

    if isinstance(model, Net1D):
        return model
    if isinstance(model, _EncoderWrapper) and isinstance(model.encoder, Net1D):
        return model.encoder
    return None


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def _same_device(a: torch.device, b: torch.device) -> bool:
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


class EmbeddingEngine:
    """Embeddings of prepared windows: batching, precision, compile, acceleration, pooling.

    Args:
        model: an ecgfm encoder (an ``nn.Module`` with ``forward_embedding``), a
            :class:`~ecgfm.hub.PretrainedEncoder`, or a plain callable
            ``windows (B, C, L) -> (B, D)``.
        batch_size: windows per forward pass.
        precision: ``None``/``"fp32"`` (the model's dtype) or ``"bf16"`` (autocast).
        compile: run the forward through ``torch.compile`` (see the module docstring).
        acceleration: ``"auto"``, ``"int8"`` or ``"off"`` (see the module docstring);
            ``None``: the model's own (``PretrainedEncoder.accelerate``), else ``"auto"``.
        device: where windows go for a plain callable (default CPU); a module's windows go
            to the module's device (a different ``device`` is an error).
        progress: show a tqdm progress bar over the batches if tqdm is installed.

    Calling the engine on windows ``(N, C, L)`` returns ``(N, D)`` float32 on the CPU, in
    window order; a Net1D fast path is built on the first call (in float32 it shares the
    model's weights).
    """

    def __init__(
        self,
        model: Any,
        *,
        batch_size: int = 64,
        precision: Literal["fp32", "bf16"] | None = None,
        compile: bool = False,
        acceleration: Acceleration | None = None,
        device: torch.device | str | None = None,
        progress: bool = False,
    ) -> None:
        _positive_int("batch_size", batch_size)
        if precision not in _PRECISIONS:
            raise ValueError(f"precision must be None, 'fp32' or 'bf16', got {precision!r}")
        for name, flag in (("compile", compile), ("progress", progress)):
            if not isinstance(flag, bool):
                raise ValueError(f"{name} must be True or False, got {flag!r}")
        if acceleration is not None:
            check_acceleration(acceleration)
        self.model = model
        self.batch_size = batch_size
        self.precision = precision
        self.compile = compile
        self.progress = progress
        self._autocast = torch.bfloat16 if precision == "bf16" else None
        self._module: nn.Module | None = None
        self._dtype: torch.dtype | None = None
        if isinstance(model, nn.Module) and hasattr(model, "forward_embedding"):
            self._module = model
            self.device = _model_device(model)
            if device is not None and not _same_device(torch.device(device), self.device):
                raise ValueError(
                    f"device={device!r}, but the model is on {self.device}: move the model "
                    "with model.to(device) (device= places the windows of a plain callable)"
                )
            self._dtype = next((p.dtype for p in model.parameters()), torch.float32)
            own = model.acceleration if isinstance(model, _EncoderWrapper) else "auto"
            mode = acceleration or own
            self._forward: Callable[[torch.Tensor], torch.Tensor] = model.forward_embedding
        elif callable(model):
            self.device = torch.device(device if device is not None else "cpu")
            mode = acceleration or "auto"
            if mode == "int8":
                raise ValueError(
                    "acceleration='int8' applies to Net1D encoders only, not to a plain "
                    "callable: pass the encoder itself"
                )
            self._forward = model
        else:
            raise TypeError(
                "the model must be an ecgfm encoder (forward_embedding), a PretrainedEncoder or "
                f"a callable windows (B, C, L) -> (B, D); got {type(model).__name__}"
            )
        check_acceleration(mode)
        self.acceleration: str = mode
        self._net = self._fast_path_network(mode)
        self.quantize: str | None = "int8" if mode == "int8" else None
        self._fast_fn: Callable[[torch.Tensor], torch.Tensor] | None = None
        self._compiled: Callable[[torch.Tensor], torch.Tensor] | None = None
        if compile and self._net is None:  # the fast path compiles itself
            self._compiled = torch.compile(self._eager, dynamic=False)

    @property
    def fast_path(self) -> bool:
        """Whether the Net1D fast path (:func:`ecgfm.models.optimize_for_inference`) runs."""
        return self._net is not None

    def _fast_path_network(self, mode: str) -> nn.Module | None:
        """The Net1D to run through the fast path, ``None`` for the plain forward."""
        if mode == "off" or self._module is None:
            return None
        net = _net1d_of(self._module)
        ref = None if net is None else next(net.parameters(), None)
        why = (
            "the model is not a Net1D encoder (ECGFounder, SelfMIS)" if net is None
            else "precision='bf16'" if self._autocast is not None
            else "the model has no parameters" if ref is None
            else f"the weights are on {ref.device.type}, not the CPU" if ref.device.type != "cpu"
            else f"the weights are {ref.dtype}, not float32" if ref.dtype != torch.float32
            else None
        )  # fmt: skip
        if why is None:
            return net
        if mode == "int8":
            raise ValueError(
                "acceleration 'int8' needs the fast path: a Net1D encoder with float32 weights "
                f"on the CPU and no precision='bf16', but {why}. Use model.accelerate('auto') "
                "(or drop quantize='int8')"
            )
        return None

    def _eager(self, x: torch.Tensor) -> torch.Tensor:
        if self._autocast is None:
            return self._forward(x)
        with torch.autocast(self.device.type, dtype=self._autocast):
            return self._forward(x)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        """One batch ``(b, C, L)`` -> ``(b, D)`` float32 on the CPU."""
        n = x.shape[0]
        if self._fast_fn is not None:
            return self._fast_fn(x).float().cpu()
        out: Any = None
        if self._compiled is not None:
            pad = self.batch_size - n  # one static shape, one compilation
            xp = torch.cat([x, x.new_zeros((pad, *x.shape[1:]))]) if pad > 0 else x
            try:
                out = self._compiled(xp)[:n]
            except Exception as exc:  # no compiler / unsupported op: stay correct
                self._compiled = None
                logger.warning("torch.compile failed (%s); embedding eagerly", exc)
        if out is None:
            out = self._eager(x)
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != n:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"the model must return (B, D) for {n} windows, got {shape}")
        return out.float().cpu()

    def __call__(self, windows: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(N, D)`` float32 (CPU) of prepared windows ``(N, C, L)``."""
        if not isinstance(windows, torch.Tensor):
            raise TypeError(
                f"windows must be a torch tensor (N, C, L) of prepared windows (from "
                f"model.prepare(...) or preset.prepare(...)), got {type(windows).__name__}"
            )
        if windows.ndim != 3:
            raise ValueError(
                f"windows must be (N, C, L) prepared windows (model.prepare(...) or "
                f"preset.prepare(...)), got shape {tuple(windows.shape)}"
            )
        slices: Iterable[slice] = list(_chunks(windows.shape[0], self.batch_size))
        if self.progress:
            with contextlib.suppress(ImportError):
                from tqdm.auto import tqdm

                slices = tqdm(slices, desc="embedding", unit="batch")
        module = self._module
        if isinstance(module, _EncoderWrapper):  # the fast path skips forward_embedding's check
            module._check_windows(windows, "forward_embedding")
        flags = [(m, m.training) for m in module.modules()] if module is not None else []
        outs: list[torch.Tensor] = []
        try:
            if module is not None:
                module.eval()
            if self._net is not None and self._fast_fn is None:
                from ecgfm.models.net1d_inference import optimize_for_inference

                self._fast_fn = optimize_for_inference(
                    self._net,  # type: ignore[arg-type]
                    quantize=self.quantize,  # type: ignore[arg-type]
                    compile=self.compile,
                )
            with torch.inference_mode():
                for sl in slices:
                    xb = windows[sl].to(device=self.device, dtype=self._dtype)
                    outs.append(self._run(xb))
        finally:
            for m, flag in flags:
                m.training = flag
        if not outs:
            return torch.zeros(0, int(getattr(self.model, "num_features", 0)))
        return torch.cat(outs)

    def record_means(
        self, chunks: Iterable[tuple[torch.Tensor, Any]], num_records: int
    ) -> RecordMeans:
        """Embed chunks of windows and average them per record.

        Args:
            chunks: pairs ``(windows (N_i, C, L), record_index (N_i,))``, the record (in
                ``[0, num_records)``) of each window; a generator keeps one chunk in memory.
            num_records: ``R``.

        Returns:
            A :class:`RecordMeans`: ``.result()`` is ``(R, D)`` float32, ``.counts`` the
            windows per record. NaN/Inf embeddings raise ``FloatingPointError`` naming the
            records.
        """
        means = RecordMeans(num_records)
        for windows, record_index in chunks:
            per_window = self(windows)
            bad = nonfinite_records(per_window, torch.as_tensor(record_index))
            if bad:
                raise FloatingPointError(f"records {bad[:10]}: {NONFINITE_ADVICE}")
            means.add(per_window, record_index)
        return means

    def __repr__(self) -> str:
        what = type(self.model).__name__
        path = (
            "Net1D fast path" + (" int8" if self.quantize else "") if self.fast_path
            else "forward"
        )  # fmt: skip
        return (
            f"EmbeddingEngine({what}, batch_size={self.batch_size}, precision={self.precision!r}, "
            f"compile={self.compile}, acceleration={self.acceleration!r}: {path})"
        )
