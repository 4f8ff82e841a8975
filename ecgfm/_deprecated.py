"""Renamed names that keep working for one release, and the one warning they give.

A name renamed or moved in a release stays usable until the next one, with a
``DeprecationWarning`` that names its replacement (``docs/architecture.md`` lists them). The
warning points at the caller's line (the innermost frame outside ecgfm and torch), however
deep inside ecgfm the old name arrived (``create_model`` -> a factory -> the constructor).

Renamed constructor arguments are also a question of *stored* data: a ``config.json``, a
``weights/*.card.json`` or the metadata of an exported encoder written by an earlier release
records the ``arch_args`` it was built with. :func:`upgrade_arch_args` renames those without a
warning (the user wrote no code to change); a card read from disk and the model built from it
both carry the new names, so saving the model again writes them.

No torch here: cards are read without it (``ecgfm list``).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping
from types import FrameType
from typing import Any

__all__ = ["REMOVED_IN", "RENAMED_ARCH_ARGS", "upgrade_arch_args", "warn_deprecated"]

#: The release that removes every name deprecated in this one.
REMOVED_IN = "0.2.0"

#: Constructor arguments renamed in every architecture: old name -> new name.
RENAMED_ARCH_ARGS: dict[str, str] = {"n_classes": "num_classes"}


#: Packages whose frames stand between the user's line and the deprecated name (torch:
#: ``nn.Module.__setattr__`` / ``__call__`` calling back into ecgfm).
_INTERNAL = frozenset({"ecgfm", "torch"})


def _import_machinery(frame: FrameType) -> bool:
    """A frame of the import system, which :func:`warnings.warn` skips when it counts
    ``stacklevel`` (the same test as ``warnings._is_internal_frame``)."""
    name = frame.f_code.co_filename
    return "importlib" in name and "_bootstrap" in name


def _caller_stacklevel() -> int:
    """``stacklevel`` for :func:`warnings.warn` called by :func:`warn_deprecated` that points
    at the innermost frame outside ecgfm, torch and the import system (the user's line: a
    call, or the ``import`` statement of a moved module)."""
    frame = sys._getframe(1)  # warn_deprecated
    level = 1
    while frame.f_back is not None and (
        _import_machinery(frame)
        or frame.f_globals.get("__name__", "").partition(".")[0] in _INTERNAL
    ):
        frame = frame.f_back
        level += 0 if _import_machinery(frame) else 1
    return level


def warn_deprecated(old: str, new: str) -> None:
    """Warn that ``old`` is deprecated in favour of ``new`` (both as the caller writes them).

    Examples: ``warn_deprecated("Net1D(n_classes=...)", "Net1D(num_classes=...)")``; at the
    top of a moved module's shim, ``warn_deprecated("ecgfm.train.distributed",
    "ecgfm.train.ddp")``.
    """
    warnings.warn(
        f"{old} is deprecated and will be removed in ecgfm {REMOVED_IN}; use {new}",
        DeprecationWarning,
        stacklevel=_caller_stacklevel(),
    )


def upgrade_arch_args(
    args: Mapping[str, Any], *, warn_as: str | None = None, what: str = "arch_args"
) -> dict[str, Any]:
    """A copy of ``args`` with every renamed constructor argument under its new name.

    Args:
        args: constructor keyword arguments (``create_model`` overrides, a card's
            ``arch_args``).
        warn_as: ``None`` for stored data (no warning); otherwise how the caller passed the
            arguments, e.g. ``"create_model"``, for the ``DeprecationWarning`` of each old name.
        what: how error messages call ``args``.

    Raises:
        TypeError: ``args`` names both an old argument and its new name.
    """
    for old, new in RENAMED_ARCH_ARGS.items():
        if old in args and new in args:
            raise TypeError(f"{what} name both {old!r} and its new name {new!r}; keep only {new!r}")
        if old in args and warn_as is not None:
            warn_deprecated(f"{warn_as}(..., {old}=...)", f"{warn_as}(..., {new}=...)")
    # same order, so a card written again lists its arguments as before
    return {RENAMED_ARCH_ARGS.get(k, k): v for k, v in args.items()}
