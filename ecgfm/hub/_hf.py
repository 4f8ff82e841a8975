"""Downloads through the Hugging Face Hub cache, with settings read at call time.

``huggingface_hub`` reads ``HF_HOME``, ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` once, when it is
imported. ecgfm reads them on every call instead and passes ``cache_dir`` and
``local_files_only`` explicitly, so changing them after import (a notebook, a test, a job
script) takes effect. The download and cache logic itself is huggingface_hub's
(``hf_hub_download``): same layout (``models--owner--repo/{blobs,snapshots,refs}``), same
revision handling (branch, tag or commit).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ecgfm.hub._errors import PretrainedNotFoundError, WeightsUnavailableError

__all__ = ["hf_cache_dir", "hf_download", "hf_offline", "parse_hf_id"]

_TRUE = {"1", "on", "yes", "true"}
_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def hf_cache_dir() -> Path:
    """The hub cache directory from the environment, as huggingface_hub defines it."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(xdg).expanduser() / "huggingface" / "hub"


def hf_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or legacy ``TRANSFORMERS_OFFLINE``) is set to a true value."""
    return any(
        os.environ.get(v, "").strip().lower() in _TRUE
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def parse_hf_id(spec: str) -> str:
    """``"hf-hub:owner/repo"`` -> ``"owner/repo"`` (validated)."""
    repo = spec[len("hf-hub:") :] if spec.startswith("hf-hub:") else spec
    if not _REPO_RE.match(repo):
        raise ValueError(
            f"invalid Hugging Face id {spec!r}: expected 'hf-hub:owner/repo' (the revision is a "
            "separate argument: from_pretrained(..., revision='v1.0'))"
        )
    return repo


def hf_download(repo_id: str, filename: str, *, revision: str | None = None) -> Path:
    """Local path of ``filename`` of ``repo_id`` at ``revision``, downloading if allowed.

    Raises:
        WeightsUnavailableError: offline (or no network) and not cached, or the file is not in
            the repository; the message says how to fix it.
        PretrainedNotFoundError: the repository or revision does not exist.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import (
        EntryNotFoundError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    cache = hf_cache_dir()
    offline = hf_offline()
    rev = revision or "main"
    where = f"{repo_id}/{filename} at revision {rev!r}"
    try:
        path = hf_hub_download(
            repo_id,
            filename,
            revision=revision,
            cache_dir=str(cache),
            local_files_only=offline,
        )
    except LocalEntryNotFoundError:
        reason = "HF_HUB_OFFLINE is set" if offline else "the Hugging Face Hub could not be reached"
        raise WeightsUnavailableError(
            f"{where} is not in the local Hugging Face cache ({cache}) and {reason}. Fix: on a "
            f"machine with network run `hf download {repo_id} {filename}"
            f"{'' if revision is None else ' --revision ' + revision}` (or "
            "huggingface_hub.hf_hub_download) and copy the cache folder here, point HF_HOME / "
            "HF_HUB_CACHE at a cache that has it, or unset HF_HUB_OFFLINE"
        ) from None
    except RevisionNotFoundError:
        raise PretrainedNotFoundError(
            f"revision {rev!r} does not exist in the Hugging Face repository {repo_id!r}"
        ) from None
    except RepositoryNotFoundError:
        raise PretrainedNotFoundError(
            f"the Hugging Face repository {repo_id!r} does not exist or is private (log in with "
            "`hf auth login` for private repositories)"
        ) from None
    except EntryNotFoundError:
        raise WeightsUnavailableError(
            f"{where}: the repository has no file {filename!r}; an ecgfm repository holds "
            "config.json and model.safetensors written by ecgfm.save_pretrained"
        ) from None
    return Path(path)
