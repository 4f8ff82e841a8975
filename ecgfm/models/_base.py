"""The interface every ecgfm encoder implements, and its shared input validation.

Every encoder is an ``nn.Module`` with

- ``num_features``: width of the pooled embedding;
- ``in_leads``: tuple of canonical lead names of the input channels, in order (the canonical
  12 leads, or e.g. ``("I",)`` for a lead-I model); the hub selects/derives leads with it;
- ``default_input_length``: samples ``T`` of one input in its preprocessing (e.g. 5000 for
  Net1D at 500 Hz, 2250 for ST-MEM at 250 Hz); what the hub windows records to, and what the
  all-architectures test loop (``tests/models/test_all_models.py``) feeds;
- ``forward_features(x)``: the token sequence ``(B, N, D)`` or feature map ``(B, D, L)``;
- ``forward_embedding(x)``: the pooled vector ``(B, num_features)`` (what ``embed`` returns);
- ``forward(x)``: the head output when the model has a classification head, else the embedding;

taking ``x`` of shape ``(B, C, T)``, float, in the preprocessing of its pretrained card, and
validating it with :func:`check_encoder_input` (clear ``TypeError``/``ValueError``). Every trainable
parameter must be reached by ``forward`` (checked for every registered architecture).
"""

from __future__ import annotations

import torch

__all__ = ["check_encoder_input"]


def check_encoder_input(
    x: torch.Tensor,
    *,
    num_leads: int | None = None,
    length: int | None = None,
    divisible_by: int | None = None,
    min_length: int = 1,
    model: str = "encoder",
) -> None:
    """Validate an encoder input ``(B, C, T)``; raise a clear ``TypeError``/``ValueError``.

    Args:
        x: input batch.
        num_leads: required channel count ``C`` (None: any).
        length: required ``T`` exactly (None: any).
        divisible_by: ``T`` must be a multiple of this (patch size of a ViT).
        min_length: smallest acceptable ``T``.
        model: name used in messages.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{model}: expected a torch.Tensor (B, C, T), got {type(x).__name__}; convert with "
            "torch.as_tensor(x, dtype=torch.float32) or use model.embed(...) for numpy input"
        )
    if not (x.is_floating_point()):
        raise TypeError(
            f"{model}: expected a floating tensor (float32, or bf16/fp16 under autocast), got "
            f"{x.dtype}; integer data are raw ADC counts — convert to mV with ecgfm.as_signal"
        )
    if x.ndim != 3:
        hint = " — add a batch axis with x[None]" if x.ndim == 2 else ""
        raise ValueError(f"{model}: expected input (B, C, T), got shape {tuple(x.shape)}{hint}")
    b, c, t = x.shape
    if b == 0:
        raise ValueError(f"{model}: empty batch (B = 0)")
    if num_leads is not None and c != num_leads:
        hint = "; shape looks like (B, T, C) — pass x.transpose(1, 2)" if t == num_leads else ""
        raise ValueError(
            f"{model}: expects {num_leads} leads on axis 1, got {c} (shape {tuple(x.shape)}){hint}"
        )
    if length is not None and t != length:
        raise ValueError(
            f"{model}: expects T = {length} samples, got {t}; crop/pad with "
            "ecgfm.transforms (or use model.embed, which windows long records)"
        )
    if t < min_length:
        raise ValueError(f"{model}: T = {t} samples is shorter than the minimum {min_length}")
    if divisible_by is not None and t % divisible_by != 0:
        raise ValueError(
            f"{model}: T = {t} is not a multiple of the patch size {divisible_by}; crop to "
            f"{t - t % divisible_by} or pad to {t + divisible_by - t % divisible_by}"
        )
