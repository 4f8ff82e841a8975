"""Official ECGFounder checkpoints (``Net1D`` of PKUDigitalHealth/ECGFounder) -> ecgfm Net1D.

An official checkpoint is ``torch.save({"state_dict": model.state_dict(), "epoch": ...})``;
DataParallel/DDP training adds a ``module.`` prefix to every key. Key renaming::

    first_conv.conv.{weight,bias}                         -> stem_conv.*
    first_bn.*                                            -> stem_norm.*          (use_bn only)
    stage_list.{s}.block_list.{b}.conv{i}.conv.*          -> stages.{s}.{b}.conv{i}.*
    stage_list.{s}.block_list.{b}.bn{i}.*                 -> stages.{s}.{b}.norm{i}.* (use_bn)
    stage_list.{s}.block_list.{b}.se_fc{i}.*              -> stages.{s}.{b}.se.fc{i}.*
    dense.{weight,bias}                                   -> head.*

With ``use_bn=False`` (every released model) all BatchNorm entries are dropped: the official
forward never applies them, and ecgfm's inactive norm layers hold no state (see
:mod:`ecgfm.models.net1d`). **The checkpoint does not record ``use_bn``** (the official class
saves its BatchNorm tensors either way), so a checkpoint trained with BatchNorm and loaded with
``use_bn=False`` would silently give wrong outputs. The converter therefore logs a WARNING
whenever it drops BatchNorm tensors, a strongly worded one when they show signs of training
(``num_batches_tracked > 0``; running statistics or affine parameters away from 0/1), and one
when ``use_bn=True`` meets BatchNorm layers that were never trained
(:func:`check_batchnorm_choice`; also recorded in ``ConversionReport.warnings``).

Every key of the checkpoint is either mapped or dropped for a stated
reason; anything else is an error, and the result is loaded strictly.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import torch

from ecgfm._deprecated import warn_deprecated
from ecgfm._interface import advice
from ecgfm.models._registry import create_model
from ecgfm.models.net1d import ECGFOUNDER_NET1D_ARGS, Net1D

__all__ = [
    "ConversionReport",
    "check_batchnorm_choice",
    "ecgfounder_state_dict_to_ecgfm",
    "infer_net1d_args",
    "load_ecgfounder",
    "load_official_checkpoint",
]

_BN_SUFFIXES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
_BLOCK = r"stage_list\.(\d+)\.block_list\.(\d+)\."
_RULES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    # (official pattern, ecgfm replacement, kind)
    (re.compile(r"first_conv\.conv\.(weight|bias)"), r"stem_conv.\1", "param"),
    (re.compile(r"first_bn\.(\w+)"), r"stem_norm.\1", "bn"),
    (re.compile(_BLOCK + r"conv([123])\.conv\.(weight|bias)"), r"stages.\1.\2.conv\3.\4", "param"),
    (re.compile(_BLOCK + r"bn([123])\.(\w+)"), r"stages.\1.\2.norm\3.\4", "bn"),
    (re.compile(_BLOCK + r"se_fc([12])\.(weight|bias)"), r"stages.\1.\2.se.fc\3.\4", "param"),
    (re.compile(r"dense\.(weight|bias)"), r"head.\1", "head"),
)
_DDP_PREFIX = "module."
_logger = logging.getLogger(__name__)


@dataclass
class ConversionReport:
    """What a converter did with every key of an official checkpoint.

    Attributes:
        mapped: official key -> ecgfm key, for every tensor that was kept.
        dropped: official key -> reason, for every tensor deliberately left out.
        stripped_prefix: the prefix removed from every key (``"module."``), or ``None``.
        ignored_entries: top-level checkpoint entries other than the weights (``epoch``, ...).
        warnings: what was logged as a warning (e.g. the BatchNorm checks of
            :func:`check_batchnorm_choice`).
    """

    mapped: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)
    stripped_prefix: str | None = None
    ignored_entries: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs: counts of mapped and dropped keys, by reason."""
        reasons: dict[str, int] = {}
        for why in self.dropped.values():
            reasons[why] = reasons.get(why, 0) + 1
        dropped = ", ".join(f"{n} {why}" for why, n in reasons.items()) or "none"
        prefix = f"; stripped prefix {self.stripped_prefix!r}" if self.stripped_prefix else ""
        return f"mapped {len(self.mapped)} keys; dropped: {dropped}{prefix}"


