"""``from_pretrained``: resolve a name or path to weights, build the encoder, load strictly.

Resolution order of ``name_or_path``:

1. an existing local directory in the ecgfm format (``config.json`` + ``model.safetensors``);
2. ``"hf-hub:owner/repo"``: the same two files from the Hugging Face Hub, through its cache
   (``HF_HOME`` / ``HF_HUB_CACHE`` / ``HF_HUB_OFFLINE`` honoured, read at call time);
3. a registered name (:func:`ecgfm.list_pretrained`): ``checkpoint_path`` if given, else the
   bundled file in ``weights/`` (sha256-verified), else the card's Hugging Face entry
   (``revision`` given explicitly skips the bundled copy), else, for weights the user must
   supply (ST-MEM), an error that explains the licence and where to get the file.

Official checkpoints (ECGFounder ``.pth``, ST-MEM ``encoder.pth``) go through the converters
in :mod:`ecgfm.convert`.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ecgfm._interface import advice
from ecgfm.hub._card import PretrainedCard
from ecgfm.hub._errors import (
    ArchitectureMismatchError,
    PretrainedNotFoundError,
    WeightsIntegrityError,
    WeightsUnavailableError,
)
from ecgfm.hub._hf import REPO_ID_PATTERN, hf_download, parse_hf_id
from ecgfm.hub._io import (
    bundled_weights_dirs,
    find_bundled_file,
    load_safetensors_strict,
    read_ecgfm_metadata,
    verify_sha256,
)
from ecgfm.hub._model import PretrainedEncoder
from ecgfm.hub._pretrained_registry import (
    _suggestion,
    is_pretrained,
    list_pretrained,
    pretrained_card,
)
from ecgfm.hub._save import CONFIG_NAME, FORMAT_VERSION, WEIGHTS_NAME

__all__ = ["from_pretrained", "load_ecgfounder_pretrained", "load_st_mem"]

logger = logging.getLogger(__name__)

# weights.format -> the `ecgfm convert` kind that reads it
_CONVERTER = {"ecgfounder": "ecgfounder", "st-mem": "st-mem"}

_DTYPES = {
    None: None,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    torch.float32: torch.float32,
    torch.float16: torch.float16,
    torch.bfloat16: torch.bfloat16,
}


def _read_config(path: Path) -> PretrainedCard:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WeightsIntegrityError(f"{path} is not readable JSON ({err})") from None
    if not isinstance(config, dict) or config.get("format") != "ecgfm":
        raise WeightsIntegrityError(
            f'{path} is not an ecgfm config (no "format": "ecgfm"); directories for '
            "from_pretrained are written by ecgfm.save_pretrained"
        )
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise WeightsIntegrityError(
            f"{path} has format_version {version!r}; this ecgfm reads up to {FORMAT_VERSION}: "
            "upgrade ecgfm"
        )
    try:
        return PretrainedCard.from_dict(config["card"])
    except (KeyError, ValueError, TypeError) as err:
        raise WeightsIntegrityError(f"{path}: invalid card ({err})") from None


def _check_arch_known(card: PretrainedCard) -> None:
    from ecgfm.models import is_model

    if not is_model(card.arch):
        raise ArchitectureMismatchError(
            f"card {card.name!r} needs architecture {card.arch!r}, which this version of ecgfm "
            "does not have (ecgfm.models.list_models()); upgrade ecgfm"
        )


def _build(card: PretrainedCard) -> nn.Module:
    from ecgfm.models import create_model

    _check_arch_known(card)
    return create_model(card.arch, **dict(card.arch_args))


def _load_ecgfm_file(card: PretrainedCard, path: Path, *, verify: bool = True) -> nn.Module:
    """Build ``card.arch`` and load the safetensors ``path`` into it, strictly."""
    what = f"weights of {card.name!r}"
    _check_arch_known(card)
    if verify and card.weights.sha256 is not None:
        verify_sha256(path, card.weights.sha256, what=what)
    elif verify:
        logger.warning("%s: %s has no sha256 in its card; integrity not verified", what, path)
    # the architecture the file names is checked before the card's is built from its arguments
    stored_arch = read_ecgfm_metadata(path, what=what).get("arch")
    if stored_arch is not None and stored_arch != card.arch:
        raise ArchitectureMismatchError(
            f"{what}: {path} holds weights of architecture {stored_arch!r} but the card says "
            f"{card.arch!r}"
        )
    model = _build(card)
    load_safetensors_strict(model, path, what=what, storage_dtype=card.weights.storage_dtype)
    return model


def _load_directory(directory: Path) -> tuple[nn.Module, PretrainedCard]:
    config_path = directory / CONFIG_NAME
    weights_path = directory / WEIGHTS_NAME
    if not config_path.is_file():
        raise WeightsUnavailableError(
            f"{directory} is not an ecgfm model directory: {CONFIG_NAME} is missing (expected "
            f"{CONFIG_NAME} + {WEIGHTS_NAME} written by ecgfm.save_pretrained)"
        )
    card = _read_config(config_path)
    if card.weights.format != "ecgfm":
        raise WeightsIntegrityError(f"{config_path}: weights.format must be 'ecgfm' in a directory")
    if not weights_path.is_file():
        raise WeightsUnavailableError(
            f"{directory}: {WEIGHTS_NAME} is missing (the directory is incomplete; save it again)"
        )
    return _load_ecgfm_file(card, weights_path), card


def _from_card(
    card: PretrainedCard, *, revision: str | None, checkpoint_path: str | os.PathLike[str] | None
) -> nn.Module:
    w = card.weights
    if revision is not None and w.hf_repo_id is None:
        raise ValueError(
            f"revision={revision!r} only applies to Hugging Face entries; {card.name!r} has none"
        )
    if checkpoint_path is not None:
        path = Path(checkpoint_path).expanduser()
        if not path.is_file():
            flag = advice(python="checkpoint_path", cli="--checkpoint-path")
            raise WeightsUnavailableError(f"{flag} {path} does not exist (or is not a file)")
        return _load_card_file(card, path, local=True)
    if w.format == "ecgfm" and w.file is not None and revision is None:
        bundled = find_bundled_file(w.file)
        if bundled is not None:
            return _load_ecgfm_file(card, bundled)
        if w.hf_repo_id is None:
            searched = ", ".join(str(d) for d in bundled_weights_dirs()) or "none"
            raise WeightsUnavailableError(
                f"{card.name!r}: bundled file {w.file!r} not found (searched: {searched}); "
                "reinstall ecgfm (`pip install .` ships weights/ in the wheel) or set "
                "ECGFM_WEIGHTS_DIR to a directory holding it"
            )
    if w.hf_repo_id is not None:
        filename = w.hf_filename or WEIGHTS_NAME
        path = hf_download(w.hf_repo_id, filename, revision=revision or w.hf_revision)
        return _load_card_file(card, path, local=False)
    hint = w.user_file_hint or "see the card"
    why = (
        f"licence {card.license}: redistribution not allowed"
        if not w.redistributable
        else f"licence {card.license}"
    )
    how = advice(
        python=f"ecgfm.from_pretrained({card.name!r}, checkpoint_path='path/to/file')",
        cli=f"`ecgfm embed {card.name} ... --checkpoint-path FILE`, or convert it once with "
        f"`ecgfm convert {_CONVERTER.get(w.format, w.format)} FILE DIR` and use DIR",
    )
    raise WeightsUnavailableError(
        f"{card.name!r}: these weights are not bundled or hosted by ecgfm ({why}). Obtain the "
        f"file yourself — {hint} — and pass it: {how}"
    )


def _load_card_file(card: PretrainedCard, path: Path, *, local: bool) -> nn.Module:
    """Load a file of the card's format; user-supplied files of hosted entries are verified."""
    fmt = card.weights.format
    if fmt == "ecgfm":
        return _load_ecgfm_file(card, path)
    if card.weights.sha256 is not None:
        verify_sha256(path, card.weights.sha256, what=f"weights of {card.name!r}")
    if fmt == "ecgfounder":
        from ecgfm.convert.ecgfounder import load_ecgfounder

        num_classes = int(card.arch_args.get("num_classes", 150))
        return load_ecgfounder(path, num_leads=len(card.input.leads), num_classes=num_classes)
    from ecgfm.hub._converted_cards import st_mem_encoder_from_official

    return st_mem_encoder_from_official(path, in_leads=card.input.leads)


