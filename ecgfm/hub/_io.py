"""Weight files: checksums, the bundled ``weights/`` directory, safetensors read/write, strict load.

This module is the one place where ecgfm reads and writes weight files: ``from_pretrained``,
``save_pretrained``, :func:`ecgfm.train.encoders.load_encoder` and the training exports
(:mod:`ecgfm.train.checkpoint`) all go through it. Reading into a model is
:func:`load_safetensors_strict` (every key and shape must match, floating tensors are cast to
the model's dtype, typed errors that say what to do); writing is :func:`write_safetensors`
(atomic: a temporary file in the target directory renamed over the target).

Checksums: every load of a file whose sha256 is known verifies it. Hashing a 100 MB file takes
a fraction of a second, but to keep repeated loads in one process cheap the digest is cached
per ``(real path, mtime_ns, size, inode)``; any rewrite of the file changes that key and forces
a new hash.

Bundled weights are searched in ``$ECGFM_WEIGHTS_DIR`` (if set; e.g. weights too large for the
wheel, placed on disk by an administrator), then in the installed package ``ecgfm._weights``
(the repository's top-level ``weights/`` directory, shipped in the wheel), then in the
``weights/`` directory next to the ``ecgfm`` source folder (a source checkout that is not
installed).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from torch import nn

from ecgfm.hub._bundle import package_weights_dirs
from ecgfm.hub._errors import ArchitectureMismatchError, WeightsIntegrityError

__all__ = [
    "bundled_weights_dirs",
    "ecgfm_metadata",
    "find_bundled_file",
    "load_safetensors_strict",
    "load_state_dict_strict",
    "new_file_mode",
    "read_ecgfm_metadata",
    "read_safetensors",
    "read_safetensors_metadata",
    "rounding_error",
    "serialize_safetensors",
    "sha256_file",
    "storage_dtype_name",
    "storage_tensors",
    "verify_sha256",
    "write_safetensors",
]

_STORAGE_TORCH_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
_SHA_CACHE: dict[tuple[str, int, int, int], str] = {}


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file (cached in-process per path, mtime, size and inode)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size, st.st_ino)
    cached = _SHA_CACHE.get(key)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    with p.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    _SHA_CACHE[key] = digest
    return digest


def verify_sha256(path: str | os.PathLike[str], expected: str, *, what: str) -> None:
    """Raise :class:`WeightsIntegrityError` if the file's sha256 differs from ``expected``."""
    actual = sha256_file(path)
    if actual != expected:
        raise WeightsIntegrityError(
            f"{what}: sha256 of {path} is {actual} but {expected} was expected. The file is "
            "corrupted, truncated or was modified; delete it and obtain it again (re-download, "
            "reinstall ecgfm, or save_pretrained again)"
        )


def bundled_weights_dirs() -> list[Path]:
    """Directories searched for bundled weight files, in order (existing ones only)."""
    dirs: list[Path] = []
    env = os.environ.get("ECGFM_WEIGHTS_DIR")
    if env:
        dirs.append(Path(env).expanduser())
    dirs += package_weights_dirs()
    seen: set[Path] = set()
    out = []
    for d in dirs:
        r = d.resolve()
        if r not in seen and r.is_dir():
            seen.add(r)
            out.append(r)
    return out


def find_bundled_file(filename: str) -> Path | None:
    """Path of the bundled weight file ``filename``, or None if no search directory has it."""
    for d in bundled_weights_dirs():
        candidate = d / filename
        if candidate.is_file():
            return candidate
    return None


def storage_dtype_name(dtype: str | torch.dtype, *, argument: str = "storage_dtype") -> str:
    """The storage dtype name (``"float32"``, ``"float16"``, ``"bfloat16"``) of a name or dtype.

    Raises:
        ValueError: another dtype; the message names ``argument`` and the accepted values.
    """
    for name, torch_dtype in _STORAGE_TORCH_DTYPES.items():
        if dtype == name or dtype is torch_dtype:
            return name
    hint = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32"}
    alias = hint.get(dtype) if isinstance(dtype, str) else None
    suggestion = f" (did you mean {argument}={alias!r}?)" if alias else ""
    raise ValueError(
        f"{argument} must be one of {sorted(_STORAGE_TORCH_DTYPES)} or the matching torch "
        f"dtype, got {dtype!r}{suggestion}"
    )


def storage_tensors(
    state_dict: Mapping[str, torch.Tensor], storage_dtype: str
) -> dict[str, torch.Tensor]:
    """CPU copies of ``state_dict`` with floating tensors cast to ``storage_dtype``.

    Every entry is an independent contiguous tensor (tied weights, a module registered under
    two names, become separate copies), so every key can be written to safetensors.
    """
    target = _STORAGE_TORCH_DTYPES[storage_dtype_name(storage_dtype)]
    tensors: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"state dict entry {key!r} is a {type(value).__name__}, not a tensor")
        t = value.detach().to("cpu")
        if t.is_floating_point():
            t = t.to(target)
        tensors[key] = t.contiguous().clone()
    return tensors


