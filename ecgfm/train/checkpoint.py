"""Training checkpoints (exact resume) and the exported encoder file.

A checkpoint is one ``torch.save`` file holding everything needed to continue a run as if it
had never stopped: model weights (minus frozen parts that are rebuilt from their own source,
e.g. a SelfMIS teacher), optimiser, scheduler and gradient-scaler states, the step and sample
counters, the wall-clock spent so far, the random-number-generator states (Python, NumPy,
torch CPU and CUDA) and the run's arguments. Writes are atomic: the file is written next to the
target, flushed to disk and renamed over it, so an interrupted save leaves the previous
checkpoint intact.

:func:`export_warm_start` writes the trainable weights of the whole pre-training model (no
optimiser state; bf16 by default) for a warm restart in a later session, and :func:`warm_start`
loads it, or only an encoder, into a new run.

The trained encoder itself is exported as a ``save_pretrained`` directory
(:class:`ecgfm.train.export.EncoderExport`). :func:`export_encoder`, which wrote it as a bare
``.safetensors`` file, is deprecated; :func:`ecgfm.train.encoders.load_encoder` keeps reading
those files.

Every weight file is written and read by :mod:`ecgfm.hub._io` (atomic writes, strict loads).
"""

from __future__ import annotations

import io
import json
import os
import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ecgfm._deprecated import warn_deprecated
from ecgfm.hub._io import (
    atomic_write_bytes,
    load_safetensors_strict,
    load_state_dict_strict,
    new_file_mode,
    read_ecgfm_metadata,
    storage_dtype_name,
    write_safetensors,
)

__all__ = [
    "CHECKPOINT_VERSION",
    "atomic_torch_save",
    "capture_rng_state",
    "export_encoder",
    "export_warm_start",
    "load_checkpoint",
    "restore_rng_state",
    "save_checkpoint",
    "trainable_state_dict",
    "warm_start",
]

CHECKPOINT_VERSION = 1


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_umask_mode = new_file_mode  # one definition, in ecgfm.hub._io (teacher_cache imports this name)


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save(obj, path)`` through a temporary file in the same directory + rename
    (:func:`ecgfm.hub._io.atomic_write_bytes`), then the directory entry is flushed."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    target = atomic_write_bytes(path, buffer.getvalue())
    _fsync_dir(target.parent)
    return target


