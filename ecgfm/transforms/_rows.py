"""Working on the records an op was drawn for: contiguous runs, pieces and chunks.

An op applied with probability ``p`` touches a random subset ``idx`` of the batch. Gathering
that subset into a new tensor and scattering the result back costs two extra passes over it
and a fresh allocation (page faults once it is larger than the allocator keeps cached:
~0.3-0.5 ms per MB here). On the CPU the ops therefore work **in place on slices** of the
batch:

- element-wise work (scale, added noise) runs once per contiguous **run** of ``idx`` (a
  random half of 256 records has ~64 runs);
- resampling and FFT filtering run per **piece**: a run, cut to at most ``CHUNK_BYTES``
  (2 MB of float32 records), so that the intermediates stay small and are served from the
  allocator's free lists instead of fresh pages. Whole runs (a batch-sized piece when an op
  applies to every record) were 1.3-1.5x slower end to end on an AMD EPYC; any size from
  0.5 to 8 MB measured alike there, so the size is a fixed constant, not tuned per CPU;
- random fields (Gaussian noise) are drawn in **chunks** of the same size. Chunk boundaries
  depend only on the record shape, never on the device or on the fast-path settings, so the
  drawn stream is the same everywhere (which is why ``CHUNK_BYTES`` must stay fixed).

On other devices, or with ``set_fast_paths(row_loops=False)``
(:mod:`ecgfm.transforms._fast_paths`), the ops use whole-batch kernels
(``index_select``/``index_copy_``, masked dense passes), which suit a GPU better than many
small slices. Both give the same bits.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ecgfm.transforms._fast_paths import current

__all__: list[str] = []  # private module

#: size of one chunk / piece of float32 records (fixed: it defines the noise stream)
CHUNK_BYTES = 2 << 20


def use_row_loops(x: torch.Tensor) -> bool:
    """Whether ops on ``x`` work run by run / chunk by chunk (CPU) or as whole-batch kernels."""
    return current().row_loops and x.device.type == "cpu"


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
