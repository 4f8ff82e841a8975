"""Lazy package attributes (PEP 562), so that ``import ecgfm`` stays cheap.

A package ``__init__`` lists its public names in ``__all__``, imports them under
``if TYPE_CHECKING:`` for static type checkers, and hands the same table to :func:`attach`::

    __getattr__, __dir__ = attach(
        __name__,
        submodules=["leads", "signal"],
        attributes={"ecgfm.signal": ["ECGRecord", "as_signal"]},
    )

Accessing ``package.name`` (or ``from package import name``) then imports the module that
defines it on first use and caches the value in the package namespace; ``dir(package)`` lists
every lazy name. ``tests/test_imports.py`` checks that the table, the ``TYPE_CHECKING``
imports and ``__all__`` agree.

Modules on the path of ``import ecgfm.hub`` (the card registry behind ``ecgfm list``) accept
torch tensors without importing torch: :func:`is_tensor` asks only whether torch is loaded.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping

__all__ = ["attach", "is_tensor"]


def attach(
    package: str,
    *,
    submodules: Iterable[str] = (),
    attributes: Mapping[str, Iterable[str]] | None = None,
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """Module ``__getattr__`` and ``__dir__`` for ``package`` that import names on first use.

    Args:
        package: the package's ``__name__``.
        submodules: names of submodules of ``package`` reachable as attributes
            (``package.name`` imports ``package.name``).
        attributes: absolute module name -> names defined (or re-exported) there.

    Returns:
        ``(__getattr__, __dir__)`` to assign at the package's top level.

    Raises:
        ValueError: a name is listed twice (as a submodule and an attribute, or under two
            modules).
    """
    subs = frozenset(submodules)
    origin: dict[str, str] = {}
    for module, names in (attributes or {}).items():
        for name in names:
            if name in subs or name in origin:
                raise ValueError(f"{package}: lazy name {name!r} is listed twice")
            origin[name] = module
    lazy_names = subs | origin.keys()

    def getattr_(name: str) -> object:
        if name in subs:
            return importlib.import_module(f"{package}.{name}")
        if name in origin:
            value = getattr(importlib.import_module(origin[name]), name)
            # Cache: later lookups find the value directly and skip this function.
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_() -> list[str]:
        return sorted(lazy_names | vars(sys.modules[package]).keys())

    return getattr_, dir_


def is_tensor(x: object) -> bool:
    """``isinstance(x, torch.Tensor)`` without importing torch (no tensor exists before it is)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)
