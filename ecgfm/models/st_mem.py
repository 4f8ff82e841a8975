"""ST-MEM: spatio-temporal masked ECG modelling (Na et al., ICLR 2024).

The encoder (:class:`STMEMViT`) cuts every lead of a ``(B, C, T)`` ECG into ``N = T / P``
patches (``P = 75`` samples at 250 Hz), embeds them with a patch embedding shared by all leads
(``LayerNorm(P) -> Linear(P, D) -> LayerNorm(D)``), adds a fixed sin-cos position, frames every
lead's sequence with a learned ``[SEP]`` token on both sides (positions 0 and ``N_max + 1``) and
adds a learned *lead embedding* to all tokens of a lead. All ``C * (N + 2)`` tokens go through one
ViT; the embedding is the LayerNorm of the mean over leads and patches (``[SEP]`` dropped).

Reduced leads: the lead embedding of each channel is chosen **by its lead name**
(``leads=("I",)`` uses the embedding of lead I). The official code adds all 12 lead embeddings
whatever the input, so a 1-lead input is silently broadcast to 12 copies; ecgfm does not reproduce
that, and reproduces the official output exactly for 12-lead input in canonical order.

The pre-training model (:class:`STMEMPretrain`) masks 75 % of each lead's patches independently,
encodes the visible ones (+ ``[SEP]``), and decodes **each lead separately with shared weights**
(a small ViT over that lead's ``N + 2`` tokens), predicting the ``P`` samples of every patch.
The objective is the MSE on masked patches against per-patch normalised targets
(``norm_pix_loss``, on in the official configuration).

Official code: github.com/bakqui/ST-MEM (CC BY-NC 4.0). This file is a re-implementation from
the paper and the checkpoint layout; :mod:`ecgfm.convert.st_mem` loads official checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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

__all__ = [
    "STMEMPretrain",
    "STMEMViT",
    "st_mem_pretrain_base",
    "st_mem_pretrain_small",
    "st_mem_vit_base",
    "st_mem_vit_small",
]

ST_MEM_BASE_ARGS: dict[str, Any] = {"embed_dim": 768, "depth": 12, "num_heads": 12, "mlp_dim": 3072}
ST_MEM_SMALL_ARGS: dict[str, Any] = {"embed_dim": 384, "depth": 12, "num_heads": 6, "mlp_dim": 1536}
ST_MEM_DECODER_ARGS: dict[str, Any] = {
    "decoder_dim": 256,
    "decoder_depth": 4,
    "decoder_num_heads": 4,
}


def _sep_pos_table(num_patches: int, dim: int) -> torch.Tensor:
    """``(1, num_patches + 2, dim)``: zero row, sin-cos rows for patches ``0..N-1``, zero row."""
    zero = torch.zeros(1, dim)
    return torch.cat([zero, sincos_table(num_patches, dim), zero])[None]


def _init_vit_weights(module: nn.Module) -> None:
    """Xavier-uniform linear weights, zero biases, unit LayerNorms (the MAE / ST-MEM init)."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class STMEMPatchEmbed(nn.Module):
    """Patches of every lead -> tokens: ``(B, C, N, P) -> (B, C, N, D)``.

    ``LayerNorm(P) -> Linear(P, D) -> LayerNorm(D)``, shared by all leads.
    """

    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.norm_in = nn.LayerNorm(patch_size)
        self.proj = nn.Linear(patch_size, embed_dim)
        self.norm_out = nn.LayerNorm(embed_dim)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.norm_out(self.proj(self.norm_in(patches)))


