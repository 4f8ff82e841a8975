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
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ecgfm.hub._card import PretrainedCard
from ecgfm.hub._embed import Prepared, WindowPolicy, embed_windows, prepare_inputs
from ecgfm.hub._errors import ArchitectureMismatchError
from ecgfm.hub._preset import build_preset

__all__ = ["PretrainedEncoder", "check_card_matches_model", "count_parameters"]

_AUTOCAST = {None: None, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}


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


class PretrainedEncoder(nn.Module):
    """A pretrained encoder with its card and preprocessing; returned by ``from_pretrained``.

    Args:
        encoder: the bare encoder (built by ``create_model``).
        card: its :class:`PretrainedCard` (validated against the encoder).

    ``forward(x)`` is ``forward_embedding(x)`` on already-preprocessed windows
    ``(B, C, length)``; :meth:`embed` takes raw data.
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

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder features of preprocessed windows ``(B, C, length)``."""
        return self.encoder.forward_features(x)

    def forward_embedding(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled embedding ``(B, num_features)`` of preprocessed windows ``(B, C, length)``."""
        return self.encoder.forward_embedding(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_embedding(x)

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
    ) -> Prepared:
        """Only the preprocessing of :meth:`embed`: model-ready windows and their record index."""
        return prepare_inputs(
            self._preset, x, fs, leads, units=units, windows=windows, nan_policy=nan_policy
        )

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
        precision: Literal["fp32", "bf16"] | None = None,
        return_tensors: Literal["np", "pt"] = "np",
        progress: bool = False,
        fast: bool = True,
        quantize: Literal["int8"] | None = None,
    ) -> Any:
        """Embeddings of raw ECG data, prepared exactly as the card's training data were.

        Args:
            x: one record — ``(C, T)`` array/tensor or :class:`~ecgfm.signal.ECGRecord` — or a
                batch: ``(B, C, T)``, a list of ``(C, T_i)`` arrays or a list of records.
            fs: sampling rate in Hz (array input; records carry their own).
            leads: names of the ``C`` channels in order (array input); any order, aliases
                accepted; missing limb leads are derived from two present ones.
            units: units of array input (``"mV"`` default, ``"uV"``, ``"V"``).
            batch_size: windows per forward pass.
            windows: ``"all"`` (default): disjoint windows of the card's length covering the
                record, the last one aligned to the end if a remainder is left (it overlaps
                its neighbour); ``"disjoint"`` drops the remainder; ``"center"``, ``"first"``:
                one window; ``"spaced"``: the preset's equally spaced windows (ST-MEM eval).
            reduce: ``"mean"`` averages the windows of each record; ``"none"`` returns
                ``(embeddings (N, D), record_index (N,))`` per window.
            nan_policy: ``"raise"`` on NaN/Inf, or ``"zero"`` to replace them (logged);
                ``None`` uses the preset's default (``"zero"`` for ECGFounder/SelfMIS).
            precision: ``"bf16"`` runs under bfloat16 autocast (faster on GPUs; outputs are
                float32 either way); ``None``/``"fp32"`` runs in the model's dtype.
            return_tensors: ``"np"`` (numpy) or ``"pt"`` (CPU torch tensor).
            progress: show a tqdm progress bar if tqdm is installed.
            fast: a Net1D encoder (ECGFounder, SelfMIS) on the CPU in float32 runs through
                :func:`ecgfm.models.net1d.optimize_for_inference` (the same embeddings up to
                ~1e-6, faster); ``False`` runs the plain ``forward_embedding``.
            quantize: ``"int8"`` adds dynamic int8 1x1 convolutions to that fast path
                (approximate: check the cosine with the float32 embeddings on your data; an
                error where the fast path does not apply). Never used unless asked for.

        Returns:
            ``(D,)`` for one record, ``(B, D)`` for a batch (float32), or the pair described
            under ``reduce``.
        """
        if precision not in (None, "fp32", "bf16", "bfloat16"):
            raise ValueError(f"precision must be None, 'fp32' or 'bf16', got {precision!r}")
        if return_tensors not in ("np", "pt"):
            raise ValueError(f"return_tensors must be 'np' or 'pt', got {return_tensors!r}")
        prepared = self.prepare(
            x, fs, leads, units=units, windows=windows, nan_policy=nan_policy
        )  # fmt: skip
        emb, index = embed_windows(
            self.encoder,
            prepared,
            batch_size=batch_size,
            autocast_dtype=_AUTOCAST.get(precision),
            reduce=reduce,
            progress=progress,
            fast=fast,
            quantize=quantize,
        )
        if reduce == "mean" and prepared.single:
            emb = emb[0]

        def convert(t: torch.Tensor) -> Any:
            return t.numpy() if return_tensors == "np" else t

        if index is not None:
            return convert(emb), convert(index)
        out = convert(emb)
        return np.ascontiguousarray(out) if return_tensors == "np" else out
