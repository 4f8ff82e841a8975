"""Registry of pretrained entries (cards), kept apart from the architecture registry.

``register_pretrained(card)`` adds an entry; a name can be registered once (a second
registration is an error, not a warning). Built-in entries are registered on first use of
the registry (``_builtin_cards.BUILTIN_CARDS``). Temporary entries (tests, notebooks)
are removed with :func:`unregister_pretrained`.
"""

from __future__ import annotations

import difflib
import fnmatch

from ecgfm.hub._card import PretrainedCard
from ecgfm.hub._errors import PretrainedNotFoundError

__all__ = [
    "is_pretrained",
    "list_pretrained",
    "pretrained_card",
    "register_pretrained",
    "unregister_pretrained",
]

_CARDS: dict[str, PretrainedCard] = {}


_BUILTIN_LOADED = False


def _ensure_builtin_loaded() -> None:
    """Register the built-in cards (``_builtin_cards.BUILTIN_CARDS``) once, on first use."""
    global _BUILTIN_LOADED
    if _BUILTIN_LOADED:
        return
    _BUILTIN_LOADED = True
    from ecgfm.hub._builtin_cards import BUILTIN_CARDS

    for card in BUILTIN_CARDS:
        register_pretrained(card)


def register_pretrained(card: PretrainedCard) -> PretrainedCard:
    """Register ``card`` under ``card.name`` and return it.

    Raises:
        TypeError: ``card`` is not a :class:`PretrainedCard`.
        ValueError: the name is already registered.
    """
    if not isinstance(card, PretrainedCard):
        raise TypeError(f"register_pretrained expects a PretrainedCard, got {type(card).__name__}")
    if not card.weights.redistributable and card.weights.file is not None:
        raise ValueError(
            f"{card.name!r}: weights that may not be redistributed ({card.license}) cannot be "
            "bundled in weights/; register the entry with weights.user_file_hint instead"
        )
    if card.name in _CARDS:
        raise ValueError(
            f"pretrained entry {card.name!r} is already registered; choose another name (or "
            "unregister_pretrained it first if it is a temporary entry)"
        )
    _CARDS[card.name] = card
    return card


def unregister_pretrained(name: str) -> PretrainedCard:
    """Remove and return the entry ``name`` (``PretrainedNotFoundError`` if absent)."""
    card = pretrained_card(name)
    del _CARDS[name]
    return card


def list_pretrained(pattern: str | None = None) -> list[str]:
    """Sorted names of the registered pretrained entries, optionally filtered by a glob."""
    _ensure_builtin_loaded()
    if pattern is not None and not isinstance(pattern, str):
        raise TypeError(f"pattern must be a glob string such as 'ecgfounder-*', got {pattern!r}")
    return sorted(n for n in _CARDS if pattern is None or fnmatch.fnmatch(n, pattern))


def is_pretrained(name: str) -> bool:
    """True if ``name`` is a registered pretrained entry."""
    _ensure_builtin_loaded()
    return name in _CARDS


def _suggestion(name: str) -> str:
    close = difflib.get_close_matches(name, list(_CARDS), n=3, cutoff=0.5)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def pretrained_card(name: str) -> PretrainedCard:
    """The card of the registered entry ``name``.

    Raises:
        PretrainedNotFoundError: unknown name; the message suggests close matches.
    """
    _ensure_builtin_loaded()
    if not isinstance(name, str):
        raise TypeError(f"pretrained names are strings, got {type(name).__name__}: {name!r}")
    if name not in _CARDS:
        raise PretrainedNotFoundError(
            f"unknown pretrained entry {name!r}.{_suggestion(name)} Registered entries: "
            f"{', '.join(sorted(_CARDS)) or 'none'} (ecgfm.list_pretrained())."
        )
    return _CARDS[name]
