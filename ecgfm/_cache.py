"""Where ecgfm caches derived data, and the content hash that keys cached model outputs.

- :func:`cache_root`: ``$ECGFM_CACHE`` if set, else ``~/.cache/ecgfm``. Preprocessed
  pre-training data, teacher embeddings (``ecgfm.train``) and record embeddings
  (``ecgfm.eval``, under ``embeddings/``) live below it, outside any repository.
- :func:`state_sha256`: SHA-256 over the sorted names, dtypes, shapes and bytes of a module's
  state dict; two modules with equal weights get the same digest.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

__all__ = ["cache_root", "state_sha256"]


def cache_root() -> Path:
    """``$ECGFM_CACHE`` if set, else ``~/.cache/ecgfm``."""
    env = os.environ.get("ECGFM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ecgfm"


def state_sha256(module: Any) -> str:
    """Hex SHA-256 of ``module.state_dict()`` (names, dtypes, shapes and bytes, sorted by name)."""
    import torch

    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"state_sha256 needs an nn.Module, got {type(module).__name__}")
    h = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        t = value.detach().to("cpu").contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
