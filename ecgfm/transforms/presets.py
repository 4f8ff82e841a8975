"""Named preprocessing presets: the official input pipeline of each model family.

A :class:`Preset` turns raw records (mV, any sampling rate, any lead order) into the fixed
windows a model expects::

    windows, record_index = get_preset("ecgfounder").prepare(x, fs=500, leads=LEADS)

``prepare`` validates the input (:func:`ecgfm.as_signal`), selects or derives ``leads``,
resamples to ``fs``, applies ``filters`` to the whole record, cuts windows of ``length``
samples and applies ``normalize`` to each window. See ``docs/input_contract.md`` for every
preset step by step and the reasons behind each choice.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ecgfm.leads import CANONICAL_LEADS, normalize_lead_names, select_leads
from ecgfm.signal import as_signal, check_fs
from ecgfm.transforms import functional as Fn
from ecgfm.transforms.functional._checks import check_positive_int
from ecgfm.transforms.preprocessing import (
    BandPass,
    Compose,
    Crop,
    FitLength,
    HighPass,
    LowPass,
    Notch,
    Pad,
    RemoveBaseline,
    Resample,
    SelectLeads,
    Step,
    ZScore,
)

__all__ = ["Preset", "UnknownPresetError", "get_preset", "list_presets"]

logger = logging.getLogger(__name__)

_WINDOW_MODES = ("all", "disjoint", "center", "first", "spaced", "random")
# Steps that change fs, leads or length: not allowed inside `filters` / `normalize`, where the
# preset itself owns those three.
_SHAPE_STEPS = (Resample, SelectLeads, Crop, Pad, FitLength)


class UnknownPresetError(KeyError):
    """``get_preset`` was given a name that is not registered."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _as_compose(value: Any, field: str) -> Compose:
    if isinstance(value, Compose):
        compose = value
    elif isinstance(value, (list, tuple)):
        compose = Compose(list(value))
    elif isinstance(value, Step):
        compose = Compose([value])
    else:
        raise TypeError(
            f"Preset.{field} must be a Compose (or a list of steps), got {type(value).__name__}"
        )

    def walk(c: Compose) -> None:
        for step in c:
            if isinstance(step, Compose):
                walk(step)
            elif isinstance(step, _SHAPE_STEPS):
                raise ValueError(
                    f"Preset.{field} may not contain {type(step).__name__}: the preset itself "
                    "selects leads, resamples to `fs` and cuts windows of `length`; set those "
                    "fields instead"
                )

    walk(compose)
    return compose


