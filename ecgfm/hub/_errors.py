"""Exceptions raised by the hub. Each message says what went wrong and how to fix it."""

from __future__ import annotations

__all__ = [
    "ArchitectureMismatchError",
    "PretrainedNotFoundError",
    "WeightsIntegrityError",
    "WeightsUnavailableError",
]


class PretrainedNotFoundError(KeyError):
    """``name_or_path`` is neither a directory, an ``hf-hub:`` id nor a registered name."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


class WeightsUnavailableError(FileNotFoundError):
    """The weights of a known entry cannot be found locally (missing file, offline, no path)."""


class WeightsIntegrityError(ValueError):
    """A weight file is corrupted or was modified: sha256 mismatch or unreadable content."""


class ArchitectureMismatchError(ValueError):
    """Stored weights do not fit the architecture named by the card (keys or shapes differ)."""
