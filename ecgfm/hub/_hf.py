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

from ecgfm._interface import advice
from ecgfm.hub._errors import PretrainedNotFoundError, WeightsUnavailableError

__all__ = ["hf_cache_dir", "hf_download", "hf_endpoint", "hf_offline", "hf_timeout", "parse_hf_id"]

_TRUE = {"1", "on", "yes", "true"}
REPO_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def hf_cache_dir() -> Path:
    """The hub cache directory from the environment, as huggingface_hub defines it."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(xdg).expanduser() / "huggingface" / "hub"


def _env_offline() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in _TRUE
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _hub_offline() -> bool:
    """huggingface_hub's own offline switch (set from the environment when it was imported, or
    by assigning ``huggingface_hub.constants.HF_HUB_OFFLINE``); it refuses every request then."""
    from huggingface_hub import constants

    check = getattr(constants, "is_offline_mode", None)
    return bool(check()) if callable(check) else bool(getattr(constants, "HF_HUB_OFFLINE", False))


def hf_offline() -> bool:
    """True when downloads are off: ``HF_HUB_OFFLINE`` (or legacy ``TRANSFORMERS_OFFLINE``) is
    true now, or huggingface_hub is in offline mode (see :func:`_hub_offline`)."""
    return _env_offline() or _hub_offline()


def _offline_reason() -> str:
    if _env_offline():
        return "HF_HUB_OFFLINE is set"
    return (
        "huggingface_hub is in offline mode (HF_HUB_OFFLINE was set when it was imported; it "
        "stays so in this process)"
    )


def hf_endpoint() -> str:
    """The Hub URL: ``HF_ENDPOINT`` now, else huggingface_hub's (``https://huggingface.co``)."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def hf_timeout() -> float:
    """Seconds to wait for the Hub's answer: ``HF_HUB_ETAG_TIMEOUT`` now, else huggingface_hub's."""
    from huggingface_hub import constants

    raw = os.environ.get("HF_HUB_ETAG_TIMEOUT")
    if raw is None or not raw.strip():
        return float(constants.HF_HUB_ETAG_TIMEOUT)
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise ValueError(f"HF_HUB_ETAG_TIMEOUT must be a positive number of seconds, got {raw!r}")
    return value


def parse_hf_id(spec: str) -> str:
    """``"hf-hub:owner/repo"`` -> ``"owner/repo"`` (validated)."""
    repo = spec[len("hf-hub:") :] if spec.startswith("hf-hub:") else spec
    if not REPO_ID_PATTERN.match(repo):
        how = advice(
            python="the revision is a separate argument: from_pretrained(..., revision='v1.0')",
            cli="the command line loads the default branch; for another revision run `hf "
            "download owner/repo --revision REV --local-dir DIR` and pass DIR",
        )
        raise ValueError(f"invalid Hugging Face id {spec!r}: expected 'hf-hub:owner/repo' ({how})")
    return repo


def _not_cached(repo_id: str, filename: str, revision: str | None, why: str) -> Exception:
    rev = revision or "main"
    return WeightsUnavailableError(
        f"{repo_id}/{filename} at revision {rev!r} is not in the local Hugging Face cache "
        f"({hf_cache_dir()}) and {why}. Fix: on a machine with network run `hf download "
        f"{repo_id} {filename}{'' if revision is None else ' --revision ' + revision}` (or "
        "huggingface_hub.hf_hub_download) and copy the cache folder here, point HF_HOME / "
        "HF_HUB_CACHE at a cache that has it, or unset HF_HUB_OFFLINE"
    )


def _check_reachable(repo_id: str, filename: str, revision: str | None) -> None:
    """One request for the file's metadata, no retries: raise at once if the Hub is unreachable.

    huggingface_hub retries a failed request for a file that is not cached with exponential
    backoff (about 23 s in all without network). The metadata request of huggingface_hub itself
    (same proxy, token and endpoint handling) is made first without retries, bounded by
    ``HF_HUB_ETAG_TIMEOUT``; only a Hub that answers is left to ``hf_hub_download`` (whose
    retries then only cover server errors of a reachable Hub).
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import HfHubHTTPError

    endpoint, timeout = hf_endpoint(), hf_timeout()
    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint)
    try:
        get_hf_file_metadata(url, timeout=timeout)  # the URL carries the endpoint
    except HfHubHTTPError:
        return  # the Hub answered (404, 401, 5xx...): hf_hub_download reports it
    except Exception as err:  # network, DNS, proxy or timeout errors of any HTTP backend
        raise _not_cached(
            repo_id,
            filename,
            revision,
            f"the Hugging Face Hub ({endpoint}) could not be reached ({type(err).__name__}: "
            f"{err}; one attempt, timeout {timeout:g} s); set HF_HUB_OFFLINE=1 to skip it",
        ) from None


def hf_download(repo_id: str, filename: str, *, revision: str | None = None) -> Path:
    """Local path of ``filename`` of ``repo_id`` at ``revision``, downloading if allowed.

    The cache is looked up first (``try_to_load_from_cache``): offline, a file that is not
    there is an immediate error; online, a file that is not there is fetched only after one
    metadata request without retries showed that the Hub answers (see
    :func:`_check_reachable`), so no network fails within ``HF_HUB_ETAG_TIMEOUT`` (10 s by
    default; at once when the name does not resolve or the connection is refused).

    Raises:
        WeightsUnavailableError: offline (or no network) and not cached, or the file is not in
            the repository; the message says how to fix it.
        PretrainedNotFoundError: the repository or revision does not exist.
    """
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.utils import (
        EntryNotFoundError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    cache = hf_cache_dir()
    offline = hf_offline()
    rev = revision or "main"
    cached = try_to_load_from_cache(repo_id, filename, cache_dir=str(cache), revision=revision)
    if not isinstance(cached, str):  # not cached (or cached as absent at that commit)
        if offline:
            raise _not_cached(repo_id, filename, revision, _offline_reason())
        _check_reachable(repo_id, filename, revision)
    try:
        path = hf_hub_download(
            repo_id,
            filename,
            revision=revision,
            cache_dir=str(cache),
            local_files_only=offline,
            endpoint=hf_endpoint(),
            etag_timeout=hf_timeout(),
        )
    except LocalEntryNotFoundError:
        why = _offline_reason() if offline else "the Hugging Face Hub could not be reached"
        raise _not_cached(repo_id, filename, revision, why) from None
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
            f"{repo_id}/{filename} at revision {rev!r}: the repository has no file "
            f"{filename!r}; an ecgfm repository holds config.json and model.safetensors written "
            "by ecgfm.save_pretrained"
        ) from None
    return Path(path)
