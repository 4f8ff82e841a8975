"""Lead names: the canonical 12-lead order, aliases, selection and derivation of limb leads.

Everything in ecgfm orders leads as :data:`CANONICAL_LEADS`. The four derived limb leads are
linear in I and II (Einthoven / Goldberger)::

    III = II - I          aVR = -(I + II) / 2
    aVL = I - II / 2      aVF = II - I / 2

so data with only I, II and V1-V6 (e.g. deepfake-ecg, many Holter exports) can be expanded
to the full 12 leads with :func:`select_leads`. A lead name prefixed by ``-`` (e.g. ``-aVR``,
used by the Cabrera display) is the negated lead and can be derived from its positive twin.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from ecgfm._lazy import is_tensor

if TYPE_CHECKING:
    import torch

__all__ = [
    "CANONICAL_LEADS",
    "LIMB_LEADS",
    "PRECORDIAL_LEADS",
    "MissingLeadError",
    "can_derive",
    "lead_index",
    "normalize_lead_name",
    "normalize_lead_names",
    "select_leads",
]

CANONICAL_LEADS: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
)  # fmt: skip
LIMB_LEADS: tuple[str, ...] = CANONICAL_LEADS[:6]
PRECORDIAL_LEADS: tuple[str, ...] = CANONICAL_LEADS[6:]

# Lower-cased spellings seen in WFDB headers, PhysioNet databases and vendor exports.
_ALIASES: dict[str, str] = {
    "i": "I", "lead i": "I", "leadi": "I", "l1": "I", "d1": "I", "di": "I", "mli": "I",
    "ii": "II", "lead ii": "II", "leadii": "II", "l2": "II", "d2": "II", "dii": "II",
    "mlii": "II",
    "iii": "III", "lead iii": "III", "leadiii": "III", "l3": "III", "d3": "III", "diii": "III",
    "mliii": "III",
    "avr": "aVR", "lead avr": "aVR",
    "avl": "aVL", "lead avl": "aVL",
    "avf": "aVF", "lead avf": "aVF",
}  # fmt: skip
for _k in range(1, 7):
    for _spelling in (f"v{_k}", f"lead v{_k}", f"c{_k}", f"mlv{_k}"):
        _ALIASES[_spelling] = f"V{_k}"

# Derivations of limb leads from (I, II): name -> (coefficient of I, coefficient of II).
_FROM_I_II: dict[str, tuple[float, float]] = {
    "I": (1.0, 0.0),
    "II": (0.0, 1.0),
    "III": (-1.0, 1.0),
    "aVR": (-0.5, -0.5),
    "aVL": (1.0, -0.5),
    "aVF": (-0.5, 1.0),
}


class MissingLeadError(KeyError):
    """A requested lead is neither present nor derivable from the leads that are present."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


def normalize_lead_name(name: str) -> str:
    """Return the canonical spelling of one lead name.

    Case, surrounding blanks, a ``lead`` prefix and common aliases (``AVR``, ``avr``,
    ``MLII`` -> ``II``, ``C1`` -> ``V1``, ``DII`` -> ``II``) are normalised. A leading ``-``
    marks the negated lead (``-aVR``). Raises ``ValueError`` for a name that is not an ECG lead.
    """
    if not isinstance(name, str):
        raise TypeError(f"lead names must be strings, got {type(name).__name__}: {name!r}")
    raw = name.strip()
    negated = raw.startswith("-")
    key = re.sub(r"[\s_]+", " ", raw.lstrip("-").strip()).lower()
    canonical = _ALIASES.get(key) or _ALIASES.get(key.replace(" ", ""))
    if canonical is None:
        raise ValueError(
            f"unknown lead name {name!r}; expected one of {', '.join(CANONICAL_LEADS)} "
            "(aliases such as AVR, MLII, C1 and a '-' prefix for inverted leads are accepted). "
            "Rename the channel or pass `leads=` explicitly."
        )
    return f"-{canonical}" if negated else canonical


def normalize_lead_names(names: Sequence[str]) -> tuple[str, ...]:
    """Normalise a sequence of lead names; raise ``ValueError`` on duplicates or unknown names."""
    if isinstance(names, str):
        raise TypeError(
            f"leads must be a sequence of names such as ['I', 'II'], not the string {names!r}"
        )
    if names is None or not hasattr(names, "__iter__"):
        raise TypeError(
            "leads must be a sequence of lead names such as ['I', 'II'] (one per channel), "
            f"got {type(names).__name__}"
        )
    out = tuple(normalize_lead_name(n) for n in names)
    if not out:
        raise ValueError("leads must name at least one lead")
    seen: dict[str, str] = {}
    for original, canonical in zip(names, out, strict=True):
        if canonical in seen:
            raise ValueError(
                f"duplicate lead {canonical!r} (given as {seen[canonical]!r} and {original!r}); "
                "each lead may appear once"
            )
        seen[canonical] = original
    return out


