"""Official ST-MEM checkpoints (github.com/bakqui/ST-MEM) -> ecgfm ST-MEM models.

Two official formats are supported:

- ``encoder.pth``: ``{"model": ST_MEM_ViT.state_dict(), "epoch": ..., ...}`` (the released
  encoder) -> :class:`~ecgfm.models.st_mem.STMEMViT`;
- a pre-training checkpoint ``{"model": ST_MEM.state_dict(), "config": {...}, ...}`` ->
  :class:`~ecgfm.models.st_mem.STMEMPretrain` (or just its encoder).

Key renaming (encoder keys carry an ``encoder.`` prefix inside a pre-training checkpoint)::

    pos_embedding                          -> pos_embed
    sep_embedding                          -> sep_token
    to_patch_embedding.{1,2,3}.*           -> patch_embed.{norm_in,proj,norm_out}.*
    lead_embeddings.{i}                    -> lead_embed[i]          (stacked, i = 0..L-1)
    block{i}.attn.norm.*                   -> blocks.{i}.norm1.*
    block{i}.attn.fn.to_qkv.*              -> blocks.{i}.attn.qkv.*
    block{i}.attn.fn.to_out.0.*            -> blocks.{i}.attn.proj.*
    block{i}.ff.norm.*                     -> blocks.{i}.norm2.*
    block{i}.ff.fn.net.{0,3}.*             -> blocks.{i}.mlp.{fc1,fc2}.*
    norm.*                                 -> norm.*
    head.*                                 -> head.* (keep_head=True) or dropped
    mask_embedding (1, 1, Dd)              -> mask_token (Dd,)
    decoder_pos_embed                      -> decoder_pos_embed
    to_decoder_embedding.*                 -> decoder_embed.*
    decoder_blocks.{i}.<block keys>        -> decoder_blocks.{i}.<as above>
    decoder_norm.*, decoder_head.*         -> same names
    to_patch_embedding.* (top level)       -> dropped: the official ``ST_MEM`` registers the
                                              encoder's patch embedding a second time; the
                                              values are checked to be identical first.

Every key is mapped or dropped for a stated reason (see :class:`ConversionReport`); anything
else is an error, shapes are checked against the built model, and loading is strict.
Pickles are opened only with ``torch.load(path, map_location="cpu", weights_only=True)``.

Licence: ST-MEM's code and weights are CC BY-NC 4.0. ecgfm only reads a checkpoint the user
already has; converted weights inherit that licence and must not be redistributed commercially.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any

import torch
from torch import nn

from ecgfm._interface import advice
from ecgfm.convert.ecgfounder import ConversionReport, load_official_checkpoint
from ecgfm.leads import CANONICAL_LEADS
from ecgfm.models.st_mem import STMEMPretrain, STMEMViT

__all__ = [
    "check_state_dict_fits",
    "convert_st_mem_encoder",
    "convert_st_mem_pretrain",
    "infer_st_mem_config",
    "load_st_mem_encoder",
    "load_st_mem_pretrain",
]

logger = logging.getLogger(__name__)

_DDP_PREFIX = "module."
_ENC = "encoder."
_DUPLICATE_REASON = (
    "duplicate of its encoder.to_patch_embedding.* twin (official ST_MEM registers the encoder's "
    "patch embedding twice; values verified identical)"
)
_HEAD_REASON = "classification head of a fine-tuned checkpoint (keep_head=False)"
_DECODER_REASON = "pre-training decoder, not part of the encoder"

# Per-block renames (official suffix after "block{i}." or "decoder_blocks.{i}.").
_BLOCK_RULES: tuple[tuple[str, str], ...] = (
    ("attn.norm.", "norm1."),
    ("attn.fn.to_qkv.", "attn.qkv."),
    ("attn.fn.to_out.0.", "attn.proj."),
    ("ff.norm.", "norm2."),
    ("ff.fn.net.0.", "mlp.fc1."),
    ("ff.fn.net.3.", "mlp.fc2."),
)
_ENCODER_FIXED: dict[str, str] = {
    "pos_embedding": "pos_embed",
    "sep_embedding": "sep_token",
    "to_patch_embedding.1.weight": "patch_embed.norm_in.weight",
    "to_patch_embedding.1.bias": "patch_embed.norm_in.bias",
    "to_patch_embedding.2.weight": "patch_embed.proj.weight",
    "to_patch_embedding.2.bias": "patch_embed.proj.bias",
    "to_patch_embedding.3.weight": "patch_embed.norm_out.weight",
    "to_patch_embedding.3.bias": "patch_embed.norm_out.bias",
    "norm.weight": "norm.weight",
    "norm.bias": "norm.bias",
}
_DECODER_FIXED: dict[str, str] = {
    "decoder_pos_embed": "decoder_pos_embed",
    "to_decoder_embedding.weight": "decoder_embed.weight",
    "to_decoder_embedding.bias": "decoder_embed.bias",
    "decoder_norm.weight": "decoder_norm.weight",
    "decoder_norm.bias": "decoder_norm.bias",
    "decoder_head.weight": "decoder_head.weight",
    "decoder_head.bias": "decoder_head.bias",
}
_ENC_BLOCK = re.compile(r"block(\d+)\.(.+)")
_DEC_BLOCK = re.compile(r"decoder_blocks\.(\d+)\.(.+)")
_LEAD = re.compile(r"lead_embeddings\.(\d+)")
_HEAD = re.compile(r"head\.(weight|bias)")
_PATCH_DUP = re.compile(r"to_patch_embedding\.[123]\.(weight|bias)")


def _unwrap(ckpt: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None, tuple]:
    """``(state_dict, config or None, other top-level entries)`` of an official checkpoint."""
    if "model" in ckpt and isinstance(ckpt["model"], Mapping):
        config = ckpt.get("config")
        model_cfg = config.get("model") if isinstance(config, Mapping) else None
        ignored = tuple(sorted(k for k in ckpt if k != "model"))
        return dict(ckpt["model"]), dict(model_cfg) if model_cfg else None, ignored
    if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return dict(ckpt), None, ()
    other = ""
    if "state_dict" in ckpt and isinstance(ckpt["state_dict"], Mapping):  # official ECGFounder
        other = "; it has the layout of an official ECGFounder checkpoint: " + advice(
            python="use ecgfm.convert.ecgfounder", cli="use `ecgfm convert ecgfounder`"
        )
    raise ValueError(
        "not an ST-MEM checkpoint: expected {'model': state_dict, ...} (official format) or a "
        f"plain dict of tensors; top-level entries are {sorted(ckpt)[:10]}{other}"
    )


def _strip_ddp(sd: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    flags = [k.startswith(_DDP_PREFIX) for k in sd]
    if flags and all(flags):
        return {k[len(_DDP_PREFIX) :]: v for k, v in sd.items()}, _DDP_PREFIX
    if any(flags):
        raise ValueError(
            f"checkpoint mixes keys with and without the {_DDP_PREFIX!r} prefix; it is not one "
            "model's state dict"
        )
    return sd, None


def _check_tensor(key: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"checkpoint entry {key!r} is a {type(value).__name__}, not a tensor")
    checkable = value.is_floating_point() and value.device.type != "meta"
    if checkable and not bool(torch.isfinite(value).all()):
        raise ValueError(f"checkpoint tensor {key!r} contains NaN or Inf values")
    return value


def _rename_block(rest: str) -> str | None:
    for old, new in _BLOCK_RULES:
        if rest.startswith(old) and rest[len(old) :] in ("weight", "bias"):
            return new + rest[len(old) :]
    return None


def _split_encoder(sd: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a pre-training state dict into its ``encoder.`` part (prefix removed) and the rest."""
    enc = {k[len(_ENC) :]: v for k, v in sd.items() if k.startswith(_ENC)}
    rest = {k: v for k, v in sd.items() if not k.startswith(_ENC)}
    if not enc:
        raise ValueError(
            "no 'encoder.*' keys: this is not an ST-MEM pre-training checkpoint (an encoder-only "
            "checkpoint such as encoder.pth loads with load_st_mem_encoder)"
        )
    return enc, rest


