"""Record embeddings of a task: prepare windows, embed them in batches, average per record, cache.

:func:`embed_task` takes any of

- a :class:`~ecgfm.hub.PretrainedEncoder` (its card's preset is used unless ``preset=`` is
  given),
- an ecgfm encoder (an ``nn.Module`` with ``forward_embedding``) plus a preset,
- a plain callable ``embed(windows (B, C, L) tensor) -> (B, D)`` plus a preset (and a
  ``model_id`` string if its results should be cached),

runs the preset on the task's items (``windows="all"``: disjoint windows covering each item,
the last one aligned to the end), embeds the windows ``batch_size`` at a time under
``torch.inference_mode`` (optionally bf16 autocast and/or ``torch.compile``), and averages all
windows of a record (CinC 2017: all windows of all its 10 s segments) in float64.

A Net1D encoder (bare or in a PretrainedEncoder) on the CPU in float32 runs through its fast
inference path (:func:`ecgfm.models.optimize_for_inference`, equal to
``forward_embedding`` up to ~1e-6, so it shares the cache entries of the plain forward) unless
``fast=False``; ``quantize="int8"`` (opt-in, approximate) adds dynamic int8 1x1 convolutions
and gets cache entries of its own.

Cache: ``<cache_dir>/<key>.npz`` with ``cache_dir`` = ``$ECGFM_CACHE/embeddings`` (default
``~/.cache/ecgfm/embeddings``), outside any repository. The key hashes the model identity
(sha256 of every parameter and buffer, or the given ``model_id``), the preset configuration,
the precision and :meth:`TaskData.fingerprint` (record ids and signal bytes). Tasks over the
same records (PTB-XL super-classes and MI types) therefore share one entry. A loaded entry is
checked against the task's record ids.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ecgfm._cache import cache_root, state_sha256
from ecgfm.eval.task_base import TaskData
from ecgfm.transforms.presets import Preset

__all__ = [
    "RecordEmbeddings",
    "average_by_record",
    "bf16_agreement",
    "default_cache_dir",
    "embed_task",
    "model_identity",
]

logger = logging.getLogger(__name__)

_CACHE_VERSION = 1
_PRECISIONS = (None, "fp32", "bf16")


@dataclass(frozen=True)
class RecordEmbeddings:
    """Per-record embeddings of a task.

    Attributes:
        embeddings: ``(R, D)`` float32, rows in ``record_ids`` order.
        record_ids: the task's record ids.
        num_windows: ``(R,)`` windows averaged into each row.
        model_id: identity used in the cache key.
        key: the cache key.
        from_cache: loaded from disk rather than computed.
        seconds: wall time of this call.
    """

    embeddings: np.ndarray
    record_ids: tuple[str, ...]
    num_windows: np.ndarray
    model_id: str
    key: str
    from_cache: bool
    seconds: float


def default_cache_dir() -> Path:
    """``$ECGFM_CACHE/embeddings``, default ``~/.cache/ecgfm/embeddings``."""
    return cache_root() / "embeddings"


def model_identity(model: nn.Module) -> str:
    """``"<ClassName>:<sha256>"`` over the names, shapes, dtypes and bytes of every parameter
    and buffer: two modules with equal weights get the same identity."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model_identity needs an nn.Module, got {type(model).__name__}")
    return f"{type(model).__name__}:{state_sha256(model)}"