def lead_index(leads: Sequence[str], name: str) -> int:
    """Position of lead ``name`` in ``leads`` (aliases allowed); ``MissingLeadError`` if absent."""
    canon = normalize_lead_names(leads)
    target = normalize_lead_name(name)
    try:
        return canon.index(target)
    except ValueError:
        raise MissingLeadError(
            f"lead {target!r} is not among the available leads {list(canon)}"
        ) from None


def _recipe(target: str, available: tuple[str, ...]) -> list[tuple[int, float]] | None:
    """Linear combination of available channels that yields ``target``, or None."""
    negated = target.startswith("-")
    base = target.lstrip("-")
    sign = -1.0 if negated else 1.0
    if target in available:
        return [(available.index(target), 1.0)]
    if f"-{base}" in available and negated is False:
        return [(available.index(f"-{base}"), -1.0)]
    if negated and base in available:
        return [(available.index(base), -1.0)]
    if base in _FROM_I_II:
        # Any two independent limb leads determine all six (they span the frontal plane).
        limb = [(n, _FROM_I_II[n]) for n in available if n in _FROM_I_II]
        neg_limb = [
            (n, tuple(-c for c in _FROM_I_II[n[1:]]))
            for n in available
            if n.startswith("-") and n[1:] in _FROM_I_II
        ]
        candidates = limb + neg_limb
        want = np.array(_FROM_I_II[base], dtype=np.float64)
        for a in range(len(candidates)):
            for b in range(a + 1, len(candidates)):
                m = np.array([candidates[a][1], candidates[b][1]], dtype=np.float64).T
                if abs(np.linalg.det(m)) < 1e-9:
                    continue
                coef = np.linalg.solve(m, want)
                out = []
                for (n, _), c in zip((candidates[a], candidates[b]), coef, strict=True):
                    if abs(c) > 1e-12:
                        out.append((available.index(n), sign * float(c)))
                return out
    return None


def can_derive(target: Sequence[str], available: Sequence[str]) -> bool:
    """True if every lead of ``target`` is present in or derivable from ``available``."""
    avail = normalize_lead_names(available)
    return all(_recipe(t, avail) is not None for t in normalize_lead_names(target))


ArrayT = TypeVar("ArrayT", np.ndarray, "torch.Tensor")


def select_leads(
    x: ArrayT,
    leads: Sequence[str],
    target: Sequence[str] = CANONICAL_LEADS,
    *,
    derive: bool = True,
) -> ArrayT:
    """Reorder / select / derive leads of ``x`` so that its channels follow ``target``.

    Args:
        x: signal ``(C, T)`` or batch ``(B, C, T)``, numpy array or torch tensor.
        leads: names of the ``C`` channels of ``x`` (aliases accepted).
        target: wanted lead names, in the wanted order (default: canonical 12 leads).
        derive: allow deriving missing limb leads from two present ones (e.g. III, aVR, aVL,
            aVF from I and II) and negated leads from their twin.

    Returns:
        Same type and dtype as ``x``, shape ``(len(target), T)`` or ``(B, len(target), T)``.
        When no lead is derived the result is a gather of existing channels (a copy).

    Raises:
        MissingLeadError: a target lead is missing and cannot be derived; the message lists what
            is available and what would be needed.
        ValueError: ``len(leads)`` does not match the channel axis, or names are invalid.
    """
    src = normalize_lead_names(leads)
    dst = normalize_lead_names(target)
    if x.ndim not in (2, 3):
        raise ValueError(
            f"expected a signal (C, T) or a batch (B, C, T), got shape {tuple(x.shape)}"
        )
    if x.shape[-2] != len(src):
        raise ValueError(
            f"`leads` names {len(src)} channels but the signal has {x.shape[-2]} on axis -2 "
            f"(shape {tuple(x.shape)}); signals are (C, T) with channels first — transpose a "
            "(T, C) array with x.T"
        )
    recipes: list[list[tuple[int, float]]] = []
    for t in dst:
        r = _recipe(t, src)
        is_direct = r is not None and len(r) == 1 and r[0][1] == 1.0
        if r is None or (not derive and not is_direct):
            hint = (
                "it can be derived from two limb leads (e.g. I and II) with derive=True"
                if t.lstrip("-") in _FROM_I_II and r is not None
                else "record it, or choose a model/preset that does not need it"
            )
            raise MissingLeadError(
                f"lead {t!r} is required but the signal only has {list(src)}; {hint}"
            )
        recipes.append(r)
    if all(len(r) == 1 and r[0][1] == 1.0 for r in recipes):
        idx = [r[0][0] for r in recipes]
        if is_tensor(x):
            import torch  # already loaded: x is a tensor

            return x.index_select(-2, torch.as_tensor(idx, device=x.device))
        return np.take(x, idx, axis=-2)
    parts = []
    for r in recipes:
        acc = None
        for i, c in r:
            term = x[..., i, :] if c == 1.0 else x[..., i, :] * c
            acc = term if acc is None else acc + term
        parts.append(acc)
    if is_tensor(x):
        import torch  # already loaded: x is a tensor

        return torch.stack(parts, dim=-2)
    return np.stack(parts, axis=-2).astype(x.dtype, copy=False)