def rounding_error(
    original: Mapping[str, torch.Tensor], stored: Mapping[str, torch.Tensor]
) -> tuple[float, int]:
    """How much storing changed the floating tensors: ``(max abs change, overflow count)``.

    ``original`` and ``stored`` have the same keys and shapes (``stored`` from
    :func:`storage_tensors`). The change is measured in float64 over the finite values of
    ``original``; a finite value that became infinite (beyond float16's range) is counted as an
    overflow instead. ``(0.0, 0)`` means the stored tensors hold exactly the original values.
    """
    worst, overflow = 0.0, 0
    for key, value in original.items():
        if not value.is_floating_point():
            continue
        a, b = value.detach().to("cpu"), stored[key]
        if torch.equal(b.to(a.dtype), a):  # the common case, without float64 copies
            continue
        a64, b64 = a.to(torch.float64), b.to(torch.float64)
        finite = torch.isfinite(a64)
        overflowed = finite & torch.isinf(b64)
        overflow += int(overflowed.sum())
        diff = torch.where(finite & ~overflowed, (a64 - b64).abs(), 0.0)
        if diff.numel():
            worst = max(worst, float(diff.max()))
    return worst, overflow


def serialize_safetensors(
    tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None
) -> bytes:
    """The safetensors bytes of ``tensors`` (from :func:`storage_tensors`) and ``metadata``.

    Deterministic for given tensors and at most one metadata key (safetensors writes several
    keys in hash-map order, which varies between processes).
    """
    return safetensors.torch.save(dict(tensors), metadata=dict(metadata or {}))


def new_file_mode() -> int:
    """Permissions of a new regular file under the current umask (``mkstemp`` uses 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in its directory, flushed and
    renamed over it: an interrupted write leaves the previous file (or none), never half of one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, new_file_mode())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def write_safetensors(
    state_dict: Mapping[str, torch.Tensor],
    path: str | os.PathLike[str],
    *,
    storage_dtype: str = "float32",
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write a state dict as safetensors (atomically), floating tensors cast to ``storage_dtype``.

    Returns:
        The path written.
    """
    data = serialize_safetensors(storage_tensors(state_dict, storage_dtype), metadata)
    return atomic_write_bytes(path, data)


def read_safetensors_metadata(path: str | os.PathLike[str]) -> dict[str, str] | None:
    """The metadata of a safetensors file (its header only), or None if it is not readable."""
    try:
        with safetensors.safe_open(str(path), framework="pt", device="cpu") as f:
            return dict(f.metadata() or {})
    except (safetensors.SafetensorError, OSError, ValueError):
        return None


