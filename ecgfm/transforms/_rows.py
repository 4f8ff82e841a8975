"""Working on the records an op was drawn for: contiguous runs, pieces and chunks.

An op applied with probability ``p`` touches a random subset ``idx`` of the batch. Gathering
that subset into a new tensor and scattering the result back costs two extra passes over it
and a fresh allocation (page faults once it is larger than the allocator keeps cached:
~0.3-0.5 ms per MB here). On the CPU the ops therefore work **in place on slices** of the
batch:

- element-wise work (scale, added noise) runs once per contiguous **run** of ``idx`` (a
  random half of 256 records has ~64 runs);
- resampling and FFT filtering run per **piece**: a run, cut to at most a few MB
  (``CHUNK_BYTES``), so that every intermediate stays in the CPU caches and is served from
  the allocator's free lists instead of fresh pages;
- random fields (Gaussian noise) are drawn in **chunks** of the same size. Chunk boundaries
  depend only on the record shape, never on the device or on ``ROW_LOOPS``, so the drawn
  stream is the same everywhere.

On other devices the ops use whole-batch kernels (``index_select``/``index_copy_``, masked
dense passes), which suit a GPU better than many small slices.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

__all__: list[str] = []  # private module

#: target size of one chunk of float32 records (about half of a core's L2 cache here)
CHUNK_BYTES = 2 << 20

#: run the CPU loops (tests switch this off to check them against the vectorised path)
ROW_LOOPS = True


def use_row_loops(x: torch.Tensor) -> bool:
    """Whether ops on ``x`` work run by run / chunk by chunk (CPU) or as whole-batch kernels."""
    return ROW_LOOPS and x.device.type == "cpu"


def chunk_records(record_numel: int) -> int:
    """Records per chunk for records of ``record_numel`` samples (float32 size; at least 1)."""
    return max(1, CHUNK_BYTES // max(1, 4 * record_numel))


def chunks(n: int, record_numel: int) -> Iterator[slice]:
    """Slices ``[s, s + k)`` covering ``range(n)`` in chunks of :func:`chunk_records`."""
    k = chunk_records(record_numel)
    for start in range(0, n, k):
        yield slice(start, min(start + k, n))


def runs(idx: torch.Tensor) -> list[tuple[int, int, int]]:
    """Maximal runs of consecutive values of a sorted, duplicate-free index ``idx (n,)``.

    Returns ``(first, stop, offset)`` per run: records ``first .. stop - 1`` of the batch,
    which are ``idx[offset : offset + stop - first]``.
    """
    values = idx.tolist()
    out: list[tuple[int, int, int]] = []
    start = 0
    for k in range(1, len(values) + 1):
        if k == len(values) or values[k] != values[k - 1] + 1:
            out.append((values[start], values[k - 1] + 1, start))
            start = k
    return out


def pieces(idx: torch.Tensor, record_numel: int) -> list[tuple[int, int, int]]:
    """:func:`runs` of ``idx`` split into pieces of at most :func:`chunk_records` records."""
    k = chunk_records(record_numel)
    return [
        (first + s, min(first + s + k, stop), offset + s)
        for first, stop, offset in runs(idx)
        for s in range(0, stop - first, k)
    ]
