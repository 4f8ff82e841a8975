"""Embedding input of ``PretrainedEncoder.embed`` / ``.prepare``: validate, prepare, report.

Policy (documented in docs/hub.md):

1. Input: one record (``(C, T)`` array/tensor or an :class:`~ecgfm.signal.ECGRecord`) or a batch
   (``(B, C, T)``, a list of arrays — lengths may differ — or a list of records, each with its
   own ``fs`` and leads). Values are converted to mV from ``units`` and validated
   (:func:`ecgfm.signal.as_signal`).
2. The card's preset prepares every record: selects/reorders leads (deriving III, aVR, aVL,
   aVF from two limb leads when needed), resamples to the card's ``fs``, filters the whole
   record, cuts windows of the card's length and normalises each window. Default
   ``windows="all"``: disjoint windows from the start, plus one last window aligned to the
   end when a remainder is left, so every sample is seen (the last two windows then overlap).
   Records shorter than a window but at least the preset's ``min_length`` give one
   zero-padded window; shorter ones are an error.
3. The windows go to the embedding engine (:class:`ecgfm.hub.EmbeddingEngine`,
   :mod:`ecgfm.hub._engine`): batches in ``torch.inference_mode``, the model's acceleration
   (``model.accelerate``), and a record's embedding is the **mean of its windows'
   embeddings** (``reduce="mean"``); ``reduce="none"`` returns every window's embedding with
   its record index instead.

Everything is deterministic: no random crop, no dropout (the model is in ``eval()``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from ecgfm.hub._embed_input import Item, RecordIssue, relabel, split_input, validate_item

__all__ = ["EmbedResult", "Prepared", "RecordIssue", "prepare_inputs"]

WindowPolicy = Literal["all", "disjoint", "center", "first", "spaced"]
_WINDOW_POLICIES: tuple[str, ...] = ("all", "disjoint", "center", "first", "spaced")
Errors = Literal["raise", "collect"]


@dataclass(frozen=True)
class Prepared:
    """Model-ready windows of a set of records; unpacks as ``windows, record_index``.

    ``windows, record_index = model.prepare(...)`` works like ``preset.prepare(...)``.

    Attributes:
        windows: ``(N, C, length)`` float32, preprocessed as the card says.
        record_index: ``(N,)`` long, the input position (0..B-1) of each window's record.
        num_records: ``B``, the number of input records.
        single: the input was one record (``embed`` then returns ``(D,)``, not ``(1, D)``).
        indices: input positions of the records that gave windows, in order (``None``: all).
        failures: records that failed (only with ``errors="collect"``).
        warnings: degenerate but usable records (flat leads, spikes, repaired NaN/Inf).
    """

    windows: torch.Tensor
    record_index: torch.Tensor
    num_records: int
    single: bool
    indices: tuple[int, ...] | None = None
    failures: tuple[RecordIssue, ...] = ()
    warnings: tuple[RecordIssue, ...] = ()

    def __iter__(self) -> Iterator[torch.Tensor]:
        yield self.windows
        yield self.record_index

    @property
    def succeeded(self) -> tuple[int, ...]:
        """Input positions of the records that gave windows."""
        return tuple(range(self.num_records)) if self.indices is None else self.indices


@dataclass(frozen=True, eq=False)
class EmbedResult:
    """What ``embed(..., errors="collect")`` returns: what could be embedded, and what not.

    Attributes:
        embeddings: ``reduce="mean"``: ``(len(indices), D)`` float32, row ``i`` the record at
            input position ``indices[i]``; ``reduce="none"``: ``(N, D)``, one row per window.
            Numpy or torch, as ``embed`` would return them (always 2-D, also for one record).
        indices: ``(len(indices),)`` int64, the input positions of the records embedded.
        record_index: ``reduce="none"``: ``(N,)`` input position of each window's record;
            ``None`` otherwise.
        failures: one :class:`RecordIssue` per record that could not be embedded, with its
            position, id, message and exception (``failure.error``), in input order.
        warnings: degenerate but embedded records (flat leads, spikes, repaired NaN/Inf),
            also issued as :class:`ecgfm.signal.ECGQualityWarning`.
        num_records: the number of input records.
    """

    embeddings: Any
    indices: Any
    record_index: Any
    failures: tuple[RecordIssue, ...]
    warnings: tuple[RecordIssue, ...]
    num_records: int

    @property
    def ok(self) -> bool:
        """Every record was embedded."""
        return not self.failures

    @property
    def failed_indices(self) -> list[int]:
        """Input positions of the failed records."""
        return [f.index for f in self.failures]

    def full(self, fill_value: float = float("nan")) -> Any:
        """``(num_records, D)`` embeddings in input order, ``fill_value`` rows for failures.

        Only for ``reduce="mean"`` results (windows have no row per record).
        """
        if self.record_index is not None:
            raise ValueError("full() needs reduce='mean' results (one row per record)")
        shape = (self.num_records, int(self.embeddings.shape[1]))
        if isinstance(self.embeddings, torch.Tensor):
            out = self.embeddings.new_full(shape, fill_value)
            out[self.indices] = self.embeddings
            return out
        out_np = np.full(shape, fill_value, np.float32)
        out_np[self.indices] = self.embeddings
        return out_np

    def __repr__(self) -> str:
        failed = ", ".join(str(f.index) for f in self.failures[:10])
        more = ", ..." if len(self.failures) > 10 else ""
        return (
            f"EmbedResult(embeddings {tuple(self.embeddings.shape)}: {len(self.indices)} of "
            f"{self.num_records} records embedded, failures [{failed}{more}], "
            f"{len(self.warnings)} warnings)"
        )


def _check_errors(errors: Any) -> None:
    if errors not in ("raise", "collect"):
        raise ValueError(
            f"errors must be 'raise' (stop at the first bad record) or 'collect' (embed the "
            f"others and list the failures), got {errors!r}"
        )


def _stack(sigs: list[Any]) -> Any:
    if isinstance(sigs[0], torch.Tensor):
        return torch.stack([s.to(sigs[0].device) for s in sigs])
    return np.stack(sigs)


def _group_key(sig: Any, fs: float) -> tuple[Any, ...]:
    device = str(sig.device) if isinstance(sig, torch.Tensor) else "numpy"
    return (fs, int(sig.shape[-1]), device)


def prepare_inputs(
    preset: Any,
    x: Any,
    fs: float | None = None,
    leads: Sequence[str] | None = None,
    *,
    units: str | None = None,
    windows: WindowPolicy = "all",
    nan_policy: str | None = None,
    errors: Errors = "raise",
) -> Prepared:
    """Validate ``x`` and turn it into the preset's windows (see the module docstring).

    Records are validated one by one (messages name the record); records of the same rate and
    length are then prepared together, up to 256 at a time. With ``errors="raise"`` the first
    bad record raises (its message names it); with ``"collect"`` it is listed in
    ``failures`` and the others are prepared.
    """
    if nan_policy is None:
        nan_policy = preset.nan_policy
    if nan_policy not in ("raise", "zero"):
        raise ValueError(f"nan_policy must be 'raise' or 'zero', got {nan_policy!r}")
    if windows not in _WINDOW_POLICIES:
        raise ValueError(
            f"windows must be one of {list(_WINDOW_POLICIES)} (embedding is deterministic: no "
            f"'random'), got {windows!r}"
        )
    _check_errors(errors)
    items, single = split_input(x, fs, leads, units)
    hint = (
        " (pass errors='collect' to embed the other records and get the failures listed)"
        if len(items) > 1 and errors == "raise"
        else ""
    )
    failures: list[RecordIssue] = []
    notes: list[RecordIssue] = []
    model_leads = None if preset.leads is None else tuple(preset.leads)

    def fail(item: Item, err: Exception) -> None:
        new = relabel(err, item.label, hint)
        if errors == "raise":
            raise new from None
        failures.append(RecordIssue(item.index, item.record_id, str(new), new))

    valid: list[tuple[Item, Any, tuple[str, ...]]] = []
    first_error: tuple[Item, Exception] | None = None
    for item in items:
        try:
            sig, names, item_notes = validate_item(item, model_leads, nan_policy)
        except Exception as err:  # every record failure is named (and collected if asked)
            if errors == "raise":  # raised after the records before it are prepared
                first_error = (item, err)
                break
            fail(item, err)
            continue
        notes.extend(RecordIssue(item.index, item.record_id, n) for n in item_notes)
        valid.append((item, sig, names))

    out_windows: list[torch.Tensor] = []
    out_index: list[torch.Tensor] = []
    done: list[int] = []

    def run(group: list[tuple[Item, Any, tuple[str, ...]]]) -> None:
        item0, _, names = group[0]
        try:
            w, idx = preset.prepare(
                _stack([g[1] for g in group]), item0.fs, names, windows=windows,
                nan_policy=nan_policy,
            )  # fmt: skip
        except Exception as err:
            if len(group) > 1:  # find the record(s) responsible
                for member in group:
                    run([member])
                return
            fail(item0, err)
            return
        positions = torch.as_tensor([g[0].index for g in group], dtype=torch.long)
        out_windows.append(w)
        out_index.append(positions.to(idx.device)[idx.to(torch.long)])
        done.extend(g[0].index for g in group)

    group: list[tuple[Item, Any, tuple[str, ...]]] = []
    for entry in valid:
        if group and (
            len(group) == 256
            or _group_key(entry[1], entry[0].fs) != _group_key(group[0][1], group[0][0].fs)
        ):
            run(group)
            group = []
        group.append(entry)
    if group:
        run(group)
    if first_error is not None:  # no record before it failed: it is the first bad record
        fail(*first_error)
    n_ch = len(model_leads) if model_leads is not None else 0
    if out_windows:
        device = out_windows[0].device
        all_w = torch.cat([w.to(device) for w in out_windows])
        all_i = torch.cat([i.to(device) for i in out_index])
    else:
        all_w = torch.zeros(0, n_ch, int(preset.length))
        all_i = torch.zeros(0, dtype=torch.long)
    indices = None if len(done) == len(items) else tuple(sorted(done))
    failures.sort(key=lambda f: f.index)
    return Prepared(all_w, all_i, len(items), single, indices, tuple(failures), tuple(notes))
