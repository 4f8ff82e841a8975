"""``PretrainedEncoder``: an encoder together with its card and preprocessing.

Design: encoders are plain ``nn.Module`` s that know nothing about sampling rates or files.
``from_pretrained`` wraps the encoder in a :class:`PretrainedEncoder` (composition, no monkey
patching) that owns the card and the preset built from it, adds :meth:`embed` (raw user data
in, embeddings out) and forwards the encoder interface (``forward_features``,
``forward_embedding``, ``num_features``, ``in_leads``, ``default_input_length``). The bare
encoder stays available as ``.encoder`` (e.g. to fine-tune it inside another module); its
state dict keys are those of the bare encoder, which is what ``save_pretrained`` stores.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ecgfm.hub._card import PretrainedCard
from ecgfm.hub._card_preset import build_preset
from ecgfm.hub._embed import (
    EmbedResult,
    Errors,
    Prepared,
    RecordIssue,
    WindowPolicy,
    prepare_inputs,
)
from ecgfm.hub._engine import (
    NONFINITE_ADVICE,
    EmbeddingEngine,
    RecordMeans,
    _EncoderWrapper,
    legacy_acceleration,
    nonfinite_records,
)
from ecgfm.hub._errors import ArchitectureMismatchError
from ecgfm.signal import ECGQualityWarning

__all__ = ["PretrainedEncoder", "check_card_matches_model", "count_parameters"]

_PRECISION = {None: None, "fp32": None, "bf16": "bf16", "bfloat16": "bf16"}


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (every ``nn.Parameter``, trainable or frozen)."""
    return sum(p.numel() for p in model.parameters())


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=list)


def check_card_matches_model(card: PretrainedCard, encoder: nn.Module) -> None:
    """Raise :class:`ArchitectureMismatchError` if ``encoder`` is not what ``card`` describes.

    Checks the interface (``forward_embedding``, ``num_features``), the architecture name and
    args recorded by ``create_model``, the embedding width, the parameter count and that the
    card's leads are accepted by the encoder.
    """
    for attr in ("forward_embedding", "num_features"):
        if not hasattr(encoder, attr):
            raise TypeError(
                f"{type(encoder).__name__} lacks `{attr}`: not an ecgfm encoder (build it with "
                "ecgfm.models.create_model)"
            )
    problems = []
    arch = getattr(encoder, "arch_name", None)
    if arch is None:
        problems.append("the model has no arch_name (build it with ecgfm.models.create_model)")
    elif arch != card.arch:
        problems.append(f"architecture {arch!r} vs card {card.arch!r}")
    args = getattr(encoder, "arch_args", None)
    if args is not None and _canonical_json(json.loads(_canonical_json(args))) != _canonical_json(
        card.arch_args
    ):
        problems.append(f"arch_args {dict(args)} vs card {dict(card.arch_args)}")
    if int(encoder.num_features) != card.embed_dim:
        problems.append(f"num_features {encoder.num_features} vs card embed_dim {card.embed_dim}")
    n = count_parameters(encoder)
    if n != card.num_params:
        problems.append(f"{n:,} parameters vs card num_params {card.num_params:,}")
    in_leads = getattr(encoder, "in_leads", None)
    if in_leads is not None and not set(card.input.leads) <= set(in_leads):
        problems.append(f"card leads {list(card.input.leads)} not among model in_leads {in_leads}")
    if problems:
        raise ArchitectureMismatchError(
            f"card {card.name!r} does not describe this model: " + "; ".join(problems) + ". "
            "Build the card from the model (ecgfm.hub.make_card) or fix it"
        )


