"""Evaluation tasks on public data: ``get_task(name).load(root)`` -> :class:`TaskData`.

==================== ===================================================================
name                 task
==================== ===================================================================
``cinc2017``         CinC 2017 single lead, N / A / O / ~, 10 s segments averaged per
                     record, fixed record-level split (``splits/cinc2017_v3.json``)
``ptbxl-superclass`` PTB-XL 5 diagnostic super-classes, multi-label, official folds
                     (lead I by default; ``leads="12"`` for 12 leads)
``ptbxl-mi``         PTB-XL 9 MI types of SelfMIS, multi-label, official folds, lead I
==================== ===================================================================

Each module documents its selection rules: :mod:`ecgfm.eval.task_cinc2017`,
:mod:`ecgfm.eval.task_ptbxl`. See ``docs/evaluation.md``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from ecgfm.eval.task_base import SPLITS, Task, TaskData
from ecgfm.eval.task_cinc2017 import (
    CINC2017_SPLIT_FILE,
    CinC2017Task,
    make_cinc2017_split,
    read_split_file,
    write_split_file,
)
from ecgfm.eval.task_ptbxl import PTBXL_FALLBACK_FOLDS, PTBXL_OFFICIAL_FOLDS, PTBXLTask

__all__ = [
    "CINC2017_SPLIT_FILE",
    "PTBXL_FALLBACK_FOLDS",
    "PTBXL_OFFICIAL_FOLDS",
    "SPLITS",
    "CinC2017Task",
    "PTBXLTask",
    "Task",
    "TaskData",
    "get_task",
    "list_tasks",
    "make_cinc2017_split",
    "read_split_file",
    "write_split_file",
]

_TASKS: dict[str, Callable[..., Task]] = {
    "cinc2017": CinC2017Task,
    "ptbxl-superclass": lambda **kw: PTBXLTask("superclass", **kw),
    "ptbxl-mi": lambda **kw: PTBXLTask("mi", **kw),
}


def list_tasks() -> list[str]:
    """Names accepted by :func:`get_task`."""
    return sorted(_TASKS)


def get_task(name: str, **options: Any) -> Task:
    """The task ``name`` with its options (e.g. ``get_task("ptbxl-superclass", leads="12")``).

    Options: ``cinc2017``: ``split_file``, ``allow_missing``, ``segment_seconds``;
    ``ptbxl-*``: ``leads``, ``sampling_rate``, ``folds``.
    """
    if not isinstance(name, str):
        raise TypeError(f"task name must be a string, got {type(name).__name__}")
    key = name.lower().replace("_", "-")
    if key not in _TASKS:
        close = difflib.get_close_matches(key, list(_TASKS), n=2, cutoff=0.5)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown task {name!r}.{hint} Tasks: {', '.join(list_tasks())}")
    try:
        return _TASKS[key](**options)
    except TypeError as err:
        raise TypeError(f"task {key!r}: bad options {sorted(options)}: {err}") from None
