"""Loading encoder weights for training (teachers, student initialisations) and fingerprints.

:func:`load_encoder` accepts every form of weights ecgfm produces or converts:

- a directory written by :func:`ecgfm.hub.save_pretrained` (``config.json`` +
  ``model.safetensors``; what :func:`ecgfm.train.loop.fit` exports as ``<out>/encoder``), its
  ``model.safetensors`` (read through the directory's card), a registered pretrained name or an
  ``hf-hub:owner/repo`` id — through :func:`ecgfm.hub.from_pretrained`;
- a bare ``.safetensors`` file: the architecture is read from its ``ecgfm`` metadata (the
  ``encoder.safetensors`` / ``student.safetensors`` of earlier releases, written by the
  deprecated :func:`ecgfm.train.checkpoint.export_encoder`), or given as ``arch`` for a plain
  state dict;
- an official ECGFounder ``.pth`` checkpoint, converted by :mod:`ecgfm.convert.ecgfounder`.

Every safetensors file is read and loaded by :func:`ecgfm.hub._io.load_safetensors_strict`,
the reader of ``from_pretrained``: same strictness (every key and shape), same typed errors.

:func:`state_fingerprint` hashes an encoder's weights (used to key cached teacher embeddings).
"""

from __future__ import annotations

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
    from ecgfm.hub._io import load_safetensors_strict, read_ecgfm_metadata
    from ecgfm.models import create_model

    what = f"encoder weights {path}"
    info = read_ecgfm_metadata(path, what=what)
    if info.get("kind") == "warm_start":
        raise ValueError(
            f"{path} is the warm-start file of a whole {info.get('model', 'pre-training model')} "
            "(every trainable weight of a run), not an encoder: load the run's encoder "
            "directory (<out>/encoder) instead, or start a run from this file with "
            "TrainConfig(init=...) / --init"
        )
    stored_arch = info.get("arch")
    if arch is not None and stored_arch is not None and arch != stored_arch:
        raise ValueError(f"{path} holds a {stored_arch!r} encoder, not {arch!r}")
    arch = arch or stored_arch or fallback_arch
    if arch is None:
        raise ValueError(
            f"{path} does not say which architecture it holds; pass the architecture name "
            "(e.g. --teacher-arch net1d_ecgfounder)"
        )
    stored_args = info.get("arch_args", {})
    if not isinstance(stored_args, dict):
        raise ValueError(f"{what}: malformed 'ecgfm' metadata (arch_args is not an object)")
    # arch_args stored by an earlier release may use renamed arguments: upgraded silently
    kwargs = upgrade_arch_args(stored_args) if arch_args is None else dict(arch_args)
    model = create_model(arch, **kwargs)
    load_safetensors_strict(
        model,
        path,
        what=what,
        advice="pass the architecture arguments the weights were trained with",
    )
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
        TypeError: ``source`` is not a path or string.
        FileNotFoundError: a path that does not exist.
        ValueError: weights that do not fit (:class:`ecgfm.hub.ArchitectureMismatchError`),
            unreadable or altered files (:class:`ecgfm.hub.WeightsIntegrityError`), or an
            ``arch`` / ``arch_args`` that the source contradicts.
    """
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"source must be a path or a string (directory, registered name, hf-hub: id, "
            f".safetensors or .pth file), got {type(source).__name__}"
        )
    from ecgfm.hub._save import CONFIG_NAME, WEIGHTS_NAME

    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.name == WEIGHTS_NAME and (path.parent / CONFIG_NAME).is_file():
        path = path.parent  # the weights of a save_pretrained directory: load it with its card
        text = str(path)
    if path.is_dir() or text.startswith("hf-hub:") or not (path.suffix and path.exists()):
        if not path.is_dir() and path.suffix in (".safetensors", ".pth", ".pt"):
            raise FileNotFoundError(f"no weights file at {path}")
        if arch_args is not None:
            raise ValueError(
                f"arch_args applies to a plain .safetensors state dict; {text} records its "
                "architecture and arguments in its card: leave arch_args out"
            )
        from ecgfm.hub import from_pretrained

        encoder = from_pretrained(text).encoder
        loaded = getattr(encoder, "arch_name", None)
        if arch is not None and loaded != arch:
            raise ValueError(f"{text} holds a {loaded!r} encoder, not {arch!r}")
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
