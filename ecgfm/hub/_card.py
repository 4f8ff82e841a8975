"""The pretrained card: a frozen, typed description of one set of pretrained weights.

A :class:`PretrainedCard` says everything needed to rebuild, feed and trust a model:

- the architecture (``arch`` registered in :mod:`ecgfm.models`) and its constructor args;
- the input contract (:class:`InputSpec`): sampling rate, ordered leads, window length in
  samples, units and the preprocessing preset (filters + normalisation) of training time;
- the embedding width and parameter count (checked against the built model by the tests);
- where the weights are (:class:`WeightsSpec`): a file bundled in ``weights/`` and its sha256,
  a Hugging Face repository, or a file the user must supply (licence forbids re-hosting);
- provenance: licence, paper, training data/steps/compute and measured metrics, each with
  the command that produced it; for weights derived from another entry (e.g. fine-tuned and
  saved again), the base model (:class:`BaseModel`) instead of the base's metrics.

Cards serialise to plain JSON (:meth:`PretrainedCard.to_dict` / :meth:`from_dict`), which is
what ``config.json`` of a saved model holds.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Literal

from ecgfm._deprecated import upgrade_arch_args
from ecgfm.leads import normalize_lead_names
from ecgfm.signal import unit_scale

__all__ = ["BaseModel", "InputSpec", "Metric", "PretrainedCard", "TrainingInfo", "WeightsSpec"]

WeightsFormat = Literal["ecgfm", "ecgfounder", "st-mem"]
StorageDtype = Literal["float32", "float16", "bfloat16"]

_WEIGHTS_FORMATS: tuple[str, ...] = ("ecgfm", "ecgfounder", "st-mem")
_STORAGE_DTYPES: tuple[str, ...] = ("float32", "float16", "bfloat16")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_HF_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_card_name(name: Any, what: str = "card name") -> str:
    """Raise ValueError unless ``name`` is a valid card name; ``what`` names it for the caller."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"{what} must be lowercase letters, digits, '.', '_' or '-' starting with a letter "
            f"or digit (e.g. 'selfmis-lead1'), got {name!r}"
        )
    return name


