"""Registry of encoder architectures and the ``create_model`` factory.

An architecture is registered once under a unique name by decorating a builder function that
takes keyword overrides and returns an ``nn.Module``, together with the name of its default
preprocessing preset::

    @register_model("net1d_ecgfounder", preset="ecgfounder")
    def net1d_ecgfounder(**overrides) -> Net1D:
        return Net1D(**{**ECGFOUNDER_NET1D_ARGS, **overrides})

``create_model(name, **overrides)`` builds it and records ``model.arch_name`` and
``model.arch_args`` (the overrides) so that the hub can save and rebuild the exact model.
``default_preset(name)`` answers the preset's name: a string, so this layer imports neither
``ecgfm.transforms`` (which defines the presets) nor ``ecgfm.hub`` (whose pretrained entries
name their architecture; ``ecgfm.list_pretrained(arch=name)`` lists them). Registering a name
twice is an error, not a warning (``unregister_model`` removes a temporary entry).
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

__all__ = [
    "create_model",
    "default_preset",
    "is_model",
    "list_models",
    "model_entrypoint",
    "register_model",
    "unregister_model",
]

ModelT = TypeVar("ModelT", bound=nn.Module)
Builder = Callable[..., nn.Module]

_ENTRYPOINTS: dict[str, Builder] = {}
_DEFAULT_PRESETS: dict[str, str | None] = {}
_PRESET_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _check_name(value: object, what: str, example: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} names are strings such as {example!r}, got {value!r}")
    if not value or value != value.lower() or " " in value:
        raise ValueError(
            f"{what} names are lowercase without spaces (e.g. {example!r}), got {value!r}"
        )
    return value


def register_model(
    name: str, *, preset: str | None = None
) -> Callable[[Callable[..., ModelT]], Callable[..., ModelT]]:
    """Decorator registering ``fn`` as the builder of architecture ``name``.

    Args:
        name: the architecture's name (lowercase, no spaces), unique.
        preset: name of the preprocessing preset (``ecgfm.transforms.presets.get_preset``)
            that prepares windows for this architecture, e.g. ``"st_mem"``; ``None`` when the
            architecture has no natural input pipeline (callers must then pass a preset).

    Raises:
        TypeError: ``name`` or ``preset`` is not a string.
        ValueError: ``name`` is already registered or not lowercase without spaces, or
            ``preset`` is not spelled like a preset name (lowercase letters, digits, ``_``).
    """
    _check_name(name, "architecture", "net1d_small")
    if preset is not None:
        if not isinstance(preset, str):
            raise TypeError(f"preset must be a preset name such as 'st_mem', got {preset!r}")
        if not _PRESET_NAME.fullmatch(preset):
            raise ValueError(
                f"preset names are lowercase letters, digits and '_' (e.g. 'st_mem'; see "
                f"ecgfm.transforms.presets.list_presets()), got {preset!r}"
            )

    def deco(fn: Callable[..., ModelT]) -> Callable[..., ModelT]:
        if name in _ENTRYPOINTS:
            raise ValueError(
                f"architecture {name!r} is already registered (by {_ENTRYPOINTS[name].__module__}."
                f"{_ENTRYPOINTS[name].__qualname__}); choose another name"
            )
        _ENTRYPOINTS[name] = fn
        _DEFAULT_PRESETS[name] = preset
        return fn

    return deco


def unregister_model(name: str) -> Builder:
    """Remove the architecture ``name`` and return its builder (temporary entries: tests,
    notebooks re-running a ``@register_model`` cell).

    Raises:
        KeyError: ``name`` is not registered (close matches suggested).
    """
    builder = model_entrypoint(name)
    del _ENTRYPOINTS[name], _DEFAULT_PRESETS[name]
    return builder


def _ensure_builtin_models_loaded() -> None:
    # Importing the package registers every built-in family (each file registers its configs).
    import ecgfm.models  # noqa: F401


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted names of registered architectures, optionally filtered by a glob ``pattern``."""
    _ensure_builtin_models_loaded()
    if pattern is not None and not isinstance(pattern, str):
        raise TypeError(f"pattern must be a glob string such as 'net1d_*', got {pattern!r}")
    names = sorted(_ENTRYPOINTS)
    return [n for n in names if pattern is None or fnmatch.fnmatch(n, pattern)]


def is_model(name: str) -> bool:
    """True if ``name`` is a registered architecture."""
    _ensure_builtin_models_loaded()
    return name in _ENTRYPOINTS


def model_entrypoint(name: str) -> Builder:
    """The builder function of ``name``; ``KeyError`` with close matches if unknown."""
    _ensure_builtin_models_loaded()
    if not isinstance(name, str):
        raise TypeError(
            f"architecture names are strings such as 'net1d_small', got {type(name).__name__}"
        )
    if name not in _ENTRYPOINTS:
        close = difflib.get_close_matches(name, list(_ENTRYPOINTS), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise KeyError(
            f"unknown architecture {name!r}.{hint} See ecgfm.models.list_models() for all names."
        )
    return _ENTRYPOINTS[name]


def default_preset(name: str) -> str | None:
    """Name of the preprocessing preset declared by architecture ``name`` (``None``: none).

    ``ecgfm.transforms.presets.get_preset(default_preset(name))`` builds it; the pretrained
    entries of ``name`` (``ecgfm.list_pretrained(arch=name)``) use this pipeline.

    Raises:
        KeyError: ``name`` is not registered (the message suggests close matches).
    """
    model_entrypoint(name)
    return _DEFAULT_PRESETS[name]


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build the registered architecture ``name`` with constructor ``overrides``.

    The returned module carries ``arch_name`` (``name``) and ``arch_args`` (a copy of
    ``overrides``), which :func:`ecgfm.save_pretrained` stores in ``config.json``.
    """
    model = model_entrypoint(name)(**overrides)
    model.arch_name = name
    model.arch_args = dict(overrides)
    return model
