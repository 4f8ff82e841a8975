"""``save_pretrained`` (the ecgfm directory format) and ``make_card``.

A saved directory holds exactly what the Hugging Face Hub expects of a model repository:

- ``model.safetensors``: the encoder's state dict;
- ``config.json``: ``{"format": "ecgfm", "format_version": 1, "ecgfm_version": ...,
  "card": {...}}`` — the full card, including the sha256 of ``model.safetensors``;
- ``README.md``: the human-readable model card with Hugging Face front matter.

Exactness: by default the stored tensors hold exactly the model's values (the card's
``storage_dtype`` when it represents every weight exactly, else the dtype the tensors have);
rounding to float16/bfloat16 happens only when the caller asks for it, and its largest change
is logged.

Changed weights: a card with a weights digest describes one set of weights. Before saving, the
stored tensors are serialised exactly as that card's file was (same dtype and metadata) and
hashed: an unchanged model reproduces the card's sha256 and keeps its card, bit for bit. A
model whose weights changed after loading (fine-tuning, training-mode BatchNorm statistics, a
lossy cast) gets a derived card instead: a new name, no metrics, no limitations and no
training claims of the base, which is recorded in ``card.base_model``.

Files are written to a temporary directory next to the target and moved in place, so an
interrupted save never leaves a half-written model that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from ecgfm._version import __version__
from ecgfm.hub._card import (
    BaseModel,
    InputSpec,
    Metric,
    PretrainedCard,
    TrainingInfo,
    WeightsSpec,
    check_card_name,
)
from ecgfm.hub._card_preset import preset_input_spec
from ecgfm.hub._io import (
    find_bundled_file,
    read_safetensors_metadata,
    rounding_error,
    serialize_safetensors,
    storage_dtype_name,
    storage_tensors,
)
from ecgfm.hub._markdown import card_to_markdown
from ecgfm.hub._model import PretrainedEncoder, check_card_matches_model, count_parameters

__all__ = [
    "CONFIG_NAME",
    "FORMAT_VERSION",
    "WEIGHTS_NAME",
    "ChangedWeightsWarning",
    "make_card",
    "save_pretrained",
]

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
README_NAME = "README.md"
FORMAT_VERSION = 1

WeightsStatus = Literal["new", "same", "changed", "unverifiable"]
_STORABLE = ("float32", "float16", "bfloat16")


class ChangedWeightsWarning(UserWarning):
    """``save_pretrained`` saved weights that its card does not describe, under a derived card."""


def make_card(
    model: nn.Module,
    *,
    name: str,
    preset: Any,
    license: str,
    paper: str,
    training: TrainingInfo | str,
    description: str = "",
    metrics: Sequence[Metric] = (),
    tags: Sequence[str] = (),
    storage_dtype: str = "float32",
) -> PretrainedCard:
    """A card for ``model`` (built by ``create_model``), filled from the model and the preset.

    Architecture, args, embedding width and parameter count are read from the model; the input
    contract from ``preset`` (a preset name or a ``Preset``); the leads from the preset, or
    from ``model.in_leads`` when the preset does not fix them. The weights location is filled
    in by :func:`save_pretrained`, which stores the weights in ``storage_dtype`` when that
    holds them exactly (otherwise in their own dtype; ``save_pretrained(storage_dtype=...)``
    rounds on request).
    """
    from ecgfm.transforms.presets import get_preset

    if isinstance(model, PretrainedEncoder):
        model = model.encoder
    arch = getattr(model, "arch_name", None)
    if arch is None:
        raise ValueError(
            f"{type(model).__name__} has no arch_name: build it with ecgfm.models.create_model "
            "so that its architecture can be rebuilt at load time"
        )
    if isinstance(preset, str):
        preset = get_preset(preset)
    in_leads = getattr(model, "in_leads", None)
    spec: InputSpec = preset_input_spec(preset, tuple(in_leads) if in_leads else None)
    _check_preset_fits(spec, model)
    if isinstance(training, str):
        training = TrainingInfo(data=training)
    return PretrainedCard(
        name=name,
        arch=arch,
        arch_args=dict(getattr(model, "arch_args", {}) or {}),
        input=spec,
        embed_dim=int(model.num_features),
        num_params=count_parameters(model),
        weights=WeightsSpec(
            format="ecgfm",
            storage_dtype=storage_dtype_name(storage_dtype),  # type: ignore[arg-type]
            user_file_hint="written by ecgfm.save_pretrained",
        ),
        license=license,
        paper=paper,
        training=training,
        metrics=tuple(metrics),
        description=description,
        tags=tuple(tags),
    )


def _check_preset_fits(spec: InputSpec, model: nn.Module) -> None:
    """The preset's windows must be what ``model`` takes: its leads and, for an encoder built
    for one window length (``default_input_length``), that length.

    Raises:
        ValueError: naming the preset override that fits the model.
    """
    in_leads = getattr(model, "in_leads", None)
    if in_leads is not None and not set(spec.leads) <= set(in_leads):
        raise ValueError(
            f"preset {spec.preset!r} feeds the leads {list(spec.leads)} but the model takes "
            f"{list(in_leads)}: pass make_card(..., preset=get_preset({spec.preset!r}, "
            f"leads={tuple(in_leads)!r})) (ecgfm.transforms.presets.get_preset)"
        )
    length = getattr(model, "default_input_length", None)
    if isinstance(length, int) and not isinstance(length, bool) and length != spec.length:
        raise ValueError(
            f"preset {spec.preset!r} gives windows of {spec.length} samples but the model was "
            f"built for {length} (its default_input_length): pass make_card(..., "
            f"preset=get_preset({spec.preset!r}, length={length}))"
        )


# ------------------------------------------------------------------------------ storage dtype
def _exact(original: Mapping[str, torch.Tensor], stored: Mapping[str, torch.Tensor]) -> bool:
    return rounding_error(original, stored) == (0.0, 0)


def _storage(
    state: Mapping[str, torch.Tensor], card: PretrainedCard, requested: Any
) -> tuple[str, dict[str, torch.Tensor]]:
    """``(dtype name, stored tensors)``: the requested dtype, else the exact default."""
    if requested is not None:
        dtype = storage_dtype_name(requested)
        stored = storage_tensors(state, dtype)
        worst, overflow = rounding_error(state, stored)
        if overflow:
            raise ValueError(
                f"storage_dtype={dtype!r}: {overflow} weights are beyond its range and would "
                "become infinite; pass storage_dtype='bfloat16' or 'float32'"
            )
        if worst > 0:
            largest = max(
                (float(v.detach().abs().max()) for v in state.values() if v.is_floating_point()),
                default=0.0,
            )
            logger.info(
                "save_pretrained: storage_dtype=%r rounds the weights by up to %.3g "
                "(largest |weight| %.3g)",
                dtype,
                worst,
                largest,
            )
        return dtype, stored
    preferred = card.weights.storage_dtype
    stored = storage_tensors(state, preferred)
    if _exact(state, stored):
        return preferred, stored
    dtypes = sorted({str(v.dtype).removeprefix("torch.") for v in state.values()
                     if v.is_floating_point()})  # fmt: skip
    own = dtypes[0] if len(dtypes) == 1 and dtypes[0] in _STORABLE else "float32"
    stored = storage_tensors(state, own)
    worst, overflow = rounding_error(state, stored)
    if worst > 0 or overflow:
        raise ValueError(
            f"the weights are {'/'.join(dtypes)}, which no storage dtype holds exactly "
            f"(float32 would change them by up to {worst:.3g}); pass storage_dtype='float32' "
            "to save_pretrained to store them rounded"
        )
    logger.info(
        "save_pretrained: storing %s, the weights' own dtype (the card's %s would round them)",
        own,
        preferred,
    )
    return own, stored


# ------------------------------------------------------------------------ change detection
def _metadata(arch: str, name: str) -> dict[str, str]:
    # One metadata key: safetensors writes metadata in hash-map order, so several keys would
    # make the bytes (and the sha256) differ between two saves of one model.
    return {"ecgfm": json.dumps({"arch": arch, "card": name})}


def _reference_metadata(card: PretrainedCard) -> list[dict[str, str]]:
    """Metadata the card's weights file may have been written with, most likely first.

    ``save_pretrained`` writes :func:`_metadata`; a bundled file may have been written by
    another exporter (``ecgfm.train.checkpoint.export_encoder``), so its header is read too.
    A wrong candidate cannot cause a false match: the digest covers the tensors.
    """
    out = [_metadata(card.arch, card.name)]
    if card.weights.file is not None:
        path = find_bundled_file(card.weights.file)
        meta = read_safetensors_metadata(path) if path is not None else None
        if meta is not None and meta not in out:
            out.append(meta)
    return out


def _compare_with_card(
    card: PretrainedCard, stored: Mapping[str, torch.Tensor]
) -> tuple[WeightsStatus, bytes | None]:
    """Whether ``stored`` are the weights whose file digest ``card`` records.

    Returns ``("same", bytes of the card's file)``, ``("changed", None)``, ``("new", None)``
    for a card that describes no existing file yet (``make_card``, ``ecgfm convert``) or
    ``("unverifiable", None)`` for a card of weights ecgfm has no digest of (an official
    checkpoint in another format, a hosted file without sha256).
    """
    w = card.weights
    if w.format != "ecgfm" or (w.sha256 is None and w.hf_repo_id is not None):
        return "unverifiable", None
    if w.sha256 is None:
        return "new", None
    reference = storage_tensors(stored, w.storage_dtype)
    if not _exact(stored, reference):
        return "changed", None
    for metadata in _reference_metadata(card):
        data = serialize_safetensors(reference, metadata)
        if hashlib.sha256(data).hexdigest() == w.sha256:
            return "same", data
    return "changed", None


def _derived_card(
    card: PretrainedCard, status: WeightsStatus, name: str | None
) -> tuple[PretrainedCard, str]:
    """The card of weights derived from ``card``'s, and why (for the warning)."""
    digest = card.weights.sha256
    if status == "changed":
        reason = (
            f"the weights differ from those of card {card.name!r} (whose file has sha256 "
            f"{digest}): they were changed after loading (fine-tuning, BatchNorm statistics "
            "updated in training mode, a lossy cast)"
        )
        how = "its weights were changed after loading"
    else:
        source = (
            f"an official {card.weights.format!r} checkpoint"
            if card.weights.format != "ecgfm"
            else "a hosted file without sha256"
        )
        reason = (
            f"ecgfm cannot check that the weights are still those of card {card.name!r} (its "
            f"weights are {source}, with no ecgfm digest to compare with)"
        )
        how = f"saved from a model loaded from {source}, which ecgfm cannot compare with it"
    default_name = card.name if card.name.endswith("-derived") else f"{card.name}-derived"
    derived = card.replace(
        name=name or default_name,
        description=(
            f"Derived from {card.name}: {how}. The base card's metrics, limitations and "
            "training description do not describe these weights and were not copied; the "
            "base is recorded in base_model."
        ),
        training=TrainingInfo(
            data=f"not described (weights derived from {card.name}; describe them with "
            "save_pretrained(..., training=...))"
        ),
        metrics=(),
        limitations="",
        base_model=BaseModel(name=card.name, sha256=digest, training=card.training),
    )
    return derived, reason


# ------------------------------------------------------------------------------------ save
def _check_target(target: Path, overwrite: bool) -> None:
    if target.exists():
        if not target.is_dir():
            raise FileExistsError(f"{target} exists and is not a directory")
        if any(target.iterdir()) and not overwrite:
            raise FileExistsError(
                f"{target} is not empty; pass overwrite=True to replace an ecgfm directory"
            )
        if overwrite and any(target.iterdir()) and not (target / CONFIG_NAME).is_file():
            raise FileExistsError(
                f"{target} is not an ecgfm directory (no {CONFIG_NAME}); refusing to overwrite it"
            )


def _check_arguments(
    name: Any, description: Any, training: Any, metrics: Any, overwrite: Any
) -> tuple[TrainingInfo | None, tuple[Metric, ...] | None]:
    if name is not None:
        check_card_name(name, "name")
    if description is not None and not isinstance(description, str):
        raise TypeError(f"description must be a string, got {type(description).__name__}")
    if isinstance(training, str):
        if not training.strip():
            raise ValueError("training must describe the training (data, steps, compute)")
        training = TrainingInfo(data=training)
    elif training is not None and not isinstance(training, TrainingInfo):
        raise TypeError(
            f"training must be a string or an ecgfm.hub.TrainingInfo, got {type(training).__name__}"
        )
    if metrics is not None:
        if isinstance(metrics, (str, bytes, Metric)) or not isinstance(metrics, Sequence):
            raise TypeError("metrics must be a list of ecgfm.hub.Metric (e.g. metrics=[m])")
        if not all(isinstance(m, Metric) for m in metrics):
            raise TypeError("metrics must be a list of ecgfm.hub.Metric")
        metrics = tuple(metrics)
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
    return training, metrics


def save_pretrained(
    model: nn.Module,
    directory: str | os.PathLike[str],
    card: PretrainedCard | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    training: TrainingInfo | str | None = None,
    metrics: Sequence[Metric] | None = None,
    storage_dtype: str | torch.dtype | None = None,
    overwrite: bool = False,
) -> Path:
    """Save ``model`` in the ecgfm format (``config.json`` + ``model.safetensors`` + README).

    Args:
        model: a :class:`PretrainedEncoder` (its card is used unless ``card`` is given) or a
            bare encoder built by ``create_model`` (then ``card`` is required; see
            :func:`make_card`).
        directory: target directory (created; must be empty or absent unless ``overwrite``).
        card: the card to store; checked against the model (architecture, args, width,
            parameter count).
        name: a new name for the saved card (lowercase, e.g. ``"selfmis-lead1-af"``).
        description, training, metrics: replace the card's (``training`` as a
            :class:`TrainingInfo` or its data text; ``metrics`` a list of :class:`Metric`
            measured on these weights).
        storage_dtype: ``"float32"``, ``"float16"``, ``"bfloat16"`` (or the torch dtype):
            round the weights to it (the largest change is logged). Default: the card's
            storage dtype when it holds every weight exactly, otherwise the weights' own dtype,
            so that the saved model is bit-exact.
        overwrite: replace an existing ecgfm directory.

    If the card records a weights digest and the stored weights no longer match it (the model
    was changed after loading), or cannot be checked (a model loaded from an official
    checkpoint), the saved card is derived: named ``name`` (default ``<card name>-derived``,
    with a :class:`ChangedWeightsWarning`), without the base's metrics, limitations and
    training description, and with ``base_model`` naming the base and its digest.

    Returns:
        The directory path. ``from_pretrained(directory)`` gives back a bit-identical model.
    """
    if isinstance(model, PretrainedEncoder):
        encoder, card = model.encoder, card or model.card
    elif isinstance(model, nn.Module):
        encoder = model
        if card is None:
            raise ValueError(
                "save_pretrained needs a card for a bare encoder: "
                "save_pretrained(model, dir, card=ecgfm.hub.make_card(model, name=..., "
                "preset=..., license=..., paper=..., training=...))"
            )
    else:
        raise TypeError(
            f"model must be an encoder (torch.nn.Module) or a PretrainedEncoder, got "
            f"{type(model).__name__}"
        )
    if not isinstance(card, PretrainedCard):
        hint = {
            str: f"; to name the saved model pass name={card!r}",
            dict: "; rebuild a dict with ecgfm.hub.PretrainedCard.from_dict(d)",
        }.get(type(card), " (ecgfm.hub.make_card builds one)")
        raise TypeError(f"card must be a PretrainedCard, got {type(card).__name__}{hint}")
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"directory must be a path, got {type(directory).__name__}")
    training, metrics = _check_arguments(name, description, training, metrics, overwrite)
    check_card_matches_model(card, encoder)
    target = Path(directory).expanduser()
    _check_target(target, overwrite)

    state = encoder.state_dict()
    dtype, stored = _storage(state, card, storage_dtype)
    status, card_file = _compare_with_card(card, stored)
    if status in ("changed", "unverifiable"):
        saved, reason = _derived_card(card, status, name)
        if name is None:
            dropped = [f"{len(card.metrics)} metrics"] if card.metrics else []
            dropped += ["limitations"] if card.limitations else []
            dropped.append("training description")
            unchanged = (
                " If you did not change the weights, keep the base's claims explicitly: "
                "training=model.card.training, metrics=model.card.metrics."
                if status == "unverifiable"
                else ""
            )
            warnings.warn(
                f"save_pretrained: {reason}. Saved as {saved.name!r} without the base card's "
                f"{', '.join(dropped)} (the base is recorded in card.base_model). Pass "
                "name=..., description=... and training=... to save_pretrained to describe "
                f"the new model.{unchanged}",
                ChangedWeightsWarning,
                stacklevel=2,
            )
    else:
        saved = card
    changes = {"name": name, "description": description, "training": training, "metrics": metrics}
    saved = saved.replace(**{k: v for k, v in changes.items() if v is not None})
    if card_file is not None and saved.name == card.name and dtype == card.weights.storage_dtype:
        data = card_file  # unchanged: the card's own file, byte for byte
    else:
        data = serialize_safetensors(stored, _metadata(saved.arch, saved.name))
    keep_hint = status in ("new", "same")
    saved = saved.replace(
        weights=WeightsSpec(
            format="ecgfm",
            file=WEIGHTS_NAME,
            sha256=hashlib.sha256(data).hexdigest(),
            storage_dtype=dtype,  # type: ignore[arg-type]
            redistributable=card.weights.redistributable,
            user_file_hint=card.weights.user_file_hint if keep_hint else None,
        )
    )
    _write_directory(target, saved, data)
    return target


def _write_directory(target: Path, card: PretrainedCard, weights: bytes) -> None:
    config = {
        "format": "ecgfm",
        "format_version": FORMAT_VERSION,
        "ecgfm_version": __version__,
        "card": card.to_dict(),
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the saved model is an ordinary directory
        (tmp / WEIGHTS_NAME).write_bytes(weights)
        (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        (tmp / README_NAME).write_text(card_to_markdown(card), encoding="utf-8")
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
