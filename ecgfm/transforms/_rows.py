"""Working on the records an op was drawn for: contiguous runs and cache-sized chunks.

An op applied with probability ``p`` touches a random subset ``idx`` of the batch. Gathering
that subset into a new tensor and scattering the result back costs two passes over it plus a
fresh allocation (page faults once it is larger than the allocator's cache, ~0.3 ms per MB on
a loaded CPU). On the CPU the ops therefore

- apply element-wise work in place on the **contiguous runs** of ``idx`` (slices of the
  batch, no copy; a random half of 256 records has ~64 runs), and
- process gather-type work (resampling, FFT filtering) in **chunks** of a few MB, so that the
  gathered rows and every intermediate stay in the CPU caches and are served from the
  allocator's free lists instead of fresh pages.

Chunk boundaries depend only on the record shape, never on the device, so random fields drawn
chunk by chunk are the same stream on every device.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ecgfm.transforms._fill import numpy_writable

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


def gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Records ``idx`` (sorted) of ``x``: a slice of ``x`` if they are consecutive, else a copy."""
    first, last = int(idx[0]), int(idx[-1])
    if last - first + 1 == idx.numel():
        return x[first : last + 1]
    return x.index_select(0, idx.to(x.device))


def scatter_(x: torch.Tensor, idx: torch.Tensor, rows: torch.Tensor) -> None:
    """Write ``rows`` into records ``idx`` (sorted) of ``x``."""
    first, last = int(idx[0]), int(idx[-1])
    if last - first + 1 == idx.numel():
        dst = x[first : last + 1]
        if dst.data_ptr() != rows.data_ptr() or dst.stride() != rows.stride():
            dst.copy_(rows)
        return
    if numpy_writable(x) and rows.dtype == x.dtype and rows.device == x.device:
        x.numpy()[idx.cpu().numpy()] = rows.numpy()  # memcpy per record (index_copy_: per element)
        return
    x.index_copy_(0, idx.to(x.device), rows)
