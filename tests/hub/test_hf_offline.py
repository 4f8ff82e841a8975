"""Without the Hub: offline mode and no network fail at once (issue 13, defect 10).

huggingface_hub retries a request for a file that is not cached with exponential backoff
(1 + 2 + 4 + 8 + 8 s of sleeps: about 23 s without network) before ecgfm can say what to do.
ecgfm looks the file up in the cache first and, online, makes one metadata request without
retries. "No network" is simulated without depending on the machine's real network: the
endpoint is a local port nobody listens on (connection refused), or a local socket that
accepts connections and never answers (a black hole, bounded by ``HF_HUB_ETAG_TIMEOUT``).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecgfm.hub import WeightsUnavailableError, from_pretrained, save_pretrained
from ecgfm.hub._hf import hf_download, hf_offline

# The retries alone sleep 23 s; the answers below come from a local socket in well under 1 s,
# so this bound separates the two on any machine, however loaded.
FAST_S = 8.0


@pytest.fixture
def online(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache, HF_HUB_OFFLINE unset (and huggingface_hub's own switch off)."""
    from huggingface_hub import constants

    home = tmp_path / "hf_home"
    (home / "hub").mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(home))
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return home / "hub"


@pytest.fixture
def refused_endpoint(monkeypatch: pytest.MonkeyPatch) -> str:
    """HF_ENDPOINT on a local port that was just freed: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("HF_ENDPOINT", url)
    return url


@pytest.fixture
def silent_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """HF_ENDPOINT on a socket that accepts (kernel backlog) but never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        monkeypatch.setenv("HF_ENDPOINT", url)
        monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "1")
        yield url


def _timed_failure(call) -> tuple[float, str]:
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError) as info:
        call()
    return time.perf_counter() - start, str(info.value)


def test_offline_with_empty_cache_fails_before_any_download(
    online: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # hf_hub_download is not reached at all: the cache lookup decides.
    import huggingface_hub

    def no_download(*args, **kwargs):
        raise AssertionError("hf_hub_download called although offline and not cached")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_download)
    seconds, msg = _timed_failure(lambda: from_pretrained("ecgfounder-12lead"))
    assert seconds < FAST_S
    assert "HF_HUB_OFFLINE is set" in msg and str(online) in msg
    assert "hf download PKUDigitalHealth/ECGFounder 12_lead_ECGFounder.pth" in msg


def test_huggingface_hub_offline_switch_counts_as_offline(
    online: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    assert not hf_offline()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # imported with HF_HUB_OFFLINE=1
    assert hf_offline()
    seconds, msg = _timed_failure(lambda: from_pretrained("hf-hub:ecgfm/absent"))
    assert seconds < FAST_S and "huggingface_hub is in offline mode" in msg


def test_no_network_fails_fast_with_one_attempt(online: Path, refused_endpoint: str) -> None:
    seconds, msg = _timed_failure(lambda: from_pretrained("ecgfounder-12lead"))
    assert seconds < FAST_S, f"{seconds:.1f} s: huggingface_hub retried"
    assert refused_endpoint in msg and "could not be reached" in msg
    assert "HF_HUB_OFFLINE=1" in msg and "hf download" in msg


def test_silent_hub_is_bounded_by_the_etag_timeout(online: Path, silent_endpoint: str) -> None:
    seconds, msg = _timed_failure(lambda: hf_download("ecgfm/absent", "config.json"))
    assert seconds < FAST_S, f"{seconds:.1f} s for a 1 s timeout: huggingface_hub retried"
    assert "timeout 1 s" in msg and silent_endpoint in msg


def test_cached_file_loads_without_network(
    online: Path, refused_endpoint: str, hf_populate, tmp_path: Path, tiny_model, tiny_card
) -> None:
    saved = save_pretrained(tiny_model, tmp_path / "m", tiny_card)
    hf_populate(online, "ecgfm/tiny", {p.name: p for p in saved.iterdir()}, commit="c" * 40)
    start = time.perf_counter()
    model = from_pretrained("hf-hub:ecgfm/tiny")  # main -> cached commit; the check fails fast
    assert time.perf_counter() - start < FAST_S
    assert model.card.name == tiny_card.name


def test_bad_etag_timeout_is_refused(online: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="HF_HUB_ETAG_TIMEOUT must be a positive number"):
        hf_download("ecgfm/absent", "config.json")
