"""Which interface is calling ecgfm, so that error advice names what the caller can use.

The same check (an unknown pretrained name, a channel that is not a lead, a device that does
not exist) is reached from Python and from the ``ecgfm`` command line. Its message must tell a
Python caller which argument to pass (``rename={'ECG': 'I'}``) and a command-line user which
flag (``--rename ECG=I``). The message is written once, at the check, with both phrasings::

    raise ValueError(f"... {advice(python=\"pass device='cpu'\", cli='pass --device cpu')}")

and :func:`advice` picks the one of the interface in use. Python is the default; the command
line (``ecgfm.cli.main`` and scripts built on its options) runs inside
:func:`command_line_interface`. The choice is a :class:`contextvars.ContextVar`, so threads and
asyncio tasks started elsewhere keep the Python phrasing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

__all__ = ["Interface", "advice", "command_line_interface", "current_interface"]

Interface = Literal["python", "cli"]

_INTERFACE: ContextVar[Interface] = ContextVar("ecgfm_interface", default="python")


def current_interface() -> Interface:
    """``"cli"`` inside :func:`command_line_interface`, ``"python"`` otherwise."""
    return _INTERFACE.get()


def advice(*, python: str, cli: str) -> str:
    """The phrasing of a piece of advice for the interface in use (see the module docstring)."""
    if not isinstance(python, str) or not isinstance(cli, str):
        raise TypeError("advice(python=..., cli=...) takes two strings")
    return cli if _INTERFACE.get() == "cli" else python


@contextmanager
def command_line_interface() -> Iterator[None]:
    """Within the block, errors and warnings phrase their advice for the command line."""
    token = _INTERFACE.set("cli")
    try:
        yield
    finally:
        _INTERFACE.reset(token)