def capture_rng_state() -> dict[str, Any]:
    """States of Python's, NumPy's and torch's global generators (CPU and every CUDA device)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state` (CUDA states only if CUDA is in use here too)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def trainable_state_dict(
    model: nn.Module, exclude_prefixes: Iterable[str] = ()
) -> dict[str, torch.Tensor]:
    """``model.state_dict()`` without the entries under ``exclude_prefixes`` (e.g. ``"teacher."``).

    Used to keep checkpoints compact: a frozen teacher is rebuilt from its own file on resume.
    """
    prefixes = tuple(exclude_prefixes)
    return {k: v for k, v in model.state_dict().items() if not k.startswith(prefixes)}


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any | None = None,
    scaler: Any | None = None,
    step: int,
    counters: Mapping[str, float] | None = None,
    args: Mapping[str, Any] | None = None,
    exclude_prefixes: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a resumable checkpoint atomically; see the module docstring for its content.

    Args:
        path: target file (its directory is created).
        model: the bare model (unwrap DDP first: ``ddp.module``).
        optimizer, scheduler, scaler: their ``state_dict()`` are stored (scheduler and scaler
            optional).
        step: optimiser steps done.
        counters: other numbers to restore (samples seen, wall-clock seconds...).
        args: the run's configuration (JSON-able), compared on resume.
        exclude_prefixes: state-dict prefixes not to store (frozen parts with their own
            source).
        extra: anything else picklable by ``torch.save`` with ``weights_only=True``-safe types
            (tensors, numbers, strings, lists, dicts).
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be an int >= 0, got {step!r}")
    if hasattr(model, "module") and isinstance(model.module, nn.Module):
        raise TypeError("save_checkpoint expects the bare model; pass ddp_model.module")
    payload = {
        "version": CHECKPOINT_VERSION,
        "step": step,
        "model": trainable_state_dict(model, exclude_prefixes),
        "excluded_prefixes": list(exclude_prefixes),
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "scaler": None if scaler is None else scaler.state_dict(),
        "counters": dict(counters or {}),
        "args": json.loads(json.dumps(dict(args or {}), default=str)),
        "rng": capture_rng_state(),
        "extra": dict(extra or {}),
    }
    return atomic_torch_save(payload, path)


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    scaler: Any | None = None,
    restore_rng: bool = True,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Restore a :func:`save_checkpoint` file into the given objects; return the payload.

    The model load is strict except for the prefixes the checkpoint says it excluded (those
    parameters must already hold their values, e.g. a teacher loaded from its file).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not an ecgfm training checkpoint, or a newer format.
        RuntimeError: the weights do not fit the model (missing/unexpected keys, shapes).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no checkpoint at {p}")
    # weights_only=False: the payload holds Python/NumPy RNG states (tuples with numpy arrays).
    # Only load checkpoints you wrote yourself.
    payload = torch.load(p, map_location=map_location, weights_only=False)
    if not isinstance(payload, dict) or "version" not in payload or "model" not in payload:
        raise ValueError(f"{p} is not an ecgfm training checkpoint (save_checkpoint)")
    if payload["version"] > CHECKPOINT_VERSION:
        raise ValueError(
            f"{p} has checkpoint version {payload['version']}; this ecgfm reads up to "
            f"{CHECKPOINT_VERSION}: upgrade ecgfm"
        )
    excluded = tuple(payload.get("excluded_prefixes", ()))
    result = model.load_state_dict(payload["model"], strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(excluded)]
    if missing or result.unexpected_keys:
        raise RuntimeError(
            f"{p} does not fit the model: missing {missing[:5]}, unexpected "
            f"{list(result.unexpected_keys)[:5]}; resume with the same model arguments"
        )
    if optimizer is not None:
        optimizer.load_state_dict(payload["optimizer"])
    if scheduler is not None and payload["scheduler"] is not None:
        scheduler.load_state_dict(payload["scheduler"])
    if scaler is not None and payload["scaler"] is not None:
        scaler.load_state_dict(payload["scaler"])
    if restore_rng:
        restore_rng_state(payload["rng"])
    return payload


def _write_weights(
    state: Mapping[str, torch.Tensor],
    info: Mapping[str, Any],
    path: str | os.PathLike[str],
    dtype: str,
) -> Path:
    """Write ``state`` (floating tensors as ``dtype``) with ``info`` as the ``"ecgfm"`` JSON
    metadata, atomically."""
    metadata = {"ecgfm": json.dumps(dict(info), default=str)}
    return write_safetensors(state, path, storage_dtype=dtype, metadata=metadata)


def write_encoder_file(
    encoder: nn.Module,
    path: str | os.PathLike[str],
    *,
    dtype: str = "float32",
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """:func:`export_encoder` without its deprecation warning (``fit``'s deprecated
    ``export=(encoder, filename)`` form)."""
    dtype = storage_dtype_name(dtype, argument="dtype")
    arch = getattr(encoder, "arch_name", None)
    if arch is None:
        raise ValueError(
            f"{type(encoder).__name__} has no arch_name; build encoders with "
            "ecgfm.models.create_model so the file records how to rebuild them"
        )
    info = {"arch": arch, "arch_args": dict(getattr(encoder, "arch_args", {}) or {})}
    info.update(dict(metadata or {}))
    return _write_weights(encoder.state_dict(), info, path, dtype)


def export_encoder(
    encoder: nn.Module,
    path: str | os.PathLike[str],
    *,
    dtype: str = "float32",
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Deprecated: save ``encoder``'s weights alone as a bare safetensors file, atomically.

    Use :func:`ecgfm.save_pretrained` (a directory with the card: input contract,
    preprocessing, provenance, sha256), which :func:`ecgfm.from_pretrained` and
    :func:`ecgfm.train.encoders.load_encoder` read; :func:`ecgfm.train.loop.fit` writes one at
    the end of training with ``export=EncoderExport(encoder, preset=...)``. Files written by
    this function stay readable by ``load_encoder``.

    The metadata key ``"ecgfm"`` holds JSON with ``arch`` and ``arch_args`` (from
    :func:`ecgfm.models.create_model`) plus ``metadata``.

    Args:
        encoder: built by ``create_model`` (it carries ``arch_name`` / ``arch_args``).
        path: target ``.safetensors`` file.
        dtype: storage dtype of floating tensors: ``"float32"``, ``"bfloat16"`` or
            ``"float16"`` (half the size; loading casts back to the model's dtype).
        metadata: extra JSON-able provenance (steps, data, wall-clock...).
    """
    warn_deprecated(
        "ecgfm.train.checkpoint.export_encoder(encoder, path)",
        "ecgfm.save_pretrained(encoder, directory, card=ecgfm.hub.make_card(encoder, ...)), a "
        "directory that ecgfm.from_pretrained and load_encoder read (fit(..., "
        "export=EncoderExport(encoder, preset=...)) writes it at the end of training)",
    )
    return write_encoder_file(encoder, path, dtype=dtype, metadata=metadata)


