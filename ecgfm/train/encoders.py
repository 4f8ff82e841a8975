"""Loading encoder weights for training (teachers, student initialisations) and fingerprints.

:func:`load_encoder` accepts every form of weights ecgfm produces or converts:

- a directory written by :func:`ecgfm.hub.save_pretrained` (``config.json`` +
  ``model.safetensors``), a registered pretrained name or an ``hf-hub:owner/repo`` id — through
  :func:`ecgfm.hub.from_pretrained`;
- a ``.safetensors`` file: the architecture is read from its ``ecgfm`` metadata (written by
  :func:`ecgfm.train.checkpoint.export_encoder` and ``save_pretrained``), or given as ``arch``
  for a plain state dict;
- an official ECGFounder ``.pth`` checkpoint, converted by :mod:`ecgfm.convert.ecgfounder`.

:func:`state_fingerprint` hashes an encoder's weights (used to key cached teacher embeddings).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from ecgfm._cache import state_sha256
from ecgfm._deprecated import upgrade_arch_args

__all__ = ["build_encoder", "load_encoder", "state_fingerprint", "strip_head"]


def strip_head(encoder: nn.Module) -> nn.Module:
    """Remove a classification head (``num_classes > 0``) in place; keeps ``arch_args`` in sync.

    Pre-training only uses embeddings; a head would hold parameters that never receive a
    gradient (DDP refuses those by default).
    """
    head = getattr(encoder, "head", None)
    if head is None or isinstance(head, nn.Identity):
        return encoder
    if not hasattr(encoder, "reset_classifier"):
        raise ValueError(
            f"{type(encoder).__name__} has a classification head and no reset_classifier; "
            "build it without one (num_classes=0)"
        )
    encoder.reset_classifier(0)
    if isinstance(getattr(encoder, "arch_args", None), dict):
        encoder.arch_args["num_classes"] = 0
    return encoder


def _from_safetensors(
    path: Path, arch: str | None, arch_args: Mapping[str, Any] | None, fallback_arch: str | None
) -> nn.Module:
    import safetensors

    from ecgfm.models import create_model

    with safetensors.safe_open(str(path), framework="pt", device="cpu") as f:
        meta = dict(f.metadata() or {})
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118  (not a dict)
    info: dict[str, Any] = {}
    if "ecgfm" in meta:
        try:
            info = json.loads(meta["ecgfm"])
        except json.JSONDecodeError:
            raise ValueError(f"{path}: malformed 'ecgfm' metadata") from None
    stored_arch = info.get("arch")
    if arch is not None and stored_arch is not None and arch != stored_arch:
        raise ValueError(f"{path} holds a {stored_arch!r} encoder, not {arch!r}")
    arch = arch or stored_arch or fallback_arch
    if arch is None:
        raise ValueError(
            f"{path} does not say which architecture it holds; pass the architecture name "
            "(e.g. --teacher-arch net1d_ecgfounder)"
        )
    # arch_args stored by an earlier release may use renamed arguments: upgraded silently
    kwargs = upgrade_arch_args(info.get("arch_args", {})) if arch_args is None else dict(arch_args)
    model = create_model(arch, **kwargs)
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        raise ValueError(
            f"{path} does not fit {arch}({kwargs}): missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}, other shapes {shapes[:5]}; pass the architecture arguments the "
            "weights were trained with"
        )
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)
    return model


def _name_official(encoder: nn.Module) -> None:
    """Give a converted ECGFounder model the registered name whose shapes it matches."""
    from ecgfm.models import create_model

    if encoder.in_channels == 12:
        candidates = [("net1d_ecgfounder", {"num_classes": 0}), ("net1d_small", {})]
    else:
        candidates = [("net1d_ecgfounder_lead1", {"num_classes": 0}),
                      ("net1d_small", {"in_channels": encoder.in_channels})]  # fmt: skip
    own = {k: v.shape for k, v in encoder.state_dict().items()}
    for name, kwargs in candidates:
        try:
            reference = create_model(name, **kwargs)
        except ValueError:
            continue
        if {k: v.shape for k, v in reference.state_dict().items()} == own and (
            reference.in_leads == encoder.in_leads
        ):
            encoder.arch_name = name
            encoder.arch_args = dict(kwargs)
            return


def load_encoder(
    source: str | os.PathLike[str],
    *,
    arch: str | None = None,
    arch_args: Mapping[str, Any] | None = None,
    num_leads: int | None = None,
    fallback_arch: str | None = None,
) -> nn.Module:
    """A bare encoder (float32, CPU, eval mode, classification head removed) from ``source``.

    Args:
        source: directory / registered name / ``hf-hub:`` id / ``.safetensors`` / ECGFounder
            ``.pth`` (see the module docstring).
        arch, arch_args: architecture of a plain safetensors state dict (checked against the
            file's metadata when it has some).
        num_leads: expected number of input leads (checked).
        fallback_arch: architecture of a safetensors file without ecgfm metadata when
            ``arch`` is not given (files with metadata use theirs).

    Raises:
        FileNotFoundError: a path that does not exist; ValueError: weights that do not fit.
    """
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.is_dir() or text.startswith("hf-hub:") or not (path.suffix and path.exists()):
        if not path.is_dir() and path.suffix in (".safetensors", ".pth", ".pt"):
            raise FileNotFoundError(f"no weights file at {path}")
        from ecgfm.hub import from_pretrained

        encoder = from_pretrained(text).encoder
    elif path.suffix == ".safetensors":
        encoder = _from_safetensors(path, arch, arch_args, fallback_arch)
    elif path.suffix in (".pth", ".pt"):
        from ecgfm.convert.ecgfounder import load_ecgfounder

        encoder = load_ecgfounder(path, num_classes=0)
        _name_official(encoder)
    else:
        raise ValueError(f"unsupported weights file {path} (.safetensors, .pth or a directory)")
    encoder = strip_head(encoder.float().cpu().eval())
    leads = getattr(encoder, "in_leads", None)
    if num_leads is not None and leads is not None and len(leads) != num_leads:
        raise ValueError(f"{text}: expected a {num_leads}-lead encoder, got leads {list(leads)}")
    return encoder


def build_encoder(
    source: str | None,
    *,
    arch: str,
    arch_args: Mapping[str, Any] | None = None,
    num_leads: int | None = None,
) -> nn.Module:
    """``create_model(arch, **arch_args)`` without head for ``source`` None or ``"random"``;
    otherwise :func:`load_encoder` (``arch`` serves for files without metadata)."""
    from ecgfm.models import create_model

    if source is None or source == "random":
        encoder = strip_head(create_model(arch, **dict(arch_args or {})))
        leads = getattr(encoder, "in_leads", None)
        if num_leads is not None and leads is not None and len(leads) != num_leads:
            raise ValueError(f"{arch} takes leads {list(leads)}, expected {num_leads} lead(s)")
        return encoder
    return load_encoder(source, fallback_arch=arch, num_leads=num_leads)


def state_fingerprint(module: nn.Module) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of ``module``'s state dict
    (:func:`ecgfm._cache.state_sha256`, the hash that also keys cached record embeddings)."""
    return state_sha256(module)
