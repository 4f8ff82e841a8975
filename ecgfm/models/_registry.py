"""Registry of encoder architectures and the ``create_model`` factory.

An architecture is registered once under a unique name by decorating a builder function that
takes keyword overrides and returns an ``nn.Module``::

    @register_model("net1d_ecgfounder")
    def net1d_ecgfounder(**overrides) -> Net1D:
        return Net1D(**{**ECGFOUNDER_NET1D_ARGS, **overrides})

``create_model(name, **overrides)`` builds it and records ``model.arch_name`` and
``model.arch_args`` (the overrides) so that the hub can save and rebuild the exact model.
Registering a name twice is an error, not a warning.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

__all__ = ["create_model", "is_model", "list_models", "model_entrypoint", "register_model"]

ModelT = TypeVar("ModelT", bound=nn.Module)
Builder = Callable[..., nn.Module]

_ENTRYPOINTS: dict[str, Builder] = {}


def register_model(name: str) -> Callable[[Callable[..., ModelT]], Callable[..., ModelT]]:
    """Decorator registering ``fn`` as the builder of architecture ``name``.

    Raises ``ValueError`` if ``name`` is already registered or is not a valid identifier-like
    name (lowercase letters, digits, ``_``).
    """
    if not isinstance(name, str) or not name or name != name.lower() or " " in name:
        raise ValueError(f"architecture names are lowercase without spaces, got {name!r}")

    def deco(fn: Callable[..., ModelT]) -> Callable[..., ModelT]:
        if name in _ENTRYPOINTS:
            raise ValueError(
                f"architecture {name!r} is already registered (by {_ENTRYPOINTS[name].__module__}."
                f"{_ENTRYPOINTS[name].__qualname__}); choose another name"
            )
        _ENTRYPOINTS[name] = fn
        return fn

    return deco


def _ensure_builtin_models_loaded() -> None:
    # Importing the package registers every built-in family (each file registers its configs).
    import ecgfm.models  # noqa: F401


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted names of registered architectures, optionally filtered by a glob ``pattern``."""
    _ensure_builtin_models_loaded()
    names = sorted(_ENTRYPOINTS)
    return [n for n in names if pattern is None or fnmatch.fnmatch(n, pattern)]


def is_model(name: str) -> bool:
    """True if ``name`` is a registered architecture."""
    _ensure_builtin_models_loaded()
    return name in _ENTRYPOINTS


def model_entrypoint(name: str) -> Builder:
    """The builder function of ``name``; ``KeyError`` with close matches if unknown."""
    _ensure_builtin_models_loaded()
    if name not in _ENTRYPOINTS:
        close = difflib.get_close_matches(name, list(_ENTRYPOINTS), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise KeyError(
            f"unknown architecture {name!r}.{hint} See ecgfm.models.list_models() for all names."
        )
    return _ENTRYPOINTS[name]


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build the registered architecture ``name`` with constructor ``overrides``.

    The returned module carries ``arch_name`` (``name``) and ``arch_args`` (a copy of
    ``overrides``), which :func:`ecgfm.save_pretrained` stores in ``config.json``.
    """
    model = model_entrypoint(name)(**overrides)
    model.arch_name = name
    model.arch_args = dict(overrides)
    return model
