"""Tolerances derived from the dtype and the computation, valid on any x86-64 CPU.

Two evaluations of the same quantity that differ only in the order of their floating-point
operations (AVX2 vs AVX-512 kernels, another blocking of a matrix product, another batch
size or chunking, an equivalent formula) are not bitwise equal. For a sum of ``n`` terms the
difference is bounded by ``~n * eps * sum|x_i|`` and in practice of order
``sqrt(n) * eps * sum|x_i|``; reductions chained one after another (the layers of a network,
a dot product then a log-sum-exp then a mean) add their errors. :func:`reorder_rtol` returns

    safety * eps(dtype) * sum_i sqrt(n_i)

for the chain of reduction lengths ``n_i`` of the computation under test. Tests multiply it
by the scale of the compared values (``max |ref|``) to get an absolute tolerance, so values
near zero (cancellations) are judged against the magnitude of the terms that produced them.
The safety factor 8 covers the constant of the typical bound and moderate cancellation; a
real bug (a dropped chunk, a wrong index, a missing term) moves results by orders of
magnitude more than these bounds.

Comparisons of *the same* computation (same shapes, same code path, same machine) are
exact instead: ``torch.equal``.
"""

from __future__ import annotations

import math

import torch

__all__ = ["close_after_reordering", "network_reduction_lengths", "reorder_rtol"]


def reorder_rtol(
    *reduction_lengths: int, dtype: torch.dtype = torch.float32, safety: float = 8.0
) -> float:
    """Relative tolerance for a chain of reductions of the given lengths (see the module doc)."""
    if not reduction_lengths or any(n < 1 for n in reduction_lengths):
        raise ValueError(f"reduction lengths must be positive, got {reduction_lengths}")
    eps = torch.finfo(dtype).eps
    return safety * eps * sum(math.sqrt(n) for n in reduction_lengths)


def close_after_reordering(
    got: torch.Tensor, ref: torch.Tensor, *reduction_lengths: int, safety: float = 8.0
) -> None:
    """Assert ``got`` equals ``ref`` up to float reordering of the given reductions.

    The absolute tolerance is ``reorder_rtol(...) * max|ref|`` in ``ref``'s dtype.
    """
    got_t, ref_t = torch.as_tensor(got), torch.as_tensor(ref)
    rtol = reorder_rtol(*reduction_lengths, dtype=ref_t.dtype, safety=safety)
    scale = float(ref_t.detach().abs().max()) if ref_t.numel() else 0.0
    torch.testing.assert_close(got_t, ref_t, rtol=0.0, atol=rtol * max(scale, 1e-30))


def network_reduction_lengths(model: torch.nn.Module, tokens: int = 1) -> tuple[int, ...]:
    """The chain of reduction lengths of a forward pass through ``model``.

    Every convolution contributes its fan-in (``in_channels / groups * kernel``), every linear
    layer its ``in_features``; every attention block (a module whose class name ends in
    ``Attention``) adds two reductions over ``tokens`` (the softmax sum and the weighted sum of
    values). Used with :func:`reorder_rtol` / :func:`close_after_reordering` to compare two
    float32 evaluations of one network in different operation orders.
    """
    lengths: list[int] = []
    for m in model.modules():
        if isinstance(m, torch.nn.modules.conv._ConvNd):
            lengths.append(m.in_channels // m.groups * math.prod(m.kernel_size))
        elif isinstance(m, torch.nn.Linear):
            lengths.append(m.in_features)
        elif type(m).__name__.endswith("Attention"):
            lengths.extend((tokens, tokens))
    if not lengths:
        raise ValueError(f"{type(model).__name__} has no convolution, linear or attention layer")
    return tuple(lengths)