class STMEMViT(nn.Module):
    """ST-MEM ViT encoder; input ``(B, C, T)`` with ``T`` a multiple of ``patch_size``.

    Args:
        seq_len: longest input (samples); sets the positional table (``seq_len / patch + 2``
            rows). Shorter multiples of ``patch_size`` are accepted (the right ``[SEP]`` keeps the
            last position, as in the official code). Default 2250 = 9 s at 250 Hz.
        patch_size: samples per patch ``P`` (75 = 0.3 s at 250 Hz).
        in_leads: lead names of the channels when ``leads`` is not passed to a forward method.
        lead_vocabulary: the lead of each learned lead embedding, in order (official: the 12
            canonical leads). ``in_leads`` and any ``leads=`` must be drawn from it.
        embed_dim: token width ``D``.
        depth: number of transformer blocks.
        num_heads: attention heads.
        dim_head: width of one head (64 in every official configuration).
        mlp_dim: hidden width of the block MLPs.
        qkv_bias: bias in the q/k/v projection.
        drop_rate: dropout after the token embedding and inside blocks.
        attn_drop_rate: attention-weight dropout.
        drop_path_rate: largest stochastic-depth rate (linear over blocks).
        num_classes: size of a linear head on the embedding (0: ``forward`` returns the embedding).

    Attributes:
        num_features: embedding width (``embed_dim``).
        in_leads, default_input_length (``seq_len``), patch_size, num_patches.
    """

    def __init__(
        self,
        seq_len: int = 2250,
        patch_size: int = 75,
        in_leads: Sequence[str] = CANONICAL_LEADS,
        lead_vocabulary: Sequence[str] = CANONICAL_LEADS,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        dim_head: int = 64,
        mlp_dim: int = 3072,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        if patch_size < 1 or seq_len < patch_size or seq_len % patch_size != 0:
            raise ValueError(
                f"seq_len ({seq_len}) must be a positive multiple of patch_size ({patch_size})"
            )
        if depth < 1 or embed_dim < 2 or embed_dim % 2 != 0:
            raise ValueError(f"need depth >= 1 and an even embed_dim, got {depth}, {embed_dim}")
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        self.lead_vocabulary = normalize_lead_names(lead_vocabulary)
        self.in_leads = self._check_leads(in_leads)
        self.patch_size = patch_size
        self.num_patches = seq_len // patch_size
        self.default_input_length = seq_len
        self.num_features = self.embed_dim = embed_dim

        self.patch_embed = STMEMPatchEmbed(patch_size, embed_dim)
        # Fixed table kept as a frozen parameter: it is part of official checkpoints and of the
        # published parameter counts (85,150,614 for ViT-B).
        self.pos_embed = nn.Parameter(_sep_pos_table(self.num_patches, embed_dim), False)
        self.sep_token = nn.Parameter(torch.zeros(embed_dim))
        self.lead_embed = nn.Parameter(torch.zeros(len(self.lead_vocabulary), embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        rates = drop_path_schedule(drop_path_rate, depth)
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_dim, dim_head, qkv_bias, drop_rate, attn_drop_rate, r)
            for r in rates
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.head: nn.Module = nn.Linear(embed_dim, num_classes) if num_classes else nn.Identity()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Official initialisation: sin-cos positions, N(0, 0.02) SEP and lead embeddings."""
        self.apply(_init_vit_weights)
        with torch.no_grad():
            self.pos_embed.copy_(_sep_pos_table(self.num_patches, self.embed_dim))
        nn.init.normal_(self.sep_token, std=0.02)
        nn.init.normal_(self.lead_embed, std=0.02)

    def _check_leads(self, leads: Sequence[str]) -> tuple[str, ...]:
        names = normalize_lead_names(leads)
        unknown = [n for n in names if n not in self.lead_vocabulary]
        if unknown:
            raise ValueError(
                f"ST-MEM has lead embeddings only for {list(self.lead_vocabulary)}; no embedding "
                f"for {unknown}. Select or derive supported leads with ecgfm.select_leads."
            )
        return names

    def lead_indices(
        self, leads: Sequence[str] | None, num_channels: int, device: torch.device
    ) -> torch.Tensor:
        """Index of the lead embedding of each of ``num_channels`` channels, ``(C,)`` long."""
        names = self.in_leads if leads is None else self._check_leads(leads)
        if len(names) != num_channels:
            given = "the model's in_leads" if leads is None else "`leads`"
            raise ValueError(
                f"ST-MEM: the input has {num_channels} channels but {given} name {len(names)} "
                f"({list(names)}); pass leads=[...] naming each channel of x in order (any "
                f"subset of {list(self.lead_vocabulary)})"
            )
        return torch.as_tensor([self.lead_vocabulary.index(n) for n in names], device=device)

    def check_input(self, x: torch.Tensor, leads: Sequence[str] | None) -> torch.Tensor:
        """Validate ``x`` (B, C, T) and return the lead-embedding indices ``(C,)``."""
        check_encoder_input(
            x, divisible_by=self.patch_size, min_length=self.patch_size, model="ST-MEM"
        )
        if x.shape[-1] > self.default_input_length:
            raise ValueError(
                f"ST-MEM: T = {x.shape[-1]} exceeds the {self.default_input_length} samples this "
                "encoder was built for; crop it (ecgfm.transforms) or window long records with "
                "model.embed"
            )
        return self.lead_indices(leads, x.shape[1], x.device)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T) -> (B, C, N, P)`` non-overlapping patches of each lead."""
        b, c, t = x.shape
        return x.reshape(b, c, t // self.patch_size, self.patch_size)

    def embed_tokens(
        self, x: torch.Tensor, lead_idx: torch.Tensor, ids_keep: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Input tokens of the transformer, ``(B, C, M + 2, D)``.

        Args:
            x: ``(B, C, T)`` validated input.
            lead_idx: ``(C,)`` lead-embedding index of each channel.
            ids_keep: optional ``(B, C, M)`` indices of the patches to keep (masking); the
                positions are added before the selection, so kept patches keep their place.
        """
        tokens = self.patch_embed(self.patchify(x))
        b, c, n, d = tokens.shape
        tokens = tokens + self.pos_embed[:, 1 : n + 1].unsqueeze(1)
        if ids_keep is not None:
            tokens = torch.gather(tokens, 2, ids_keep.unsqueeze(-1).expand(-1, -1, -1, d))
        sep = self.sep_token.expand(b, c, 1, d)
        left = sep + self.pos_embed[:, :1].unsqueeze(1)
        right = sep + self.pos_embed[:, -1:].unsqueeze(1)
        tokens = torch.cat([left, tokens, right], dim=2)
        return tokens + self.lead_embed[lead_idx][None, :, None, :]

    def run_blocks(self, tokens: torch.Tensor) -> torch.Tensor:
        """All leads' tokens attend to each other: ``(B, C, M, D) -> (B, C, M, D)`` (no norm)."""
        b, c, m, d = tokens.shape
        h = self.pos_drop(tokens.reshape(b, c * m, d))
        for block in self.blocks:
            h = block(h)
        return h.reshape(b, c, m, d)

    def _encode(self, x: torch.Tensor, leads: Sequence[str] | None) -> torch.Tensor:
        return self.run_blocks(self.embed_tokens(x, self.check_input(x, leads)))

    def forward_features(self, x: torch.Tensor, leads: Sequence[str] | None = None) -> torch.Tensor:
        """All tokens after the final norm, ``(B, C * (N + 2), D)``.

        Lead-major order: for each channel ``[SEP], patch 1 … patch N, [SEP]``.

        Args:
            x: ``(B, C, T)``; ``T`` a multiple of ``patch_size``, at most ``seq_len``.
            leads: lead names of the ``C`` channels (default ``in_leads``), e.g. ``("I",)``.
        """
        h = self._encode(x, leads)
        return self.norm(h.flatten(1, 2))

    def forward_embedding(
        self, x: torch.Tensor, leads: Sequence[str] | None = None
    ) -> torch.Tensor:
        """Pooled embedding ``(B, D)``: LayerNorm of the mean over leads and patches, no SEP."""
        h = self._encode(x, leads)
        return self.norm(h[:, :, 1:-1].mean(dim=(1, 2)))

    def forward(self, x: torch.Tensor, leads: Sequence[str] | None = None) -> torch.Tensor:
        """``head(forward_embedding(x))``: ``(B, num_classes)``, or ``(B, D)`` without a head."""
        return self.head(self.forward_embedding(x, leads))


class STMEMPretrain(nn.Module):
    """ST-MEM masked pre-training model around an :class:`STMEMViT` encoder.

    Args:
        encoder: the encoder to pre-train (its final norm is applied to the latent tokens).
        decoder_dim: decoder width (official 256).
        decoder_depth: decoder blocks (official 4).
        decoder_num_heads: decoder heads (official 4); head width ``decoder_dim_head`` (64).
        decoder_mlp_ratio: decoder MLP hidden width / ``decoder_dim`` (official 4).
        mask_ratio: default fraction of each lead's patches to mask (official 0.75).
        norm_pix_loss: normalise every target patch by its own mean and std (official: on).

    ``forward(x, leads=None, mask_ratio=None, generator=None)`` returns a
    :class:`~ecgfm.models._vit.MaskedReconstructionOutput`: ``pred`` and ``target``
    ``(B, C, N, P)``, ``mask`` ``(B, C, N)`` (1 = masked), ``loss`` (MSE over masked patches).
    """

    def __init__(
        self,
        encoder: STMEMViT,
        decoder_dim: int = 256,
        decoder_depth: int = 4,
        decoder_num_heads: int = 4,
        decoder_dim_head: int = 64,
        decoder_mlp_ratio: int = 4,
        mask_ratio: float = 0.75,
        norm_pix_loss: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(encoder, STMEMViT):
            raise TypeError(f"encoder must be an STMEMViT, got {type(encoder).__name__}")
        if decoder_depth < 1 or decoder_dim < 2 or decoder_dim % 2 != 0:
            raise ValueError("need decoder_depth >= 1 and an even decoder_dim")
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
        self.encoder = encoder
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        n, p = encoder.num_patches, encoder.patch_size
        self.decoder_embed = nn.Linear(encoder.embed_dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(decoder_dim))
        self.decoder_pos_embed = nn.Parameter(_sep_pos_table(n, decoder_dim), False)
        self.decoder_blocks = nn.ModuleList(
            Block(decoder_dim, decoder_num_heads, decoder_dim * decoder_mlp_ratio, decoder_dim_head)
            for _ in range(decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(decoder_dim)
        self.decoder_head = nn.Linear(decoder_dim, p)
        for module in (
            self.decoder_embed,
            self.decoder_blocks,
            self.decoder_norm,
            self.decoder_head,
        ):
            module.apply(_init_vit_weights)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward_encoder(
        self,
        x: torch.Tensor,
        leads: Sequence[str] | None = None,
        mask_ratio: float | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, MaskingIds]:
        """Encode the visible patches of each lead.

        Returns:
            latent: ``(B, C, M + 2, D)`` normed tokens (``M`` kept patches between two SEPs).
            ids: the :class:`~ecgfm.models._vit.MaskingIds` over ``(B, C, N)``.
        """
        enc = self.encoder
        lead_idx = enc.check_input(x, leads)
        ratio = self.mask_ratio if mask_ratio is None else mask_ratio
        b, c, t = x.shape
        ids = random_masking(
            (b, c), t // enc.patch_size, ratio, device=x.device, generator=generator
        )
        keep = None if ratio == 0.0 else ids.ids_keep
        latent = enc.norm(enc.run_blocks(enc.embed_tokens(x, lead_idx, keep)))
        return latent, ids

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """Lead-wise decoding with shared weights: ``(B, C, M + 2, D) -> (B, C, N, P)``."""
        z = self.decoder_embed(latent)
        b, c, m, d = z.shape
        n = ids_restore.shape[-1]
        fill = self.mask_token.expand(b, c, n - (m - 2), d)
        body = torch.cat([z[:, :, 1:-1], fill], dim=2)
        body = torch.gather(body, 2, ids_restore.unsqueeze(-1).expand(-1, -1, -1, d))
        body = body + self.decoder_pos_embed[:, 1 : n + 1].unsqueeze(1)
        left = z[:, :, :1] + self.decoder_pos_embed[:, :1].unsqueeze(1)
        right = z[:, :, -1:] + self.decoder_pos_embed[:, -1:].unsqueeze(1)
        # Folding leads into the batch decodes each lead on its own (no cross-lead attention).
        h = torch.cat([left, body, right], dim=2).reshape(b * c, n + 2, d)
        for block in self.decoder_blocks:
            h = block(h)
        pred = self.decoder_head(self.decoder_norm(h))[:, 1:-1]
        return pred.reshape(b, c, n, -1)

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction target ``(B, C, N, P)`` (per-patch normalised if ``norm_pix_loss``)."""
        patches = self.encoder.patchify(x)
        return normalize_patches(patches) if self.norm_pix_loss else patches

    def forward(
        self,
        x: torch.Tensor,
        leads: Sequence[str] | None = None,
        mask_ratio: float | None = None,
        generator: torch.Generator | None = None,
    ) -> MaskedReconstructionOutput:
        """Mask, encode, decode; see the class docstring for the outputs.

        Args:
            x: ``(B, C, T)``.
            leads: lead names of the channels (default: the encoder's ``in_leads``).
            mask_ratio: overrides the model's ratio for this call (0 = no masking, no loss).
            generator: seeds the masking (same generator state -> same masks).
        """
        latent, ids = self.forward_encoder(x, leads, mask_ratio, generator)
        pred = self.forward_decoder(latent, ids.ids_restore)
        target = self.target(x)
        masked_any = (self.mask_ratio if mask_ratio is None else mask_ratio) > 0
        loss = masked_reconstruction_loss(pred, target, ids.mask, "mse") if masked_any else None
        return MaskedReconstructionOutput(pred, target, ids.mask, loss)


def _build_encoder(config: dict[str, Any], overrides: dict[str, Any]) -> STMEMViT:
    return STMEMViT(**{**config, **overrides})


@register_model("st_mem_vit_base", preset="st_mem")
def st_mem_vit_base(**overrides: Any) -> STMEMViT:
    """ST-MEM ViT-B encoder (width 768, depth 12, 12 heads; 85,150,614 parameters), 12 x 2250
    at 250 Hz."""
    return _build_encoder(ST_MEM_BASE_ARGS, overrides)


@register_model("st_mem_vit_small", preset="st_mem")
def st_mem_vit_small(**overrides: Any) -> STMEMViT:
    """ST-MEM ViT-S encoder (width 384, depth 12, 6 heads), 12 x 2250 at 250 Hz."""
    return _build_encoder(ST_MEM_SMALL_ARGS, overrides)


def st_mem_pretrain_base(**decoder_overrides: Any) -> STMEMPretrain:
    """Official ``st_mem_vit_base_dec256d4b`` pre-training model (88,534,753 parameters)."""
    return STMEMPretrain(st_mem_vit_base(), **{**ST_MEM_DECODER_ARGS, **decoder_overrides})


def st_mem_pretrain_small(**decoder_overrides: Any) -> STMEMPretrain:
    """Official ``st_mem_vit_small_dec256d4b`` pre-training model."""
    return STMEMPretrain(st_mem_vit_small(), **{**ST_MEM_DECODER_ARGS, **decoder_overrides})