def _numpy(x: np.ndarray | torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def average_by_record(
    per_window: np.ndarray | torch.Tensor, record_index: np.ndarray | torch.Tensor, num_records: int
) -> np.ndarray:
    """Mean of the rows of ``per_window`` ``(N, D)`` per record (``record_index`` ``(N,)`` in
    ``[0, num_records)``), accumulated in float64 -> ``(num_records, D)`` float32."""
    x = _numpy(per_window)
    idx = _numpy(record_index)
    if x.ndim != 2 or idx.shape != (x.shape[0],):
        raise ValueError(f"need per_window (N, D), record_index (N,); got {x.shape}, {idx.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= num_records):
        raise ValueError(f"record_index must lie in [0, {num_records})")
    sums = np.zeros((num_records, x.shape[1]), dtype=np.float64)
    np.add.at(sums, idx, x.astype(np.float64))
    counts = np.bincount(idx, minlength=num_records)
    if (counts == 0).any():
        raise ValueError(f"records {np.flatnonzero(counts == 0)[:5].tolist()} have no window")
    return (sums / counts[:, None]).astype(np.float32)


def _net1d_fast_fn(
    embedder: nn.Module, precision: str | None, fast: bool, quantize: str | None, compile_: bool
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The Net1D fast path of ``embedder`` (or of its ``.encoder``) when it applies."""
    from ecgfm.hub._embed import fast_embedding_fn

    encoder = getattr(embedder, "encoder", embedder)
    if not isinstance(encoder, nn.Module):
        encoder = embedder
    autocast = torch.bfloat16 if precision == "bf16" else None
    return fast_embedding_fn(
        encoder, fast=fast, quantize=quantize, autocast_dtype=autocast, compile=compile_
    )  # fmt: skip


def _embed_fn(
    embedder: Any,
    model_id: str | None,
    *,
    precision: str | None = None,
    fast: bool = True,
    quantize: str | None = None,
    compile_: bool = False,
) -> tuple[Callable[[torch.Tensor], torch.Tensor], str | None, torch.device | None, bool]:
    """-> (embed function, identity or None, device of the model or None, fast path used)."""
    if isinstance(embedder, nn.Module) and hasattr(embedder, "forward_embedding"):
        device = next((p.device for p in embedder.parameters()), None)
        ident = model_id or model_identity(embedder)
        fast_fn = _net1d_fast_fn(embedder, precision, fast, quantize, compile_)
        if fast_fn is not None:
            return fast_fn, ident, device, True
        return embedder.forward_embedding, ident, device, False
    if quantize is not None:
        raise ValueError("quantize='int8' applies to Net1D encoders only, not to a callable")
    if callable(embedder):
        return embedder, model_id, None, False
    raise TypeError(
        "embedder must be an ecgfm encoder (forward_embedding), a PretrainedEncoder or a "
        f"callable windows (B, C, L) -> (B, D); got {type(embedder).__name__}"
    )


def _preset_of(embedder: Any, preset: Preset | None) -> Preset:
    if preset is None:
        preset = getattr(embedder, "preset", None)
    if not isinstance(preset, Preset):
        raise TypeError(
            "pass preset= (e.g. ecgfm.transforms.presets.get_preset('selfmis', leads=('I',))): "
            "only a PretrainedEncoder carries its own preprocessing"
        )
    return preset


def _batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def _runner(
    fn: Callable[[torch.Tensor], torch.Tensor],
    device: torch.device,
    precision: str | None,
    compile_: bool,
    batch_size: int,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Wrap ``fn``: inference mode, optional autocast and compile, float32 CPU output."""

    def eager(x: torch.Tensor) -> torch.Tensor:
        ctx = (
            torch.autocast(device.type, dtype=torch.bfloat16)
            if precision == "bf16"
            else contextlib.nullcontext()
        )
        with ctx:
            return fn(x)

    compiled = torch.compile(eager, dynamic=False) if compile_ else None  # the padded batch
    state = {"fallback": compiled is None}

    def run(x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        with torch.inference_mode():
            if not state["fallback"]:
                # Pad the last batch: one static shape, one compilation.
                pad = batch_size - n
                xp = torch.cat([x, x.new_zeros((pad, *x.shape[1:]))]) if pad > 0 else x
                try:
                    return compiled(xp)[:n].float().cpu()  # type: ignore[misc]
                except Exception as exc:  # no compiler / unsupported op: stay correct
                    state["fallback"] = True
                    logger.warning("torch.compile failed (%s); embedding eagerly", exc)
            out = eager(x)
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != n:
            shape = getattr(out, "shape", type(out).__name__)
            raise ValueError(f"the embedder must return (B, D) for {n} windows, got {shape}")
        return out.float().cpu()

    return run


def _cache_key(
    ident: str, preset: Preset, precision: str | None, data: TaskData, quantize: str | None = None
) -> str:
    spec = {
        "version": _CACHE_VERSION,
        "model": ident,
        "preset": preset.to_config(),
        "precision": precision or "fp32",
        "data": data.fingerprint(),
    }
    if quantize is not None:  # fp32 fast path = plain forward: same entries; int8 differs
        spec["quantize"] = quantize
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]


def _load_cached(path: Path, data: TaskData) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            emb, ids, counts = z["embeddings"], z["record_ids"], z["num_windows"]
    except (OSError, KeyError, ValueError) as err:
        logger.warning("embedding cache %s is unreadable (%s); recomputing", path, err)
        return None
    if tuple(ids.tolist()) != data.record_ids or emb.shape[0] != data.num_records:
        logger.warning("embedding cache %s does not match the task's records; recomputing", path)
        return None
    return emb.astype(np.float32), counts


def _save(path: Path, emb: np.ndarray, data: TaskData, counts: np.ndarray, meta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(
            tmp, embeddings=emb, record_ids=np.asarray(data.record_ids), num_windows=counts,
            meta=np.asarray(json.dumps(meta)),
        )  # fmt: skip
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def embed_task(
    embedder: Any,
    data: TaskData,
    *,
    preset: Preset | None = None,
    batch_size: int = 64,
    precision: str | None = None,
    compile: bool = False,
    device: torch.device | str | None = None,
    model_id: str | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    chunk_items: int = 256,
    progress: bool = False,
    fast: bool = True,
    quantize: str | None = None,
) -> RecordEmbeddings:
    """Per-record embeddings ``(R, D)`` of ``data`` (see the module docstring).

    Args:
        embedder: PretrainedEncoder, ecgfm encoder or callable ``(B, C, L) -> (B, D)``.
        data: the task's data (:meth:`ecgfm.eval.tasks.Task.load`).
        preset: preprocessing; defaults to a PretrainedEncoder's own.
        batch_size: windows per forward pass.
        precision: ``None``/``"fp32"`` or ``"bf16"`` (autocast; check
            :func:`bf16_agreement` first).
        compile: run the forward through ``torch.compile`` (the last batch is zero-padded to
            keep one shape; falls back to eager with a warning if compilation fails).
        device: where windows go for a plain callable (modules use their own device).
        model_id: identity for the cache (required to cache a plain callable).
        cache, cache_dir: use the on-disk cache (see the module docstring).
        chunk_items: items prepared at a time (bounds memory).
        progress: log progress every ~10 % at INFO level.
        fast: run a float32 Net1D encoder on the CPU through its fast inference path (see the
            module docstring; ``compile`` then compiles that path); ``False``: the plain
            ``forward_embedding``.
        quantize: ``"int8"``: dynamic int8 1x1 convolutions in that fast path (opt-in,
            approximate; an error where the fast path does not apply).
    """
    t0 = time.perf_counter()
    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be None, 'fp32' or 'bf16', got {precision!r}")
    for name, v in (("batch_size", batch_size), ("chunk_items", chunk_items)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if not isinstance(data, TaskData):
        raise TypeError(f"data must be a TaskData (Task.load(root)), got {type(data).__name__}")
    fn, ident, model_device, fast_used = _embed_fn(
        embedder, model_id, precision=precision, fast=fast, quantize=quantize, compile_=compile
    )  # fmt: skip
    preset = _preset_of(embedder, preset)
    dev = model_device or torch.device(device if device is not None else "cpu")
    key = _cache_key(ident, preset, precision, data, quantize) if ident else ""
    if cache and not ident:
        logger.info("embed_task: a plain callable without model_id= is not cached")
    path = Path(cache_dir or default_cache_dir()) / f"{key}.npz"
    if cache and ident and path.is_file():
        hit = _load_cached(path, data)
        if hit is not None:
            logger.info("embed_task: loaded %s from the cache", path)
            emb, counts = hit
            return RecordEmbeddings(
                emb, data.record_ids, counts, ident, key, True, time.perf_counter() - t0
            )

    # The fast path compiles itself (per chunk shape); do not wrap it in a second compile.
    run = _runner(fn, dev, precision, compile and not fast_used, batch_size)
    n_items = data.signals.shape[0]
    sums: np.ndarray | None = None
    counts = np.zeros(data.num_records, dtype=np.int64)
    next_log = 0.1
    for chunk in _batches(n_items, chunk_items):
        windows, item_index = preset.prepare(data.signals[chunk], data.fs, data.leads)
        record_index = data.item_record[chunk][item_index.cpu().numpy()]
        outs = [run(windows[b].to(dev)) for b in _batches(windows.shape[0], batch_size)]
        per_window = torch.cat(outs).double().numpy()
        if not np.isfinite(per_window).all():
            raise FloatingPointError(
                "the encoder produced NaN/Inf embeddings; check the data or use fp32"
            )
        if sums is None:
            sums = np.zeros((data.num_records, per_window.shape[1]), dtype=np.float64)
        np.add.at(sums, record_index, per_window)
        counts += np.bincount(record_index, minlength=data.num_records)
        if progress and chunk.stop / n_items >= next_log:
            logger.info("embed_task: %d/%d items (%.0f s)", chunk.stop, n_items,
                        time.perf_counter() - t0)  # fmt: skip
            next_log = chunk.stop / n_items + 0.1
    assert sums is not None  # n_items >= 1 (TaskData has records, each with items)
    if (counts == 0).any():
        raise RuntimeError("a record produced no window; this is a bug in the preset")
    emb = (sums / counts[:, None]).astype(np.float32)
    if cache and ident:
        meta = {"model": ident, "task": data.task, "preset": preset.name,
                "precision": precision or "fp32", "quantize": quantize,
                "created": time.time()}  # fmt: skip
        _save(path, emb, data, counts, meta)
        logger.info("embed_task: cached %s", path)
    return RecordEmbeddings(
        emb, data.record_ids, counts, ident or "", key, False, time.perf_counter() - t0
    )


def bf16_agreement(
    embedder: Any, windows: torch.Tensor, *, device: torch.device | str | None = None
) -> float:
    """Smallest cosine similarity between fp32 and bf16-autocast embeddings of ``windows``
    ``(B, C, L)`` (already preprocessed). ecgfm uses bf16 for probes only when this is
    >= 0.999."""
    fn, _, model_device, _ = _embed_fn(embedder, "check")
    dev = model_device or torch.device(device if device is not None else "cpu")
    x = windows.to(dev)
    full = _runner(fn, dev, None, False, x.shape[0])(x)
    half = _runner(fn, dev, "bf16", False, x.shape[0])(x)
    return float(torch.nn.functional.cosine_similarity(full, half, dim=1).min())