def _require_str(value: Any, what: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise ValueError(f"card field {what} must be a non-empty string, got {value!r}")
    return value


def _require_int(value: Any, what: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"card field {what} must be an integer >= {minimum}, got {value!r}")
    return value


def _json_copy(value: Any, what: str) -> Any:
    """Deep copy through JSON, so a card never shares (or holds) non-serialisable state."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"card field {what} must be JSON-serialisable (str, numbers, bools, lists, dicts): "
            f"{err}"
        ) from None


def _check_keys(d: Mapping[str, Any], cls: type, what: str) -> None:
    if not isinstance(d, Mapping):
        raise TypeError(f"{what} must be a mapping, got {type(d).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(
            f"{what} has unknown fields {unknown}; known fields are {sorted(known)}. The file "
            "may come from a newer ecgfm: upgrade ecgfm"
        )


@dataclass(frozen=True)
class InputSpec:
    """What the model expects as input (after ``embed`` has prepared the user's data).

    Attributes:
        fs: sampling rate in Hz of the training data.
        leads: ordered lead names of the input channels (canonical spelling).
        length: window length in samples fed to the encoder.
        units: physical units of the signal before normalisation (``"mV"``).
        preset: name of the preprocessing preset (:func:`ecgfm.transforms.presets.get_preset`).
        preset_config: the preset's full ``Preset.to_config()``; when present it is the
            authority (it travels with saved weights even if the named preset changes).
    """

    fs: float
    leads: tuple[str, ...]
    length: int
    preset: str
    units: str = "mV"
    preset_config: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.fs, bool) or not isinstance(self.fs, (int, float)):
            raise ValueError(f"card field input.fs must be a number in Hz, got {self.fs!r}")
        if not math.isfinite(self.fs) or self.fs <= 0:
            raise ValueError(f"card field input.fs must be positive and finite, got {self.fs}")
        object.__setattr__(self, "fs", float(self.fs))
        object.__setattr__(self, "leads", normalize_lead_names(tuple(self.leads)))
        _require_int(self.length, "input.length")
        _require_str(self.preset, "input.preset")
        unit_scale(_require_str(self.units, "input.units"))
        if self.preset_config is not None:
            if not isinstance(self.preset_config, Mapping):
                raise ValueError("card field input.preset_config must be a mapping or None")
            object.__setattr__(
                self, "preset_config", _json_copy(dict(self.preset_config), "preset_config")
            )


@dataclass(frozen=True)
class WeightsSpec:
    """Where the weights live and how to check them.

    Attributes:
        format: ``"ecgfm"`` (safetensors state dict of the ecgfm encoder), ``"ecgfounder"``
            (official ECGFounder ``.pth``, converted at load time) or ``"st-mem"`` (official
            ST-MEM ``encoder.pth`` that the user supplies; converted at load time).
        file: name of the ecgfm-format file: inside the bundled ``weights/`` directory for a
            registered entry, inside the model directory for a saved one.
        sha256: hex digest of the file; verified on every load when given (mandatory for
            bundled files).
        hf_repo_id, hf_filename, hf_revision: the Hugging Face Hub location (revision: branch,
            tag or commit; ``None`` means ``main``).
        storage_dtype: dtype of the floating tensors in the file. fp16/bf16 files are upcast to
            float32 at load time; their outputs are checked against fp32 by the tests.
        redistributable: False when the licence forbids re-hosting: never bundled (the
            registry refuses it), never hosted, and ``save_pretrained`` marks the copy as such.
        user_file_hint: for weights the user must supply, how to obtain the file.
    """

    format: WeightsFormat = "ecgfm"
    file: str | None = None
    sha256: str | None = None
    hf_repo_id: str | None = None
    hf_filename: str | None = None
    hf_revision: str | None = None
    storage_dtype: StorageDtype = "float32"
    redistributable: bool = True
    user_file_hint: str | None = None

    def __post_init__(self) -> None:
        if self.format not in _WEIGHTS_FORMATS:
            raise ValueError(
                f"card field weights.format must be one of {_WEIGHTS_FORMATS}, got {self.format!r}"
            )
        if self.storage_dtype not in _STORAGE_DTYPES:
            raise ValueError(
                f"card field weights.storage_dtype must be one of {_STORAGE_DTYPES}, "
                f"got {self.storage_dtype!r}"
            )
        if self.file is not None:
            _require_str(self.file, "weights.file")
            if "/" in self.file or "\\" in self.file or self.file.startswith("."):
                raise ValueError(
                    f"card field weights.file must be a plain file name inside weights/, got "
                    f"{self.file!r}"
                )
            if self.sha256 is None:
                raise ValueError(
                    f"bundled weights file {self.file!r} needs its sha256 in the card (compute "
                    "it with ecgfm.hub.sha256_file)"
                )
        if self.sha256 is not None and not _SHA256_RE.match(str(self.sha256)):
            raise ValueError(
                f"card field weights.sha256 must be 64 lowercase hex digits, got {self.sha256!r}"
            )
        if self.hf_repo_id is not None:
            if not isinstance(self.hf_repo_id, str) or not _HF_REPO_RE.match(self.hf_repo_id):
                raise ValueError(
                    "card field weights.hf_repo_id must look like 'owner/repo', got "
                    f"{self.hf_repo_id!r}"
                )
        elif self.hf_filename is not None or self.hf_revision is not None:
            raise ValueError("weights.hf_filename / hf_revision need weights.hf_repo_id")
        if self.format == "ecgfounder" and (self.hf_repo_id is None or self.hf_filename is None):
            raise ValueError("ecgfounder-format weights need weights.hf_repo_id and hf_filename")
        if self.format != "ecgfm" and self.file is not None:
            raise ValueError(
                f"only ecgfm-format weights can be bundled in weights/, not {self.format!r}"
            )
        if not self.redistributable and self.hf_repo_id is not None:
            raise ValueError(
                "weights marked redistributable=False may not be hosted: drop "
                "weights.hf_repo_id and give weights.user_file_hint"
            )
        if self.format == "st-mem" and self.redistributable:
            raise ValueError("ST-MEM weights are CC BY-NC: set weights.redistributable=False")
        sources = (self.file, self.hf_repo_id, self.user_file_hint)
        if all(s is None for s in sources):
            raise ValueError(
                "card field weights names no source: give weights.file (bundled), "
                "weights.hf_repo_id (Hugging Face Hub) or weights.user_file_hint (user file)"
            )

    @property
    def needs_user_file(self) -> bool:
        """True when no bundled or hosted copy exists: the user must pass a checkpoint path."""
        return self.file is None and self.hf_repo_id is None


@dataclass(frozen=True)
class TrainingInfo:
    """How the weights were obtained.

    Attributes:
        data: training data (name, size, licence).
        steps: optimiser steps (None if unknown, e.g. a third-party checkpoint).
        compute: hardware and wall time (free text, e.g. ``"1x A100, 6 h"``).
        recipe: objective / hyper-parameters, or the command that trained the weights.
    """

    data: str
    steps: int | None = None
    compute: str | None = None
    recipe: str | None = None

    def __post_init__(self) -> None:
        _require_str(self.data, "training.data")
        if self.steps is not None:
            _require_int(self.steps, "training.steps")


def _require_number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"card field {what} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"card field {what} must be finite, got {value}")
    return float(value)


@dataclass(frozen=True)
class Metric:
    """One measured number and the exact command that reproduces it.

    Attributes:
        task: what was measured (e.g. ``"cinc2017, lead I, logistic probe (C=0.1), 5-fold CV"``).
        metric: the metric's name (e.g. ``"macro AUROC"``).
        value: the measured value.
        dataset: the data it was measured on.
        command: the command that reproduces it.
        split: the evaluated records (e.g. ``"test (fold 9), 232 records"``).
        ci95: ``(low, high)`` bootstrap 95 % confidence interval, if measured.
        model: ``""`` for the entry itself, otherwise the baseline measured with the same
            probe (e.g. ``"random weights, same architecture"``), reported next to it.
    """

    task: str
    metric: str
    value: float
    dataset: str
    command: str
    split: str = "test"
    ci95: tuple[float, float] | None = None
    model: str = ""

    def __post_init__(self) -> None:
        for name in ("task", "metric", "dataset", "command", "split"):
            _require_str(getattr(self, name), f"metrics.{name}")
        _require_str(self.model, "metrics.model", allow_empty=True)
        object.__setattr__(self, "value", _require_number(self.value, "metrics.value"))
        if self.ci95 is not None:
            if isinstance(self.ci95, (str, bytes)) or len(self.ci95) != 2:
                raise ValueError(f"card field metrics.ci95 must be (low, high), got {self.ci95!r}")
            low, high = (_require_number(v, "metrics.ci95") for v in self.ci95)
            if not low <= self.value <= high:
                raise ValueError(
                    f"card field metrics.ci95 {self.ci95!r} must contain the value {self.value}"
                )
            object.__setattr__(self, "ci95", (low, high))


@dataclass(frozen=True)
class BaseModel:
    """The entry a card's weights were derived from (e.g. fine-tuned after loading it).

    The base's metrics and limitations describe the base's weights, not the derived ones, so
    a derived card does not carry them; it records the base here instead.

    Attributes:
        name: the base card's name.
        sha256: the digest the base card gives for its weights file (None if it gave none).
        training: how the base was trained (the base's ``TrainingInfo``, not the derived
            weights' training).
    """

    name: str
    sha256: str | None = None
    training: TrainingInfo | None = None

    def __post_init__(self) -> None:
        check_card_name(self.name, "card field base_model.name")
        if self.sha256 is not None and not _SHA256_RE.match(str(self.sha256)):
            raise ValueError(
                f"card field base_model.sha256 must be 64 lowercase hex digits, got {self.sha256!r}"
            )
        if self.training is not None and not isinstance(self.training, TrainingInfo):
            raise TypeError("card field base_model.training must be a TrainingInfo or None")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BaseModel:
        """Rebuild from the ``base_model`` entry of :meth:`PretrainedCard.to_dict`."""
        _check_keys(d, cls, "card.base_model")
        d = dict(d)
        if d.get("training") is not None:
            _check_keys(d["training"], TrainingInfo, "card.base_model.training")
            d["training"] = TrainingInfo(**d["training"])
        return cls(**d)


@dataclass(frozen=True)
class PretrainedCard:
    """A pretrained entry: architecture, input contract, weights and provenance.

    Attributes:
        name: unique id such as ``"selfmis-lead1"`` (lowercase, digits, ``.``, ``_``, ``-``).
        arch: registered architecture name (:func:`ecgfm.models.create_model`).
        arch_args: constructor overrides given to ``create_model(arch, **arch_args)``; a name
            renamed since the card was written is stored under its new name
            (``n_classes`` -> ``num_classes``, ``ecgfm._deprecated.RENAMED_ARCH_ARGS``).
        input: the input contract.
        embed_dim: width of the embedding (``model.num_features``).
        num_params: parameter count of the built encoder.
        weights: where the weights are and their checksum.
        license: licence of the weights (SPDX id where one exists, e.g. ``"MIT"``).
        paper: citation of the method / checkpoint (with DOI or URL).
        training: data, steps, compute.
        metrics: measured results, each with its command (baselines measured with the same
            probe carry ``Metric.model``).
        description: one paragraph for humans.
        tags: free keywords (e.g. ``"single-lead"``).
        limitations: known limitations, stated plainly (data, compute, targets not reached).
        base_model: for weights derived from another entry (changed after loading it), that
            entry; ``None`` for weights described by their own training.
    """

    name: str
    arch: str
    input: InputSpec
    embed_dim: int
    num_params: int
    weights: WeightsSpec
    license: str
    paper: str
    training: TrainingInfo
    arch_args: Mapping[str, Any] = field(default_factory=dict)
    metrics: tuple[Metric, ...] = ()
    description: str = ""
    tags: tuple[str, ...] = ()
    limitations: str = ""
    base_model: BaseModel | None = None

    def __post_init__(self) -> None:
        check_card_name(self.name)
        _require_str(self.arch, "arch")
        if not isinstance(self.arch_args, Mapping):
            raise ValueError(f"card field arch_args must be a mapping, got {self.arch_args!r}")
        # cards written by an earlier release may use renamed arguments (n_classes)
        try:
            args = upgrade_arch_args(self.arch_args, what="card field arch_args")
        except TypeError as err:  # both an old and a new name: a malformed field, as below
            raise ValueError(str(err)) from None
        object.__setattr__(self, "arch_args", _json_copy(args, "arch_args"))
        parts = (("input", InputSpec), ("weights", WeightsSpec), ("training", TrainingInfo))
        for name, cls in parts:
            if not isinstance(getattr(self, name), cls):
                raise TypeError(f"card field {name} must be a {cls.__name__}")
        _require_int(self.embed_dim, "embed_dim")
        _require_int(self.num_params, "num_params")
        _require_str(self.license, "license")
        _require_str(self.paper, "paper")
        _require_str(self.description, "description", allow_empty=True)
        _require_str(self.limitations, "limitations", allow_empty=True)
        metrics = tuple(self.metrics)
        if not all(isinstance(m, Metric) for m in metrics):
            raise TypeError("card field metrics must be a sequence of Metric")
        object.__setattr__(self, "metrics", metrics)
        tags = tuple(self.tags)
        for t in tags:
            _require_str(t, "tags")
        object.__setattr__(self, "tags", tags)
        if self.base_model is not None and not isinstance(self.base_model, BaseModel):
            raise TypeError("card field base_model must be a BaseModel or None")

    # ---- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (what ``config.json`` stores under ``"card"``).

        ``base_model`` is left out when it is None, so a card that is not derived serialises
        as it did before the field existed (and older ecgfm versions can read it).
        """
        d = asdict(self)
        if self.base_model is None:
            del d["base_model"]
        d["input"]["leads"] = list(self.input.leads)
        d["tags"] = list(self.tags)
        d["metrics"] = [
            {**asdict(m), "ci95": None if m.ci95 is None else list(m.ci95)} for m in self.metrics
        ]
        return copy.deepcopy(d)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PretrainedCard:
        """Rebuild a card from :meth:`to_dict` output; unknown or missing fields are errors."""
        _check_keys(d, cls, "card")
        required = [
            f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
        ]
        missing = [k for k in required if k not in d]
        if missing:
            raise ValueError(f"card is missing the required fields {missing}")
        d = dict(d)
        try:
            _check_keys(d["input"], InputSpec, "card.input")
            _check_keys(d["weights"], WeightsSpec, "card.weights")
            _check_keys(d["training"], TrainingInfo, "card.training")
            d["input"] = InputSpec(**{**d["input"], "leads": tuple(d["input"]["leads"])})
            d["weights"] = WeightsSpec(**d["weights"])
            d["training"] = TrainingInfo(**d["training"])
            metrics: Sequence[Mapping[str, Any]] = d.get("metrics", ())
            for m in metrics:
                _check_keys(m, Metric, "card.metrics[]")
            d["metrics"] = tuple(
                Metric(**{**m, "ci95": None if m.get("ci95") is None else tuple(m["ci95"])})
                for m in metrics
            )
            d["tags"] = tuple(d.get("tags", ()))
            if d.get("base_model") is not None:
                d["base_model"] = BaseModel.from_dict(d["base_model"])
            return cls(**d)
        except KeyError as err:
            raise ValueError(f"card is missing the required field {err}") from None
        except TypeError as err:
            raise ValueError(f"card is malformed: {err}") from None

    def replace(self, **changes: Any) -> PretrainedCard:
        """A copy with some fields changed (validated again)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d.update(changes)
        return PretrainedCard(**d)