def _convert_encoder_keys(
    enc: Mapping[str, Any], report: ConversionReport, prefix: str, keep_head: bool
) -> dict[str, torch.Tensor]:
    """Rename official ``ST_MEM_ViT`` keys (no prefix); record them under ``prefix + key``."""
    out: dict[str, torch.Tensor] = {}
    leads: dict[int, tuple[str, torch.Tensor]] = {}
    unknown: list[str] = []
    for key, value in enc.items():
        full = prefix + key
        value = _check_tensor(full, value)
        block = _ENC_BLOCK.fullmatch(key)
        lead = _LEAD.fullmatch(key)
        if key in _ENCODER_FIXED:
            new = _ENCODER_FIXED[key]
        elif block and (renamed := _rename_block(block.group(2))) is not None:
            new = f"blocks.{int(block.group(1))}.{renamed}"
        elif lead:
            leads[int(lead.group(1))] = (full, value)
            continue
        elif _HEAD.fullmatch(key):
            if not keep_head:
                report.dropped[full] = _HEAD_REASON
                continue
            new = key
        else:
            unknown.append(full)
            continue
        out[new] = value
        report.mapped[full] = new
    if unknown:
        raise ValueError(
            f"{len(unknown)} keys are not part of an ST-MEM encoder, e.g. {unknown[:5]}; is this "
            "another architecture (ECGFounder: "
            f"{advice(python='ecgfm.convert.ecgfounder', cli='`ecgfm convert ecgfounder`')}) or a "
            "differently wrapped model?"
        )
    if not leads:
        raise ValueError(f"no '{prefix}lead_embeddings.*' keys: not an ST-MEM encoder")
    if sorted(leads) != list(range(len(leads))):
        raise ValueError(
            f"lead embeddings must be numbered 0..L-1 without gaps, got indices {sorted(leads)}"
        )
    shapes = {tuple(v.shape) for _, v in leads.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ValueError(f"lead embeddings must all be vectors of one width, got shapes {shapes}")
    out["lead_embed"] = torch.stack([leads[i][1] for i in range(len(leads))])
    for i in range(len(leads)):
        report.mapped[leads[i][0]] = f"lead_embed[{i}]"
    return out


def _convert_decoder_keys(
    rest: Mapping[str, Any], enc: Mapping[str, Any], report: ConversionReport
) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in rest.items():
        value = _check_tensor(key, value)
        block = _DEC_BLOCK.fullmatch(key)
        if key in _DECODER_FIXED:
            new = _DECODER_FIXED[key]
        elif key == "mask_embedding":
            if value.numel() != value.shape[-1]:
                raise ValueError(f"mask_embedding must hold one vector, got shape {value.shape}")
            out["mask_token"] = value.reshape(-1)
            report.mapped[key] = "mask_token"
            continue
        elif block and (renamed := _rename_block(block.group(2))) is not None:
            new = f"decoder_blocks.{int(block.group(1))}.{renamed}"
        elif _PATCH_DUP.fullmatch(key):
            twin = enc.get(key)
            if twin is None:
                raise ValueError(f"{key!r} has no twin 'encoder.{key}' in the checkpoint")
            same = twin.shape == value.shape and (
                value.device.type == "meta" or torch.equal(twin, value)
            )
            if not same:
                raise ValueError(
                    f"{key!r} differs from 'encoder.{key}': in the official model both names "
                    "are one module, so this checkpoint was edited or is corrupt"
                )
            report.dropped[key] = _DUPLICATE_REASON
            continue
        else:
            unknown.append(key)
            continue
        out[new] = value
        report.mapped[key] = new
    if unknown:
        raise ValueError(
            f"{len(unknown)} keys are not part of an ST-MEM pre-training model, e.g. {unknown[:5]}"
        )
    return out


def convert_st_mem_encoder(
    sd: Mapping[str, Any], *, keep_head: bool = False
) -> tuple[dict[str, torch.Tensor], ConversionReport]:
    """Official encoder state dict -> :class:`~ecgfm.models.st_mem.STMEMViT` state dict.

    Args:
        sd: an ``ST_MEM_ViT`` state dict or checkpoint ``{"model": ...}``. A pre-training
            checkpoint is accepted too: its ``encoder.*`` part is converted and the decoder keys
            are reported as dropped.
        keep_head: map ``head.*`` of a fine-tuned checkpoint instead of dropping it.

    Returns:
        ``(new_sd, report)``; ``report.mapped`` and ``report.dropped`` cover every key once.
    """
    state, _, ignored = _unwrap(sd)
    state, prefix = _strip_ddp(state)
    report = ConversionReport(stripped_prefix=prefix, ignored_entries=ignored)
    if any(k.startswith(_ENC) for k in state):
        enc, rest = _split_encoder(state)
        new_sd = _convert_encoder_keys(enc, report, _ENC, keep_head)
        _convert_decoder_keys(rest, enc, ConversionReport())  # validate before dropping
        for key in rest:
            report.dropped[key] = (
                _DUPLICATE_REASON if _PATCH_DUP.fullmatch(key) else _DECODER_REASON
            )
        return new_sd, _with_prefix(report)
    return _convert_encoder_keys(state, report, "", keep_head), _with_prefix(report)


def convert_st_mem_pretrain(
    sd: Mapping[str, Any],
) -> tuple[dict[str, torch.Tensor], ConversionReport]:
    """Official ``ST_MEM`` pre-training state dict -> :class:`STMEMPretrain` state dict.

    The duplicate top-level ``to_patch_embedding.*`` entries are checked equal to
    ``encoder.to_patch_embedding.*`` and dropped (reported).
    """
    state, _, ignored = _unwrap(sd)
    state, prefix = _strip_ddp(state)
    report = ConversionReport(stripped_prefix=prefix, ignored_entries=ignored)
    enc, rest = _split_encoder(state)
    new_sd = {f"encoder.{k}": v for k, v in _convert_encoder_keys(enc, report, _ENC, False).items()}
    for full in [k for k, v in report.mapped.items() if k.startswith(_ENC)]:
        report.mapped[full] = f"encoder.{report.mapped[full]}"
    new_sd.update(_convert_decoder_keys(rest, enc, report))
    return new_sd, _with_prefix(report)


def _with_prefix(report: ConversionReport) -> ConversionReport:
    """Record keys as spelled in the file (with a stripped ``module.`` prefix put back)."""
    p = report.stripped_prefix
    if p:
        report.mapped = {p + k: v for k, v in report.mapped.items()}
        report.dropped = {p + k: v for k, v in report.dropped.items()}
    return report


def infer_st_mem_config(
    sd: Mapping[str, Any], *, dim_head: int = 64, config: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Constructor arguments of :class:`STMEMViT` (and, for a pre-training state dict, of the
    decoder under ``"decoder"``) read from tensor shapes.

    Head counts are not visible in shapes: they are ``inner width / dim_head`` (every official
    model uses 64), or taken from the checkpoint's ``config`` when present.
    """
    state, ckpt_cfg, _ = _unwrap(sd)
    state, _ = _strip_ddp(state)
    cfg = dict(config or ckpt_cfg or {})
    is_pretrain = any(k.startswith(_ENC) for k in state)
    enc = _split_encoder(state)[0] if is_pretrain else state
    try:
        pos = enc["pos_embedding"]
        patch = enc["to_patch_embedding.2.weight"]
        qkv = enc["block0.attn.fn.to_qkv.weight"]
        fc1 = enc["block0.ff.fn.net.0.weight"]
    except KeyError as exc:
        raise ValueError(f"not an ST-MEM encoder state dict: missing {exc.args[0]!r}") from None
    embed_dim, patch_size = patch.shape
    depth = len({m.group(1) for k in enc if (m := _ENC_BLOCK.fullmatch(k))})
    num_leads = len([k for k in enc if _LEAD.fullmatch(k)])
    args: dict[str, Any] = {
        "seq_len": (pos.shape[1] - 2) * patch_size,
        "patch_size": patch_size,
        "embed_dim": embed_dim,
        "depth": depth,
        "num_heads": _heads(qkv.shape[0] // 3, cfg.get("num_heads"), dim_head, "encoder"),
        "mlp_dim": fc1.shape[0],
        "qkv_bias": "block0.attn.fn.to_qkv.bias" in enc,
        "num_classes": enc["head.weight"].shape[0] if "head.weight" in enc else 0,
    }
    args["dim_head"] = qkv.shape[0] // 3 // args["num_heads"]
    if num_leads > len(CANONICAL_LEADS):
        raise ValueError(f"{num_leads} lead embeddings: more than the 12 leads of an ECG")
    args["lead_vocabulary"] = CANONICAL_LEADS[:num_leads]
    args["in_leads"] = CANONICAL_LEADS[:num_leads]
    if is_pretrain:
        dqkv = state["decoder_blocks.0.attn.fn.to_qkv.weight"]
        dfc1 = state["decoder_blocks.0.ff.fn.net.0.weight"]
        ddim = dqkv.shape[1]
        dheads = _heads(dqkv.shape[0] // 3, cfg.get("decoder_num_heads"), dim_head, "decoder")
        args["decoder"] = {
            "decoder_dim": ddim,
            "decoder_depth": len({m.group(1) for k in state if (m := _DEC_BLOCK.fullmatch(k))}),
            "decoder_num_heads": dheads,
            "decoder_dim_head": dqkv.shape[0] // 3 // dheads,
            "decoder_mlp_ratio": dfc1.shape[0] // ddim,
            "norm_pix_loss": bool(cfg.get("norm_pix_loss", True)),
        }
        if dfc1.shape[0] % ddim != 0:
            raise ValueError(f"decoder MLP width {dfc1.shape[0]} is not a multiple of {ddim}")
    return args


def _heads(inner: int, given: Any, dim_head: int, where: str) -> int:
    if given is not None:
        if inner % int(given) != 0:
            raise ValueError(f"{where}: attention width {inner} is not divisible by {given} heads")
        return int(given)
    if inner % dim_head != 0:
        raise ValueError(
            f"{where}: attention width {inner} is not a multiple of dim_head={dim_head}; pass "
            "the head width used in training as dim_head="
        )
    return inner // dim_head


def check_state_dict_fits(new_sd: Mapping[str, torch.Tensor], model: nn.Module) -> None:
    """Raise a ``ValueError`` listing missing, unexpected and mis-shaped keys of ``new_sd``
    against ``model.state_dict()`` (works on meta-device models)."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in new_sd.items()}
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    shapes = [
        f"{k}: checkpoint {got[k]} vs model {expected[k]}"
        for k in sorted(set(got) & set(expected))
        if got[k] != expected[k]
    ]
    if missing or unexpected or shapes:
        raise ValueError(
            "the converted ST-MEM weights do not fit the model: "
            f"missing {missing[:8]}, unexpected {unexpected[:8]}, shape mismatches {shapes[:8]}"
        )


def load_st_mem_encoder(
    path: str | PathLike[str],
    *,
    in_leads: Sequence[str] | None = None,
    lead_vocabulary: Sequence[str] | None = None,
    dim_head: int = 64,
    keep_head: bool = False,
) -> STMEMViT:
    """Build an :class:`STMEMViT` from an official ``encoder.pth`` or pre-training checkpoint.

    Args:
        path: the checkpoint file (opened with ``weights_only=True``).
        in_leads: default lead names of the input channels (default: the 12 canonical leads).
        lead_vocabulary: lead of each lead embedding, if the checkpoint does not have the 12
            canonical ones.
        dim_head: attention head width used in training (64 in every official model).
        keep_head: keep the classifier of a fine-tuned checkpoint (``model.head``).

    Returns:
        The encoder in eval mode with the checkpoint loaded strictly; the conversion report is
        logged and stored as ``model.conversion_report``.
    """
    ckpt = load_official_checkpoint(path)
    args = infer_st_mem_config(ckpt, dim_head=dim_head)
    args.pop("decoder", None)
    if not keep_head:
        args["num_classes"] = 0
    if lead_vocabulary is not None:
        args["lead_vocabulary"] = tuple(lead_vocabulary)
        args["in_leads"] = tuple(lead_vocabulary)
    elif len(args["lead_vocabulary"]) != len(CANONICAL_LEADS):
        raise ValueError(
            f"{path}: the checkpoint has {len(args['lead_vocabulary'])} lead embeddings, not 12; "
            "pass lead_vocabulary=[...] naming the lead of each embedding in order"
        )
    if in_leads is not None:
        args["in_leads"] = tuple(in_leads)
    new_sd, report = convert_st_mem_encoder(ckpt, keep_head=keep_head)
    model = STMEMViT(**args)
    check_state_dict_fits(new_sd, model)
    model.load_state_dict(new_sd, strict=True)
    return _finish(model, report, path)


def load_st_mem_pretrain(
    path: str | PathLike[str],
    *,
    in_leads: Sequence[str] | None = None,
    dim_head: int = 64,
    mask_ratio: float = 0.75,
) -> STMEMPretrain:
    """Build an :class:`STMEMPretrain` from an official pre-training checkpoint.

    ``norm_pix_loss`` and head counts come from the checkpoint's ``config`` when present.
    Returns the model in eval mode; see :func:`load_st_mem_encoder` for the report.
    """
    ckpt = load_official_checkpoint(path)
    args = infer_st_mem_config(ckpt, dim_head=dim_head)
    if "decoder" not in args:
        raise ValueError(
            f"{path} holds an encoder only (no 'encoder.*'/decoder keys); load it with "
            "load_st_mem_encoder"
        )
    decoder = args.pop("decoder")
    if len(args["lead_vocabulary"]) != len(CANONICAL_LEADS):
        raise ValueError(f"{path}: expected 12 lead embeddings, got {len(args['lead_vocabulary'])}")
    if in_leads is not None:
        args["in_leads"] = tuple(in_leads)
    new_sd, report = convert_st_mem_pretrain(ckpt)
    model = STMEMPretrain(STMEMViT(**args), mask_ratio=mask_ratio, **decoder)
    check_state_dict_fits(new_sd, model)
    model.load_state_dict(new_sd, strict=True)
    return _finish(model, report, path)


def _finish(model: Any, report: ConversionReport, path: str | PathLike[str]) -> Any:
    model.conversion_report = report
    logger.info("loaded ST-MEM checkpoint %s: %s", path, report.summary())
    return model.eval()
