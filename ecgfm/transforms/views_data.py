"""Feeding views to a ``torch.utils.data.DataLoader``: ``(view_a, view_b, meta)`` batches.

Two ways, same output:

- :class:`ViewCollate` (fast): the DataLoader batches raw records and the view generator runs
  once per batch, vectorised, inside the ``collate_fn``::

      loader = DataLoader(dataset, batch_size=256, collate_fn=ViewCollate(CMSC(rlm=0.5)))

- :class:`ViewDataset` (per record): each item is already ``(view_a, view_b, meta)``; batch
  with ``collate_fn=collate_views``.

Each batch is ``(View(x=(B, C, T'), fs, leads), View(...), meta)`` where ``meta`` is a dict of
per-record fields (``record_id``, ``patient_id``, ``labels``, ``index`` where known) collated
with ``default_collate`` where possible, else kept as lists.

Items of the wrapped dataset may be :class:`~ecgfm.signal.ECGRecord` (their ``fs`` is
passed to the generator, their ``leads`` are checked against it), arrays/tensors ``(C, T)``,
``(signal, target)`` tuples, or mappings with a ``"signal"`` key (other keys go to ``meta``).
Arrays carry no sampling rate: their views take the generator's ``fs=`` (a generator built
without one refuses them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate, get_worker_info

from ecgfm.signal import ECGRecord
from ecgfm.transforms import _alloc
from ecgfm.transforms import _random as R
from ecgfm.transforms.views import View, ViewGenerator

__all__ = ["ViewCollate", "ViewDataset", "collate_views"]


def _seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers (stable across processes and Python versions)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _split_item(
    item: Any, views: ViewGenerator, where: str
) -> tuple[torch.Tensor, dict, float | None]:
    """Signal ``(C, T)`` tensor, meta dict and sampling rate (records only) of one item."""
    meta: dict[str, Any] = {}
    fs = None
    if isinstance(item, ECGRecord):
        fs = views._check_record(item)
        meta.update(record_id=item.record_id, patient_id=item.patient_id, labels=item.labels)
        signal: Any = item.signal
    elif isinstance(item, Mapping):
        if "signal" not in item:
            raise KeyError(f"{where}: a mapping item needs a 'signal' key, got {list(item)}")
        signal = item["signal"]
        meta.update({k: v for k, v in item.items() if k != "signal"})
    elif isinstance(item, (tuple, list)) and item and not isinstance(item[0], (int, float)):
        signal = item[0]
        if len(item) > 1:
            meta["target"] = item[1] if len(item) == 2 else tuple(item[1:])
    else:
        signal = item
    if isinstance(signal, np.ndarray):
        signal = torch.from_numpy(np.ascontiguousarray(signal))
    if not isinstance(signal, torch.Tensor) or signal.ndim != 2:
        raise TypeError(
            f"{where}: expected a record (C, T) as ECGRecord, array/tensor, (signal, target) "
            f"tuple or mapping with 'signal'; got {type(signal).__name__} "
            f"{tuple(getattr(signal, 'shape', ()))}"
        )
    return signal, meta, fs


def _batch_rate(rates: Sequence[float | None], views: ViewGenerator) -> float | None:
    """The one sampling rate of the records of a batch (``None``: no item is a record)."""
    named = sorted({r for r in rates if r is not None})
    if len(named) > 1:
        raise ValueError(
            f"records of one batch differ in sampling rate ({', '.join(f'{r:g}' for r in named)}"
            " Hz); resample them to one rate (ecgfm.transforms.functional.resample) before "
            "batching"
        )
    if named and views.fs is None and None in rates:
        raise ValueError(
            "a batch mixes ECGRecords and plain arrays, and the view generator was built "
            "without fs=, so the arrays have no sampling rate; make every item an ECGRecord, "
            "or build the generator with fs="
        )
    return named[0] if named else None


def _collate_meta(metas: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    keys = list(dict.fromkeys(k for m in metas for k in m))
    out: dict[str, Any] = {}
    for k in keys:
        values = [m.get(k) for m in metas]
        try:
            out[k] = default_collate(values)
        except (TypeError, RuntimeError, ValueError):
            out[k] = values  # None, ragged or custom objects: keep one entry per record
    return out


def _stack_view(views: Sequence[View], position: int) -> View:
    first = views[0]
    for v in views[1:]:
        if v.fs != first.fs or tuple(v.leads) != tuple(first.leads):
            raise ValueError(
                f"view {position} differs across the batch (fs {first.fs} vs {v.fs}, leads "
                f"{list(first.leads)} vs {list(v.leads)}); records of one batch must share "
                "sampling rate and leads"
            )
    return View(torch.stack([torch.as_tensor(v.x) for v in views]), first.fs, first.leads)


def collate_views(batch: Sequence[tuple]) -> tuple:
    """Collate items ``(view_1, ..., view_n, meta)`` into ``(View(B...), ..., meta)``."""
    if not batch:
        raise ValueError("collate_views got an empty batch")
    n = len(batch[0]) - 1
    if n < 1 or any(len(item) != n + 1 for item in batch):
        raise ValueError("every item must be (view_1, ..., view_n, meta) with the same n")
    stacked = tuple(_stack_view([item[k] for item in batch], k) for k in range(n))
    return (*stacked, _collate_meta([item[n] for item in batch]))


class ViewDataset(Dataset):
    """Wrap a dataset so each item is ``(view_1, ..., view_n, meta)`` (per-record views).

    Args:
        dataset: a map-style dataset of records (see the module docstring for item kinds).
        views: the view generator, e.g. ``CMSC(rlm=0.5)`` or ``Stochastic()`` (the rate of
            each record is used; plain arrays need the generator's ``fs=``).
        seed: if given, item ``i`` of epoch ``e`` uses a generator seeded from
            ``(seed, e, i)``: reproducible whatever the worker count and order. If ``None``,
            torch's global RNG is used (seeded per worker by the DataLoader).

    Use ``collate_fn=collate_views``; call :meth:`set_epoch` at the start of each epoch.
    """

    def __init__(self, dataset: Any, views: ViewGenerator, *, seed: int | None = None) -> None:
        if not isinstance(views, ViewGenerator):
            raise TypeError(f"views must be an ecgfm ViewGenerator, got {type(views).__name__}")
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise TypeError("dataset must be a map-style dataset (with __getitem__ and __len__)")
        self.dataset = dataset
        self.views = views
        self.seed = None if seed is None else int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple:
        signal, meta, fs = _split_item(self.dataset[index], self.views, f"item {index}")
        meta["index"] = int(index)
        gen = None
        if self.seed is not None:
            gen = torch.Generator().manual_seed(_seed(self.seed, self.epoch, int(index)))
        views = self.views(signal, fs=fs, generator=gen)
        return (*views, meta)


class ViewCollate:
    """A ``collate_fn`` that stacks raw records and makes their views once per batch.

    Args:
        views: the view generator.
        seed: if given, batch ``k`` of worker ``w`` in epoch ``e`` uses a generator seeded
            from ``(seed, e, w, k)``, so runs repeat with the same ``num_workers``. If
            ``None``, torch's global RNG is used (seeded per worker by the DataLoader).
        check_finite: refuse batches holding NaN/Inf (one reduction over the batch, a few ms
            for 256 x 12 x 5000); pass ``False`` when the dataset is known to be finite.
        inplace: deprecated (a ``DeprecationWarning``; still honoured). The generator always
            works in place on the batch it stacks, which this function owns (the records of
            the dataset are never modified); that saves a copy (1.3-2x end to end,
            ``docs/benchmarks.md``).
    """

    def __init__(
        self,
        views: ViewGenerator,
        *,
        seed: int | None = None,
        check_finite: bool = True,
        inplace: bool | None = None,
    ) -> None:
        if not isinstance(views, ViewGenerator):
            raise TypeError(f"views must be an ecgfm ViewGenerator, got {type(views).__name__}")
        self.views = views
        self.seed = None if seed is None else int(seed)
        advice = "drop it: ViewCollate always works in place on the batch it stacks (its own)"
        self._overwrite = inplace is None or R.deprecated_inplace(inplace, "ViewCollate", advice)
        self.check_finite = bool(check_finite)
        self.epoch = 0
        self._count = 0

    def set_epoch(self, epoch: int) -> None:
        """Restart the batch counter for epoch ``epoch`` (call before iterating)."""
        self.epoch = int(epoch)
        self._count = 0

    def __call__(self, items: Sequence[Any]) -> tuple:
        if not items:
            raise ValueError("ViewCollate got an empty batch")
        signals, metas, rates = zip(
            *(_split_item(it, self.views, f"batch item {i}") for i, it in enumerate(items)),
            strict=True,
        )
        fs = _batch_rate(rates, self.views)
        shapes = {tuple(s.shape) for s in signals}
        if len(shapes) > 1:
            raise ValueError(
                f"records of one batch differ in shape {sorted(shapes)}; crop or pad them to one "
                "length (ecgfm.transforms.functional.fit_length) before batching"
            )
        info = get_worker_info()
        # in a worker process the batch goes straight into shared memory (no copy on send)
        batch = _alloc.stack(signals, shared=info is not None)
        gen = None
        if self.seed is not None:
            worker = -1 if info is None else info.id
            gen = torch.Generator().manual_seed(_seed(self.seed, self.epoch, worker, self._count))
        self._count += 1
        views = self.views._generate(batch, fs, gen, self.check_finite, self._overwrite)
        return (*views, _collate_meta(metas))
