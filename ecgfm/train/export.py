"""The trained encoder at the end of :func:`ecgfm.train.loop.fit`: a ``save_pretrained`` directory.

``fit(..., export=EncoderExport(method.encoder, preset=method.preset))`` writes
``<out_dir>/encoder/`` with :func:`ecgfm.hub.save_pretrained` when training ends, so the
trained encoder is a model like any other::

    model = ecgfm.from_pretrained("runs/stmem/encoder")   # card, preset, embed()

Its card is built by :func:`ecgfm.hub.make_card` from the encoder (architecture, arguments,
width, parameter count), the preset (the input contract) and the run (:func:`training_info`:
steps, ECGs seen, wall-clock, processes, precision and the run's arguments). The preset gives
the sampling rate, filters and normalisation; the leads and the window length are the
encoder's own (``in_leads``, ``default_input_length``), so the method's training preset can be
passed as is (a lead-I student trained on 12-lead records, Dual-View views half a record long).

Everything that can be checked before training is checked when :func:`fit` starts (card,
storage dtype, target directory), not after hours of training.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ecgfm.train.ddp import unwrap

__all__ = ["EncoderExport", "training_info"]

_PENDING = "filled in by ecgfm.train.fit when training ends"


def _default_name(out_dir: str | Path) -> str:
    """A card name from the run directory's name (``runs/ST-MEM leg2`` -> ``st-mem-leg2``)."""
    raw = Path(out_dir).expanduser().resolve().name.lower()
    name = re.sub(r"[^a-z0-9._-]+", "-", raw).strip("-._")
    return name or "encoder"


