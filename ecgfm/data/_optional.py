"""Optional dependencies of the readers, imported only when needed."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import TypeVar

__all__: list[str] = []

logger = logging.getLogger(__name__)

T = TypeVar("T")


def import_wfdb() -> ModuleType:
    """The ``wfdb`` package, or an ``ImportError`` that says how to install it."""
    try:
        import wfdb
    except ImportError as e:
        raise ImportError(
            "reading WFDB records (PTB-XL, PhysioNet/CinC 2017, any .hea file) needs the "
            "optional package 'wfdb': pip install 'ecgfm[data]'"
        ) from e
    return wfdb


def progress_iter(items: Iterable[T], *, total: int, desc: str, enabled: bool) -> Iterator[T]:
    """Wrap ``items`` in a tqdm bar if ``enabled`` and tqdm is installed.

    A requested bar without tqdm logs a warning (install ``ecgfm[progress]``) and the loop runs
    without it: a progress bar is never worth failing a long load for.
    """
    if not enabled:
        yield from items
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        logger.warning("progress=True needs tqdm (pip install 'ecgfm[progress]'); no bar shown")
        yield from items
        return
    yield from tqdm(items, total=total, desc=desc, unit="rec")