WARM_START_NAME = "warm_start.safetensors"


def export_warm_start(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    dtype: str = "bfloat16",
    exclude_prefixes: Iterable[str] = (),
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Save the trainable weights of a whole pre-training model (encoder, decoder, heads) as
    safetensors, small enough to commit: the warm restart of a run in a later session.

    Unlike a checkpoint it holds no optimiser state; :func:`warm_start` loads it into a new
    model of the same configuration (the learning-rate schedule starts again).

    Args:
        model: the bare pre-training model (``method.objective``).
        path: target ``.safetensors`` file.
        dtype: storage dtype of floating tensors (default ``"bfloat16"``: half the size).
        exclude_prefixes: frozen parts not to store (e.g. ``"teacher."``).
        metadata: JSON-able provenance.
    """
    dtype = storage_dtype_name(dtype, argument="dtype")
    if hasattr(model, "module") and isinstance(model.module, nn.Module):
        raise TypeError("export_warm_start expects the bare model; pass ddp_model.module")
    state = trainable_state_dict(model, exclude_prefixes)
    info = {"kind": "warm_start", "model": type(model).__name__, **dict(metadata or {})}
    return _write_weights(state, info, path, dtype)


def warm_start(
    model: nn.Module,
    encoder: nn.Module | None,
    source: str | os.PathLike[str],
    *,
    exclude_prefixes: Iterable[str] = (),
) -> str:
    """Initialise a new run from earlier weights; returns what was loaded (for the log).

    ``source`` is either a file written by :func:`export_warm_start` (every trainable weight
    of ``model`` is loaded, strictly) or any encoder that
    :func:`ecgfm.train.encoders.load_encoder` reads (registered name, ``save_pretrained``
    directory, exported ``.safetensors``): then only ``encoder`` is loaded, strictly, and the
    rest of ``model`` (decoder, projection heads) keeps its fresh initialisation.

    Raises:
        ValueError: weights of another architecture or configuration.
    """
    from ecgfm.train.encoders import load_encoder

    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.suffix == ".safetensors" and path.is_file():
        what = f"warm start {path}"
        if read_ecgfm_metadata(path, what=what).get("kind") == "warm_start":
            load_safetensors_strict(
                model,
                path,
                what=what,
                advice="use the model, decoder and head arguments of the run that wrote it",
                exclude_prefixes=exclude_prefixes,
            )
            return f"warm start: every trainable weight from {path}"
    if encoder is None:
        raise ValueError(
            f"{text} is not a warm_start.safetensors file and this run names no encoder to "
            "load it into"
        )
    loaded = load_encoder(text)
    arch = getattr(encoder, "arch_name", None)
    if getattr(loaded, "arch_name", None) != arch:
        raise ValueError(
            f"{text} holds a {getattr(loaded, 'arch_name', '?')!r} encoder, this run trains "
            f"{arch!r}; pass the matching --model"
        )
    load_state_dict_strict(
        encoder,
        loaded.state_dict(),
        what=f"warm start {text} ({loaded.arch_args})",
        advice="pass the --model-args the weights were trained with",
    )
    return f"warm start: encoder from {text}; other weights freshly initialised"
