"""Preprocessing steps as small, frozen, serialisable objects.

Every step is called as ``step(x, fs, leads) -> (x, fs, leads)`` on a signal ``(C, T)`` or a
batch ``(B, C, T)`` (numpy or torch; output of the same kind, device and dtype). ``fs`` and
``leads`` pass through unchanged except for :class:`Resample` (new ``fs``) and
:class:`SelectLeads` (new ``leads``). ``leads`` may be ``None`` where no step needs names.
Random steps (:class:`Crop` with ``mode="random"``) take ``generator=`` (a
``torch.Generator``); :class:`Compose` forwards it.

``step.to_config()`` returns a JSON-serialisable dict (``{"type": "BandPass", "low": 0.67,
...}``) and :meth:`Step.from_config` rebuilds any step or pipeline from it, so a pipeline can
be stored in a model card's ``config.json``::

    pipe = Compose([Notch(50.0), BandPass(0.67, 40.0, order=4), ZScore("all")])
    same = Step.from_config(json.loads(json.dumps(pipe.to_config())))
    assert same == pipe
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from ecgfm.leads import normalize_lead_names, select_leads
from ecgfm.signal import check_fs
from ecgfm.transforms import functional as Fn

__all__ = [
    "BandPass",
    "Compose",
    "Crop",
    "FitLength",
    "HighPass",
    "LowPass",
    "Notch",
    "Pad",
    "RemoveBaseline",
    "RepairNonFinite",
    "Resample",
    "SelectLeads",
    "Step",
    "ZScore",
]

Array = np.ndarray | torch.Tensor
Leads = tuple[str, ...] | None
StepOutput = tuple[Array, float, Leads]

_STEP_TYPES: dict[str, type[Step]] = {}


def _as_leads(leads: Sequence[str] | None) -> Leads:
    return None if leads is None else normalize_lead_names(leads)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Step):
        return value.to_config()
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return value


class Step:
    """Base class: one preprocessing step ``(x, fs, leads) -> (x, fs, leads)``.

    Subclasses are frozen dataclasses whose fields are their whole configuration; they are
    registered by class name for :meth:`from_config`.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__name__ in _STEP_TYPES:
            raise TypeError(f"a preprocessing step named {cls.__name__!r} already exists")
        _STEP_TYPES[cls.__name__] = cls

    def __call__(
        self,
        x: Array,
        fs: float,
        leads: Sequence[str] | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> StepOutput:
        fs = check_fs(fs)
        names = _as_leads(leads)
        shape = tuple(getattr(x, "shape", ()))
        if names is not None and len(shape) in (2, 3) and shape[-2] != len(names):
            raise ValueError(
                f"{type(self).__name__}: {len(names)} lead names {list(names)} for "
                f"{shape[-2]} channels (shape {shape}); give one name per channel, channels "
                "first (C, T)"
            )
        return self._apply(x, fs, names, generator)

    def _apply(
        self, x: Array, fs: float, leads: Leads, generator: torch.Generator | None
    ) -> StepOutput:
        raise NotImplementedError

    def to_config(self) -> dict[str, Any]:
        """``{"type": <class name>, <field>: <value>, ...}``, JSON-serialisable."""
        cfg: dict[str, Any] = {"type": type(self).__name__}
        for f in dataclasses.fields(self):
            cfg[f.name] = _jsonable(getattr(self, f.name))
        return cfg

    @staticmethod
    def from_config(config: Mapping[str, Any]) -> Step:
        """Rebuild a step (or a :class:`Compose`) from :meth:`to_config` output."""
        if not isinstance(config, Mapping) or "type" not in config:
            raise ValueError(
                f"a step config must be a dict with a 'type' key (e.g. {{'type': 'ZScore'}}), "
                f"got {config!r}"
            )
        name = config["type"]
        cls = _STEP_TYPES.get(name)
        if cls is None:
            close = difflib.get_close_matches(str(name), list(_STEP_TYPES), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise KeyError(
                f"unknown preprocessing step {name!r}{hint} Known steps: "
                f"{', '.join(sorted(_STEP_TYPES))}"
            )
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in config.items() if k != "type"}
        unknown = sorted(set(kwargs) - fields)
        if unknown:
            raise ValueError(f"{name} does not take {unknown}; its parameters are {sorted(fields)}")
        return cls._from_kwargs(kwargs)

    @classmethod
    def _from_kwargs(cls, kwargs: dict[str, Any]) -> Step:
        return cls(**kwargs)


def _require_number(value: Any, name: str, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


def _require_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class RepairNonFinite(Step):
    """Replace NaN/±Inf by 0 (logged with the count); an all-NaN signal raises."""

    def _apply(
        self, x: Array, fs: float, leads: Leads, generator: torch.Generator | None
    ) -> StepOutput:
        out, _ = Fn.repair_nonfinite(x)
        return out, fs, leads


@dataclass(frozen=True)
class SelectLeads(Step):
    """Select / reorder / derive leads (:func:`ecgfm.leads.select_leads`); sets new ``leads``."""

    leads: tuple[str, ...]
    derive: bool = True

    def __post_init__(self) -> None:
        _set(self, "leads", normalize_lead_names(self.leads))
        if not isinstance(self.derive, bool):
            raise TypeError(f"derive must be True or False, got {self.derive!r}")

    def _apply(
        self, x: Array, fs: float, leads: Leads, generator: torch.Generator | None
    ) -> StepOutput:
        if leads is None:
            raise ValueError("SelectLeads needs the names of the input channels; pass leads=[...]")
        return select_leads(x, leads, self.leads, derive=self.derive), fs, self.leads


@dataclass(frozen=True)
class Resample(Step):
    """Resample to ``fs`` Hz (``method``: ``"polyphase"`` or ``"fft"``, see
    :func:`ecgfm.transforms.functional.resample`)."""

    fs: float
    method: str = "polyphase"

    def __post_init__(self) -> None:
        _set(self, "fs", check_fs(self.fs))
        if self.method not in ("polyphase", "fft"):
            raise ValueError(f"method must be 'polyphase' or 'fft', got {self.method!r}")

    def _apply(
        self, x: Array, fs: float, leads: Leads, generator: torch.Generator | None
    ) -> StepOutput:
        return Fn.resample(x, fs, self.fs, self.method), self.fs, leads


@dataclass(frozen=True)
class BandPass(Step):
    """Zero-phase Butterworth band-pass ``low``-``high`` Hz of prototype order ``order``."""

    low: float = 0.67
    high: float = 40.0
    order: int = 4

    def __post_init__(self) -> None:
        _set(self, "low", _require_number(self.low, "low"))
        _set(self, "high", _require_number(self.high, "high"))
        _set(self, "order", _require_int(self.order, "order"))
        if self.low >= self.high:
            raise ValueError(
                f"band-pass needs low < high, got {self.low:g} and {self.high:g} Hz; swap them "
                "or use HighPass/LowPass"
            )

    def _apply(
        self, x: Array, fs: float, leads: Leads, generator: torch.Generator | None
    ) -> StepOutput:
        return Fn.bandpass(x, fs, self.low, self.high, self.order), fs, leads


@dataclass(frozen=True)
class HighPass(Step):
    """Zero-phase Butterworth high-pass at ``cutoff`` Hz."""

    cutoff: float = 0.67
    order: int = 4

    def __post_init__(self) -> None:
        _set(self, "cutoff", _require_number(self.cutoff, "cutoff"))
        _set(self, "order", _require_int(self.order, "order"))

    def _apply(
        self, x: Array, fs: float, leads: Leads, generator: torch.Generator | None
    ) -> StepOutput:
        return Fn.highpass(x, fs, self.cutoff, self.order), fs, leads


@dataclass(frozen=True)
class LowPass(Step):
    """Zero-phase Butterworth low-pass at ``cutoff`` Hz."""

    cutoff: float = 40.0
    order: int = 4

    def __post_init__(self) -> None:
        _set(self, "cutoff", _require_number(self.cutoff, "cutoff"))
        _set(self, "order", _require_int(self.order, "order"))

    def _apply(
        self, x: Array, fs: float, leads: Leads, generator: torch.Generator | None
    ) -> StepOutput:
        return Fn.lowpass(x, fs, self.cutoff, self.order), fs, leads


@dataclass(frozen=True)
class Notch(Step):
    """Zero-phase IIR notch at ``freq`` Hz (50 or 60) with quality factor ``q``."""

    freq: float = 50.0
    q: float = 30.0

    def __post_init__(self) -> None:
        _set(self, "freq", _require_number(self.freq, "freq"))
        _set(self, "q", _require_number(self.q, "q"))

    def _apply(
        self, x: Array, fs: float, leads: Leads, generator: torch.Generator | None
    ) -> StepOutput:
        return Fn.notch(x, fs, self.freq, self.q), fs, leads


@dataclass(frozen=True)
class RemoveBaseline(Step):
    """Subtract a running median (``kernel_size`` samples or ``kernel_seconds``)."""

    kernel_size: int | None = None
    kernel_seconds: float | None = None
    mode: str = "zeros"

    def __post_init__(self) -> None:
        if self.kernel_size is not None and self.kernel_seconds is not None:
            raise ValueError("give either kernel_size (samples) or kernel_seconds, not both")
        if self.kernel_size is not None:
            size = _require_int(self.kernel_size, "kernel_size")
            if size % 2 == 0 or size < 3:
                raise ValueError(f"kernel_size must be odd and >= 3, got {size}")
            _set(self, "kernel_size", size)
        if self.kernel_seconds is not None:
            _set(self, "kernel_seconds", _require_number(self.kernel_seconds, "kernel_seconds"))
        if self.mode not in ("zeros", "nearest", "mirror"):
            raise ValueError(f"mode must be 'zeros', 'nearest' or 'mirror', got {self.mode!r}")

    def _apply(
        self, x: Array, fs: float, leads: Leads, generator: torch.Generator | None
    ) -> StepOutput:
        out = Fn.remove_baseline(
            x, fs, self.kernel_size, kernel_seconds=self.kernel_seconds, mode=self.mode
        )
        return out, fs, leads


@dataclass(frozen=True)
class ZScore(Step):
    """``(x - mean) / (std + eps)`` per record (``"all"``) or per record and lead (``"lead"``)."""

    axis_mode: str = "all"
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if self.axis_mode not in ("all", "lead"):
            raise ValueError(f"axis_mode must be 'all' or 'lead', got {self.axis_mode!r}")
        _set(self, "eps", _require_number(self.eps, "eps", positive=False))
        if self.eps < 0:
            raise ValueError(f"eps must be >= 0, got {self.eps}")

    def _apply(
        self, x: Array, fs: float, leads: Leads, generator: torch.Generator | None
    ) -> StepOutput:
        return Fn.zscore(x, self.axis_mode, self.eps), fs, leads


@dataclass(frozen=True)
class Crop(Step):
    """Crop to ``length`` samples (``mode``: center / random / start / end)."""

    length: int
    mode: str = "center"

    def __post_init__(self) -> None:
        _set(self, "length", _require_int(self.length, "length"))
        if self.mode not in ("center", "random", "start", "end"):
            raise ValueError(
                f"mode must be 'center', 'random', 'start' or 'end', got {self.mode!r}"
            )

    def _apply(
        self, x: Array, fs: float, leads: Leads, generator: torch.Generator | None
    ) -> StepOutput:
        return Fn.crop(x, self.length, self.mode, generator=generator), fs, leads


@dataclass(frozen=True)
class Pad(Step):
    """Pad to ``length`` samples (``mode``: zero / edge / reflect; ``side``: end/start/both)."""

    length: int
    mode: str = "zero"
    side: str = "end"

    def __post_init__(self) -> None:
        _set(self, "length", _require_int(self.length, "length"))
        if self.mode not in ("zero", "edge", "reflect"):
            raise ValueError(f"mode must be 'zero', 'edge' or 'reflect', got {self.mode!r}")
        if self.side not in ("end", "start", "both"):
            raise ValueError(f"side must be 'end', 'start' or 'both', got {self.side!r}")

    def _apply(
        self, x: Array, fs: float, leads: Leads, generator: torch.Generator | None
    ) -> StepOutput:
        return Fn.pad(x, self.length, self.mode, side=self.side), fs, leads


@dataclass(frozen=True)
class FitLength(Step):
    """Crop a longer or pad a shorter signal to exactly ``length`` samples."""

    length: int
    crop_mode: str = "center"
    pad_mode: str = "zero"
    pad_side: str = "end"

    def __post_init__(self) -> None:
        _set(self, "length", _require_int(self.length, "length"))
        Crop(self.length, self.crop_mode)
        Pad(self.length, self.pad_mode, self.pad_side)

    def _apply(
        self, x: Array, fs: float, leads: Leads, generator: torch.Generator | None
    ) -> StepOutput:
        out = Fn.fit_length(
            x,
            self.length,
            crop_mode=self.crop_mode,
            pad_mode=self.pad_mode,
            pad_side=self.pad_side,
            generator=generator,
        )
        return out, fs, leads


@dataclass(frozen=True)
class Compose(Step):
    """Apply ``steps`` in order; itself a step (and nestable). ``Compose([])`` is the identity."""

    steps: tuple[Step, ...] = ()

    _indent: ClassVar[str] = "    "

    def __post_init__(self) -> None:
        if isinstance(self.steps, Step) or not isinstance(self.steps, (list, tuple)):
            raise TypeError(
                f"Compose takes a list of steps, e.g. Compose([BandPass(), ZScore()]), got "
                f"{type(self.steps).__name__}"
            )
        for i, s in enumerate(self.steps):
            if not isinstance(s, Step):
                raise TypeError(
                    f"Compose step {i} is {type(s).__name__}, not an ecgfm preprocessing Step "
                    "(see ecgfm.transforms.preprocessing)"
                )
        _set(self, "steps", tuple(self.steps))

    @classmethod
    def _from_kwargs(cls, kwargs: dict[str, Any]) -> Step:
        steps = kwargs.get("steps", ())
        if not isinstance(steps, (list, tuple)):
            raise ValueError(f"Compose config 'steps' must be a list, got {steps!r}")
        return cls(tuple(Step.from_config(s) for s in steps))

    def _apply(
        self, x: Array, fs: float, leads: Leads, generator: torch.Generator | None
    ) -> StepOutput:
        for step in self.steps:
            x, fs, leads = step(x, fs, leads, generator=generator)
        return x, fs, leads

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __getitem__(self, index: int) -> Step:
        return self.steps[index]

    def __repr__(self) -> str:
        if not self.steps:
            return "Compose([])"
        body = "".join(
            f"\n{self._indent}" + repr(s).replace("\n", f"\n{self._indent}") + ","
            for s in self.steps
        )
        return f"Compose([{body}\n])"
