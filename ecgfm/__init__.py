"""ecgfm: ECG foundation models in PyTorch.

Public API (re-exported explicitly; see the docs for each submodule):

- :mod:`ecgfm.leads` — canonical lead order, aliases, lead selection and derivation.
- :mod:`ecgfm.signal` — :class:`ECGRecord` and the input contract (:func:`as_signal`).
"""

from ecgfm._version import __version__
from ecgfm.leads import (
    CANONICAL_LEADS,
    MissingLeadError,
    normalize_lead_name,
    normalize_lead_names,
    select_leads,
)
from ecgfm.signal import ECGRecord, as_signal, stack_records

__all__ = [
    "CANONICAL_LEADS",
    "ECGRecord",
    "MissingLeadError",
    "__version__",
    "as_signal",
    "normalize_lead_name",
    "normalize_lead_names",
    "select_leads",
    "stack_records",
]