@dataclass(frozen=True)
class EncoderExport:
    """What :func:`ecgfm.train.loop.fit` exports when training ends (see the module docstring).

    Attributes:
        encoder: the bare encoder inside the trained model, built by
            :func:`ecgfm.models.create_model` (e.g. ``method.encoder``).
        preset: the preprocessing of the encoder's input, a
            :class:`~ecgfm.transforms.presets.Preset` or a preset name (e.g.
            ``method.preset``); its leads and length are replaced by the encoder's.
        name: the card's name (lowercase letters, digits, ``.``, ``_``, ``-``); default: the
            run directory's name.
        directory: the sub-directory of ``out_dir`` written (default ``"encoder"``).
        paper, license, description, tags: card fields (``license`` defaults to
            ``"unspecified"``: set it before publishing the weights).
    """

    encoder: nn.Module
    preset: Any
    name: str | None = None
    directory: str = "encoder"
    paper: str = "not given (pass EncoderExport(paper=...))"
    license: str = "unspecified"
    description: str = ""
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from ecgfm.hub._card import check_card_name

        if not isinstance(self.encoder, nn.Module):
            raise TypeError(
                f"EncoderExport(encoder=...) must be an encoder (torch.nn.Module) built by "
                f"ecgfm.models.create_model, got {type(self.encoder).__name__}"
            )
        if not isinstance(self.preset, str) and not hasattr(self.preset, "to_config"):
            raise TypeError(
                "EncoderExport(preset=...) must be a Preset or a preset name (e.g. "
                f"method.preset or 'st_mem'), got {type(self.preset).__name__}"
            )
        if self.name is not None:
            check_card_name(self.name, "EncoderExport(name=...)")
        d = self.directory
        if not isinstance(d, str) or not d or d in (".", "..") or "/" in d or "\\" in d:
            raise ValueError(
                "EncoderExport(directory=...) must be the plain name of a sub-directory of "
                f"out_dir (e.g. 'encoder'), got {d!r}"
            )
        for field in ("paper", "license", "description"):
            if not isinstance(getattr(self, field), str):
                raise TypeError(f"EncoderExport({field}=...) must be a string")
        if isinstance(self.tags, str) or not all(isinstance(t, str) for t in self.tags):
            raise TypeError("EncoderExport(tags=...) must be a tuple of strings")
        object.__setattr__(self, "tags", tuple(self.tags))

    def input_preset(self) -> Any:
        """The card's preset: :attr:`preset` with the encoder's leads and window length."""
        from ecgfm.transforms.presets import get_preset

        preset = get_preset(self.preset) if isinstance(self.preset, str) else self.preset
        encoder = unwrap(self.encoder)
        changes: dict[str, Any] = {}
        leads = getattr(encoder, "in_leads", None)
        if leads is not None and tuple(leads) != preset.leads:
            changes["leads"] = tuple(leads)
        length = getattr(encoder, "default_input_length", None)
        if isinstance(length, int) and not isinstance(length, bool) and length != preset.length:
            changes["length"] = length
        return dataclasses.replace(preset, **changes) if changes else preset

    def target(self, out_dir: str | Path) -> Path:
        """The directory written: ``<out_dir>/<directory>``."""
        return Path(out_dir) / self.directory

    def card(self, out_dir: str | Path, training: Any) -> Any:
        """The :class:`~ecgfm.hub.PretrainedCard` of the exported encoder."""
        from ecgfm.hub import make_card

        encoder = unwrap(self.encoder)
        description = self.description or (
            f"Encoder exported by ecgfm.train.fit at the end of the training run in "
            f"{Path(out_dir)}. No metrics were measured on it: evaluate it (e.g. `ecgfm probe "
            "DIR --task ...`) and save it again with save_pretrained(..., metrics=[...])."
        )
        return make_card(
            encoder,
            name=self.name or _default_name(out_dir),
            preset=self.input_preset(),
            license=self.license,
            paper=self.paper,
            training=training,
            description=description,
            tags=self.tags,
        )

    def check(self, out_dir: str | Path) -> None:
        """Everything that can fail at export, checked before training (see the module doc).

        Raises:
            TypeError / ValueError: the card cannot be built (no ``arch_name``, a preset
                whose sampling rate or units the card refuses...).
            FileExistsError: the target exists and is not an ecgfm model directory.
        """
        from ecgfm.hub import TrainingInfo
        from ecgfm.hub._save import CONFIG_NAME

        self.card(out_dir, TrainingInfo(data=_PENDING))
        target = self.target(out_dir)
        if target.exists() and not target.is_dir():
            raise FileExistsError(
                f"{target} exists and is not a directory; pick another EncoderExport(directory=...)"
            )
        if target.is_dir() and any(target.iterdir()) and not (target / CONFIG_NAME).is_file():
            raise FileExistsError(
                f"{target} is not an ecgfm model directory (no {CONFIG_NAME}) and would be "
                "overwritten at the end of training; move it or pick another "
                "EncoderExport(directory=...)"
            )

    def save(self, out_dir: str | Path, training: Any, storage_dtype: str) -> Path:
        """Write the directory with :func:`ecgfm.hub.save_pretrained` (replacing an earlier
        export of the same run)."""
        from ecgfm.hub import save_pretrained

        card = self.card(out_dir, training)
        return save_pretrained(
            unwrap(self.encoder),
            self.target(out_dir),
            card,
            storage_dtype=storage_dtype,
            overwrite=True,
        )


def training_info(
    *,
    steps: int,
    ecg_seen: int,
    wall_s: float,
    world_size: int,
    device: torch.device | str,
    precision: str,
    run_args: Mapping[str, Any],
) -> Any:
    """The card's :class:`~ecgfm.hub.TrainingInfo` of a run: data (ECGs seen, records per
    source when ``run_args["data"]`` has them), steps, compute (processes, device, precision,
    wall-clock) and recipe (the run's arguments as JSON)."""
    from ecgfm.hub import TrainingInfo

    data = f"{ecg_seen:,} ECGs seen in {steps:,} optimiser steps"
    sources = run_args.get("data")
    if isinstance(sources, Mapping) and sources:
        data += f" (records per source: {json.dumps(dict(sources), sort_keys=True, default=str)})"
    kind = torch.device(device).type
    compute = (
        f"{world_size} process{'es' if world_size > 1 else ''} on {kind}, {precision}, "
        f"{wall_s:,.0f} s wall-clock"
    )
    recipe = json.dumps(dict(run_args), sort_keys=True, default=str) if run_args else None
    return TrainingInfo(data=data, steps=steps, compute=compute, recipe=recipe)
