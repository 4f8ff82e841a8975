"""Embedding of user data with a pretrained encoder: validate, prepare, batch, pool.

Policy (documented in docs/hub.md):

1. Input: one record (``(C, T)`` array/tensor or an :class:`~ecgfm.signal.ECGRecord`) or a batch
   (``(B, C, T)``, a list of arrays — lengths may differ — or a list of records, each with its
   own ``fs`` and leads). Values are converted to mV from ``units`` and validated
   (:func:`ecgfm.signal.as_signal`).
2. The card's preset prepares every record: selects/reorders leads (deriving III, aVR, aVL,
   aVF from two limb leads when needed), resamples to the card's ``fs``, filters the whole
   record, cuts windows of the card's length and normalises each window. Default
   ``windows="all"``: disjoint windows from the start, plus one last window aligned to the
   end when a remainder is left, so every sample is seen (the last two windows then overlap).
   Records shorter than a window but at least the preset's ``min_length`` give one
   zero-padded window; shorter ones are an error.
3. The encoder runs on the windows in ``torch.inference_mode`` (optionally under bf16
   autocast), ``batch_size`` windows at a time. A Net1D (ECGFounder/SelfMIS) encoder on the
   CPU in float32 runs through its fast inference path
   (:func:`ecgfm.models.net1d.optimize_for_inference`: same embeddings up to ~1e-6, 1.5-2x
   faster) unless ``fast=False``; ``quantize="int8"`` (opt-in, approximate: cosine >= 0.999
   with the float32 embedding in ecgfm's measurements) adds dynamic int8 1x1 convolutions.
4. A record's embedding is the **mean of its windows' embeddings** (``reduce="mean"``);
   ``reduce="none"`` returns every window's embedding with its record index instead.

Everything is deterministic: no random crop, no dropout (the model is in ``eval()``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ecgfm.leads import normalize_lead_names
from ecgfm.signal import ECGRecord, as_signal, check_fs

__all__ = ["Prepared", "embed_windows", "fast_embedding_fn", "prepare_inputs"]

WindowPolicy = Literal["all", "disjoint", "center", "first", "spaced"]
_WINDOW_POLICIES: tuple[str, ...] = ("all", "disjoint", "center", "first", "spaced")
Reduce = Literal["mean", "none"]


@dataclass(frozen=True)
class Prepared:
    """Model-ready windows of a set of records.

    Attributes:
        windows: ``(N, C, length)`` float32, preprocessed as the card says.
        record_index: ``(N,)`` long, the record (0..B-1) each window comes from.
        num_records: ``B``.
        single: the input was one record (``embed`` then returns ``(D,)``, not ``(1, D)``).
    """

    windows: torch.Tensor
    record_index: torch.Tensor
    num_records: int
    single: bool


def _is_array(x: Any) -> bool:
    return isinstance(x, (np.ndarray, torch.Tensor))


def _records_from_input(
    x: Any, fs: float | None, leads: Sequence[str] | None, units: str | None, nan_policy: str
) -> tuple[list[tuple[Any, float, tuple[str, ...]]], bool]:
    """Split the user input into ``[(signal (B_i, C, T_i) float32 mV, fs, leads), ...]``."""

    def from_record(r: ECGRecord, i: int | None) -> tuple[Any, float, tuple[str, ...]]:
        what = "record" if i is None else f"record {i}"
        if fs is not None and check_fs(fs) != r.fs:
            raise ValueError(
                f"{what} has fs={r.fs} Hz but fs={fs} was passed; an ECGRecord carries its own "
                "sampling rate — drop fs="
            )
        if leads is not None and normalize_lead_names(leads) != r.leads:
            raise ValueError(
                f"{what} has leads {list(r.leads)} but leads={list(leads)} was passed; an "
                "ECGRecord carries its own lead names — drop leads= (or use record.select)"
            )
        if units not in (None, "mV"):
            raise ValueError(
                f"{what}: an ECGRecord is already in mV but units={units!r} was passed; drop "
                "units= (convert when building the record: ECGRecord.from_array(..., units=))"
            )
        return r.signal[None], r.fs, r.leads

    if isinstance(x, ECGRecord):
        return [from_record(x, None)], True
    if isinstance(x, (list, tuple)) and x and all(isinstance(r, ECGRecord) for r in x):
        return [from_record(r, i) for i, r in enumerate(x)], False
    if isinstance(x, (list, tuple)) and any(isinstance(r, ECGRecord) for r in x):
        raise TypeError("a batch must be all ECGRecords or all arrays, not a mix")
    if fs is None or leads is None:
        raise ValueError(
            "fs= (Hz) and leads= (channel names, e.g. ['I', 'II', ...]) are required for array "
            "input; they are read from the record for ECGRecord input"
        )
    fs = check_fs(fs)
    lead_names = normalize_lead_names(leads)
    unit = "mV" if units is None else units
    if isinstance(x, (list, tuple)) and x and all(_is_array(r) for r in x):
        out = []
        for i, r in enumerate(x):
            sig = as_signal(
                r, fs, lead_names, units=unit, nan_policy=nan_policy, allow_batch=False,
                what=f"record {i}",
            )  # fmt: skip
            out.append((sig[None], fs, lead_names))
        return out, False
    if isinstance(x, (list, tuple)) and len(x) == 0:
        raise ValueError("empty batch: pass at least one record")
    sig = as_signal(x, fs, lead_names, units=unit, nan_policy=nan_policy, allow_batch=True)
    if sig.ndim == 2:
        return [(sig[None], fs, lead_names)], True
    if sig.shape[0] == 0:
        raise ValueError("empty batch (B = 0): pass at least one record")
    return [(sig, fs, lead_names)], False


def prepare_inputs(
    preset: Any,
    x: Any,
    fs: float | None = None,
    leads: Sequence[str] | None = None,
    *,
    units: str | None = None,
    windows: WindowPolicy = "all",
    nan_policy: str | None = None,
) -> Prepared:
    """Validate ``x`` and turn it into the preset's windows (see the module docstring)."""
    if nan_policy is None:
        nan_policy = preset.nan_policy
    if nan_policy not in ("raise", "zero"):
        raise ValueError(f"nan_policy must be 'raise' or 'zero', got {nan_policy!r}")
    if windows not in _WINDOW_POLICIES:
        raise ValueError(
            f"windows must be one of {list(_WINDOW_POLICIES)} (embedding is deterministic: no "
            f"'random'), got {windows!r}"
        )
    groups, single = _records_from_input(x, fs, leads, units, nan_policy)
    all_windows: list[torch.Tensor] = []
    all_index: list[torch.Tensor] = []
    offset = 0
    for sig, g_fs, g_leads in groups:
        w, idx = preset.prepare(sig, g_fs, g_leads, windows=windows, nan_policy=nan_policy)
        all_windows.append(w)
        all_index.append(idx.to(torch.long) + offset)
        offset += int(sig.shape[0])
    return Prepared(torch.cat(all_windows), torch.cat(all_index), offset, single)


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def fast_embedding_fn(
    encoder: nn.Module,
    *,
    fast: bool = True,
    quantize: str | None = None,
    autocast_dtype: torch.dtype | None = None,
    compile: bool = False,
) -> Any:
    """The Net1D fast path for ``encoder`` if it applies, else ``None``.

    It applies when ``fast`` is true and ``encoder`` is a :class:`~ecgfm.models.net1d.Net1D`
    with float32 weights on the CPU, without autocast. ``quantize="int8"`` must be asked for
    explicitly and is an error where the fast path does not apply (rather than silently
    ignored).
    """
    from ecgfm.models.net1d import Net1D, optimize_for_inference

    if quantize not in (None, "int8"):
        raise ValueError(f"quantize must be None or 'int8', got {quantize!r}")
    ref = next(encoder.parameters(), None)
    applies = (
        fast
        and isinstance(encoder, Net1D)
        and autocast_dtype is None
        and ref is not None
        and ref.device.type == "cpu"
        and ref.dtype == torch.float32
    )
    if not applies:
        if quantize is not None:
            raise ValueError(
                "quantize='int8' needs the fast path: a Net1D encoder with float32 weights on "
                "the CPU, fast=True and no bf16 precision"
            )
        return None
    return optimize_for_inference(encoder, quantize=quantize, compile=compile)  # type: ignore[arg-type]


