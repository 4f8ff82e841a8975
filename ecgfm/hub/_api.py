"""``ecgfm.embed``: one call from a pretrained name (or a loaded model) to embeddings."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from ecgfm.hub._model import PretrainedEncoder
from ecgfm.hub._resolve import from_pretrained

__all__ = ["embed"]


def embed(
    model: str | os.PathLike[str] | PretrainedEncoder,
    x: Any,
    fs: float | None = None,
    leads: Sequence[str] | None = None,
    *,
    device: torch.device | str | None = None,
    revision: str | None = None,
    checkpoint_path: str | os.PathLike[str] | None = None,
    **embed_kwargs: Any,
) -> Any:
    """Embed ``x`` with a pretrained model: ``from_pretrained(model).embed(x, fs, leads, ...)``.

    ``model`` is a name, directory or ``hf-hub:`` id (loaded on every call: for repeated
    calls load once with :func:`from_pretrained` and call ``.embed``) or a loaded
    :class:`PretrainedEncoder`. ``embed_kwargs`` are those of :meth:`PretrainedEncoder.embed`
    (``units``, ``batch_size``, ``windows``, ``reduce``, ``errors``, ``precision``,
    ``return_tensors``, ...), and so is the return value.
    """
    if isinstance(model, PretrainedEncoder):
        if device is not None or revision is not None or checkpoint_path is not None:
            raise ValueError(
                "device=, revision= and checkpoint_path= apply when loading by name; the model "
                "is already loaded (move it with model.to(device))"
            )
        loaded = model
    else:
        loaded = from_pretrained(
            model, device=device, revision=revision, checkpoint_path=checkpoint_path
        )
    return loaded.embed(x, fs, leads, **embed_kwargs)