def read_safetensors(
    path: str | os.PathLike[str], *, what: str
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read ``(state_dict, metadata)`` from a safetensors file (CPU tensors).

    Raises:
        WeightsIntegrityError: the file is not a readable safetensors file (corrupted,
            truncated, or another format such as a pickled ``.pth``).
    """
    try:
        with safetensors.safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118  (not a dict)
    except (safetensors.SafetensorError, OSError, ValueError) as err:
        raise WeightsIntegrityError(
            f"{what}: {path} is not a readable safetensors file ({err}). It is corrupted or "
            "truncated; obtain it again (for official .pth checkpoints use ecgfm convert)"
        ) from None
    return tensors, metadata


def ecgfm_metadata(
    metadata: Mapping[str, str] | None, *, path: str | os.PathLike[str], what: str
) -> dict[str, Any]:
    """The JSON object under the ``"ecgfm"`` key of a safetensors header (``{}`` without one).

    ecgfm writes ``{"arch": ..., "arch_args": ...}`` (and provenance) for an encoder,
    ``{"arch": ..., "card": ...}`` in a ``save_pretrained`` directory and
    ``{"kind": "warm_start", ...}`` for the whole-model file of a training run.

    Raises:
        WeightsIntegrityError: the key holds something other than a JSON object.
    """
    raw = (metadata or {}).get("ecgfm")
    if raw is None:
        return {}
    try:
        info = json.loads(raw)
    except json.JSONDecodeError:
        info = None
    if not isinstance(info, dict):
        raise WeightsIntegrityError(
            f"{what}: {path} has malformed ecgfm metadata (the 'ecgfm' header entry is not a "
            "JSON object); the file was not written by ecgfm or was modified: obtain it again"
        )
    return info


def read_ecgfm_metadata(path: str | os.PathLike[str], *, what: str) -> dict[str, Any]:
    """:func:`ecgfm_metadata` of a file, reading its header only (no tensor is loaded).

    Raises:
        WeightsIntegrityError: not a readable safetensors file, or malformed metadata.
    """
    metadata = read_safetensors_metadata(path)
    if metadata is None:
        read_safetensors(path, what=what)  # raises the descriptive error
    return ecgfm_metadata(metadata, path=path, what=what)


def check_storage_dtype(
    state_dict: Mapping[str, torch.Tensor], storage_dtype: str, *, what: str
) -> None:
    """Every floating tensor must be stored in the dtype the card declares."""
    want = _STORAGE_TORCH_DTYPES[storage_dtype]
    wrong = {k: str(v.dtype) for k, v in state_dict.items() if v.is_floating_point()}
    wrong = {k: d for k, d in wrong.items() if d != str(want)}
    if wrong:
        first = next(iter(wrong.items()))
        raise WeightsIntegrityError(
            f"{what}: the card declares storage_dtype={storage_dtype!r} but {len(wrong)} "
            f"tensors have another dtype (e.g. {first[0]}: {first[1]}); the file does not "
            "belong to this card"
        )


_CARD_ADVICE = (
    "the card's arch/arch_args do not match the file: use the card saved with the weights"
)


def load_state_dict_strict(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    what: str,
    advice: str = _CARD_ADVICE,
    exclude_prefixes: Iterable[str] = (),
) -> None:
    """Load ``state_dict`` into ``model`` requiring the exact same keys and shapes.

    Floating tensors are cast to the dtype of the model's tensor they replace (a bfloat16 file
    loads into a float32 model). Entries of ``model`` under ``exclude_prefixes`` (a frozen
    teacher rebuilt from its own file) are neither expected nor changed.

    Args:
        model: the module to fill.
        state_dict: the weights, e.g. from :func:`read_safetensors`.
        what: names the weights in the error message (e.g. ``"weights of 'my-model'"``).
        advice: what the caller should do when the weights do not fit (ends the message).
        exclude_prefixes: state-dict prefixes of ``model`` to leave alone.

    Raises:
        ArchitectureMismatchError: missing or unexpected keys or shape mismatches, listed.
    """
    prefixes = tuple(exclude_prefixes)
    own = {k: v for k, v in model.state_dict().items() if not (prefixes and k.startswith(prefixes))}
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = sorted(
        f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(state_dict)
        if tuple(own[k].shape) != tuple(state_dict[k].shape)
    )
    if missing or unexpected or shapes:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
            if items:
                more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
                parts.append(f"{label}: {', '.join(items[:5])}{more}")
        raise ArchitectureMismatchError(
            f"{what}: the file does not fit {_describe(model)} ("
            + "; ".join(parts)
            + "); "
            + advice
        )
    model.load_state_dict(dict(state_dict), strict=not prefixes)


def _describe(model: nn.Module) -> str:
    arch = getattr(model, "arch_name", None)
    args = getattr(model, "arch_args", None)
    if arch is None:
        return f"this {type(model).__name__}"
    return f"{arch}({json.dumps(args, sort_keys=True, default=str)})" if args else str(arch)


def load_safetensors_strict(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    what: str,
    advice: str = _CARD_ADVICE,
    storage_dtype: str | None = None,
    exclude_prefixes: Iterable[str] = (),
) -> dict[str, Any]:
    """Read the safetensors file ``path`` into ``model``, strictly; return its ecgfm metadata.

    The one reader of weight files into a model (``from_pretrained``, ``load_encoder``,
    ``warm_start``): the file is read on the CPU, its ``ecgfm`` metadata parsed, the
    architecture it names compared with ``model.arch_name`` (when both exist) and its floating
    tensors' dtype with ``storage_dtype`` (when given), then :func:`load_state_dict_strict`
    loads it.

    Raises:
        WeightsIntegrityError: unreadable file, malformed metadata, another storage dtype.
        ArchitectureMismatchError: the file names another architecture, or its keys/shapes
            do not fit ``model``.
    """
    state, metadata = read_safetensors(path, what=what)
    info = ecgfm_metadata(metadata, path=path, what=what)
    stored_arch, arch = info.get("arch"), getattr(model, "arch_name", None)
    if arch is not None and stored_arch is not None and stored_arch != arch:
        raise ArchitectureMismatchError(
            f"{what}: {path} holds weights of architecture {stored_arch!r}, not {arch!r}"
        )
    if storage_dtype is not None:
        check_storage_dtype(state, storage_dtype, what=what)
    load_state_dict_strict(
        model, state, what=what, advice=advice, exclude_prefixes=exclude_prefixes
    )
    return info
