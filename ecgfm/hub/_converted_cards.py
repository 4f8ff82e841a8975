"""Cards for models converted from official checkpoints (``ecgfm convert``)."""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Sequence
from pathlib import Path

from torch import nn

from ecgfm.hub._card import PretrainedCard, WeightsSpec
from ecgfm.hub._io import load_state_dict_strict, sha256_file
from ecgfm.hub._model import count_parameters

__all__ = ["card_for_converted", "converted_name", "st_mem_encoder_from_official"]

# architecture of an official card -> the family prefix of names derived for converted files
_FAMILY = {
    "net1d_ecgfounder": "ecgfounder",
    "net1d_ecgfounder_lead1": "ecgfounder",
    "st_mem_vit_base": "st-mem",
}


def converted_name(official: PretrainedCard, source: str | os.PathLike[str]) -> str:
    """A card name for a converted file that is not the official model: after the file.

    The file name, lower-cased with runs of other characters turned into ``-``, prefixed by
    the family (``ecgfounder``, ``st-mem``) unless it already starts with it:
    ``st_mem_small_encoder.pth`` -> ``st-mem-small-encoder``, ``my_run.pth`` ->
    ``ecgfounder-my-run``.
    """
    family = _FAMILY.get(official.arch, official.name)
    stem = re.sub(r"[^a-z0-9.]+", "-", Path(source).stem.lower()).strip("-.")
    if not stem:
        return f"{family}-converted"
    return stem if stem.startswith(family) else f"{family}-{stem}"


def card_for_converted(
    model: nn.Module,
    official: PretrainedCard,
    source: str | os.PathLike[str],
    *,
    name: str | None = None,
) -> PretrainedCard:
    """The card of a converted official checkpoint.

    If the model is the released configuration, the official card is used as is (renamed if
    ``name`` is given). A checkpoint of another configuration (e.g. a smaller Net1D trained
    with the official code) keeps the official card's provenance, licence and preprocessing,
    with the architecture arguments, width and parameter count of the model, and says so in
    its description; it is named after the file (:func:`converted_name`) unless ``name`` is
    given, never after the official model it is not. The same holds for a file of the released
    configuration whose sha256 differs from the one the official card records. The sha256 of
    the source file is recorded in the description.
    """
    arch = getattr(model, "arch_name", None)
    if arch is None:
        raise ValueError("the converter returned a model without arch_name")
    args = dict(getattr(model, "arch_args", {}) or {})
    digest = sha256_file(source)
    same = (
        arch == official.arch
        and args == dict(official.arch_args)
        and count_parameters(model) == official.num_params
    )
    official_file = official.weights.sha256 is None or official.weights.sha256 == digest
    if name is None:
        name = official.name if same and official_file else converted_name(official, source)
    note = f"Converted by ecgfm from {Path(source).name} (sha256 {digest})."
    changes: dict[str, object] = {
        "name": name,
        "description": f"{official.description} {note}".strip(),
        # The local copy is described by save_pretrained; keep only the licence constraint.
        "weights": WeightsSpec(
            format="ecgfm",
            redistributable=official.weights.redistributable,
            user_file_hint=official.weights.user_file_hint or f"converted from {source}",
        ),
    }
    if not same:
        changes.update(
            arch=arch,
            arch_args=args,
            embed_dim=int(model.num_features),
            num_params=count_parameters(model),
            description=(
                f"A checkpoint in the official {official.name} format with a non-standard "
                f"configuration ({arch}, {args}); preprocessing, licence and provenance as "
                f"{official.name}. {note}"
            ),
        )
    return official.replace(**changes)


def _differs(a: object, b: object) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return list(a) != list(b)
    return a != b


def st_mem_encoder_from_official(
    path: str | os.PathLike[str], *, in_leads: Sequence[str] | None = None
) -> nn.Module:
    """The official ST-MEM encoder of ``path``, converted, built through ``create_model``.

    The converter (:func:`ecgfm.convert.st_mem.load_st_mem_encoder`) maps the keys and checks
    conformance; the hub additionally needs ``arch_name`` / ``arch_args`` (to save and rebuild
    the model), so the converted weights are loaded strictly into
    ``create_model("st_mem_vit_base", **overrides)`` where ``overrides`` are the checkpoint's
    constructor arguments that differ from ViT-B's.
    """
    from ecgfm.convert.ecgfounder import load_official_checkpoint
    from ecgfm.convert.st_mem import infer_st_mem_config, load_st_mem_encoder
    from ecgfm.models import create_model
    from ecgfm.models.st_mem import ST_MEM_BASE_ARGS, STMEMViT

    converted = load_st_mem_encoder(path, in_leads=in_leads)
    if getattr(converted, "arch_name", None) is not None:
        return converted
    args = infer_st_mem_config(load_official_checkpoint(path))
    args.pop("decoder", None)
    args["num_classes"] = 0
    if in_leads is not None:
        args["in_leads"] = tuple(in_leads)
    defaults = {
        name: p.default
        for name, p in inspect.signature(STMEMViT.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    defaults.update(ST_MEM_BASE_ARGS)
    overrides = {k: v for k, v in args.items() if k not in defaults or _differs(defaults[k], v)}
    model = create_model("st_mem_vit_base", **overrides)
    load_state_dict_strict(model, converted.state_dict(), what=f"ST-MEM encoder {path}")
    return model.eval()
