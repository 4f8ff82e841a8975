"""PTB-XL label views built from ``scp_statements.csv`` (no pandas needed).

Each record of PTB-XL carries a dict ``scp_codes`` of SCP-ECG statements with a likelihood
(``{'NORM': 100.0, 'LVOLT': 0.0, 'SR': 0.0}``). A *view* maps statements to classes:

========== ======= =============================================================
view       classes statements counted (and the class each one gives)
========== ======= =============================================================
all        71      every statement of ``scp_statements.csv`` (itself)
diagnostic 44      statements with ``diagnostic == 1`` (itself)
subclass   23      diagnostic statements -> their ``diagnostic_subclass``
superclass 5       diagnostic statements -> their ``diagnostic_class``
                   (CD, HYP, MI, NORM, STTC)
form       19      statements with ``form == 1`` (itself)
rhythm     12      statements with ``rhythm == 1`` (itself)
mi         9       the MI types of the SelfMIS benchmark: ALMI AMI ASMI ILMI IMI IPLMI
                   IPMI LMI PMI (the statements themselves)
========== ======= =============================================================

Class lists are sorted alphabetically (the order of the PTB-XL benchmark's
``MultiLabelBinarizer``), fixed by ``scp_statements.csv`` and independent of which records
are present. The aliases ``statements``, ``subdiagnostic`` and ``superdiagnostic`` (the
benchmark's names) are accepted.

Likelihoods: as in the PTB-XL benchmark code of Strodthoff et al. (``compute_label_
aggregations``), a statement counts whenever it is listed, whatever its likelihood (0 included;
non-diagnostic statements are always stored with likelihood 0). ``min_likelihood > 0`` drops
*diagnostic* statements below that likelihood (for stricter label sets); form and rhythm
statements have no likelihood and are never dropped. A record with no statement in a view gets
an all-zero row (the benchmark removes such records for that task: filter with
``Y.any(axis=1)``).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "PTBXL_LABEL_VIEWS",
    "PTBXL_MI_TYPES",
    "ScpStatement",
    "canonical_view",
    "multi_hot",
    "read_scp_statements",
    "view_classes",
]

PTBXL_MI_TYPES: tuple[str, ...] = (
    "ALMI", "AMI", "ASMI", "ILMI", "IMI", "IPLMI", "IPMI", "LMI", "PMI",
)  # fmt: skip
PTBXL_LABEL_VIEWS: tuple[str, ...] = (
    "all", "diagnostic", "subclass", "superclass", "form", "rhythm", "mi",
)  # fmt: skip
_ALIASES = {"statements": "all", "subdiagnostic": "subclass", "superdiagnostic": "superclass"}
_REQUIRED_COLUMNS = ("diagnostic", "form", "rhythm", "diagnostic_class", "diagnostic_subclass")


@dataclass(frozen=True)
class ScpStatement:
    """One row of ``scp_statements.csv``."""

    code: str
    description: str
    diagnostic: bool
    form: bool
    rhythm: bool
    diagnostic_class: str | None
    diagnostic_subclass: str | None


def _flag(value: str, where: str) -> bool:
    value = value.strip()
    if value == "":
        return False
    try:
        return float(value) == 1.0
    except ValueError:
        raise ValueError(f"{where}: expected 1.0 or empty, got {value!r}") from None


def read_scp_statements(path: str | Path) -> dict[str, ScpStatement]:
    """Parse ``scp_statements.csv`` into ``{code: ScpStatement}`` (file order)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found; PTB-XL's scp_statements.csv must sit next to "
            "ptbxl_database.csv (it defines the label views)"
        )
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"{path} is empty")
    head = rows[0]
    missing = [c for c in _REQUIRED_COLUMNS if c not in head]
    if missing:
        raise ValueError(f"{path} lacks columns {missing}; is this PTB-XL's scp_statements.csv?")
    col = {name: head.index(name) for name in (*_REQUIRED_COLUMNS, "description")}
    out: dict[str, ScpStatement] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        if not row or not row[0].strip():
            continue
        where = f"{path}:{line_no}"
        if len(row) != len(head):
            raise ValueError(f"{where}: {len(row)} fields, header has {len(head)}")
        code = row[0].strip()
        if code in out:
            raise ValueError(f"{where}: duplicate statement {code!r}")
        out[code] = ScpStatement(
            code=code,
            description=row[col["description"]],
            diagnostic=_flag(row[col["diagnostic"]], where),
            form=_flag(row[col["form"]], where),
            rhythm=_flag(row[col["rhythm"]], where),
            diagnostic_class=row[col["diagnostic_class"]].strip() or None,
            diagnostic_subclass=row[col["diagnostic_subclass"]].strip() or None,
        )
    if not out:
        raise ValueError(f"{path} lists no statements")
    return out