@dataclass(frozen=True)
class Preset:
    """An input pipeline: leads, sampling rate, window length, filters and normalisation.

    Attributes:
        name: preset name (``get_preset(name)``).
        fs: sampling rate in Hz the model expects; input is resampled to it.
        length: window length in samples at ``fs``.
        leads: ordered lead names the model expects (selected or derived from the input);
            ``None`` keeps the input's leads in their order.
        filters: steps applied to the whole record at ``fs`` after resampling, before
            windowing (may not change fs, leads or length).
        normalize: steps applied to each window (same restriction).
        resample_method: ``"polyphase"`` or ``"fft"`` (see ``functional.resample``).
        min_length: shortest record (samples at ``fs``) accepted. Records with
            ``min_length <= T < length`` give one window: normalised, then zero-padded at
            the end to ``length`` (zeros equal the mean after z-scoring). ``None`` means
            ``length // 2``.
        num_spaced: number of windows for ``windows="spaced"``.
        nan_policy: default NaN/Inf handling of :meth:`prepare` (``"raise"`` or ``"zero"``).
        description: one line shown in docs and model cards.
    """

    name: str
    fs: float
    length: int
    leads: tuple[str, ...] | None
    filters: Compose
    normalize: Compose
    resample_method: str = "polyphase"
    min_length: int | None = None
    num_spaced: int = 3
    nan_policy: str = "raise"
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Preset.name must be a non-empty string, got {self.name!r}")
        object.__setattr__(self, "fs", check_fs(self.fs, name="Preset.fs"))
        object.__setattr__(self, "length", check_positive_int(self.length, "Preset.length"))
        if self.leads is not None:
            object.__setattr__(self, "leads", normalize_lead_names(self.leads))
        object.__setattr__(self, "filters", _as_compose(self.filters, "filters"))
        object.__setattr__(self, "normalize", _as_compose(self.normalize, "normalize"))
        if self.resample_method not in ("polyphase", "fft"):
            raise ValueError(
                f"resample_method must be 'polyphase' or 'fft', got {self.resample_method!r}"
            )
        if self.min_length is not None:
            value = check_positive_int(self.min_length, "Preset.min_length")
            if value > self.length:
                raise ValueError(
                    f"Preset.min_length ({value}) cannot exceed length ({self.length})"
                )
            object.__setattr__(self, "min_length", value)
        object.__setattr__(self, "num_spaced", check_positive_int(self.num_spaced, "num_spaced"))
        if self.nan_policy not in ("raise", "zero"):
            raise ValueError(f"nan_policy must be 'raise' or 'zero', got {self.nan_policy!r}")
        if not isinstance(self.description, str):
            raise TypeError("Preset.description must be a string")

    @property
    def effective_min_length(self) -> int:
        """``min_length`` with its default (``length // 2``) resolved."""
        return self.min_length if self.min_length is not None else max(1, self.length // 2)

    @property
    def duration(self) -> float:
        """Window length in seconds."""
        return self.length / self.fs

    def prepare(
        self,
        x: Any,
        fs: float,
        leads: Sequence[str],
        *,
        windows: str = "all",
        nan_policy: str | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Turn one record ``(C, T)`` or a batch ``(B, C, T)`` in mV into model windows.

        Args:
            x: numpy array, torch tensor (kept on its device) or nested lists, in mV.
            fs: sampling rate of ``x`` in Hz.
            leads: names of the ``C`` channels of ``x`` (aliases accepted).
            windows: ``"all"`` (disjoint windows covering the record; a remainder gets one
                last window aligned to the end), ``"disjoint"`` (remainder dropped),
                ``"center"``, ``"first"``, ``"spaced"`` (``num_spaced`` equally spaced
                windows; ST-MEM evaluation) or ``"random"`` (one random window per record,
                drawn with ``generator``; ST-MEM training).
            nan_policy: ``"raise"`` or ``"zero"`` (NaN/Inf -> 0, logged); ``None`` uses the
                preset's default.
            generator: ``torch.Generator`` for ``windows="random"``.

        Returns:
            ``(windows, record_index)``: float32 tensor ``(N, len(self.leads), length)`` and
            long tensor ``(N,)`` giving the record (row of the batch; 0 for a single record)
            of each window, records in order.

        Raises:
            ValueError / TypeError: invalid input (see :func:`ecgfm.as_signal`), a record
                shorter than ``effective_min_length`` after resampling, bad options.
            MissingLeadError: a lead of ``self.leads`` is absent and cannot be derived.
        """
        fs = check_fs(fs)
        if windows not in _WINDOW_MODES:
            raise ValueError(f"windows must be one of {list(_WINDOW_MODES)}, got {windows!r}")
        policy = self.nan_policy if nan_policy is None else nan_policy
        names = normalize_lead_names(leads)
        sig = as_signal(x, fs, names, nan_policy=policy, what=f"preset {self.name!r} input")
        batch = sig if sig.ndim == 3 else sig[None]
        if self.leads is not None:
            batch = select_leads(batch, names, self.leads)
            names = self.leads
        if fs != self.fs:
            batch = Fn.resample(batch, fs, self.fs, self.resample_method)  # type: ignore[arg-type]
        n_t = int(batch.shape[-1])
        self._check_record_length(n_t, fs)
        batch, _, _ = self.filters(batch, self.fs, names)
        n_records = int(batch.shape[0])
        if n_t < self.length:
            logger.warning(
                "preset %r: records of %d samples (%.3g s) are shorter than the %d-sample "
                "window; each gives one window zero-padded at the end",
                self.name, n_t, n_t / self.fs, self.length,
            )  # fmt: skip
            win, _, _ = self.normalize(batch, self.fs, names)
            win = Fn.pad(win, self.length, "zero", side="end")
            per_record = 1
        elif windows == "random":
            win = Fn.crop(batch, self.length, "random", generator=generator)
            win, _, _ = self.normalize(win, self.fs, names)
            per_record = 1
        else:
            starts = Fn.window_starts(n_t, self.length, windows, num=self.num_spaced)  # type: ignore[arg-type]
            win = Fn.extract_windows(batch, self.length, starts)
            win, _, _ = self.normalize(win, self.fs, names)
            per_record = len(starts)
        return _to_output(win, n_records, per_record)

    def _check_record_length(self, n_t: int, fs_in: float) -> None:
        need = self.effective_min_length
        if n_t < need:
            raise ValueError(
                f"preset {self.name!r}: the record has {n_t} samples at {self.fs:g} Hz "
                f"({n_t / self.fs:.3g} s, input at {fs_in:g} Hz) but needs at least {need} "
                f"({need / self.fs:.3g} s). Drop this record, or pass a smaller min_length "
                f"(get_preset({self.name!r}, min_length=...)) to zero-pad short records"
            )

    def to_config(self) -> dict[str, Any]:
        """JSON-serialisable dict; :meth:`from_config` rebuilds an equal preset."""
        return {
            "name": self.name,
            "fs": self.fs,
            "length": self.length,
            "leads": None if self.leads is None else list(self.leads),
            "filters": self.filters.to_config(),
            "normalize": self.normalize.to_config(),
            "resample_method": self.resample_method,
            "min_length": self.min_length,
            "num_spaced": self.num_spaced,
            "nan_policy": self.nan_policy,
            "description": self.description,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Preset:
        """Rebuild a preset from :meth:`to_config` output (e.g. a model card's config.json)."""
        if not isinstance(config, Mapping):
            raise TypeError(f"a preset config must be a dict, got {type(config).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}
        unknown = sorted(set(config) - fields)
        missing = sorted(required - set(config))
        if unknown or missing:
            raise ValueError(
                f"invalid preset config: unknown keys {unknown}, missing keys {missing}; "
                f"a preset config has keys {sorted(fields)} (see Preset.to_config)"
            )
        kwargs = dict(config)
        for key in ("filters", "normalize"):
            step = Step.from_config(kwargs[key])
            kwargs[key] = step
        return cls(**kwargs)


def _to_output(
    win: np.ndarray | torch.Tensor, n_records: int, per_record: int
) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(win, torch.Tensor):
        out = win.to(torch.float32).contiguous()
    else:
        out = torch.from_numpy(np.ascontiguousarray(win, dtype=np.float32))
    index = torch.arange(n_records, device=out.device).repeat_interleave(per_record)
    return out, index


# ----------------------------------------------------------------------------- the presets

# ECGFounder: 50 Hz notch (Q 30), order-4 Butterworth band-pass 0.67-40 Hz, running median
# of 201 samples at 500 Hz subtracted (0.402 s, so an fs override keeps the duration).
_ECGFOUNDER_FILTERS = (
    Notch(50.0, 30.0),
    BandPass(0.67, 40.0, order=4),
    RemoveBaseline(kernel_seconds=201 / 500, mode="zeros"),
)


def _ecgfounder() -> Preset:
    return Preset(
        name="ecgfounder",
        fs=500.0,
        length=5000,
        leads=CANONICAL_LEADS,
        filters=Compose(_ECGFOUNDER_FILTERS),
        normalize=Compose([ZScore("all", eps=1e-8)]),
        nan_policy="zero",
        description=(
            "ECGFounder (Net1D): 500 Hz, 10 s, 12 canonical leads; notch 50 Hz Q30, "
            "Butterworth-4 band-pass 0.67-40 Hz zero-phase, minus 201-sample median baseline, "
            "z-score over leads and time (eps 1e-8)"
        ),
    )


def _selfmis() -> Preset:
    return Preset(
        name="selfmis",
        fs=500.0,
        length=5000,
        leads=CANONICAL_LEADS,
        filters=Compose(_ECGFOUNDER_FILTERS),
        normalize=Compose([ZScore("all", eps=1e-8)]),
        nan_policy="zero",
        description=(
            "SelfMIS: ECGFounder's pipeline (its encoders start from ECGFounder weights) with "
            "NaN/Inf -> 0; 500 Hz, 10 s, canonical leads, z-score over leads and time; use "
            "leads=('I',) for the single-lead student"
        ),
    )


def _st_mem() -> Preset:
    return Preset(
        name="st_mem",
        fs=250.0,
        length=2250,
        leads=CANONICAL_LEADS,
        filters=Compose([HighPass(0.67, order=5), LowPass(40.0, order=5)]),
        # ST-MEM's Standardize has no eps and maps std == 0 to 0 (as ZScore does).
        normalize=Compose([ZScore("all", eps=0.0)]),
        resample_method="fft",
        min_length=2250,
        num_spaced=3,
        description=(
            "ST-MEM: FFT resample to 250 Hz, Butterworth-5 high-pass 0.67 Hz and low-pass "
            "40 Hz zero-phase, 9 s windows (2250) standardised over leads and time; train "
            "windows='random', eval windows='spaced' (3 crops)"
        ),
    )


def _hl() -> Preset:
    return Preset(
        name="hl",
        fs=250.0,
        length=2500,
        leads=CANONICAL_LEADS,
        filters=Compose([]),
        normalize=Compose([]),
        description=(
            "Hybrid Learning: 250 Hz, 10 s (2500), canonical leads; amplitudes in mV "
            "('MV-unit 1.0', i.e. physical units, no z-score) and no filter"
        ),
    )


def _dualview() -> Preset:
    return Preset(
        name="dualview",
        fs=500.0,
        length=5000,
        leads=CANONICAL_LEADS,
        filters=Compose([]),
        normalize=Compose([ZScore("lead", eps=1e-8)]),
        description=(
            "Dual-View: PTB-XL 500 Hz, 10 s (5000), 12 leads, z-score per record and lead; "
            "use fs=100, length=1000 for the stochastic-augmentation setting"
        ),
    )


_PRESETS = {
    "ecgfounder": _ecgfounder,
    "selfmis": _selfmis,
    "st_mem": _st_mem,
    "hl": _hl,
    "dualview": _dualview,
}


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


# One name per method: the keys of _PRESETS. Other spellings (case, "-"/"_" variants such as
# "ST-MEM" or "stmem") and the historical aliases below still resolve for one release, with a
# DeprecationWarning naming the canonical name.
_DEPRECATED_ALIASES = {"hybrid": "hl", "hybridlearning": "hl", "stmemvit": "st_mem"}
_ALIASES = {_key(n): n for n in _PRESETS} | _DEPRECATED_ALIASES


def _canonical_name(name: str) -> str:
    """The registered name that ``name`` spells (see ``_ALIASES``); warns unless canonical."""
    if not isinstance(name, str):
        raise TypeError(f"preset name must be a string, got {type(name).__name__}")
    if name in _PRESETS:
        return name
    canonical = _ALIASES.get(_key(name))
    if canonical is None:
        close = difflib.get_close_matches(name.lower(), list(_PRESETS), n=3, cutoff=0.4)
        hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
        raise UnknownPresetError(
            f"unknown preset {name!r}; {hint}available presets: {', '.join(list_presets())}"
        )
    from ecgfm._deprecated import warn_deprecated

    warn_deprecated(f"preset name {name!r}", repr(canonical))
    return canonical


def list_presets() -> list[str]:
    """Names accepted by :func:`get_preset`, sorted."""
    return sorted(_PRESETS)


def get_preset(name: str, **overrides: Any) -> Preset:
    """The preset ``name`` (one of :func:`list_presets`), with fields replaced by ``overrides``.

    Example: ``get_preset("selfmis", leads=("I",))`` for the single-lead encoder, or
    ``get_preset("dualview", fs=100, length=1000)``. The default preset of an architecture is
    ``get_preset(ecgfm.models.default_preset(arch))``. Other spellings of a name (``"ST-MEM"``,
    ``"stmem"``, ``"hybrid"``) still resolve for one release with a ``DeprecationWarning``.

    Raises:
        UnknownPresetError: (a ``KeyError``) unknown name; the message lists close matches.
        TypeError: ``name`` is not a string, or an override is not a :class:`Preset` field.
    """
    canonical = _canonical_name(name)
    preset = _PRESETS[canonical]()
    if not overrides:
        return preset
    fields = {f.name for f in dataclasses.fields(Preset)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise TypeError(
            f"get_preset({name!r}) got unknown overrides {unknown}; Preset fields are "
            f"{sorted(fields)}"
        )
    return dataclasses.replace(preset, **overrides)
