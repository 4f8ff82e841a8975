"""SigLIP sigmoid loss, as used by SelfMIS to align a 1-lead encoder with a 12-lead teacher."""

from __future__ import annotations

import math

import torch
from torch import nn

from ecgfm.losses._checks import (
    check_all_finite,
    check_chunk_size,
    check_embeddings,
    check_finite_real,
    check_gather_available,
    check_positive,
)
from ecgfm.losses._embeddings import compute_dtype, gather_columns, prepare
from ecgfm.losses._sigmoid_ce import sigmoid_cross_entropy

__all__ = ["SigLIPLoss"]

_NAME = "SigLIPLoss"

# SelfMIS, section 2.4: "the temperature t is set to 0.07", bias fixed to 0.
SELFMIS_TEMPERATURE = 0.07


class SigLIPLoss(nn.Module):
    """Sigmoid loss over all pairs of a batch (Zhai et al., 2023; SelfMIS section 2.4).

    For a batch of ``B`` pairs ``(z0_i, z1_i)``, with ``z_ij = +1`` on the diagonal and ``-1``
    elsewhere and the logit ``u_ij = scale * <z0_i, z1_j> + bias``:

        L = -(1 / B) * sum_i sum_j log sigmoid(z_ij * u_ij)

    i.e. the sum over all ``B**2`` pairs divided by the batch size (not by the number of pairs).

    **SelfMIS's temperature.** The paper writes the logit as ``t * <S_i, M_j> - b`` with
    "t = 0.07, b = 0". Read literally as a multiplier on unit-norm embeddings, ``t = 0.07`` keeps
    every logit in ``[-0.07, 0.07]`` and the loss has almost no learning signal, so ecgfm reads
    it as a temperature: ``scale = 1 / 0.07 ≈ 14.29`` (the CLIP convention). That is the
    default here; pass ``scale=0.07`` for the literal reading. The paper's ``- b`` with ``b = 0``
    equals the ``+ bias`` used here (SigLIP / open_clip sign convention). SigLIP's own
    initialisation is a learnable ``scale = 10`` and ``bias = -10``:
    ``SigLIPLoss(scale=10.0, bias=-10.0, learnable=True)``.

    **Scale and bias** can be

    - fixed floats (default, SelfMIS);
    - learnable (``learnable=True``): the loss owns ``log_scale`` (the scale is learnt in log
      space, as in SigLIP) and ``bias`` parameters — add the loss's parameters to the optimiser;
    - owned by the model and passed to :meth:`forward` (open_clip style, ``logit_scale`` is the
      already exponentiated multiplier). Not allowed together with ``learnable=True``.

    **Memory.** ``chunk_size`` bounds the logits held at once to ``B_local x chunk_size`` by
    walking over the column (negative) side in blocks, in forward and in backward (a custom
    autograd function recomputes each block). Value and gradients equal the unchunked loss up
    to float rounding.

    **Distributed** (``gather_distributed=True``): the column side ``z1`` is gathered from all
    ranks (through autograd if ``z1`` requires grad; a frozen teacher's detached embeddings are
    gathered without it), the local ``z0`` rows are scored against all columns, and the local
    sum is normalised by ``world_size / N`` (``N`` = global batch). Hence the mean of the
    per-rank losses over ranks equals the single-process loss on the concatenated batch, and
    the gradient of each rank's local shard is ``world_size`` times the gradient of that loss —
    which DDP's gradient averaging turns into exactly the single-process gradient.

    Inputs in bf16/fp16 are cast to float32 and the loss is computed in float32 (autocast is
    disabled inside; float64 inputs stay float64), with ``logsigmoid`` so extreme logits stay
    finite. The result is a float32 scalar (float64 for float64 inputs).

    Args:
        scale: logit multiplier ``> 0`` (default ``1 / 0.07``, SelfMIS).
        bias: logit offset (default 0, SelfMIS).
        learnable: learn ``log(scale)`` and ``bias`` as parameters of this module.
        normalize: L2-normalise the embeddings first (default True, cosine logits).
        chunk_size: columns per block, or None to compute the full ``(B, N)`` logits at once.
        gather_distributed: gather the column side across ranks (see above).
        check_finite: raise on NaN/Inf inputs (one host sync per call; False to skip).
    """

    def __init__(
        self,
        scale: float = 1.0 / SELFMIS_TEMPERATURE,
        bias: float = 0.0,
        *,
        learnable: bool = False,
        normalize: bool = True,
        chunk_size: int | None = None,
        gather_distributed: bool = False,
        check_finite: bool = True,
    ) -> None:
        super().__init__()
        scale = check_positive("scale", scale, loss=_NAME)
        bias = check_finite_real("bias", bias, loss=_NAME)
        self.learnable = bool(learnable)
        self.normalize = bool(normalize)
        self.chunk_size = check_chunk_size(chunk_size, loss=_NAME)
        self.gather_distributed = check_gather_available(gather_distributed, loss=_NAME)
        self.check_finite = bool(check_finite)
        if self.learnable:
            self.log_scale = nn.Parameter(torch.tensor(math.log(scale)))
            self.bias = nn.Parameter(torch.tensor(bias))
        else:
            self._scale = scale
            self._bias = bias

    def extra_repr(self) -> str:
        if self.learnable:
            kind = "learnable"
        else:
            kind = f"scale={self._scale:.6g}, bias={self._bias:.6g}"
        return (
            f"{kind}, normalize={self.normalize}, chunk_size={self.chunk_size}, "
            f"gather_distributed={self.gather_distributed}"
        )

    def _scale_bias(
        self,
        logit_scale: torch.Tensor | float | None,
        logit_bias: torch.Tensor | float | None,
        device: torch.device,
        dtype: torch.dtype,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.learnable:
            if logit_scale is not None or logit_bias is not None:
                raise ValueError(
                    f"{_NAME}: this loss learns its own scale and bias (learnable=True); do not "
                    "also pass logit_scale/logit_bias, or build it with learnable=False"
                )
            return self.log_scale.to(dtype).exp(), self.bias.to(dtype)
        return (
            _as_scalar_tensor("logit_scale", logit_scale, self._scale, device, dtype, True),
            _as_scalar_tensor("logit_bias", logit_bias, self._bias, device, dtype, False),
        )

    def forward(
        self,
        z0: torch.Tensor,
        z1: torch.Tensor,
        logit_scale: torch.Tensor | float | None = None,
        logit_bias: torch.Tensor | float | None = None,
    ) -> torch.Tensor:
        """Loss of paired embeddings.

        Args:
            z0: ``(B, D)`` row side — SelfMIS: the single-lead student embeddings ``S``.
            z1: ``(B, D)`` column side — SelfMIS: the 12-lead teacher embeddings ``M``
                (typically computed under ``torch.no_grad()``). ``z0[i]`` and ``z1[i]`` are
                the positive pair.
            logit_scale: optional multiplier (> 0, 0-d tensor or float) overriding the fixed
                scale, open_clip style; may require grad.
            logit_bias: optional additive bias overriding the fixed bias; may require grad.

        Returns:
            scalar (float32, or float64 for float64 inputs): the sum over all pairs divided
            by the (global) batch size. The loss is symmetric: swapping ``z0`` and ``z1``
            gives the same value.
        """
        check_embeddings(_NAME, z0=z0, z1=z1)
        dtype = compute_dtype(z0, z1)
        scale, bias = self._scale_bias(logit_scale, logit_bias, z0.device, dtype)
        if self.check_finite:
            check_all_finite(_NAME, z0=z0, z1=z1, logit_scale=scale, logit_bias=bias)
            if logit_scale is not None and not bool(scale.detach() > 0):
                raise ValueError(
                    f"{_NAME}: logit_scale must be > 0, got {float(scale.detach()):.6g}"
                )
        with torch.autocast(device_type=z0.device.type, enabled=False):
            rows = prepare(z0, dtype, self.normalize)
            cols = prepare(z1, dtype, self.normalize)
            cols, offset, world = gather_columns(cols, enabled=self.gather_distributed)
            n_total = cols.shape[0]
            row_ids = torch.arange(offset, offset + rows.shape[0], device=rows.device)
            col_ids = torch.arange(n_total, device=rows.device)
            per_row = sigmoid_cross_entropy(
                rows, cols, scale, bias, row_ids, col_ids, self.chunk_size
            )
            return per_row.sum() * (world / n_total)


def _as_scalar_tensor(
    name: str,
    value: torch.Tensor | float | None,
    default: float,
    device: torch.device,
    dtype: torch.dtype,
    positive: bool,
) -> torch.Tensor:
    """A 0-d tensor of ``dtype`` on ``device`` (keeps autograd for tensor inputs)."""
    if value is None:
        return torch.tensor(default, dtype=dtype, device=device)
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{_NAME}: {name} must be a scalar, got shape {tuple(value.shape)}")
        if not value.is_floating_point():
            raise TypeError(f"{_NAME}: {name} must be a floating tensor, got {value.dtype}")
        return value.reshape(()).to(device=device, dtype=dtype)
    checked = (
        check_positive(name, value, loss=_NAME)
        if positive
        else check_finite_real(name, value, loss=_NAME)
    )
    return torch.tensor(checked, dtype=dtype, device=device)
