"""Encoders of the four methods, the architecture registry and ``create_model``.

Each family lives in its own file and registers its configurations on import, each with the
name of its default preprocessing preset (:func:`default_preset`).
"""

from ecgfm.models import dualview, hl_vit, net1d, selfmis, st_mem  # noqa: F401  (registration)
from ecgfm.models._registry import (
    create_model,
    default_preset,
    is_model,
    list_models,
    model_entrypoint,
    register_model,
    unregister_model,
)
from ecgfm.models.net1d_inference import Net1DInference, optimize_for_inference

__all__ = [
    "Net1DInference",
    "create_model",
    "default_preset",
    "is_model",
    "list_models",
    "model_entrypoint",
    "optimize_for_inference",
    "register_model",
    "unregister_model",
]
