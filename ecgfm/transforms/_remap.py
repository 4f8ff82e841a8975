"""Kernels of the time-remap augmentations (warp, crop): position curves and resampling.

A remap op draws a few parameters per record (:meth:`RemapAugmentation.draw`) and turns them
into sampling positions ``(n, 1, T)`` (:meth:`RemapAugmentation.positions_from`). Consecutive
remaps compose: applying ``p2`` after ``p1`` samples the input at ``p1(p2(t))``.

On the CPU the positions are computed block by block (``BLOCK_RECORDS`` touched records at a
time) right before resampling those records in place, run by run (see
:mod:`ecgfm.transforms._rows`): the float64 position curves of the whole batch (tens of MB)
are never materialised, and each block stays in the CPU cache. Elsewhere all touched
records are composed and resampled at once.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F

from ecgfm.transforms._rows import pieces, use_row_loops

__all__: list[str] = []  # private module

#: records whose positions are composed together (then resampled run by run)
BLOCK_RECORDS = 32


class PositionMaker(Protocol):
    def positions_from(self, params: tuple[torch.Tensor, ...], n_t: int) -> torch.Tensor: ...


#: one drawn remap: (op, slot (B,) int64 CPU: row of each record in ``params`` or -1, params)
Draw = tuple[PositionMaker, torch.Tensor, tuple[torch.Tensor, ...]]


def interp_positions(pos: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
    """Evaluate piecewise-linear position curves ``pos (m, 1, T)`` at ``at (m, 1, T)``."""
    n_t = pos.shape[-1]
    left = at.floor().clamp_(0, n_t - 2)
    w = at - left
    i0 = left.to(torch.int64)
    return pos.gather(-1, i0).lerp_(pos.gather(-1, i0.add_(1)), w)


def resample(rows: torch.Tensor, positions: torch.Tensor, fill_outside: bool) -> torch.Tensor:
    """``rows (n, C, T)`` linearly interpolated at ``positions (n, 1, T)`` (a new tensor).

    Positions (float64, draw device) are converted to ``grid_sample``'s normalised grid on
    their own device, so every device interpolates at the same points. Outside ``[0, T-1]``:
    0 with ``fill_outside``, else the edge value.
    """
    return sample(rows, to_grid(positions, _work_dtype(rows)), fill_outside)


def _work_dtype(x: torch.Tensor) -> torch.dtype:
    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32


def to_grid(
    positions: torch.Tensor, dtype: torch.dtype, *, overwrite: bool = False
) -> torch.Tensor:
    """``grid_sample`` grid ``(n, 1, T, 2)`` of sample ``positions (n, 1, T)`` (same device).

    The grid is the real view of a complex tensor whose imaginary part (``y``) is 0: one
    cast writes both coordinates. ``overwrite=True`` normalises ``positions`` in place.
    """
    n_t = positions.shape[-1]
    norm = positions if overwrite else positions.clone()
    norm.mul_(2.0 / (n_t - 1)).sub_(1.0)
    return torch.view_as_real(norm.to(_COMPLEX[dtype]))


_COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def sample(rows: torch.Tensor, grid: torch.Tensor, fill_outside: bool) -> torch.Tensor:
    """``rows (n, C, T)`` sampled at ``grid (n, 1, T, 2)`` (see :func:`to_grid`)."""
    return F.grid_sample(
        rows.unsqueeze(2).to(grid.dtype),
        grid.to(device=rows.device),
        mode="bilinear",
        padding_mode="zeros" if fill_outside else "border",
        align_corners=True,
    ).squeeze(2)


def compose(records: torch.Tensor, draws: list[Draw], n_t: int) -> torch.Tensor:
    """Composite positions ``(k, 1, T)`` float64 of ``records (k,)`` (each drawn at least once).

    The remaps apply in the order of ``draws``; a record not drawn by a remap skips it.
    """
    k = records.numel()
    out: torch.Tensor | None = None
    started = torch.zeros(k, dtype=torch.bool)
    for op, slot, params in draws:
        s = slot[records]
        which = (s >= 0).nonzero().flatten()
        if which.numel() == 0:
            continue
        dev = params[0].device
        pos = op.positions_from(tuple(p[s[which].to(dev)] for p in params), n_t)
        if out is None:
            out = torch.empty((k, 1, n_t), dtype=pos.dtype, device=pos.device)
        again = started[which]
        if not bool(again.any()):  # composing with the identity: the positions themselves
            out[which.to(out.device)] = pos
        else:
            new = (~again).nonzero().flatten()
            old = again.nonzero().flatten()
            if new.numel():
                out[which[new].to(out.device)] = pos[new.to(dev)]
            rows = which[old].to(out.device)
            # applying this remap after those so far: y(t) = x(P(p(t)))
            out[rows] = interp_positions(out[rows], pos[old.to(dev)])
        started[which] = True
    assert out is not None and bool(started.all()), "every record must be drawn by a remap"
    return out


def remap_draws_(x: torch.Tensor, draws: list[Draw], fill_outside: bool = False) -> None:
    """Resample, in place, every record of ``x (B, C, T)`` drawn by at least one remap."""
    touched = torch.zeros(x.shape[0], dtype=torch.bool)
    for _, slot, _ in draws:
        touched |= slot >= 0
    rows = touched.nonzero().flatten()
    if rows.numel() == 0:
        return
    n_t = x.shape[-1]
    if not use_row_loops(x):
        dev = x.device
        out = resample(x.index_select(0, rows.to(dev)), compose(rows, draws, n_t), fill_outside)
        x.index_copy_(0, rows.to(dev), out.to(x.dtype))
        return
    work = _work_dtype(x)
    for start in range(0, rows.numel(), BLOCK_RECORDS):
        records = rows[start : start + BLOCK_RECORDS]
        grid = to_grid(compose(records, draws, n_t), work, overwrite=True)
        for first, stop, k in pieces(records, x[0].numel()):  # slices of `x`: no gather
            part = x[first:stop]
            part.copy_(sample(part, grid[k : k + stop - first], fill_outside))
