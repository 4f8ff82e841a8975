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
"""

from ecgfm import convert, data, eval, leads, losses, models, signal, transforms
from ecgfm._version import __version__
from ecgfm.leads import (
    CANONICAL_LEADS,
    MissingLeadError,
    normalize_lead_name,
    normalize_lead_names,
    select_leads,
)
from ecgfm.models import create_model, list_models
from ecgfm.signal import ECGRecord, as_signal, stack_records

__all__ = [
    "CANONICAL_LEADS",
    "ECGRecord",
    "MissingLeadError",
    "__version__",
    "as_signal",
    "convert",
    "create_model",
    "data",
    "eval",
    "leads",
    "list_models",
    "losses",
    "models",
    "normalize_lead_name",
    "normalize_lead_names",
    "select_leads",
    "signal",
    "stack_records",
    "transforms",
]