def canonical_view(view: str) -> str:
    """The view name without alias; ``ValueError`` listing the valid views otherwise."""
    if not isinstance(view, str):
        raise TypeError(f"label view must be a string, got {type(view).__name__}")
    key = _ALIASES.get(view.lower(), view.lower())
    if key not in PTBXL_LABEL_VIEWS:
        raise ValueError(
            f"unknown PTB-XL label view {view!r}; choose one of {', '.join(PTBXL_LABEL_VIEWS)} "
            f"(aliases: {', '.join(_ALIASES)})"
        )
    return key


def _statement_class(statement: ScpStatement, view: str) -> str | None:
    """The class of ``view`` that ``statement`` counts towards, or None."""
    if view == "all":
        return statement.code
    if view == "diagnostic":
        return statement.code if statement.diagnostic else None
    if view == "subclass":
        return statement.diagnostic_subclass if statement.diagnostic else None
    if view == "superclass":
        return statement.diagnostic_class if statement.diagnostic else None
    if view == "form":
        return statement.code if statement.form else None
    if view == "rhythm":
        return statement.code if statement.rhythm else None
    return statement.code if statement.code in PTBXL_MI_TYPES else None  # "mi"


def view_classes(statements: Mapping[str, ScpStatement], view: str) -> tuple[str, ...]:
    """Sorted class names of ``view`` (aliases accepted)."""
    view = canonical_view(view)
    if view == "mi":
        absent = [c for c in PTBXL_MI_TYPES if c not in statements]
        if absent:
            raise ValueError(f"scp_statements.csv lacks the MI statements {absent}")
        return PTBXL_MI_TYPES
    classes = {_statement_class(s, view) for s in statements.values()}
    return tuple(sorted(c for c in classes if c is not None))


def multi_hot(
    scp_codes: Sequence[Mapping[str, float]],
    statements: Mapping[str, ScpStatement],
    view: str,
    *,
    min_likelihood: float = 0.0,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Multi-hot matrix ``(N, K)`` float32 of ``view`` for records' ``scp_codes``.

    Statements missing from ``statements`` are ignored (as in the PTB-XL benchmark); the
    dataset reader warns about them once. See the module docstring for likelihoods.
    """
    if isinstance(min_likelihood, bool) or not isinstance(min_likelihood, (int, float)):
        raise TypeError(f"min_likelihood must be a number in [0, 100], got {min_likelihood!r}")
    if not (math.isfinite(min_likelihood) and 0.0 <= min_likelihood <= 100.0):
        raise ValueError(f"min_likelihood must be in [0, 100], got {min_likelihood}")
    view = canonical_view(view)
    classes = view_classes(statements, view)
    column = {c: k for k, c in enumerate(classes)}
    y = np.zeros((len(scp_codes), len(classes)), dtype=np.float32)
    for i, codes in enumerate(scp_codes):
        for code, likelihood in codes.items():
            statement = statements.get(code)
            if statement is None:
                continue
            if statement.diagnostic and likelihood < min_likelihood:
                continue
            cls = _statement_class(statement, view)
            if cls is not None:
                y[i, column[cls]] = 1.0
    return y, classes
