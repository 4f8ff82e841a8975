"""Net1D: ECGFounder's 1-D ResNet with squeeze-excitation (the SelfMIS backbone).

Re-implementation of the ``Net1D`` class of PKUDigitalHealth/ECGFounder (itself derived from
hsd1503/resnet1d). Same constructor arguments, same "same" padding, same forward maths, so that
official checkpoints load through :mod:`ecgfm.convert.ecgfounder` and reproduce the official
outputs to float rounding. Defaults are the ECGFounder configuration.

Architecture for an input ``(B, C, T)`` (ECGFounder: ``T = 5000`` at 500 Hz)::

    stem: conv k=kernel_size, stride 2, "same" padding -> [BN] -> Swish          (B, base, T/2)
    7 stages of bottleneck blocks; the first block of each stage downsamples by ``stride``:
        [BN] -> Swish -> 1x1 conv -> [BN] -> Swish -> grouped conv k (stride)
             -> [BN] -> Swish -> 1x1 conv -> squeeze-excitation (C -> C/2 -> C)
        + shortcut (max-pool "same" when downsampling, zero channel padding when widening)
    forward_features: (B, filter_list[-1], L)   with L = 20 for T = 5000
    forward_embedding: time mean                (B, filter_list[-1])
    forward: dense head (B, num_classes), or the embedding when num_classes = 0

The very first block skips its pre-activation ([BN] -> Swish), as in the official code.

BatchNorm when ``use_bn=False`` (every released ECGFounder checkpoint): the official class still
creates every BatchNorm layer, so its parameter count (30,819,014 for 12 leads with the 150-class
head, 30,807,750 for 1 lead, the numbers the ECGFounder and SelfMIS papers quote) includes
66,368 BatchNorm weights that never touch the output. ecgfm mirrors that module tree so the counts
are identical, but an inactive norm layer is (a) never called, (b) frozen
(``requires_grad=False``) and (c) not part of ``state_dict()``: a saved ecgfm checkpoint holds
exactly the tensors that determine the output, and loading a state dict that carries BN entries
into a ``use_bn=False`` model is a strict-load error instead of a silent no-op. The trainable
parameter count of the full 12-lead model is therefore 30,752,646.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ecgfm._deprecated import upgrade_arch_args, warn_deprecated
from ecgfm.leads import CANONICAL_LEADS, normalize_lead_names
from ecgfm.models._base import check_encoder_input
from ecgfm.models._registry import register_model

__all__ = [
    "ECGFOUNDER_NET1D_ARGS",
    "Net1D",
]

_logger = logging.getLogger(__name__)

#: Constructor arguments of the released ECGFounder models (12-lead; use ``in_channels=1`` for
#: the lead-I model). Matches ``ft_ECGFounder`` in the official ``finetune_model.py``.
ECGFOUNDER_NET1D_ARGS: dict[str, Any] = {
    "in_channels": 12,
    "base_filters": 64,
    "ratio": 1,
    "filter_list": (64, 160, 160, 400, 400, 1024, 1024),
    "m_blocks_list": (2, 2, 2, 3, 3, 4, 4),
    "kernel_size": 16,
    "stride": 2,
    "groups_width": 16,
    "num_classes": 150,
    "use_bn": False,
    "use_do": False,
}


def _same_pad(length: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """TensorFlow-style "same" padding: output length ``ceil(length / stride)``."""
    out_len = (length + stride - 1) // stride
    total = max(0, (out_len - 1) * stride + kernel_size - length)
    return total // 2, total - total // 2


class _SameConv1d(nn.Conv1d):
    """``nn.Conv1d`` with dynamic "same" zero padding (left ``p // 2``, right the rest).

    The padding depends on the input length, so it cannot be a fixed ``padding=`` argument.
    ``(B, C_in, T) -> (B, C_out, ceil(T / stride))``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right = _same_pad(x.shape[-1], self.kernel_size[0], self.stride[0])
        if left or right:
            x = F.pad(x, (left, right))
        return super().forward(x)


class _SameMaxPool1d(nn.Module):
    """Max-pool with window = stride = ``kernel_size`` after zero padding ``kernel_size - 1``.

    The zero padding (not ``-inf``) is what the official code does: at an odd length the last
    window is ``max(x_last, 0)``. ``(B, C, T) -> (B, C, ceil(T / kernel_size))``.
    """

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        if k == 1:
            return x
        total = k - 1
        x = F.pad(x, (total // 2, total - total // 2))
        return F.max_pool1d(x, kernel_size=k, stride=k)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}"


class _OptionalBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d that is either a normal layer (``active``) or an inert placeholder.

    Inactive: identity in ``forward``, parameters frozen, nothing saved to ``state_dict`` and a
    strict load that supplies its tensors reports them as unexpected keys. It exists only so the
    module tree and parameter count equal the official class (see the module docstring).
    """

    def __init__(self, num_features: int, *, active: bool) -> None:
        super().__init__(num_features)
        self.active = active
        if not active:
            self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) if self.active else x

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        if self.active:
            super()._save_to_state_dict(destination, prefix, keep_vars)

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        if self.active:
            super()._load_from_state_dict(
                state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                error_msgs,
            )  # fmt: skip
        elif strict:
            unexpected_keys.extend(k for k in state_dict if k.startswith(prefix))

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.active else ", inactive (use_bn=False)")


class _SqueezeExcite(nn.Module):
    """Channel gate: time mean -> Linear C->C/2 -> Swish -> Linear C/2->C -> sigmoid -> scale.

    ``(B, C, L) -> (B, C, L)``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, channels // 2)
        self.fc2 = nn.Linear(channels // 2, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.fc2(F.silu(self.fc1(x.mean(-1))))
        return x * torch.sigmoid(gate).unsqueeze(-1)


class _Net1DBlock(nn.Module):
    """Pre-activation bottleneck block ``(B, C_in, T) -> (B, C_out, ceil(T / stride))``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        ratio: float,
        kernel_size: int,
        stride: int,
        groups: int,
        downsample: bool,
        is_first_block: bool,
        use_bn: bool,
        use_do: bool,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride if downsample else 1
        self.downsample = downsample
        self.is_first_block = is_first_block
        self.use_bn = use_bn
        mid = int(out_channels * ratio)
        self.norm1 = _OptionalBatchNorm1d(in_channels, active=use_bn)
        self.conv1 = _SameConv1d(in_channels, mid, kernel_size=1)
        self.norm2 = _OptionalBatchNorm1d(mid, active=use_bn)
        self.conv2 = _SameConv1d(mid, mid, kernel_size, stride=self.stride, groups=groups)
        self.norm3 = _OptionalBatchNorm1d(mid, active=use_bn)
        self.conv3 = _SameConv1d(mid, out_channels, kernel_size=1)
        self.se = _SqueezeExcite(out_channels)
        # The official block applies dropout p=0.5 after each activation when use_do is set.
        self.drop = nn.Dropout(0.5) if use_do else nn.Identity()
        self.pool = _SameMaxPool1d(self.stride) if downsample else nn.Identity()
        # Zero channel padding of the shortcut: (out - in) // 2 in front, the rest behind
        # (negative values crop, as F.pad does in the official code).
        pad_front = (out_channels - in_channels) // 2
        self._shortcut_pad = (0, 0, pad_front, out_channels - in_channels - pad_front)

    def _pre(self, norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.use_bn:
            x = norm(x)
        return self.drop(F.silu(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x if self.is_first_block else self._pre(self.norm1, x)
        out = self.conv1(out)
        out = self.conv2(self._pre(self.norm2, out))
        out = self.conv3(self._pre(self.norm3, out))
        out = self.se(out)
        shortcut = self.pool(x)
        if self.in_channels != self.out_channels:
            shortcut = F.pad(shortcut, self._shortcut_pad)
        return out + shortcut


class Net1D(nn.Module):
    """ECGFounder's Net1D encoder (official constructor, ecgfm encoder interface).

    Args:
        in_channels: number of leads ``C`` (12 or 1 for the released models).
        base_filters: width of the stem convolution.
        ratio: bottleneck width multiplier (middle width = ``int(out * ratio)``).
        filter_list: output width of each stage.
        m_blocks_list: number of blocks of each stage (same length as ``filter_list``).
        kernel_size: kernel of the stem and of every grouped convolution.
        stride: downsampling factor of the first block of each stage (the stem always uses 2,
            as in the official code).
        groups_width: channels per group of the grouped convolutions
            (``groups = stage_width // groups_width``).
        num_classes: output size of the ``head`` (the official ``dense``); 0 for no head.
            The official class calls it ``n_classes``; ``n_classes=`` is accepted until ecgfm
            0.2.0 with a ``DeprecationWarning`` (so is reading ``model.n_classes``).
        use_bn: apply BatchNorm (False in every released checkpoint; see the module docstring).
        use_do: apply dropout p=0.5 after every pre-activation.
        return_features: ``forward`` returns ``(logits, embedding)`` as the official class.
        verbose: log the shape after every stage at DEBUG level (the official class prints).
        in_leads: lead names of the input channels in order; default the canonical 12 leads
            for ``in_channels=12`` and ``("I",)`` for ``in_channels=1``.
        default_input_length: samples per input in the pretrained preprocessing (5000 = 10 s at
            500 Hz). Any length works; this is what the hub and the test loop feed.

    Shapes: ``forward_features`` ``(B, C, T) -> (B, filter_list[-1], L)``, ``L = T`` divided
    by 2 (stem) and by ``stride`` once per stage, rounding up; ``forward_embedding``
    ``-> (B, filter_list[-1])``.
    """

    def __init__(
        self,
        in_channels: int = 12,
        base_filters: int = 64,
        ratio: float = 1,
        filter_list: Sequence[int] = ECGFOUNDER_NET1D_ARGS["filter_list"],
        m_blocks_list: Sequence[int] = ECGFOUNDER_NET1D_ARGS["m_blocks_list"],
        kernel_size: int = 16,
        stride: int = 2,
        groups_width: int = 16,
        num_classes: int = 150,
        use_bn: bool = False,
        use_do: bool = False,
        return_features: bool = False,
        verbose: bool = False,
        *,
        in_leads: Sequence[str] | None = None,
        default_input_length: int = 5000,
        n_classes: int | None = None,
    ) -> None:
        super().__init__()
        if n_classes is not None:
            num_classes = _renamed_num_classes(num_classes, n_classes)
        filter_list = tuple(int(f) for f in filter_list)
        m_blocks_list = tuple(int(m) for m in m_blocks_list)
        _validate_args(
            in_channels, base_filters, ratio, filter_list, m_blocks_list, kernel_size, stride,
            groups_width, num_classes, default_input_length,
        )  # fmt: skip
        self.in_channels = in_channels
        self.base_filters = base_filters
        self.ratio = ratio
        self.filter_list = filter_list
        self.m_blocks_list = m_blocks_list
        self.kernel_size = kernel_size
        self.stride = stride
        self.groups_width = groups_width
        self.num_classes = num_classes
        self.use_bn = use_bn
        self.use_do = use_do
        self.return_features = return_features
        self.verbose = verbose
        self.in_leads = _resolve_in_leads(in_leads, in_channels)
        self.default_input_length = default_input_length
        self.num_features = filter_list[-1]

        self.stem_conv = _SameConv1d(in_channels, base_filters, kernel_size, stride=2)
        self.stem_norm = _OptionalBatchNorm1d(base_filters, active=use_bn)
        self.stages = nn.ModuleList()
        width = base_filters
        for i_stage, (out_ch, n_blocks) in enumerate(zip(filter_list, m_blocks_list, strict=True)):
            blocks = [
                _Net1DBlock(
                    width if i_block == 0 else out_ch,
                    out_ch,
                    ratio=ratio,
                    kernel_size=kernel_size,
                    stride=stride,
                    groups=out_ch // groups_width,
                    downsample=i_block == 0,
                    is_first_block=i_stage == 0 and i_block == 0,
                    use_bn=use_bn,
                    use_do=use_do,
                )
                for i_block in range(n_blocks)
            ]
            self.stages.append(nn.Sequential(*blocks))
            width = out_ch
        self.head: nn.Module = nn.Linear(width, num_classes) if num_classes > 0 else nn.Identity()

    # --- deprecated name and the recorded constructor arguments -------------------------------

    @property
    def n_classes(self) -> int:
        """Deprecated (removed in ecgfm 0.2.0): :attr:`num_classes`."""
        warn_deprecated("Net1D.n_classes", "Net1D.num_classes")
        return self.num_classes

    @n_classes.setter
    def n_classes(self, value: int) -> None:
        warn_deprecated("Net1D.n_classes", "Net1D.num_classes (or reset_classifier)")
        self.num_classes = value

    @property
    def arch_args(self) -> dict[str, Any]:
        """The constructor overrides ``create_model`` recorded (what a card's ``arch_args``
        stores), renamed arguments under their current names: ``create_model(...,
        n_classes=0)`` records ``{"num_classes": 0}``, so a saved card uses the new name."""
        try:
            return self.__dict__["_arch_args"]
        except KeyError:
            raise AttributeError("arch_args (the model was not built by create_model)") from None

    @arch_args.setter
    def arch_args(self, value: dict[str, Any]) -> None:
        self.__dict__["_arch_args"] = upgrade_arch_args(value)

    # --- encoder interface -------------------------------------------------------------------

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``TypeError``/``ValueError`` unless ``x`` is a valid ``(B, in_channels, T)``."""
        check_encoder_input(x, num_leads=self.in_channels, model=type(self).__name__)
        weight = self.stem_conv.weight
        if x.dtype != weight.dtype and not _autocast_on(x.device.type):
            raise TypeError(
                f"Net1D: input dtype {x.dtype} does not match the weights ({weight.dtype}); "
                f"cast with x.to({weight.dtype}) or run under torch.autocast"
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Last-stage feature map: ``(B, C, T) -> (B, num_features, L)``."""
        self.check_input(x)
        out = F.silu(self.stem_norm(self.stem_conv(x)) if self.use_bn else self.stem_conv(x))
        for i_stage, stage in enumerate(self.stages):
            out = stage(out)
            if self.verbose:
                _logger.debug("Net1D stage %d output %s", i_stage, tuple(out.shape))
        return out

    def forward_embedding(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled embedding (time mean of the last stage): ``(B, C, T) -> (B, num_features)``."""
        return self.forward_features(x).mean(-1)

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        """``head`` on an embedding ``(B, num_features)``; identity when ``num_classes == 0``."""
        return self.head(embedding)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Head output ``(B, num_classes)`` like the official class (the embedding if no head).

        With ``return_features=True``: ``(head output, embedding)``.
        """
        embedding = self.forward_embedding(x)
        out = self.forward_head(embedding)
        return (out, embedding) if self.return_features else out

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head by a freshly initialised ``Linear(num_features, num_classes)``
        (``num_classes = 0``: no head), e.g. for fine-tuning on another label set."""
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 0:
            raise ValueError(
                f"reset_classifier: num_classes must be an int >= 0 (0 = no head), got "
                f"{num_classes!r}"
            )
        ref = self.stem_conv.weight
        self.num_classes = num_classes
        self.head = (
            nn.Linear(self.num_features, num_classes, device=ref.device, dtype=ref.dtype)
            if num_classes > 0
            else nn.Identity()
        )


def _renamed_num_classes(num_classes: int, n_classes: int) -> int:
    """``Net1D(n_classes=...)``: warn and return it as ``num_classes``; a ``TypeError`` if
    ``num_classes`` was given too (anything but its default)."""
    if num_classes != ECGFOUNDER_NET1D_ARGS["num_classes"]:
        raise TypeError(
            f"Net1D: got num_classes={num_classes!r} and the deprecated n_classes={n_classes!r}; "
            "pass only num_classes="
        )
    warn_deprecated("Net1D(n_classes=...)", "Net1D(num_classes=...)")
    return n_classes


def _autocast_on(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4 has no device argument
        return torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled()


def _resolve_in_leads(in_leads: Sequence[str] | None, in_channels: int) -> tuple[str, ...]:
    if in_leads is None:
        if in_channels == len(CANONICAL_LEADS):
            return CANONICAL_LEADS
        if in_channels == 1:
            return ("I",)
        raise ValueError(
            f"Net1D: in_channels={in_channels}; pass in_leads=(...) naming the {in_channels} "
            "input leads in order (defaults exist only for 12 leads and 1 lead = lead I)"
        )
    leads = normalize_lead_names(in_leads)
    if len(leads) != in_channels:
        raise ValueError(
            f"Net1D: in_leads names {len(leads)} leads {leads} but in_channels={in_channels}"
        )
    return leads


def _validate_args(
    in_channels: int,
    base_filters: int,
    ratio: float,
    filter_list: tuple[int, ...],
    m_blocks_list: tuple[int, ...],
    kernel_size: int,
    stride: int,
    groups_width: int,
    num_classes: int,
    default_input_length: int,
) -> None:
    positive = {
        "in_channels": in_channels,
        "base_filters": base_filters,
        "kernel_size": kernel_size,
        "stride": stride,
        "groups_width": groups_width,
        "default_input_length": default_input_length,
    }
    for name, value in positive.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"Net1D: {name} must be a positive int, got {value!r}")
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 0:
        raise ValueError(
            f"Net1D: num_classes must be an int >= 0 (0 = no head), got {num_classes!r}"
        )
    if not (isinstance(ratio, (int, float)) and ratio > 0):
        raise ValueError(f"Net1D: ratio must be > 0, got {ratio!r}")
    if not filter_list or len(filter_list) != len(m_blocks_list):
        raise ValueError(
            f"Net1D: filter_list {filter_list} and m_blocks_list {m_blocks_list} must be "
            "non-empty and of the same length (one entry per stage)"
        )
    if min(m_blocks_list) < 1:
        raise ValueError(f"Net1D: every stage needs >= 1 block, got m_blocks_list={m_blocks_list}")
    for width in filter_list:
        mid = int(width * ratio)
        if width < 2 or width % groups_width or mid < 1 or mid % (width // groups_width):
            raise ValueError(
                f"Net1D: stage width {width} (bottleneck {mid}) must be >= 2 and a multiple of "
                f"groups_width={groups_width}, and the bottleneck a multiple of the "
                f"{max(width // groups_width, 1)} groups"
            )


# --- registered configurations --------------------------------------------------------------


def _build(defaults: dict[str, Any], overrides: dict[str, Any]) -> Net1D:
    upgraded = upgrade_arch_args(overrides, warn_as="create_model", what="create_model arguments")
    return Net1D(**{**defaults, **upgraded})


@register_model("net1d_ecgfounder", preset="ecgfounder")
def net1d_ecgfounder(**overrides: Any) -> Net1D:
    """ECGFounder 12-lead Net1D (30,819,014 parameters with the 150-class head)."""
    return _build(ECGFOUNDER_NET1D_ARGS, overrides)


@register_model("net1d_ecgfounder_lead1", preset="ecgfounder")
def net1d_ecgfounder_lead1(**overrides: Any) -> Net1D:
    """ECGFounder lead-I Net1D (30,807,750 parameters); the SelfMIS student."""
    return _build({**ECGFOUNDER_NET1D_ARGS, "in_channels": 1}, overrides)


_SMALL_ARGS: dict[str, Any] = {
    **ECGFOUNDER_NET1D_ARGS,
    "base_filters": 16,
    "filter_list": (16, 32, 32, 48, 48, 64, 64),
    "num_classes": 0,
}


@register_model("net1d_small", preset="ecgfounder")
def net1d_small(**overrides: Any) -> Net1D:
    """Same depth as ECGFounder, widths /16..: ~0.4 M parameters, for tests and CPU training.

    The widths are those of the conformance fixtures; no head by default (pure encoder).
    """
    return _build(_SMALL_ARGS, overrides)


def __getattr__(name: str) -> object:
    """Deprecated location of :func:`ecgfm.models.net1d_inference.optimize_for_inference`.

    The fast path lives in :mod:`ecgfm.models.net1d_inference` (which imports this module, not
    the reverse); ``ecgfm.models.net1d.optimize_for_inference`` keeps working for one release.
    """
    if name == "optimize_for_inference":
        import importlib
        import warnings

        warnings.warn(
            "ecgfm.models.net1d.optimize_for_inference moved to "
            "ecgfm.models.optimize_for_inference (ecgfm.models.net1d_inference); the old "
            "location will be removed in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module("ecgfm.models.net1d_inference").optimize_for_inference
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
