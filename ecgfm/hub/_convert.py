"""Cards for models converted from official checkpoints (``ecgfm convert``)."""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from ecgfm.hub._card import PretrainedCard, WeightsSpec
from ecgfm.hub._io import sha256_file
from ecgfm.hub._model import count_parameters

__all__ = ["card_for_converted"]


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
    its description. The sha256 of the source file is recorded in the description.
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
    note = f"Converted by ecgfm from {Path(source).name} (sha256 {digest})."
    changes: dict[str, object] = {
        "name": name or official.name,
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