def _check_dtype(dtype: Any) -> None:
    try:
        known = dtype in _DTYPES
    except TypeError:  # unhashable
        known = False
    if not known:
        raise ValueError(f"dtype must be float32, float16 or bfloat16 (or None), got {dtype!r}")


def available_devices() -> list[str]:
    """The torch devices this process can use: ``cpu``, then ``cuda:N`` and ``mps`` if present."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def _device_problem(dev: torch.device) -> str | None:
    """Why ``dev`` cannot hold the model in this process (``None``: it can)."""
    if dev.type == "cpu":
        return None
    if dev.type == "meta":
        return "the meta device holds no values, so weights cannot be loaded onto it"
    if dev.type == "cuda":
        if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
            return f"this PyTorch ({torch.__version__}) was built without CUDA support"
        if not torch.cuda.is_available():
            return "PyTorch sees no CUDA GPU (driver, CUDA_VISIBLE_DEVICES)"
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            return f"there are {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
        return None
    backend = getattr(torch, dev.type, None)
    if dev.type == "mps":
        backend = getattr(torch.backends, "mps", None)
    is_available = getattr(backend, "is_available", None)
    if is_available is None or not is_available():
        return f"PyTorch has no usable {dev.type!r} backend in this process"
    return None


def check_device(device: Any) -> torch.device | None:
    """``device`` as a :class:`torch.device` after checking that it exists here.

    Raises:
        TypeError: not a string, an int (CUDA index), a ``torch.device`` or ``None``.
        ValueError: not a device name, or a device this process cannot use; the message lists
            the devices that are available.
    """
    if device is None:
        return None
    if isinstance(device, bool) or not isinstance(device, (str, int, torch.device)):
        raise TypeError(
            "device must be a string such as 'cpu' or 'cuda:0', a torch.device or None, got "
            f"{type(device).__name__}: {device!r}"
        )
    available = ", ".join(available_devices())
    what = advice(python=f"device={device!r}", cli=f"--device {device}")
    fix = advice(
        python="pass one of them as device= (or leave device out for the CPU)",
        cli="pass one of them to --device (or leave --device out for the CPU)",
    )
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(
            f"{what} is not a torch device name (such as cpu, cuda, cuda:1 or mps). Available "
            f"here: {available}; {fix}"
        ) from None
    problem = _device_problem(dev)
    if problem is not None:
        raise ValueError(f"{what} cannot be used: {problem}. Available here: {available}; {fix}")
    return dev


def _finish(
    model: nn.Module, card: PretrainedCard, device: torch.device | None, dtype: Any
) -> PretrainedEncoder:
    out = PretrainedEncoder(model, card)
    target_dtype = _DTYPES[dtype] or torch.float32
    out = out.to(device=device, dtype=target_dtype) if device is not None else out.to(target_dtype)
    return out.eval()


def from_pretrained(
    name_or_path: str | os.PathLike[str],
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | str | None = None,
    revision: str | None = None,
    checkpoint_path: str | os.PathLike[str] | None = None,
) -> PretrainedEncoder:
    """Load a pretrained encoder with its card and preprocessing (see the module docstring).

    Args:
        name_or_path: a directory written by :func:`save_pretrained`, ``"hf-hub:owner/repo"``
            or a registered name (:func:`list_pretrained`).
        device: where to put the model (default: CPU).
        dtype: parameter dtype (default float32; fp16/bf16-stored weights are upcast).
        revision: Hugging Face branch, tag or commit (``hf-hub:`` ids and hosted entries).
        checkpoint_path: a local weight file for a registered entry (required for entries
            whose licence forbids hosting, e.g. ST-MEM; the card's sha256 is checked when the
            card has one).

    Returns:
        A :class:`PretrainedEncoder` in ``eval()`` mode.

    Raises:
        PretrainedNotFoundError: unknown name (with close matches), repository or revision.
        WeightsUnavailableError: missing file, offline with an empty cache, no user file.
        WeightsIntegrityError: sha256 mismatch, unreadable or tampered files.
        ArchitectureMismatchError: the weights do not fit the card's architecture.
        ValueError: ``device`` is not available here (the message lists those that are) or
            ``dtype`` is not a floating-point dtype; both are checked before anything is read.
    """
    device = check_device(device)
    _check_dtype(dtype)
    if isinstance(name_or_path, os.PathLike) or (
        isinstance(name_or_path, str) and Path(name_or_path).expanduser().is_dir()
    ):
        directory = Path(name_or_path).expanduser()
        if not directory.is_dir():
            raise WeightsUnavailableError(f"{directory} is not a directory (or does not exist)")
        if revision is not None or checkpoint_path is not None:
            raise ValueError(
                advice(
                    python="revision= and checkpoint_path= do not apply to a local directory",
                    cli="--checkpoint-path does not apply to a model directory",
                )
            )
        model, card = _load_directory(directory)
        return _finish(model, card, device, dtype)
    if not isinstance(name_or_path, str):
        raise TypeError(
            f"name_or_path must be a string or a path, got {type(name_or_path).__name__}"
        )
    if name_or_path.startswith("hf-hub:"):
        if checkpoint_path is not None:
            flag = advice(python="checkpoint_path=", cli="--checkpoint-path")
            raise ValueError(f"{flag} does not apply to an hf-hub: id")
        repo = parse_hf_id(name_or_path)
        config_path = hf_download(repo, CONFIG_NAME, revision=revision)
        weights_path = hf_download(repo, WEIGHTS_NAME, revision=revision)
        if weights_path.parent != config_path.parent:
            raise WeightsIntegrityError(
                f"{repo}: config.json and model.safetensors resolved to different snapshots"
            )
        model, card = _load_directory(config_path.parent)
        return _finish(model, card, device, dtype)
    if is_pretrained(name_or_path):
        card = pretrained_card(name_or_path)
        model = _from_card(card, revision=revision, checkpoint_path=checkpoint_path)
        return _finish(model, card, device, dtype)
    raise _not_found(name_or_path)


def _close_model_directories(path: Path) -> list[str]:
    """Model directories (with ``config.json``) next to ``path`` whose names are close to it."""
    parent = path.parent
    if not parent.is_dir():
        return []
    names = []
    try:
        for i, child in enumerate(parent.iterdir()):
            if i >= 2000:  # a huge directory (/tmp): do not scan it all for a hint
                break
            if (child / CONFIG_NAME).is_file():
                names.append(child.name)
    except OSError:
        return []
    close = difflib.get_close_matches(path.name, names, n=3, cutoff=0.6)
    return [str(parent / n) for n in close]


def _not_found(name: str) -> Exception:
    """The error for a string that is no directory, ``hf-hub:`` id or registered name.

    Its hints are only things that can work: close registered names, existing model
    directories next to a mistyped path, and ``hf-hub:owner/repo`` for a string shaped like
    a repository id (never for a filesystem path such as ``/tmp/model``).
    """
    p = Path(name).expanduser()
    if p.is_file():
        return ValueError(
            f"{p} is a file; a model is loaded from a directory written by save_pretrained. "
            + advice(
                python="For an official checkpoint pass it with its registered name "
                "(from_pretrained('ecgfounder-12lead', checkpoint_path=...)) or convert it once "
                "with `ecgfm convert`",
                cli="For an official checkpoint pass it with its registered name (`ecgfm embed "
                "ecgfounder-12lead ... --checkpoint-path FILE`) or convert it once with "
                "`ecgfm convert {ecgfounder,st-mem} FILE DIR` and use DIR",
            )
        )
    hint = _suggestion(name)
    if "/" in name or os.sep in name or name.startswith(("~", ".")):
        hint += f" No directory {p} exists"
        if not p.parent.is_dir():
            hint += f" ({p.parent} does not exist either)"
        nearby = _close_model_directories(p)
        hint += f"; did you mean {' or '.join(nearby)}?" if nearby else "."
        if REPO_ID_PATTERN.match(name):
            hint += f" For the Hugging Face repository {name!r} write 'hf-hub:{name}'."
    registered = ", ".join(list_pretrained())
    listing = advice(python="ecgfm.list_pretrained()", cli="`ecgfm list`")
    return PretrainedNotFoundError(
        f"{name!r} is not a model directory, an 'hf-hub:owner/repo' id or a registered "
        f"pretrained name.{hint} Registered names: {registered} (details: {listing})."
    )


def load_ecgfounder_pretrained(
    path: str | os.PathLike[str], *, lead1: bool = False, **kwargs: Any
) -> PretrainedEncoder:
    """An official ECGFounder ``.pth`` as a :class:`PretrainedEncoder` (card + preprocessing)."""
    name = "ecgfounder-lead1" if lead1 else "ecgfounder-12lead"
    return from_pretrained(name, checkpoint_path=path, **kwargs)


def load_st_mem(path: str | os.PathLike[str], **kwargs: Any) -> PretrainedEncoder:
    """The official ST-MEM ViT-B encoder (``encoder.pth`` you downloaded) with its card.

    ST-MEM weights are CC BY-NC 4.0: ecgfm never bundles or hosts them. Get ``encoder.pth``
    from the official ST-MEM repository (bakqui/ST-MEM on GitHub) and pass its path.
    """
    return from_pretrained("st-mem-vit-base", checkpoint_path=path, **kwargs)