def load_official_checkpoint(path: str | PathLike[str]) -> dict[str, Any]:
    """Open a checkpoint file safely and return its top-level dict.

    ``.pth``/``.pt``/``.bin`` (pickles) are opened only with
    ``torch.load(path, map_location="cpu", weights_only=True)``; a pickle holding arbitrary
    Python objects is refused. ``.safetensors`` files are read with safetensors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path), device="cpu"))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, or a non-pickle file
        raise ValueError(
            f"refusing to load {path}: it cannot be opened with torch.load(weights_only=True) "
            f"({type(exc).__name__}: {exc}). ecgfm never unpickles arbitrary objects; re-save "
            "the weights as a plain dict of tensors (or safetensors) in a trusted environment"
        ) from exc
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: expected a dict checkpoint, got {type(obj).__name__}")
    return dict(obj)


def _extract_state_dict(ckpt: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    if "state_dict" in ckpt and isinstance(ckpt["state_dict"], Mapping):
        ignored = tuple(sorted(k for k in ckpt if k != "state_dict"))
        return dict(ckpt["state_dict"]), ignored
    if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return dict(ckpt), ()
    other = ""
    if "model" in ckpt and isinstance(ckpt["model"], Mapping):  # the official ST-MEM layout
        other = "; it has the layout of an official ST-MEM checkpoint: " + advice(
            python="use ecgfm.convert.st_mem", cli="use `ecgfm convert st-mem`"
        )
    raise ValueError(
        "not an ECGFounder checkpoint: expected {'state_dict': {...}, ...} (official format) or a "
        f"plain dict of tensors; top-level entries are {sorted(ckpt)[:10]}{other}"
    )


def _strip_prefix(sd: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    prefixed = [k.startswith(_DDP_PREFIX) for k in sd]
    if all(prefixed):
        return {k[len(_DDP_PREFIX) :]: v for k, v in sd.items()}, _DDP_PREFIX
    if any(prefixed):
        raise ValueError(
            f"checkpoint mixes keys with and without the {_DDP_PREFIX!r} prefix, e.g. "
            f"{next(k for k in sd if k.startswith(_DDP_PREFIX))!r} and "
            f"{next(k for k in sd if not k.startswith(_DDP_PREFIX))!r}; it is not one model"
        )
    return sd, None


def _rename(key: str) -> tuple[str, str] | None:
    for pattern, repl, kind in _RULES:
        if pattern.fullmatch(key):
            return pattern.sub(repl, key), kind
    return None


def ecgfounder_state_dict_to_ecgfm(
    sd: Mapping[str, Any],
    *,
    use_bn: bool = False,
    drop_head: bool = False,
    source: str | None = None,
) -> tuple[dict[str, torch.Tensor], ConversionReport]:
    """Rename an official ECGFounder ``Net1D`` state dict to ecgfm :class:`Net1D` keys.

    Args:
        sd: the official state dict, or the whole checkpoint ``{"state_dict": ..., ...}``;
            an all-keys ``module.`` prefix is removed.
        use_bn: the model to load into applies BatchNorm. ``False`` (every released
            ECGFounder model): BatchNorm entries are dropped. ``True``: they are mapped. The
            file does not record this choice: see :func:`check_batchnorm_choice` for the
            warnings logged when the BatchNorm tensors suggest the other one.
        drop_head: drop ``dense.*`` (to use the backbone as a pure encoder, ``num_classes=0``).
        source: name of the checkpoint in log messages (e.g. its path).

    Returns:
        ``(new_sd, report)``; ``report.mapped`` and ``report.dropped`` together cover every
        input key exactly once.

    Raises:
        ValueError: a key that is not part of an ECGFounder ``Net1D`` (with its likely cause),
            a block missing some of its tensors, or a non-finite weight.
    """
    state, ignored = _extract_state_dict(sd)
    state, prefix = _strip_prefix(state)
    report = ConversionReport(stripped_prefix=prefix, ignored_entries=ignored)
    new_sd: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in state.items():
        renamed = _rename(key)
        if renamed is None:
            unknown.append(key)
            continue
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"checkpoint entry {key!r} is a {type(value).__name__}, not a tensor")
        new_key, kind = renamed
        if kind == "bn" and not use_bn:
            report.dropped[_full(prefix, key)] = "BatchNorm not applied (use_bn=False)"
            continue
        if kind == "head" and drop_head:
            report.dropped[_full(prefix, key)] = "classifier head dropped (drop_head=True)"
            continue
        checkable = value.is_floating_point() and value.device.type != "meta"
        if checkable and not bool(torch.isfinite(value).all()):
            raise ValueError(f"checkpoint tensor {key!r} contains NaN or Inf values")
        new_sd[new_key] = value
        report.mapped[_full(prefix, key)] = new_key
    if unknown:
        raise ValueError(
            f"{len(unknown)} checkpoint keys are not part of an ECGFounder Net1D, e.g. "
            f"{unknown[:5]}; is this another architecture (ST-MEM: "
            f"{advice(python='ecgfm.convert.st_mem', cli='`ecgfm convert st-mem`')}) or a "
            "model wrapped under another prefix?"
        )
    _check_complete(state, use_bn=use_bn)
    message = check_batchnorm_choice(state, use_bn=use_bn)
    if message is not None:
        _logger.warning("%s%s", f"{source}: " if source else "", message)
        report.warnings.append(message)
    return new_sd, report


def _full(prefix: str | None, key: str) -> str:
    return f"{prefix}{key}" if prefix else key


def _check_complete(state: Mapping[str, Any], *, use_bn: bool) -> None:
    """Every block/stem must carry all its tensors (BN ones too: the official class saves them)."""
    blocks = sorted(
        {tuple(int(g) for g in m.groups()) for k in state if (m := re.match(_BLOCK, k))}
    )
    expected = [f"first_conv.conv.{p}" for p in ("weight", "bias")]
    for s, b in blocks:
        base = f"stage_list.{s}.block_list.{b}."
        expected += [base + f"conv{i}.conv.{p}" for i in (1, 2, 3) for p in ("weight", "bias")]
        expected += [base + f"se_fc{i}.{p}" for i in (1, 2) for p in ("weight", "bias")]
        if use_bn:
            expected += [base + f"bn{i}.{p}" for i in (1, 2, 3) for p in _BN_SUFFIXES]
    if use_bn:
        expected += [f"first_bn.{p}" for p in _BN_SUFFIXES]
    if any(k.startswith("dense.") for k in state):
        expected += ["dense.weight", "dense.bias"]
    missing = [k for k in expected if k not in state]
    if missing:
        raise ValueError(
            f"incomplete ECGFounder checkpoint: {len(missing)} tensors missing, e.g. {missing[:5]}"
        )
    stages = sorted({s for s, _ in blocks})
    if not blocks or stages != list(range(len(stages))):
        raise ValueError(f"ECGFounder checkpoint has stages {stages}; expected 0..n-1")
    for s in stages:
        ids = sorted(b for t, b in blocks if t == s)
        if ids != list(range(len(ids))):
            raise ValueError(f"stage {s} has blocks {ids}; expected 0..{len(ids) - 1}")


def _batchnorm_layers(state: Mapping[str, Any]) -> dict[str, dict[str, torch.Tensor]]:
    """BatchNorm tensors of an official state dict, by layer (``first_bn``, ``...bn2``)."""
    layers: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        renamed = _rename(key)
        if renamed is not None and renamed[1] == "bn" and isinstance(value, torch.Tensor):
            layer, _, suffix = key.rpartition(".")
            layers.setdefault(layer, {})[suffix] = value
    return layers


def _bn_evidence(layers: dict[str, dict[str, torch.Tensor]]) -> tuple[int, int]:
    """``(layers with num_batches_tracked > 0, layers with tensors away from their init)``."""
    init = {"running_mean": 0.0, "running_var": 1.0, "weight": 1.0, "bias": 0.0}
    tracked = changed = 0
    for tensors in layers.values():
        if any(t.device.type == "meta" for t in tensors.values()):
            continue
        nbt = tensors.get("num_batches_tracked")
        tracked += int(nbt is not None and bool((nbt > 0).any()))
        changed += int(any(bool((tensors[n] != v).any()) for n, v in init.items() if n in tensors))
    return tracked, changed


def check_batchnorm_choice(state: Mapping[str, Any], *, use_bn: bool) -> str | None:
    """Warning text when the BatchNorm tensors of an official state dict question ``use_bn``.

    The official ``Net1D`` saves its BatchNorm layers whether or not it applies them, so a
    checkpoint does not record ``use_bn``. Evidence, strongest first:

    - ``num_batches_tracked > 0``: the layer ran in training mode, which the official forward
      does only with ``use_bn=True``;
    - running mean/var not 0/1 or weight/bias not 1/0: the layer was trained, or the tensors
      were set otherwise (the synthetic conformance fixtures randomise them; released
      ECGFounder checkpoints keep them at their initial values);
    - everything at its initial value: the layers were never used (``use_bn=False``).

    Returns ``None`` when there is nothing to say: no BatchNorm tensors, or ``use_bn=True``
    with trained-looking ones. With ``use_bn=False`` and BatchNorm tensors present there is
    always a message, since they are dropped.
    """
    layers = _batchnorm_layers(state)
    if not layers:
        return None
    n = len(layers)
    tracked, changed = _bn_evidence(layers)
    # The advice names what the caller can change: an argument in Python, a flag on the CLI.
    with_bn = advice(python="use_bn=True", cli="--use-bn")
    without_bn = advice(python="use_bn=False", cli="no --use-bn")
    if use_bn:
        if tracked or changed:
            return None
        return (
            f"{with_bn} but all {n} BatchNorm layers of the checkpoint are at their initial "
            "values (running mean 0, var 1, weight 1, bias 0, num_batches_tracked 0): they "
            "were never trained, so the checkpoint was most likely trained without BatchNorm "
            "(like every official ECGFounder checkpoint); "
            + advice(python="load it with use_bn=False", cli="convert it without --use-bn")
        )
    drop = (
        f"The checkpoint's {n} BatchNorm layers are dropped ({without_bn}). If it was trained "
        f"with BatchNorm, pass {with_bn}: the outputs are WRONG otherwise, without any error"
    )
    if tracked:
        return (
            f"{tracked} of {n} BatchNorm layers have num_batches_tracked > 0, i.e. they ran in "
            "training mode, which the official Net1D does only when it applies BatchNorm: this "
            f"checkpoint was almost certainly trained WITH BatchNorm. {drop}"
        )
    if changed:
        return (
            f"{changed} of {n} BatchNorm layers hold running statistics or affine parameters "
            "away from their initial values (num_batches_tracked is 0): this checkpoint may "
            f"have been trained WITH BatchNorm; the file cannot prove it either way. {drop}. "
            "Official ECGFounder checkpoints do not apply BatchNorm"
        )
    return (
        f"{drop}. Their tensors are at their initial values, as in the official ECGFounder "
        "checkpoints (no BatchNorm applied); the file cannot prove how it was trained"
    )


def infer_net1d_args(sd: Mapping[str, Any]) -> dict[str, Any]:
    """Architecture arguments determined by the tensor shapes of an official state dict.

    Returns ``in_channels, base_filters, ratio, filter_list, m_blocks_list, kernel_size,
    groups_width, num_classes`` (keyword arguments of :class:`Net1D`; the official class calls
    the last one ``n_classes``). ``stride``, ``use_bn`` and ``use_do`` leave no trace in the
    weights and are not returned.
    """
    state, _ = _strip_prefix(_extract_state_dict(sd)[0])
    if "first_conv.conv.weight" not in state:
        raise ValueError("not an ECGFounder Net1D state dict: no 'first_conv.conv.weight'")
    base_filters, in_channels, kernel_size = (int(n) for n in state["first_conv.conv.weight"].shape)
    filter_list: list[int] = []
    m_blocks_list: list[int] = []
    ratios: set[float] = set()
    widths: set[int] = set()
    s = 0
    while f"stage_list.{s}.block_list.0.conv3.conv.weight" in state:
        n_blocks = 0
        while f"stage_list.{s}.block_list.{n_blocks}.conv3.conv.weight" in state:
            base = f"stage_list.{s}.block_list.{n_blocks}."
            out_ch, mid = (int(n) for n in state[base + "conv3.conv.weight"].shape[:2])
            per_group = int(state[base + "conv2.conv.weight"].shape[1])
            groups = mid // per_group
            ratios.add(mid / out_ch)
            widths.add(out_ch // groups)
            n_blocks += 1
        filter_list.append(out_ch)
        m_blocks_list.append(n_blocks)
        s += 1
    if not filter_list:
        raise ValueError("not an ECGFounder Net1D state dict: no stage_list.0.block_list.0")
    if len(widths) != 1 or len(ratios) != 1:
        raise ValueError(
            f"inconsistent groups_width {sorted(widths)} / ratio {sorted(ratios)} across blocks"
        )
    ratio = ratios.pop()
    head = state.get("dense.weight")
    return {
        "in_channels": in_channels,
        "base_filters": base_filters,
        "ratio": int(ratio) if float(ratio).is_integer() else ratio,
        "filter_list": tuple(filter_list),
        "m_blocks_list": tuple(m_blocks_list),
        "kernel_size": kernel_size,
        "groups_width": widths.pop(),
        "num_classes": int(head.shape[0]) if head is not None else 0,
    }


def load_ecgfounder(
    path: str | PathLike[str],
    *,
    num_leads: int | None = None,
    num_classes: int | None = None,
    use_bn: bool = False,
    stride: int = 2,
    n_classes: int | None = None,
) -> Net1D:
    """Build an ecgfm :class:`Net1D` from an official ECGFounder checkpoint file.

    The architecture is read from the tensor shapes (the released 12-lead and 1-lead models give
    ``net1d_ecgfounder`` / ``net1d_ecgfounder_lead1``), the keys are converted with
    :func:`ecgfounder_state_dict_to_ecgfm` and loaded strictly. The model is returned in
    ``eval()`` mode with ``model.conversion_report`` attached.

    Args:
        path: ``.pth`` checkpoint (``{"state_dict": ...}``) or ``.safetensors``.
        num_leads: expected number of input leads (1 or 12); ``None`` = what the first
            convolution has. A mismatch is an error.
        num_classes: ``None`` = keep the checkpoint's ``dense`` head (none if it has none);
            ``0`` = drop it (pure encoder). Another value is an error: load with ``0`` and
            call ``model.reset_classifier(n)`` to fine-tune a new head.
        use_bn: apply BatchNorm (False for every released model; True only for checkpoints
            trained with ``use_bn=True``, whose running statistics are then used). **The file
            cannot always tell which one is right**: the official class saves BatchNorm
            tensors even with ``use_bn=False``. A WARNING is logged whenever BatchNorm tensors
            are dropped, a strongly worded one when they show signs of training
            (``num_batches_tracked > 0``, or statistics/affine parameters away from their
            initial values), and one when ``use_bn=True`` meets untouched BatchNorm layers
            (:func:`check_batchnorm_choice`). A checkpoint trained with BatchNorm loaded with
            ``use_bn=False`` gives wrong embeddings without any error.
        stride: per-stage downsampling, not recorded in the weights (official: 2).
        n_classes: deprecated name of ``num_classes`` (a ``DeprecationWarning``; removed in
            ecgfm 0.2.0).
    """
    if n_classes is not None:
        if num_classes is not None:
            raise TypeError(
                "load_ecgfounder: got num_classes= and the deprecated n_classes=; pass only "
                "num_classes="
            )
        warn_deprecated(
            "load_ecgfounder(..., n_classes=...)", "load_ecgfounder(..., num_classes=...)"
        )
        num_classes = n_classes
    ckpt = load_official_checkpoint(path)
    args = infer_net1d_args(ckpt)
    if num_leads is not None and num_leads != args["in_channels"]:
        raise ValueError(
            f"{path}: expected a {num_leads}-lead model but the checkpoint's first convolution "
            f"takes {args['in_channels']} input channels"
        )
    has_head = args["num_classes"] > 0
    if num_classes is None:
        num_classes = args["num_classes"]
    elif num_classes != 0 and num_classes != args["num_classes"]:
        found = f"a {args['num_classes']}-class head" if has_head else "no head"
        raise ValueError(
            f"{path}: num_classes={num_classes} but the checkpoint has {found}; load with "
            "num_classes=0 and call model.reset_classifier(num_classes) for a new head"
        )
    new_sd, report = ecgfounder_state_dict_to_ecgfm(
        ckpt, use_bn=use_bn, drop_head=has_head and num_classes == 0, source=str(path)
    )
    args.update(num_classes=num_classes, use_bn=use_bn, stride=stride)
    model = _create(args)
    model.load_state_dict(new_sd, strict=True)
    model.conversion_report = report
    _logger.info("loaded ECGFounder checkpoint %s: %s", path, report.summary())
    return model.eval()


def _create(args: dict[str, Any]) -> Net1D:
    """Create through the registry (so ``arch_name``/``arch_args`` are recorded for the hub)."""
    name = "net1d_ecgfounder_lead1" if args["in_channels"] == 1 else "net1d_ecgfounder"
    defaults = {**ECGFOUNDER_NET1D_ARGS, "in_channels": 1 if args["in_channels"] == 1 else 12}
    overrides = {k: v for k, v in args.items() if _differs(defaults.get(k), v)}
    model = create_model(name, **overrides)
    assert isinstance(model, Net1D)
    return model


def _differs(a: Any, b: Any) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return tuple(a) != tuple(b)
    if isinstance(a, float) or isinstance(b, float):
        return a is None or not math.isclose(a, b)
    return a != b
