"""Weight files: checksums, the bundled ``weights/`` directory, safetensors read/write, strict load.

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
import importlib.resources
import os
from collections.abc import Mapping
from pathlib import Path

import safetensors
import safetensors.torch
import torch
from torch import nn

from ecgfm.hub._errors import ArchitectureMismatchError, WeightsIntegrityError

__all__ = [
    "bundled_weights_dirs",
    "find_bundled_file",
    "load_state_dict_strict",
    "read_safetensors",
    "sha256_file",
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
    try:
        resource = importlib.resources.files("ecgfm._weights")
    except ModuleNotFoundError:
        resource = None
    if resource is not None and isinstance(resource, Path):
        dirs.append(resource)
    import ecgfm

    dirs.append(Path(ecgfm.__file__).resolve().parent.parent / "weights")
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


def write_safetensors(
    state_dict: Mapping[str, torch.Tensor],
    path: str | os.PathLike[str],
    *,
    storage_dtype: str = "float32",
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write a state dict as safetensors, casting floating tensors to ``storage_dtype``.

    Tensors sharing memory (tied weights, a module registered under two names) are stored as
    independent copies so that every key of the state dict is present in the file.
    """
    if storage_dtype not in _STORAGE_TORCH_DTYPES:
        raise ValueError(
            f"storage_dtype must be one of {sorted(_STORAGE_TORCH_DTYPES)}, got {storage_dtype!r}"
        )
    target = _STORAGE_TORCH_DTYPES[storage_dtype]
    tensors: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"state dict entry {key!r} is a {type(value).__name__}, not a tensor")
        t = value.detach().to("cpu")
        if t.is_floating_point():
            t = t.to(target)
        tensors[key] = t.contiguous().clone()
    safetensors.torch.save_file(tensors, str(path), metadata=dict(metadata or {}))


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


def load_state_dict_strict(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], *, what: str
) -> None:
    """Load ``state_dict`` into ``model`` requiring the exact same keys and shapes.

    Raises:
        ArchitectureMismatchError: missing or unexpected keys or shape mismatches, listed.
    """
    own = model.state_dict()
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
            f"{what}: the weights do not fit the architecture; " + "; ".join(parts) + ". The "
            "card's arch/arch_args do not match the file: use the card saved with the weights"
        )
    model.load_state_dict(dict(state_dict), strict=True)
