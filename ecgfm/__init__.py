"""ecgfm: ECG foundation models in PyTorch.

Public API (re-exported explicitly; the submodules hold the rest):

- :mod:`ecgfm.leads` — canonical lead order, aliases, lead selection and derivation.
- :mod:`ecgfm.signal` — :class:`ECGRecord` and the input contract (:func:`as_signal`).
- :mod:`ecgfm.data` — readers (WFDB, PTB-XL, CinC 2017, arrays, synthetic).
- :mod:`ecgfm.transforms` — preprocessing, presets, view generators, augmentations.
- :mod:`ecgfm.models` — encoders and :func:`create_model`.
- :mod:`ecgfm.losses` — SigLIP, InfoNCE, patient-level, masked reconstruction, hybrid.
- :mod:`ecgfm.convert` — official checkpoint converters.
- :mod:`ecgfm.eval` — probes and metrics.
- :mod:`ecgfm.hub` — pretrained cards, :func:`from_pretrained`, :func:`save_pretrained`,
  :func:`embed`.

Every name is imported on first use (``ecgfm._lazy``): ``import ecgfm`` does not import torch,
SciPy or scikit-learn; ``ecgfm.from_pretrained`` imports what loading a model needs.
"""

from typing import TYPE_CHECKING

from ecgfm._lazy import attach
from ecgfm._version import __version__

if TYPE_CHECKING:
    from ecgfm import (
        convert,
        data,
        distributed,
        eval,
        hub,
        leads,
        losses,
        methods,
        models,
        signal,
        transforms,
    )
    from ecgfm.hub import (
        PretrainedCard,
        PretrainedEncoder,
        embed,
        from_pretrained,
        list_pretrained,
        pretrained_card,
        save_pretrained,
    )
    from ecgfm.leads import (
        CANONICAL_LEADS,
        MissingLeadError,
        normalize_lead_name,
        normalize_lead_names,
        select_leads,
    )
    from ecgfm.models import create_model, list_models
    from ecgfm.signal import ECGQualityWarning, ECGRecord, as_signal, stack_records

__getattr__, __dir__ = attach(
    __name__,
    submodules=[
        "convert",
        "data",
        "distributed",
        "eval",
        "hub",
        "leads",
        "losses",
        "methods",
        "models",
        "signal",
        "transforms",
    ],
    attributes={
        "ecgfm.hub": [
            "PretrainedCard",
            "PretrainedEncoder",
            "embed",
            "from_pretrained",
            "list_pretrained",
            "pretrained_card",
            "save_pretrained",
        ],
        "ecgfm.leads": [
            "CANONICAL_LEADS",
            "MissingLeadError",
            "normalize_lead_name",
            "normalize_lead_names",
            "select_leads",
        ],
        "ecgfm.models": ["create_model", "list_models"],
        "ecgfm.signal": ["ECGQualityWarning", "ECGRecord", "as_signal", "stack_records"],
    },
)

__all__ = [
    "CANONICAL_LEADS",
    "ECGQualityWarning",
    "ECGRecord",
    "MissingLeadError",
    "PretrainedCard",
    "PretrainedEncoder",
    "__version__",
    "as_signal",
    "convert",
    "create_model",
    "data",
    "distributed",
    "embed",
    "eval",
    "from_pretrained",
    "hub",
    "leads",
    "list_models",
    "list_pretrained",
    "losses",
    "methods",
    "models",
    "normalize_lead_name",
    "normalize_lead_names",
    "pretrained_card",
    "save_pretrained",
    "select_leads",
    "signal",
    "stack_records",
    "transforms",
]