class PretrainedEncoder(_EncoderWrapper):
    """A pretrained encoder with its card and preprocessing; returned by ``from_pretrained``.

    Args:
        encoder: the bare encoder (built by ``create_model``).
        card: its :class:`PretrainedCard` (validated against the encoder).

    ``forward(x)`` is ``forward_embedding(x)`` on already-preprocessed windows
    ``(B, C, length)`` (checked: other shapes are refused with a pointer to :meth:`embed` and
    :meth:`prepare`); :meth:`embed` takes raw data. ``.encoder`` is the bare network, without
    that check. :meth:`accelerate` chooses how embeddings are computed (the exact Net1D fast
    path by default, ``"int8"`` or ``"off"``); ``.acceleration`` is the current mode.
    """

    def __init__(self, encoder: nn.Module, card: PretrainedCard) -> None:
        super().__init__()
        if isinstance(encoder, PretrainedEncoder):
            raise TypeError("encoder is already a PretrainedEncoder; pass encoder.encoder")
        check_card_matches_model(card, encoder)
        self.encoder = encoder
        self._card = card
        self._preset = build_preset(card.input)

    @property
    def card(self) -> PretrainedCard:
        """The pretrained card (read-only)."""
        return self._card

    @property
    def pretrained_card(self) -> PretrainedCard:
        """Alias of :attr:`card` (timm's ``pretrained_cfg`` naming)."""
        return self._card

    @property
    def preset(self) -> Any:
        """The preprocessing :class:`~ecgfm.transforms.presets.Preset` of the card."""
        return self._preset

    @property
    def num_features(self) -> int:
        return int(self.encoder.num_features)

    @property
    def in_leads(self) -> tuple[str, ...]:
        """Leads of the prepared input, in order (the card's leads)."""
        return self._card.input.leads

    @property
    def default_input_length(self) -> int:
        return self._card.input.length

    @property
    def arch_name(self) -> str:
        return self._card.arch

    @property
    def arch_args(self) -> dict[str, Any]:
        return dict(self._card.arch_args)

    def _check_windows(self, x: Any, method: str) -> None:
        """Refuse anything but prepared windows ``(B, C, length)``, saying what to call."""
        inp = self._card.input
        want = f"(B, {len(inp.leads)}, {inp.length})"
        how = (
            "For raw records use model.embed(x, fs=..., leads=...) (embeddings) or "
            "model.prepare(x, fs=..., leads=...) (these windows); to run the bare network on "
            "other shapes use model.encoder"
        )
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"PretrainedEncoder.{method} takes prepared windows {want} as a torch tensor, "
                f"got {type(x).__name__}. {how}"
            )
        if x.ndim != 3 or tuple(x.shape[1:]) != (len(inp.leads), inp.length):
            raise ValueError(
                f"PretrainedEncoder.{method} takes windows prepared as the card says: {want} = "
                f"leads {list(inp.leads)} at {inp.fs:g} Hz, {inp.length} samples "
                f"({inp.length / inp.fs:g} s), filtered and normalised; got shape "
                f"{tuple(x.shape)}. {how}"
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder features of preprocessed windows ``(B, C, length)``."""
        self._check_windows(x, "forward_features")
        return self.encoder.forward_features(x)

    def forward_embedding(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled embedding ``(B, num_features)`` of preprocessed windows ``(B, C, length)``."""
        self._check_windows(x, "forward_embedding")
        return self.encoder.forward_embedding(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``forward_embedding(x)`` of preprocessed windows ``(B, C, length)``."""
        self._check_windows(x, "forward")
        return self.encoder.forward_embedding(x)

    def extra_repr(self) -> str:
        inp = self._card.input
        return (
            f"card={self._card.name!r}, fs={inp.fs:g}, leads={list(inp.leads)}, "
            f"length={inp.length}, preset={inp.preset!r}"
        )

    def prepare(
        self,
        x: Any,
        fs: float | None = None,
        leads: Sequence[str] | None = None,
        *,
        units: str | None = None,
        windows: WindowPolicy = "all",
        nan_policy: Literal["raise", "zero"] | None = None,
        errors: Errors = "raise",
    ) -> Prepared:
        """Only the preprocessing of :meth:`embed`: model-ready windows and their record index.

        Takes the arguments of :meth:`embed`. Returns a :class:`~ecgfm.hub._embed.Prepared`
        that unpacks like ``preset.prepare``: ``windows, record_index = model.prepare(...)``.
        """
        prepared = prepare_inputs(
            self._preset, x, fs, leads, units=units, windows=windows, nan_policy=nan_policy,
            errors=errors,
        )  # fmt: skip
        _warn(prepared.warnings)
        return prepared

    def embed(
        self,
        x: Any,
        fs: float | None = None,
        leads: Sequence[str] | None = None,
        *,
        units: str | None = None,
        batch_size: int = 64,
        windows: WindowPolicy = "all",
        reduce: Literal["mean", "none"] = "mean",
        nan_policy: Literal["raise", "zero"] | None = None,
        errors: Errors = "raise",
        precision: Literal["fp32", "bf16"] | None = None,
        return_tensors: Literal["np", "pt"] | None = None,
        progress: bool = False,
        fast: bool | None = None,
        quantize: Literal["int8"] | None = None,
    ) -> Any:
        """Embeddings of raw ECG data, prepared exactly as the card's training data were.

        Args:
            x: one record — ``(C, T)`` array/tensor or :class:`~ecgfm.signal.ECGRecord` — or a
                batch: ``(B, C, T)``, a list of ``(C, T_i)`` arrays or a list of records.
                Signals, not file names: read files with ``ecgfm.data.read_wfdb``.
            fs: sampling rate in Hz (array input; records carry their own).
            leads: names of the ``C`` channels in order (array input); any order, aliases
                accepted; missing limb leads are derived from two present ones.
            units: units of array input (``"mV"`` default, ``"uV"``, ``"V"``); the amplitude
                is checked against them (see ``docs/input_contract.md``).
            batch_size: windows per forward pass.
            windows: ``"all"`` (default): disjoint windows of the card's length covering the
                record, the last one aligned to the end if a remainder is left (it overlaps
                its neighbour); ``"disjoint"`` drops the remainder; ``"center"``, ``"first"``:
                one window; ``"spaced"``: the preset's equally spaced windows (ST-MEM eval).
            reduce: ``"mean"`` averages the windows of each record; ``"none"`` returns
                ``(embeddings (N, D), record_index (N,))`` per window.
            nan_policy: ``"raise"`` on NaN/Inf, or ``"zero"`` to replace them (an
                :class:`~ecgfm.signal.ECGQualityWarning`); ``None`` uses the preset's default
                (``"zero"`` for ECGFounder/SelfMIS).
            errors: ``"raise"`` (default): the first record that cannot be embedded raises,
                its message naming its position (and id); ``"collect"``: the other records are
                embedded and an :class:`~ecgfm.hub._embed.EmbedResult` is returned with the
                embeddings, the positions embedded and the failures with their reasons.
            precision: ``"bf16"`` runs under bfloat16 autocast (faster on GPUs; outputs are
                float32 either way); ``None``/``"fp32"`` runs in the model's dtype.
            return_tensors: ``None`` (default): torch tensors for torch input (a tensor or a
                list of tensors; on the input's device), numpy otherwise; ``"np"`` or ``"pt"``
                force one (``"pt"`` for numpy input: CPU tensors).
            progress: show a tqdm progress bar if tqdm is installed.
            fast: deprecated (a ``DeprecationWarning``; still honoured for one release):
                ``fast=False`` is ``model.accelerate("off")`` for this call.
            quantize: deprecated (a ``DeprecationWarning``; still honoured for one release):
                ``quantize="int8"`` is ``model.accelerate("int8")`` for this call.

        Speed: the windows run through :class:`~ecgfm.hub.EmbeddingEngine` with this model's
        :attr:`acceleration` (:meth:`accelerate`: by default a Net1D encoder on the CPU in
        float32 takes the exact fast path of :func:`ecgfm.models.optimize_for_inference`).

        Returns:
            ``(D,)`` for one record, ``(B, D)`` for a batch (float32), or the pair described
            under ``reduce``; with ``errors="collect"`` an ``EmbedResult``.

        Warns:
            ECGQualityWarning: degenerate but usable records (a flat lead, a spike above
            25 mV, NaN/Inf replaced by 0). ``warnings.simplefilter("error",
            ECGQualityWarning)`` makes them errors.
        """
        if precision not in (None, "fp32", "bf16", "bfloat16"):
            raise ValueError(f"precision must be None, 'fp32' or 'bf16', got {precision!r}")
        if return_tensors not in (None, "np", "pt"):
            raise ValueError(f"return_tensors must be None, 'np' or 'pt', got {return_tensors!r}")
        if reduce not in ("mean", "none"):
            raise ValueError(f"reduce must be 'mean' or 'none', got {reduce!r}")
        acceleration = legacy_acceleration(fast, quantize, call="PretrainedEncoder.embed")
        engine = EmbeddingEngine(
            self, batch_size=batch_size, precision=_PRECISION[precision],  # type: ignore[arg-type]
            acceleration=acceleration, progress=progress,  # type: ignore[arg-type]
        )  # fmt: skip
        kind, out_device = _output_kind(x, return_tensors)
        prepared = prepare_inputs(
            self._preset, x, fs, leads, units=units, windows=windows, nan_policy=nan_policy,
            errors=errors,
        )  # fmt: skip
        _warn(prepared.warnings)
        per_window = engine(prepared.windows)
        record_index = prepared.record_index.cpu()
        positions = list(prepared.succeeded)
        failures = list(prepared.failures)
        bad = nonfinite_records(per_window, record_index)
        if bad and errors == "raise":
            raise FloatingPointError(f"records {bad[:10]}: {NONFINITE_ADVICE}")
        if bad:
            keep = ~torch.isin(record_index, torch.as_tensor(bad))
            per_window, record_index = per_window[keep], record_index[keep]
            positions = [p for p in positions if p not in set(bad)]
            failures.extend(
                RecordIssue(p, None, f"record {p}: {NONFINITE_ADVICE}",
                            FloatingPointError(f"record {p}: {NONFINITE_ADVICE}"))
                for p in bad
            )  # fmt: skip
            failures.sort(key=lambda f: f.index)
        if reduce == "mean":
            means = RecordMeans(prepared.num_records)
            means.add(per_window, record_index)
            emb: torch.Tensor = means.result(positions)
            index: torch.Tensor | None = None
        else:
            emb, index = per_window, record_index

        def convert(t: torch.Tensor) -> Any:
            if kind == "np":
                return np.ascontiguousarray(t.numpy())
            return t.to(out_device) if out_device is not None else t

        if errors == "collect":
            return EmbedResult(
                embeddings=convert(emb),
                indices=convert(torch.as_tensor(positions, dtype=torch.long)),
                record_index=None if index is None else convert(index),
                failures=tuple(failures),
                warnings=prepared.warnings,
                num_records=prepared.num_records,
            )
        if index is not None:
            return convert(emb), convert(index)
        return convert(emb[0] if prepared.single else emb)


def _warn(issues: Sequence[RecordIssue]) -> None:
    """Issue each record warning as an ECGQualityWarning at the caller of embed/prepare."""
    for issue in issues:
        warnings.warn(issue.message, ECGQualityWarning, stacklevel=3)


def _output_kind(x: Any, return_tensors: str | None) -> tuple[str, torch.device | None]:
    """``("np" | "pt", device for torch output)`` for the input ``x`` (timm/HF convention)."""
    first = x
    if isinstance(x, (list, tuple)) and x and all(isinstance(r, torch.Tensor) for r in x):
        first = x[0]
    is_torch = isinstance(first, torch.Tensor)
    kind = return_tensors or ("pt" if is_torch else "np")
    return kind, (first.device if is_torch and kind == "pt" else None)
