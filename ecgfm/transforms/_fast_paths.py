"""The one switch of the CPU fast paths of the view generators and augmentations.

Three implementation tricks make the batched views and augmentations faster on the CPU. Each
gives bit-identical results to the plain torch code that other devices use, and each showed
an end-to-end gain on two CPUs (an Intel Xeon and an AMD EPYC; ``docs/benchmarks.md``,
"Views"), so all three are on by default:

- ``row_loops``: an augmentation works in place on the contiguous runs of the records drawn
  for it, instead of gathering them into a new tensor and scattering the result back (the
  whole-batch kernels used on other devices).
- ``huge_pages``: batch-sized CPU outputs (copies, masked views, ``ViewCollate``'s stack) are
  allocated through numpy, which asks Linux for transparent huge pages, instead of through
  torch's allocator: fresh memory then costs about half as many page faults.
- ``numpy_zeroing``: masked leads (random lead masking, lead erasing) are zeroed through a
  numpy view of the tensor, a ``memset`` per lead, instead of ``index_put_``.

:func:`set_fast_paths` switches them, for the whole process or for a ``with`` block::

    from ecgfm.transforms import set_fast_paths

    set_fast_paths(row_loops=False)  # from now on
    with set_fast_paths(huge_pages=False, numpy_zeroing=False):  # inside the block only
        ...

The setting is per process: DataLoader worker processes started by ``fork`` inherit it,
those started by ``spawn`` begin with the defaults (call it in ``worker_init_fn``).
"""

from __future__ import annotations

import dataclasses
from types import TracebackType

__all__ = ["get_fast_paths", "set_fast_paths"]


@dataclasses.dataclass(frozen=True)
class _FastPaths:
    row_loops: bool = True
    huge_pages: bool = True
    numpy_zeroing: bool = True


_state = _FastPaths()


def current() -> _FastPaths:
    """The settings in force (read by the fast paths at every call)."""
    return _state


def get_fast_paths() -> dict[str, bool]:
    """The CPU fast paths in force, ``{"row_loops": bool, "huge_pages": bool,
    "numpy_zeroing": bool}`` (a copy: change them with :func:`set_fast_paths`)."""
    return dataclasses.asdict(_state)


class _Restore:
    """Returned by :func:`set_fast_paths`: as a context manager, restores the previous settings."""

    def __init__(self, previous: _FastPaths) -> None:
        self._previous = previous

    def __enter__(self) -> dict[str, bool]:
        return get_fast_paths()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _state
        _state = self._previous

    def __repr__(self) -> str:
        return f"set_fast_paths({', '.join(f'{k}={v}' for k, v in get_fast_paths().items())})"


def set_fast_paths(
    *,
    row_loops: bool | None = None,
    huge_pages: bool | None = None,
    numpy_zeroing: bool | None = None,
) -> _Restore:
    """Switch the CPU fast paths of ``ecgfm.transforms`` on or off (``None``: leave as is).

    Takes effect at once, for the whole process. Used as a context manager
    (``with set_fast_paths(row_loops=False): ...``) it restores the previous settings when the
    block ends. Results are bit-identical either way; only the speed changes.

    Args:
        row_loops: augmentations work in place on the runs of the drawn records (CPU).
        huge_pages: batch-sized CPU outputs are allocated through numpy (transparent huge
            pages).
        numpy_zeroing: masked leads are zeroed through numpy views (``memset``).

    Raises:
        TypeError: a value that is not ``True``, ``False`` or ``None``.
    """
    global _state
    changes = {"row_loops": row_loops, "huge_pages": huge_pages, "numpy_zeroing": numpy_zeroing}
    for name, value in changes.items():
        if value is not None and not isinstance(value, bool):
            raise TypeError(
                f"set_fast_paths({name}=...) takes True, False or None (leave as is), got {value!r}"
            )
    previous = _state
    _state = dataclasses.replace(_state, **{k: v for k, v in changes.items() if v is not None})
    return _Restore(previous)
