"""Base class of the batched augmentations, sequential composition, and shared kernels.

An :class:`Augmentation` is applied to each record of a batch independently with probability
``p``; its random parameters are drawn per record (see :mod:`ecgfm.transforms._random` for the
seeding contract). Subclasses implement ``_apply_rows_(x, idx, generator)``, which modifies the
records ``idx`` of a ``(B, C, T)`` tensor **in place** and touches no other record. The public
``__call__`` copies the input once and returns the caller's kind of array; ``apply_`` works in
place on a ``(B, C, T)`` tensor; :class:`AugmentationPipeline` copies once and then runs every
op in place on that copy.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import torch

from ecgfm.signal import ECGRecord
from ecgfm.transforms import _alloc
from ecgfm.transforms import _random as R
from ecgfm.transforms._fill import zero_at_, zero_through_numpy
from ecgfm.transforms._rate import common_rate, resolve_rate
from ecgfm.transforms._remap import Draw, remap_draws_, resample
from ecgfm.transforms._rows import pieces, runs, use_row_loops

__all__ = ["Augmentation", "AugmentationPipeline", "RemapAugmentation"]

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor, ECGRecord)


class Augmentation:
    """Base class: a random transform applied to each record with probability ``p``.

    Call it on a signal ``(C, T)`` or a batch ``(B, C, T)`` (numpy or torch, any device), or
    on an :class:`~ecgfm.signal.ECGRecord`::

        y = op(x, generator=torch.Generator().manual_seed(0))

    Ops whose parameters are in Hz (band-pass, sines, baseline wander, power line) are built
    for one sampling rate, their ``fs``; the others have ``fs = None`` and work at any rate.
    A record's rate, or ``fs=`` given with the call, is checked against it
    (:mod:`ecgfm.transforms._rate`).

    Args of ``__call__``:
        x: float signal or batch (numpy input gives numpy output), or a record (gives a
            copy of the record with the new signal). ``x`` itself is left untouched.
        fs: sampling rate of an array ``x`` in Hz, checked against the op's ``fs``
            (optional: a rate-dependent op was built for one rate).
        generator: optional ``torch.Generator`` (CPU: identical draws on every device).
        check_finite: refuse NaN/Inf input (one reduction over the batch); pass ``False`` for
            data already validated upstream.
        inplace: deprecated (a ``DeprecationWarning``; still honoured): to modify a float
            ``(B, C, T)`` tensor in place, call :meth:`apply_` instead.
    """

    #: shortest signal (in samples) the op accepts
    min_samples: int = 2
    #: sampling rate (Hz) the op's parameters are built for; ``None``: any rate
    fs: float | None = None

    def __init__(self, p: float = 0.5) -> None:
        self.p = R.check_probability(p)

    def __call__(
        self,
        x: ArrayT,
        *,
        fs: float | None = None,
        generator: torch.Generator | None = None,
        check_finite: bool = True,
        inplace: bool | None = None,
    ) -> ArrayT:
        inplace = R.deprecated_inplace(
            inplace,
            type(self).__name__,
            "drop it (the op returns a new array), or call op.apply_(x) to modify a float "
            "(B, C, T) tensor x in place",
        )
        generator = R.check_generator(generator)
        what = type(self).__name__
        src = resolve_rate(x, fs, self.fs, what, required=False, rebuild=self._rebuild_advice())
        batch, restore = R.as_batch(
            src.signal,
            what,
            min_samples=self.min_samples,
            finite=check_finite,
            writable=inplace,
        )
        out = batch if inplace else _alloc.clone(batch)
        self.apply_(out, generator)
        y = restore(out)
        if src.record is None:
            return y
        record = src.record if inplace else copy.copy(src.record)
        if not inplace:
            record.meta = dict(record.meta)
        record.signal = y
        return record  # type: ignore[return-value]

    def _rebuild_advice(self) -> str:
        """Advice for building the op for another rate (a format string of ``fs``)."""
        return f"build it with fs={{fs:g}} ({type(self).__name__}(fs={{fs:g}}, ...))"

    def apply_(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Apply in place to a float batch ``(B, C, T)`` (finite, on any device); return ``x``.

        No copy and no NaN/Inf check: for batches the caller owns (``__call__`` copies)."""
        check_apply_input(self, x)
        self.check_input(x)
        idx = R.gate(x.shape[0], self.p, generator)
        if idx.numel():
            self._apply_rows_(x, idx, generator)
        return x

    def check_input(self, x: torch.Tensor) -> None:
        """Op-specific validation of a ``(B, C, T)`` batch (lengths, lead count)."""
        if x.shape[-1] < self.min_samples:
            raise ValueError(
                f"{type(self).__name__} needs at least {self.min_samples} samples, got "
                f"{x.shape[-1]}"
            )

    def _apply_rows_(
        self, x: torch.Tensor, idx: torch.Tensor, generator: torch.Generator | None
    ) -> None:
        raise NotImplementedError

    def extra_repr(self) -> str:
        fields = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        return ", ".join(f"{k}={v!r}" for k, v in fields.items())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class AugmentationPipeline(Augmentation):
    """Apply augmentations one after the other, each with its own probability.

    The input is copied once (not with :meth:`apply_`); every op then works in place on that
    copy, on the records it was drawn for. ``p`` gates the whole pipeline per record.

    Consecutive time remaps (:class:`RemapAugmentation`: time warp, time crop) are fused by
    default: their positions are composed (``x(p1(p2(t)))``) and each record is resampled
    once, which saves passes over the batch and one interpolation (less smoothing than
    resampling twice). The random draws are the same as unfused; the outputs agree up to the
    difference between one and two linear interpolations.

    Args:
        ops: the augmentations, applied in order. Those built for a sampling rate must agree
            on it; it becomes the pipeline's ``fs`` (``None`` when no op depends on the rate).
        p: probability that a record goes through the pipeline at all (default 1).
        fuse_remaps: compose consecutive time remaps into one resampling (default True).
    """

    def __init__(
        self, ops: Sequence[Augmentation], p: float = 1.0, fuse_remaps: bool = True
    ) -> None:
        super().__init__(p)
        self.fuse_remaps = bool(fuse_remaps)
        if isinstance(ops, Augmentation):
            ops = [ops]
        ops = list(ops)
        for i, op in enumerate(ops):
            if not isinstance(op, Augmentation):
                raise TypeError(
                    f"ops[{i}] is {type(op).__name__}, not an ecgfm Augmentation; wrap custom "
                    "code in a subclass of ecgfm.transforms.augment.Augmentation"
                )
        self.ops = ops
        self.min_samples = max([2, *(op.min_samples for op in ops)])
        self.fs = common_rate((op.fs for op in ops), "AugmentationPipeline")

    def _rebuild_advice(self) -> str:
        return "build its ops with fs={fs:g} (e.g. dual_view_ops({fs:g}))"

    def check_input(self, x: torch.Tensor) -> None:
        for op in self.ops:
            op.check_input(x)

    def apply_(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        check_apply_input(self, x)
        self.check_input(x)
        if self.p >= 1.0:
            self._run(x, generator)
            return x
        idx = R.gate(x.shape[0], self.p, generator)
        if idx.numel():
            self._apply_rows_(x, idx, generator)
        return x

    def _apply_rows_(
        self, x: torch.Tensor, idx: torch.Tensor, generator: torch.Generator | None
    ) -> None:
        rows = take_rows(x, idx)
        self._run(rows, generator)
        put_rows_(x, idx, rows)

    def _run(self, x: torch.Tensor, generator: torch.Generator | None) -> None:
        ops, i = self.ops, 0
        while i < len(ops):
            j = i
            while self.fuse_remaps and j < len(ops) and isinstance(ops[j], RemapAugmentation):
                j += 1
            if j - i >= 2:
                _fused_remap_(x, ops[i:j], generator)
                i = j
            else:
                ops[i].apply_(x, generator)
                i += 1

    def __len__(self) -> int:
        return len(self.ops)

    def __repr__(self) -> str:
        inner = ",\n".join(f"    {op!r}" for op in self.ops)
        return f"AugmentationPipeline([\n{inner}\n], p={self.p})"


class RemapAugmentation(Augmentation):
    """An augmentation that resamples each chosen record at new time positions.

    Subclasses implement either ``positions(n, T, generator) -> (n, 1, T)`` float64 sampling
    positions in ``[0, T - 1]`` (on the draw device), or — cheaper on the CPU, where the
    positions are then computed a few records at a time — the pair ``draw(n, T, generator)
    -> params`` (a tuple of per-record tensors, leading dimension ``n``) and
    ``positions_from(params, T)``. :class:`AugmentationPipeline` fuses consecutive remaps
    into one resampling.
    """

    def positions(self, n: int, n_t: int, generator: torch.Generator | None) -> torch.Tensor:
        if type(self).draw is RemapAugmentation.draw:
            raise NotImplementedError("implement positions() or draw() + positions_from()")
        return self.positions_from(self.draw(n, n_t, generator), n_t)

    def draw(self, n: int, n_t: int, generator: torch.Generator | None) -> tuple[torch.Tensor, ...]:
        """Random parameters of ``n`` records (default: their positions themselves)."""
        return (self.positions(n, n_t, generator),)

    def positions_from(self, params: tuple[torch.Tensor, ...], n_t: int) -> torch.Tensor:
        """Positions ``(k, 1, T)`` of the records whose parameters are ``params``."""
        return params[0]

    def _apply_rows_(
        self, x: torch.Tensor, idx: torch.Tensor, generator: torch.Generator | None
    ) -> None:
        remap_draws_(x, [_draw(self, idx, x, generator)])


def _draw(
    op: RemapAugmentation, idx: torch.Tensor, x: torch.Tensor, generator: torch.Generator | None
) -> Draw:
    slot = torch.full((x.shape[0],), -1, dtype=torch.int64)
    slot[idx] = torch.arange(idx.numel())
    return op, slot, op.draw(idx.numel(), x.shape[-1], generator)


def _fused_remap_(
    x: torch.Tensor, ops: Sequence[RemapAugmentation], generator: torch.Generator | None
) -> None:
    """Apply consecutive remaps as one resampling (same draws as applying them in turn)."""
    for op in ops:
        op.check_input(x)
    draws = []
    for op in ops:  # draw in the same order as applying the ops one by one
        idx = R.gate(x.shape[0], op.p, generator)
        if idx.numel():
            draws.append(_draw(op, idx, x, generator))
    if draws:
        remap_draws_(x, draws)


def check_apply_input(op: Augmentation, x: object) -> None:
    """Refuse what :meth:`Augmentation.apply_` cannot modify in place: it takes a float
    ``(B, C, T)`` torch tensor, whatever else ``op(x)`` accepts."""
    if isinstance(x, torch.Tensor) and x.is_floating_point() and x.ndim == 3:
        return
    got = (
        f"a {x.dtype} tensor of shape {tuple(x.shape)}"
        if isinstance(x, torch.Tensor)
        else type(x).__name__
    )
    raise TypeError(
        f"{type(op).__name__}.apply_ modifies a float torch tensor (B, C, T) in place, got "
        f"{got}; call the op itself, op(x), for numpy arrays, records or a single (C, T) "
        "signal (it returns a new array)"
    )


# ------------------------------------------------------------------------------ kernels


def is_all(idx: torch.Tensor, batch: int) -> bool:
    return idx.numel() == batch


def take_rows(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Records ``idx`` of ``x``: ``x`` itself when all are chosen, else a gathered copy."""
    if is_all(idx, x.shape[0]):
        return x
    return x.index_select(0, R.index_on(idx, x))


def put_rows_(x: torch.Tensor, idx: torch.Tensor, rows: torch.Tensor) -> None:
    """Write ``rows`` back into records ``idx`` of ``x`` (no-op if ``rows`` is ``x``)."""
    if rows is x:
        return
    if is_all(idx, x.shape[0]):
        x.copy_(rows)
    else:
        x.index_copy_(0, R.index_on(idx, x), rows)


def dense(values: torch.Tensor, idx: torch.Tensor, batch: int, fill: float) -> torch.Tensor:
    """Scatter per-record ``values`` ``(n, ...)`` into ``(batch, ...)``, ``fill`` elsewhere."""
    if values.shape[0] == batch:
        return values
    out = torch.full((batch, *values.shape[1:]), fill, dtype=values.dtype, device=values.device)
    out[idx.to(values.device)] = values
    return out


def scale_rows_(x: torch.Tensor, idx: torch.Tensor, factor: torch.Tensor) -> None:
    """Multiply records ``idx`` by ``factor`` ``(n, C or 1, 1)`` in place.

    When at least half the records are chosen, one broadcast multiply over the batch (factor
    exactly 1 elsewhere, which leaves those records bit-identical) beats gather + scatter.
    On the CPU each contiguous run of ``idx`` is multiplied in place instead (no copy, no
    pass over the other records).
    """
    b = x.shape[0]
    if use_row_loops(x):
        f = R.param(factor, x, *factor.shape)
        for first, stop, k in runs(idx):
            x[first:stop].mul_(f[k : k + stop - first])
        return
    if 2 * idx.numel() >= b:
        x.mul_(R.param(dense(factor, idx, b, 1.0), x, b, factor.shape[1], 1))
    else:
        rows = take_rows(x, idx)
        rows.mul_(R.param(factor, x, *factor.shape))
        put_rows_(x, idx, rows)


def add_outer_rows_(
    x: torch.Tensor, idx: torch.Tensor, amplitude: torch.Tensor, wave: torch.Tensor
) -> None:
    """``x[idx] += amplitude * wave`` with ``amplitude (n, C, 1)`` and ``wave (n, 1, T)``.

    Uses ``addcmul_`` so the ``(n, C, T)`` product is never materialised (on the CPU run by
    run of ``idx``, in place).
    """
    b = x.shape[0]
    amp = R.param(amplitude, x, *amplitude.shape)
    wav = R.param(wave, x, *wave.shape)
    if use_row_loops(x):
        for first, stop, k in runs(idx):
            x[first:stop].addcmul_(amp[k : k + stop - first], wav[k : k + stop - first])
        return
    if 2 * idx.numel() >= b:
        x.addcmul_(dense(amp, idx, b, 0.0), dense(wav, idx, b, 0.0))
    else:
        rows = take_rows(x, idx)
        rows.addcmul_(amp, wav)
        put_rows_(x, idx, rows)


def lead_std(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Standard deviation over time of each lead of records ``idx``: ``(n, C, 1)`` float64 CPU.

    Computed from two reductions in the input's dtype (a sum and a Euclidean norm; torch
    reduces float32 pairwise, so this stays accurate for ECG lengths) instead of
    ``torch.var``, which is several times slower on CPU, and without casting the batch to
    float64, which would cost a full extra pass. On the CPU only the runs of ``idx`` are
    read (slices, no copy).
    """
    if use_row_loops(x):
        total = torch.empty((idx.numel(), x.shape[1], 1), dtype=x.dtype)
        norm = torch.empty_like(total)
        for first, stop, k in runs(idx):
            rows, end = x[first:stop], k + stop - first
            torch.sum(rows, -1, keepdim=True, out=total[k:end])
            torch.linalg.vector_norm(rows, dim=-1, keepdim=True, out=norm[k:end])
        return _std_from(total, norm, x.shape[-1])
    # Reducing the whole batch (read only) is cheaper than gathering half of it (read + write).
    full = 2 * idx.numel() >= x.shape[0]
    rows = x if full else x.index_select(0, R.index_on(idx, x))
    std = _std(rows)
    return std[idx] if full and not is_all(idx, x.shape[0]) else std


def _std(rows: torch.Tensor) -> torch.Tensor:
    """Per-lead standard deviation ``(n, C, 1)`` float64 CPU of ``rows (n, C, T)``."""
    total = rows.sum(-1, keepdim=True)
    return _std_from(total, torch.linalg.vector_norm(rows, dim=-1, keepdim=True), rows.shape[-1])


def _std_from(total: torch.Tensor, norm: torch.Tensor, n_t: int) -> torch.Tensor:
    """Standard deviation (float64 CPU) from the sum and Euclidean norm of ``n_t`` samples."""
    mean = total.double().cpu() / n_t
    rms = norm.double().cpu() / n_t**0.5
    return (rms**2 - mean**2).clamp_min(0.0).sqrt()


def lead_std_rows(rows: torch.Tensor) -> torch.Tensor:
    """Per-lead standard deviation ``(n, C, 1)`` (float64, CPU) of an already gathered batch."""
    return lead_std(rows, torch.arange(rows.shape[0]))


def zero_leads_(x: torch.Tensor, rec: torch.Tensor, lead: torch.Tensor) -> None:
    """Set ``x[rec[k], lead[k], :] = 0`` for every ``k`` in place (any memory layout)."""
    if rec.numel() == 0:
        return
    if zero_through_numpy(x):  # memset speed on the CPU
        zero_at_(x, (rec, lead))
        return
    c = x.shape[1]
    rec_d, lead_d = R.index_on(rec, x), R.index_on(lead, x)
    if x.stride(0) == c * x.stride(1):  # (B, C) merge into one axis without a copy
        x.flatten(0, 1).index_fill_(0, rec_d * c + lead_d, 0.0)
    else:
        x.index_put_((rec_d, lead_d), torch.zeros((), dtype=x.dtype, device=x.device))


def interval_index(
    starts: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Sample positions of per-record intervals, padded to the longest.

    Args:
        starts, lengths: ``(n,)`` int64; every length is at least 1.

    Returns:
        ``(pos, valid, max_len)``: ``pos (n, 1, L)`` int64 positions, padding repeats each
        interval's last sample; ``valid (n, 1, L)`` bool marks the real ones.
    """
    max_len = int(lengths.max()) if lengths.numel() else 0
    k = torch.arange(max_len, dtype=torch.int64)
    valid = k[None, :] < lengths[:, None]
    pos = starts[:, None] + torch.minimum(k[None, :], lengths[:, None] - 1)
    return pos[:, None, :], valid[:, None, :], max_len


def write_interval_(
    x: torch.Tensor,
    idx: torch.Tensor,
    pos: torch.Tensor,
    values: torch.Tensor | None,
    *,
    accumulate: bool,
) -> None:
    """Write (or add) ``values (n, C|1, L)`` at positions ``pos (n, 1, L)`` of records ``idx``.

    ``values=None`` writes zeros. Only the interval samples are touched.
    """
    n, c = idx.numel(), x.shape[1]
    dev = x.device
    rec = R.index_on(idx, x).view(n, 1, 1)
    lead = torch.arange(c, device=dev).view(1, c, 1)
    p = R.index_on(pos, x)
    if values is None:
        x.index_put_((rec, lead, p), torch.zeros((), dtype=x.dtype, device=dev))
        return
    vals = values.to(device=dev, dtype=x.dtype).expand(n, c, p.shape[-1])
    x.index_put_((rec, lead, p), vals, accumulate=accumulate)


def remap_rows_(
    x: torch.Tensor, idx: torch.Tensor, positions: torch.Tensor, *, fill_outside: bool = False
) -> None:
    """Resample records ``idx`` at fractional sample ``positions (n, 1, T)`` (linear interp.).

    Positions are computed by the caller on the draw device in float64; see
    :func:`ecgfm.transforms._remap.resample`. With ``fill_outside`` positions outside
    ``[0, T-1]`` give 0, else the edge value.
    """
    if not use_row_loops(x):
        out = resample(take_rows(x, idx), positions, fill_outside)
        put_rows_(x, idx, out.to(x.dtype))
        return
    for first, stop, k in pieces(idx, x[0].numel()):  # slices of `x`: no gather, no scatter
        rows = x[first:stop]
        rows.copy_(resample(rows, positions[k : k + stop - first], fill_outside))
