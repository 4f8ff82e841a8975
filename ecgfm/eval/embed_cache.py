"""Record embeddings of a task: the embedding engine plus an on-disk cache.

:func:`embed_task` takes any of

- a :class:`~ecgfm.hub.PretrainedEncoder` (its card's preset is used unless ``preset=`` is
  given; its acceleration mode, ``model.accelerate(...)``, too),
- an ecgfm encoder (an ``nn.Module`` with ``forward_embedding``) plus a preset,
- a plain callable ``embed(windows (B, C, L) tensor) -> (B, D)`` plus a preset (and a
  ``model_id`` string if its results should be cached),

runs the preset on the task's items (``windows="all"``: disjoint windows covering each item,
the last one aligned to the end), ``chunk_items`` items at a time, and hands the windows to
:class:`ecgfm.hub.EmbeddingEngine`, the one embedding path of ecgfm: batches of
``batch_size`` under ``torch.inference_mode`` (optionally bf16 autocast and/or
``torch.compile``; a Net1D encoder on the CPU in float32 through its exact fast path), and the
float64 mean of all windows of a record (CinC 2017: all windows of all its 10 s segments).
This module adds only the cache.

Cache: ``<cache_dir>/<key>.npz`` with ``cache_dir`` = ``$ECGFM_CACHE/embeddings`` (default
``~/.cache/ecgfm/embeddings``), outside any repository. The key hashes the model identity
(sha256 of every parameter and buffer, or the given ``model_id``), the preset configuration,
the precision, ``"int8"`` for the approximate int8 path (the exact fast path and the plain
forward share entries) and :meth:`TaskData.fingerprint` (record ids and signal bytes). Tasks
over the same records (PTB-XL super-classes and MI types) therefore share one entry. A loaded
entry is checked against the task's record ids.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ecgfm._cache import cache_root, state_sha256
from ecgfm.eval.task_base import TaskData
from ecgfm.hub import EmbeddingEngine, RecordMeans
from ecgfm.hub._engine import legacy_acceleration  # deprecated fast=/quantize=, until 0.2.0
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
_BARE_ENCODER_SPEED = {  # the replacements of the deprecated fast=/quantize= for a bare encoder
    "off": " on a PretrainedEncoder, or pass encoder.forward_embedding with model_id=",
    "int8": " on a PretrainedEncoder, or pass ecgfm.models.optimize_for_inference(encoder, "
    "quantize='int8') with model_id=",
}


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


def average_by_record(
    per_window: np.ndarray | torch.Tensor, record_index: np.ndarray | torch.Tensor, num_records: int
) -> np.ndarray:
    """Mean of the rows of ``per_window`` ``(N, D)`` per record (``record_index`` ``(N,)`` in
    ``[0, num_records)``), accumulated in float64 -> ``(num_records, D)`` float32
    (:class:`ecgfm.hub.RecordMeans`, the averaging of every ecgfm embedding)."""
    means = RecordMeans(num_records)
    means.add(per_window, record_index)
    return means.result().numpy()


def _preset_of(embedder: Any, preset: Preset | None) -> Preset:
    if preset is None:
        preset = getattr(embedder, "preset", None)
    if not isinstance(preset, Preset):
        raise TypeError(
            "pass preset= (e.g. ecgfm.transforms.presets.get_preset('selfmis', leads=('I',))): "
            "only a PretrainedEncoder carries its own preprocessing"
        )
    return preset


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
    """Write one cache entry atomically (:func:`ecgfm.hub._io.atomic_write_bytes`)."""
    from ecgfm.hub._io import atomic_write_bytes

    buffer = io.BytesIO()
    np.savez(
        buffer, embeddings=emb, record_ids=np.asarray(data.record_ids), num_windows=counts,
        meta=np.asarray(json.dumps(meta)),
    )  # fmt: skip
    atomic_write_bytes(path, buffer.getvalue())


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
    fast: bool | None = None,
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
            keep one shape; falls back to eager with a warning if compilation fails; the
            Net1D fast path compiles its own graph).
        device: where windows go for a plain callable (modules use their own device).
        model_id: identity for the cache (required to cache a plain callable).
        cache, cache_dir: use the on-disk cache (see the module docstring).
        chunk_items: items prepared at a time (bounds memory).
        progress: log progress every ~10 % at INFO level.
        fast: deprecated (a ``DeprecationWarning``; honoured for one release): ``False`` runs
            the plain ``forward_embedding``; use ``model.accelerate("off")``.
        quantize: deprecated (a ``DeprecationWarning``; honoured for one release):
            ``"int8"`` runs the int8 Net1D path; use ``model.accelerate("int8")``.
    """
    t0 = time.perf_counter()
    if isinstance(chunk_items, bool) or not isinstance(chunk_items, int) or chunk_items < 1:
        raise ValueError(f"chunk_items must be a positive integer, got {chunk_items!r}")
    if not isinstance(data, TaskData):
        raise TypeError(f"data must be a TaskData (Task.load(root)), got {type(data).__name__}")
    if not callable(embedder):
        raise TypeError(
            "embedder must be an ecgfm encoder (forward_embedding), a PretrainedEncoder or a "
            f"callable windows (B, C, L) -> (B, D); got {type(embedder).__name__}"
        )
    acceleration = legacy_acceleration(
        fast, quantize, call="embed_task",
        also=None if hasattr(embedder, "accelerate") else _BARE_ENCODER_SPEED,
    )  # fmt: skip
    engine = EmbeddingEngine(
        embedder, batch_size=batch_size, precision=precision, compile=compile,  # type: ignore[arg-type]
        acceleration=acceleration, device=device,  # type: ignore[arg-type]
    )  # fmt: skip
    preset = _preset_of(embedder, preset)
    is_module = isinstance(embedder, nn.Module) and hasattr(embedder, "forward_embedding")
    ident = model_id or (model_identity(embedder) if is_module else None)
    key = _cache_key(ident, preset, precision, data, engine.quantize) if ident else ""
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

    n_items = data.signals.shape[0]

    def chunks() -> Iterator[tuple[torch.Tensor, np.ndarray]]:
        next_log = 0.1
        for start in range(0, n_items, chunk_items):
            chunk = slice(start, min(n_items, start + chunk_items))
            windows, item_index = preset.prepare(data.signals[chunk], data.fs, data.leads)
            yield windows, data.item_record[chunk][item_index.cpu().numpy()]
            if progress and chunk.stop / n_items >= next_log:
                logger.info("embed_task: %d/%d items (%.0f s)", chunk.stop, n_items,
                            time.perf_counter() - t0)  # fmt: skip
                next_log = chunk.stop / n_items + 0.1

    means = engine.record_means(chunks(), data.num_records)
    emb = means.result().numpy()
    counts = means.counts.numpy()
    if cache and ident:
        meta = {"model": ident, "task": data.task, "preset": preset.name,
                "precision": precision or "fp32", "quantize": engine.quantize,
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
    ``(B, C, L)`` (already preprocessed), each computed as :func:`embed_task` computes it
    with ``precision=None`` and ``"bf16"`` (:class:`ecgfm.hub.EmbeddingEngine`; a Net1D's
    int8 mode is left out). ecgfm uses bf16 for probes only when this is >= 0.999."""
    n = max(1, int(windows.shape[0])) if isinstance(windows, torch.Tensor) else 1
    mode = "auto" if isinstance(embedder, nn.Module) else None
    runs = [
        EmbeddingEngine(embedder, batch_size=n, precision=p, acceleration=mode, device=device)(
            windows
        )
        for p in (None, "bf16")
    ]
    return float(torch.nn.functional.cosine_similarity(runs[0], runs[1], dim=1).min())
