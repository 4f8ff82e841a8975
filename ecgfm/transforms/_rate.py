"""Where a view generator or an augmentation gets the sampling rate of its input.

A numpy array or a torch tensor carries no sampling rate; an :class:`~ecgfm.signal.ECGRecord`
does. Every transform whose result depends on the rate (the ``fs`` label of a view, the
cut-offs of a band-pass, the frequency of an added sine) resolves it here and nowhere else,
from three sources:

1. the record, when the input is an ``ECGRecord``;
2. ``fs=`` passed with the call;
3. the rate the transform was built for (its ``fs=`` constructor argument).

Sources that are present must agree. There is no default rate: a transform whose result
depends on the rate refuses an array when no source gives one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
import torch

from ecgfm.signal import ECGRecord, check_fs

__all__: list[str] = []  # private module


class RatedInput(NamedTuple):
    """A transform's input split into its signal and its resolved sampling rate.

    Attributes:
        signal: the array or tensor ``(C, T)`` / ``(B, C, T)`` (a record's ``signal``).
        fs: the sampling rate in Hz, ``None`` when no source gives one (allowed only for
            transforms that do not depend on it).
        record: the input itself when it is an ``ECGRecord``, else ``None``.
    """

    signal: Any
    fs: float | None
    record: ECGRecord | None


def resolve_rate(
    x: Any,
    fs: Any,
    built_fs: float | None,
    what: str,
    *,
    required: bool,
    rebuild: str = "build it with fs={fs:g}",
) -> RatedInput:
    """Resolve the sampling rate of ``x`` for the transform ``what``.

    Args:
        x: an ``ECGRecord``, or an array / tensor ``(C, T)`` / ``(B, C, T)``; anything else
            is returned as it is, for the caller's input check to refuse.
        fs: the ``fs=`` given with the call (``None``: not given).
        built_fs: the rate the transform was built for (``None``: built for any rate).
        what: the transform's name, for messages (e.g. ``"CMSC"``).
        required: refuse input whose rate no source gives (transforms whose output depends
            on the rate); otherwise such input resolves to ``fs=None``.
        rebuild: the advice for rebuilding the transform when it was built for another
            rate, a format string completed with ``fs=`` the input's rate.

    Raises:
        ValueError: the sources disagree, or ``required`` and none gives a rate.
        TypeError: ``fs`` is not a number.
    """
    given = None if fs is None else check_fs(fs)
    if isinstance(x, ECGRecord):
        if given is not None and given != x.fs:
            raise ValueError(
                f"{what}: fs={given:g} was passed but the record is sampled at {x.fs:g} Hz; "
                "leave out fs= (an ECGRecord carries its rate)"
            )
        rate, signal = x.fs, x.signal
        source = f"the record is sampled at {rate:g} Hz"
    elif not isinstance(x, (np.ndarray, torch.Tensor)):
        return RatedInput(x, given or built_fs, None)  # not a signal: as_batch says so
    elif given is not None:
        rate, signal = given, x
        source = f"fs={rate:g} was passed with the call"
    elif built_fs is not None:
        return RatedInput(x, built_fs, None)
    elif required:
        raise ValueError(
            f"{what}: a {_kind(x)} carries no sampling rate and {what} was built "
            f"without one; pass fs= (Hz) with the call or to the constructor ({what}(..., "
            "fs=...)), or pass an ecgfm.ECGRecord (it carries its rate). There is no default "
            "rate: views labelled or filtered for the wrong rate would be silently wrong"
        )
    else:
        return RatedInput(x, None, None)
    if built_fs is not None and rate != built_fs:
        raise ValueError(
            f"{what} was built for fs={built_fs:g} Hz but {source}; "
            f"{rebuild.format(fs=rate)}, or resample the input to {built_fs:g} Hz first "
            "(ecgfm.transforms.functional.resample)"
        )
    return RatedInput(signal, rate, x if isinstance(x, ECGRecord) else None)


def _kind(x: np.ndarray | torch.Tensor) -> str:
    return "numpy array" if isinstance(x, np.ndarray) else "torch tensor"


def common_rate(rates: Iterable[float | None], what: str, fs: float | None = None) -> float | None:
    """The one sampling rate that parts built for a rate (and ``fs``, when given) agree on.

    Args:
        rates: the ``fs`` of each part (``None``: the part works at any rate).
        what: the container's name, for messages (e.g. ``"AugmentationPipeline"``).
        fs: the rate the container itself is asked to be built for (``None``: not given).

    Returns:
        That rate, or ``None`` when neither the parts nor ``fs`` name one.

    Raises:
        ValueError: two parts, or a part and ``fs``, name different rates.
    """
    named = sorted({r for r in rates if r is not None})
    if len(named) > 1:
        raise ValueError(
            f"{what}: its augmentations were built for different sampling rates "
            f"{', '.join(f'{r:g}' for r in named)} Hz; build them all with the fs= of the "
            "data (e.g. dual_view_ops(fs), moco_ops(fs))"
        )
    if fs is not None and named and named[0] != fs:
        raise ValueError(
            f"{what} was asked for fs={fs:g} Hz but its augmentations were built for "
            f"{named[0]:g} Hz; build them with fs={fs:g} too (e.g. dual_view_ops({fs:g}))"
        )
    return fs if fs is not None else (named[0] if named else None)
