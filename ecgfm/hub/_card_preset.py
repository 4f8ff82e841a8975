"""The preprocessing preset of a card (``InputSpec``): build it, check it agrees with the card.

Named ``_card_preset`` to keep it apart from :mod:`ecgfm.transforms.presets`, which defines the
presets; this module only connects a card to one.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ecgfm.hub._card import InputSpec

__all__ = ["build_preset", "preset_input_spec"]


def build_preset(spec: InputSpec) -> Any:
    """The :class:`~ecgfm.transforms.presets.Preset` of ``spec``.

    ``spec.preset_config`` (a full ``Preset.to_config()``) wins over the preset name, so saved
    weights keep their preprocessing even if a named preset changes later. A named preset is
    given the card's leads (e.g. ``"ecgfounder"`` with ``leads=("I",)`` for a lead-I model);
    its sampling rate and window length must equal the card's.

    Raises:
        ValueError: the preset's sampling rate, length or leads disagree with the card.
    """
    from ecgfm.transforms.presets import Preset, get_preset

    if spec.preset_config is not None:
        preset = Preset.from_config(dict(spec.preset_config))
    else:
        preset = get_preset(spec.preset)
        if preset.leads != spec.leads:
            preset = dataclasses.replace(preset, leads=spec.leads)
    problems = []
    if float(preset.fs) != spec.fs:
        problems.append(f"fs {preset.fs:g} vs card {spec.fs:g}")
    if int(preset.length) != spec.length:
        problems.append(f"length {preset.length} vs card {spec.length}")
    if preset.leads is None or tuple(preset.leads) != spec.leads:
        shown = None if preset.leads is None else list(preset.leads)
        problems.append(f"leads {shown} vs card {list(spec.leads)}")
    if problems:
        raise ValueError(
            f"preset {spec.preset!r} does not match the card's input contract ("
            + "; ".join(problems)
            + "); fix the card or use a preset with the card's fs, length and leads"
        )
    return preset


def preset_input_spec(preset: Any, leads: tuple[str, ...] | None = None) -> InputSpec:
    """An :class:`InputSpec` describing ``preset`` (``leads`` required if the preset has none)."""
    preset_leads = tuple(preset.leads) if preset.leads is not None else leads
    if preset_leads is None:
        raise ValueError(
            f"preset {preset.name!r} does not fix the leads; pass the model's leads explicitly"
        )
    return InputSpec(
        fs=float(preset.fs),
        leads=preset_leads,
        length=int(preset.length),
        preset=preset.name,
        preset_config=preset.to_config(),
    )
