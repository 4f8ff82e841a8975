"""``save_pretrained`` (the ecgfm directory format) and ``make_card``.

A saved directory holds exactly what the Hugging Face Hub expects of a model repository:

- ``model.safetensors``: the encoder's state dict (floating tensors in the card's
  ``storage_dtype``);
- ``config.json``: ``{"format": "ecgfm", "format_version": 1, "ecgfm_version": ...,
  "card": {...}}`` — the full card, including the sha256 of ``model.safetensors``;
- ``README.md``: the human-readable model card with Hugging Face front matter.

Files are written to a temporary directory next to the target and moved in place, so an
interrupted save never leaves a half-written model that looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from ecgfm._version import __version__
from ecgfm.hub._card import InputSpec, Metric, PretrainedCard, TrainingInfo, WeightsSpec
from ecgfm.hub._io import sha256_file, write_safetensors
from ecgfm.hub._markdown import card_to_markdown
from ecgfm.hub._model import PretrainedEncoder, check_card_matches_model, count_parameters
from ecgfm.hub._preset import preset_input_spec

__all__ = ["CONFIG_NAME", "FORMAT_VERSION", "WEIGHTS_NAME", "make_card", "save_pretrained"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
README_NAME = "README.md"
FORMAT_VERSION = 1


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
    in by :func:`save_pretrained`.
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
            storage_dtype=storage_dtype,  # type: ignore[arg-type]
            user_file_hint="written by ecgfm.save_pretrained",
        ),
        license=license,
        paper=paper,
        training=training,
        metrics=tuple(metrics),
        description=description,
        tags=tuple(tags),
    )


def save_pretrained(
    model: nn.Module,
    directory: str | os.PathLike[str],
    card: PretrainedCard | None = None,
    *,
    storage_dtype: str | None = None,
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
        storage_dtype: ``"float32"`` (default: the card's), ``"float16"`` or ``"bfloat16"``
            to halve the file; loading upcasts to float32.
        overwrite: replace an existing ecgfm directory.

    Returns:
        The directory path. ``from_pretrained(directory)`` gives back a bit-identical model
        (for float32 storage).
    """
    if isinstance(model, PretrainedEncoder):
        encoder, card = model.encoder, card or model.card
    else:
        encoder = model
        if card is None:
            raise ValueError(
                "save_pretrained needs a card for a bare encoder: "
                "save_pretrained(model, dir, card=ecgfm.hub.make_card(model, name=..., "
                "preset=..., license=..., paper=..., training=...))"
            )
    if not isinstance(card, PretrainedCard):
        raise TypeError(f"card must be a PretrainedCard, got {type(card).__name__}")
    check_card_matches_model(card, encoder)
    dtype = storage_dtype or card.weights.storage_dtype
    target = Path(directory)
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
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the saved model is an ordinary directory
        weights_path = tmp / WEIGHTS_NAME
        write_safetensors(
            encoder.state_dict(),
            weights_path,
            storage_dtype=dtype,
            # One metadata key: safetensors writes metadata in hash-map order, so several keys
            # would make the bytes (and the sha256) differ between two saves of one model.
            metadata={"ecgfm": json.dumps({"arch": card.arch, "card": card.name})},
        )
        saved = card.replace(
            weights=WeightsSpec(
                format="ecgfm",
                file=WEIGHTS_NAME,
                sha256=sha256_file(weights_path),
                storage_dtype=dtype,  # type: ignore[arg-type]
                redistributable=card.weights.redistributable,
                user_file_hint=card.weights.user_file_hint,
            )
        )
        config = {
            "format": "ecgfm",
            "format_version": FORMAT_VERSION,
            "ecgfm_version": __version__,
            "card": saved.to_dict(),
        }
        (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        (tmp / README_NAME).write_text(card_to_markdown(saved), encoding="utf-8")
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
    return target
