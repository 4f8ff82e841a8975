"""Batch-sized CPU outputs in memory that is cheap to fault in.

A fresh batch-sized tensor (61 MB for 256 x 12 x 5000 float32) is mapped anew by the
allocator and faulted in 4 KB page by page when first written: on the shared 2-core
development CPU that costs about as much as copying the data (``clone`` ~33 ms, of which the
copy is ~10-18 ms). numpy asks the kernel for transparent huge pages for large arrays
(``madvise(MADV_HUGEPAGE)``, its default on Linux), which halves it (~17 ms). The view
generators and augmentations therefore allocate their CPU outputs through numpy; the tensors
are ordinary CPU tensors sharing that memory (``torch.from_numpy``). End to end this made
``ViewCollate`` 2-3.5x (CMSC, Interleave) and 1.3x (Stochastic) faster on an AMD EPYC
(``docs/benchmarks.md``). It needs Linux's transparent huge pages in ``madvise`` or ``always``
mode. Other devices, dtypes numpy lacks, tensors that require grad and
``set_fast_paths(huge_pages=False)`` use torch. (Setting ``THP_MEM_ALLOC_ENABLE=1`` before
starting Python gives torch's own allocator the same behaviour.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ecgfm.transforms._fast_paths import current
from ecgfm.transforms._fill import numpy_writable

__all__: list[str] = []  # private module

_NUMPY = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}


def _numpy_memory(t: torch.Tensor) -> bool:
    """Whether outputs like ``t`` are allocated through numpy (the ``huge_pages`` fast path)."""
    return current().huge_pages and numpy_writable(t)


def empty(shape: Sequence[int], like: torch.Tensor) -> torch.Tensor:
    """Uninitialised contiguous tensor of ``shape`` with ``like``'s dtype and device."""
    if _numpy_memory(like):
        return torch.from_numpy(np.empty(tuple(shape), dtype=_NUMPY[like.dtype]))
    return torch.empty(tuple(shape), dtype=like.dtype, device=like.device)


def clone(x: torch.Tensor) -> torch.Tensor:
    """A copy of ``x`` (same values, shape and dtype; contiguous on the CPU fast path)."""
    if _numpy_memory(x):
        return torch.from_numpy(np.array(x.numpy(), order="C", copy=True))
    return x.clone()


def stack(tensors: Sequence[torch.Tensor], *, shared: bool = False) -> torch.Tensor:
    """``torch.stack(tensors)`` (equal shapes, one dtype and device).

    ``shared=True`` (DataLoader worker processes) stacks straight into shared memory, as
    ``default_collate`` does, so that sending the batch to the main process copies nothing.
    """
    first = tensors[0]
    shape = (len(tensors), *first.shape)
    if shared and first.device.type == "cpu":
        storage = torch.UntypedStorage._new_shared(int(np.prod(shape)) * first.element_size())
        out = torch.empty(0, dtype=first.dtype).set_(storage).view(shape)
        return torch.stack(list(tensors), out=out)
    if all(_numpy_memory(t) and t.dtype == first.dtype for t in tensors):
        return torch.from_numpy(np.stack([t.numpy() for t in tensors]))
    return torch.stack(list(tensors))