def embed_windows(
    encoder: nn.Module,
    prepared: Prepared,
    *,
    batch_size: int = 64,
    autocast_dtype: torch.dtype | None = None,
    reduce: Reduce = "mean",
    progress: bool = False,
    fast: bool = True,
    quantize: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run ``encoder.forward_embedding`` on prepared windows and pool them per record.

    ``fast``/``quantize``: see :func:`fast_embedding_fn` (a float32 Net1D on the CPU runs
    through its fast path by default; ``fast=False`` runs ``forward_embedding`` itself).

    Returns ``(embeddings, record_index)``: with ``reduce="mean"`` embeddings are ``(B, D)``
    float32 on the CPU and ``record_index`` is None; with ``reduce="none"`` they are ``(N, D)``
    with the ``(N,)`` record index of each window.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if reduce not in ("mean", "none"):
        raise ValueError(f"reduce must be 'mean' or 'none', got {reduce!r}")
    if autocast_dtype not in (None, torch.bfloat16, torch.float16):
        raise ValueError(
            f"autocast_dtype must be None, torch.bfloat16 or torch.float16, got {autocast_dtype}"
        )
    device = _model_device(encoder)
    dtype = next((p.dtype for p in encoder.parameters()), torch.float32)
    n = prepared.windows.shape[0]
    slices = list(_chunks(n, batch_size))
    iterator: Any = slices
    if progress:
        with contextlib.suppress(ImportError):
            from tqdm.auto import tqdm

            iterator = tqdm(slices, desc="embedding", unit="batch")
    was_training = encoder.training
    fast_fn = fast_embedding_fn(
        encoder, fast=fast, quantize=quantize, autocast_dtype=autocast_dtype
    )  # fmt: skip
    embed = encoder.forward_embedding if fast_fn is None else fast_fn
    encoder.eval()
    outs: list[torch.Tensor] = []
    try:
        with torch.inference_mode():
            for sl in iterator:
                xb = prepared.windows[sl].to(device=device, dtype=dtype)
                ctx = (
                    torch.autocast(device_type=device.type, dtype=autocast_dtype)
                    if autocast_dtype is not None
                    else contextlib.nullcontext()
                )
                with ctx:
                    emb = embed(xb)
                outs.append(emb.float().cpu())
    finally:
        encoder.train(was_training)
    per_window = torch.cat(outs)
    if not torch.isfinite(per_window).all():
        raise FloatingPointError(
            "the encoder produced NaN/Inf embeddings; check the input (flat or saturated "
            "signals) or disable reduced-precision autocast"
        )
    if reduce == "none":
        return per_window, prepared.record_index.clone()
    b = prepared.num_records
    sums = torch.zeros(b, per_window.shape[1], dtype=torch.float64)
    sums.index_add_(0, prepared.record_index, per_window.double())
    counts = torch.bincount(prepared.record_index, minlength=b).to(torch.float64)
    if (counts == 0).any():
        missing = torch.nonzero(counts == 0).flatten().tolist()
        raise RuntimeError(f"records {missing} produced no window; this is a bug in the preset")
    return (sums / counts[:, None]).float(), None
