"""HL ViT: the encoder of the Hybrid-Learning ECG foundation models (Song et al., KDD 2025).

A ViT whose patch embedding is a 1-D convolution over all leads with ``kernel = stride = P``:
one token per time patch, all ``C`` leads inside it. The paper grid-searches patch
``P in {60, 125, 250}`` (250 Hz), depth ``{2, 4, 8}`` and width ``{256, 512, 1024}``; the best
Hybrid-Learning (and generative) model is ``P = 60``, depth 2, width 512, on 10 s = 2500
samples. Every combination is registered as ``hl_vit_p{P}_d{depth}_w{width}``.

Choices the paper leaves open (all constructor arguments; defaults documented here):

- heads: ``width / 64`` (head width 64, as ST-MEM and ViT-B); MLP ratio 4; pre-norm blocks
  shared with ST-MEM (:mod:`ecgfm.models._vit`).
- positions: fixed 1-D sin-cos table (MAE), no class token; the embedding is the mean of the
  final-normed tokens.
- ``T`` not a multiple of ``P`` (2500 samples with ``P = 60``): the strided convolution sees
  ``floor(T / P)`` patches and the last ``T mod P`` samples (40 = 0.16 s) are ignored
  (``remainder="drop"``; a warning is logged once for lengths other than the configured
  ``input_length``), or rejected with ``remainder="error"``.
- pre-training (:class:`HLPretrain`): MAE masking (75 %) of time patches, decoder width 256,
  depth 2, 4 heads, linear head to the ``C * P`` samples of each patch, **L1** loss on masked
  patches (the paper's reconstruction loss); a 2-layer projection head
  (``width -> width -> 128``, ReLU) on the pooled embedding for the contrastive paths
  (sample- and patient-level InfoNCE in :mod:`ecgfm.losses`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import nn

from ecgfm.leads import CANONICAL_LEADS, normalize_lead_names
from ecgfm.losses.masked_reconstruction import masked_reconstruction_loss, normalize_patches
from ecgfm.models._base import check_encoder_input
from ecgfm.models._registry import register_model
from ecgfm.models._vit import (
    Block,
    MaskedReconstructionOutput,
    MaskingIds,
    drop_path_schedule,
    random_masking,
    sincos_table,
)

__all__ = ["HL_GRID", "HLPretrain", "HLViT", "hl_vit_p60_d2_w512"]

logger = logging.getLogger(__name__)

HL_GRID: dict[str, tuple[int, ...]] = {
    "patch_size": (60, 125, 250),
    "depth": (2, 4, 8),
    "embed_dim": (256, 512, 1024),
}
Remainder = Literal["drop", "error"]


def _init_weights(module: nn.Module) -> None:
    """MAE init: Xavier-uniform linear and patch-conv weights (conv seen as a linear map),
    zero biases, unit LayerNorms."""
    if isinstance(module, (nn.Linear, nn.Conv1d)):
        nn.init.xavier_uniform_(module.weight.view(module.weight.shape[0], -1))
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class HLViT(nn.Module):
    """HL ViT encoder: ``(B, C, T) -> (B, N, D)`` tokens, ``N = floor(T / P)``.

    Args:
        patch_size: samples per patch ``P`` (kernel and stride of the patch convolution).
        embed_dim: token width ``D``.
        depth: transformer blocks.
        num_heads: attention heads (default ``embed_dim // 64``).
        mlp_ratio: MLP hidden width / ``D``.
        qkv_bias: bias in the q/k/v projection.
        in_leads: names of the input channels, in order (all go into every patch).
        input_length: configured input length (2500 = 10 s at 250 Hz); sets the positional
            table. Shorter inputs are accepted (at least one patch).
        remainder: what to do with the last ``T mod P`` samples: ``"drop"`` or ``"error"``.
        drop_rate, attn_drop_rate, drop_path_rate: regularisation.
        num_classes: size of a linear head on the embedding (0: ``forward`` returns it).

    Attributes:
        num_features (``D``), in_leads, default_input_length (``input_length``), patch_size,
        num_patches, ignored_tail (samples of ``input_length`` beyond the last full patch).
    """

    def __init__(
        self,
        patch_size: int = 60,
        embed_dim: int = 512,
        depth: int = 2,
        num_heads: int | None = None,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        in_leads: Sequence[str] = CANONICAL_LEADS,
        input_length: int = 2500,
        remainder: Remainder = "drop",
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        if patch_size < 1 or input_length < patch_size:
            raise ValueError(
                f"need patch_size >= 1 and input_length >= patch_size, got {patch_size}, "
                f"{input_length}"
            )
        if depth < 1 or embed_dim < 2 or embed_dim % 2 != 0:
            raise ValueError(f"need depth >= 1 and an even embed_dim, got {depth}, {embed_dim}")
        if remainder not in ("drop", "error"):
            raise ValueError(f"remainder must be 'drop' or 'error', got {remainder!r}")
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        if num_heads is None:
            if embed_dim % 64 != 0:
                raise ValueError(f"embed_dim {embed_dim} is not a multiple of 64: pass num_heads")
            num_heads = embed_dim // 64
        self.in_leads = normalize_lead_names(in_leads)
        self.patch_size = patch_size
        self.num_patches = input_length // patch_size
        self.default_input_length = input_length
        self.ignored_tail = input_length % patch_size
        self.remainder = remainder
        self.num_features = self.embed_dim = embed_dim
        self._warned_tail = False

        self.patch_embed = nn.Conv1d(len(self.in_leads), embed_dim, patch_size, stride=patch_size)
        self.register_buffer(
            "pos_embed", sincos_table(self.num_patches, embed_dim)[None], persistent=False
        )
        self.pos_drop = nn.Dropout(drop_rate)
        hidden = int(embed_dim * mlp_ratio)
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, hidden, None, qkv_bias, drop_rate, attn_drop_rate, r)
            for r in drop_path_schedule(drop_path_rate, depth)
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.head: nn.Module = nn.Linear(embed_dim, num_classes) if num_classes else nn.Identity()
        self.apply(_init_weights)

    def num_tokens(self, length: int) -> int:
        """Tokens produced for an input of ``length`` samples."""
        return length // self.patch_size

    def check_input(self, x: torch.Tensor) -> None:
        """Validate ``x`` (B, C, T): leads, dtype, ``P <= T <= input_length``, remainder."""
        check_encoder_input(
            x, num_leads=len(self.in_leads), min_length=self.patch_size, model="HL ViT"
        )
        t = x.shape[-1]
        if self.num_tokens(t) > self.num_patches:
            raise ValueError(
                f"HL ViT: T = {t} gives more than the {self.num_patches} patches of the "
                f"configured input_length {self.default_input_length}; crop the signal or build "
                "the model with a larger input_length"
            )
        tail = t % self.patch_size
        if tail == 0:
            return
        if self.remainder == "error":
            raise ValueError(
                f"HL ViT: T = {t} is not a multiple of the patch size {self.patch_size}; crop to "
                f"{t - tail} samples (or build the model with remainder='drop')"
            )
        if t != self.default_input_length and not self._warned_tail:
            logger.warning(
                "HL ViT: T = %d is not a multiple of the patch size %d; the last %d samples are "
                "ignored (remainder='drop'). Crop the input to silence this.",
                t,
                self.patch_size,
                tail,
            )
            self._warned_tail = True

    def embed_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Patch tokens with positions, ``(B, C, T) -> (B, N, D)``."""
        tokens = self.patch_embed(x).transpose(1, 2)
        return tokens + self.pos_embed[:, : tokens.shape[1]]

    def run_blocks(self, tokens: torch.Tensor) -> torch.Tensor:
        """Transformer and final norm, ``(B, N, D) -> (B, N, D)``."""
        h = self.pos_drop(tokens)
        for block in self.blocks:
            h = block(h)
        return self.norm(h)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Normed tokens ``(B, N, D)`` of ``x`` (B, C, T)."""
        self.check_input(x)
        return self.run_blocks(self.embed_tokens(x))

    def forward_embedding(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of the normed tokens, ``(B, D)``."""
        return self.forward_features(x).mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``head(forward_embedding(x))``: ``(B, num_classes)``, or ``(B, D)`` without a head."""
        return self.head(self.forward_embedding(x))


class HLPretrain(nn.Module):
    """Hybrid-Learning pre-training model: MAE-style generative path + projection head.

    Args:
        encoder: the :class:`HLViT` to pre-train.
        decoder_dim, decoder_depth, decoder_num_heads, decoder_mlp_ratio: the decoder ViT
            (default 256, 2, 4, 4).
        mask_ratio: default fraction of time patches masked (0.75).
        norm_pix_loss: per-patch normalised targets (default off: the paper reconstructs the
            signal itself).
        proj_hidden_dim: hidden width of the projection head (default: encoder width).
        proj_dim: output width of the projection head (128).

    - ``forward(x, mask_ratio=None, generator=None)`` ->
      :class:`~ecgfm.models._vit.MaskedReconstructionOutput` with ``pred``/``target``
      ``(B, C, N, P)``, ``mask`` ``(B, C, N)`` (a masked time patch is masked in every lead) and
      ``loss`` = L1 over masked patches.
    - ``forward_contrastive(x)`` -> ``(B, proj_dim)`` projected embeddings of the whole input,
      for InfoNCE (the loss normalises them).
    """

    def __init__(
        self,
        encoder: HLViT,
        decoder_dim: int = 256,
        decoder_depth: int = 2,
        decoder_num_heads: int = 4,
        decoder_mlp_ratio: float = 4.0,
        mask_ratio: float = 0.75,
        norm_pix_loss: bool = False,
        proj_hidden_dim: int | None = None,
        proj_dim: int = 128,
    ) -> None:
        super().__init__()
        if not isinstance(encoder, HLViT):
            raise TypeError(f"encoder must be an HLViT, got {type(encoder).__name__}")
        if decoder_depth < 1 or decoder_dim < 2 or decoder_dim % 2 != 0 or proj_dim < 1:
            raise ValueError("need decoder_depth >= 1, an even decoder_dim and proj_dim >= 1")
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
        self.encoder = encoder
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        d = encoder.embed_dim
        self.num_leads = len(encoder.in_leads)
        self.decoder_embed = nn.Linear(d, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(decoder_dim))
        self.register_buffer(
            "decoder_pos_embed",
            sincos_table(encoder.num_patches, decoder_dim)[None],
            persistent=False,
        )
        self.decoder_blocks = nn.ModuleList(
            Block(decoder_dim, decoder_num_heads, int(decoder_dim * decoder_mlp_ratio))
            for _ in range(decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(decoder_dim)
        self.decoder_head = nn.Linear(decoder_dim, self.num_leads * encoder.patch_size)
        hidden = proj_hidden_dim or d
        self.projector = nn.Sequential(
            nn.Linear(d, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, proj_dim)
        )
        for module in (
            self.decoder_embed,
            self.decoder_blocks,
            self.decoder_norm,
            self.decoder_head,
            self.projector,
        ):
            module.apply(_init_weights)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward_encoder(
        self,
        x: torch.Tensor,
        mask_ratio: float | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, MaskingIds]:
        """Encode the visible patches: ``latent`` ``(B, M, D)`` and the masking ``(B, N)``."""
        enc = self.encoder
        enc.check_input(x)
        ratio = self.mask_ratio if mask_ratio is None else mask_ratio
        tokens = enc.embed_tokens(x)
        b, n, d = tokens.shape
        ids = random_masking((b,), n, ratio, device=x.device, generator=generator)
        if ratio > 0:
            tokens = torch.gather(tokens, 1, ids.ids_keep.unsqueeze(-1).expand(-1, -1, d))
        return enc.run_blocks(tokens), ids

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """``latent`` (B, M, D) -> predicted patches ``(B, C, N, P)``."""
        z = self.decoder_embed(latent)
        b, m, d = z.shape
        n = ids_restore.shape[-1]
        z = torch.cat([z, self.mask_token.expand(b, n - m, d)], dim=1)
        z = torch.gather(z, 1, ids_restore.unsqueeze(-1).expand(-1, -1, d))
        h = z + self.decoder_pos_embed[:, :n]
        for block in self.decoder_blocks:
            h = block(h)
        pred = self.decoder_head(self.decoder_norm(h))  # (B, N, C * P), lead-major per token
        return pred.view(b, n, self.num_leads, -1).permute(0, 2, 1, 3)

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """Patches of the input ``(B, C, N, P)`` (tail beyond the last patch dropped)."""
        b, c, t = x.shape
        p = self.encoder.patch_size
        n = t // p
        patches = x[..., : n * p].reshape(b, c, n, p)
        return normalize_patches(patches) if self.norm_pix_loss else patches

    def forward(
        self,
        x: torch.Tensor,
        mask_ratio: float | None = None,
        generator: torch.Generator | None = None,
    ) -> MaskedReconstructionOutput:
        """Generative path; see the class docstring."""
        latent, ids = self.forward_encoder(x, mask_ratio, generator)
        pred = self.forward_decoder(latent, ids.ids_restore)
        target = self.target(x)
        mask = ids.mask.unsqueeze(1).expand(-1, self.num_leads, -1)
        masked_any = (self.mask_ratio if mask_ratio is None else mask_ratio) > 0
        loss = masked_reconstruction_loss(pred, target, mask, "l1") if masked_any else None
        return MaskedReconstructionOutput(pred, target, mask, loss)

    def forward_contrastive(self, x: torch.Tensor) -> torch.Tensor:
        """Contrastive path: projected embedding ``(B, proj_dim)`` of the (augmented) ``x``."""
        return self.projector(self.encoder.forward_embedding(x))


def _make_builder(patch: int, depth: int, width: int) -> Callable[..., HLViT]:
    def builder(**overrides: Any) -> HLViT:
        return HLViT(**{"patch_size": patch, "depth": depth, "embed_dim": width, **overrides})

    name = f"hl_vit_p{patch}_d{depth}_w{width}"
    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = (
        f"HL ViT, patch {patch}, depth {depth}, width {width} ({width // 64} heads), 12 x 2500 "
        "at 250 Hz."
    )
    return register_model(name, preset="hl")(builder)


_BUILDERS: dict[str, Callable[..., HLViT]] = {
    f"hl_vit_p{p}_d{d}_w{w}": _make_builder(p, d, w)
    for p, d, w in itertools.product(*HL_GRID.values())
}
#: The paper's best Hybrid-Learning configuration (patch 60, depth 2, width 512).
hl_vit_p60_d2_w512 = _BUILDERS["hl_vit_p60_d2_w512"]
