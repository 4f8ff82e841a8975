"""Fixtures of the hub tests: a tiny encoder trained in-process, its preset and card, and a
pre-populated Hugging Face cache (the layout huggingface_hub itself writes).

Nothing here is registered as a built-in pretrained entry: temporary entries are registered by
the ``register_temp`` fixture and removed after each test.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ecgfm.hub import (
    PretrainedCard,
    from_pretrained,
    make_card,
    register_pretrained,
    save_pretrained,
    unregister_pretrained,
)
from ecgfm.leads import normalize_lead_names
from ecgfm.models import create_model, is_model, register_model
from ecgfm.models._base import check_encoder_input
from ecgfm.transforms.preprocessing import BandPass, Compose, ZScore
from ecgfm.transforms.presets import Preset

TINY_ARCH = "hubtest_tiny"
TINY_LEADS = ("I", "II", "V1")


class TinyEncoder(nn.Module):
    """Conv -> GELU -> time mean -> linear; the ecgfm encoder interface in a few parameters."""

    def __init__(
        self,
        in_leads: Sequence[str] = TINY_LEADS,
        width: int = 8,
        default_input_length: int = 400,
    ) -> None:
        super().__init__()
        self.in_leads = normalize_lead_names(in_leads)
        self.num_features = width
        self.default_input_length = default_input_length
        self.conv = nn.Conv1d(len(self.in_leads), width, kernel_size=7, padding=3)
        self.proj = nn.Linear(width, width)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        check_encoder_input(x, num_leads=len(self.in_leads), model="TinyEncoder")
        return F.gelu(self.conv(x))

    def forward_embedding(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.forward_features(x).mean(-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_embedding(x)


if not is_model(TINY_ARCH):

    @register_model(TINY_ARCH)
    def hubtest_tiny(**overrides: object) -> TinyEncoder:
        return TinyEncoder(**overrides)  # type: ignore[arg-type]


def tiny_preset(leads: Sequence[str] = TINY_LEADS) -> Preset:
    """100 Hz, 4 s windows, band-pass 0.5-40 Hz, z-score per window."""
    return Preset(
        name="hubtest",
        fs=100.0,
        length=400,
        leads=tuple(leads),
        filters=Compose([BandPass(0.5, 40.0, order=2)]),
        normalize=Compose([ZScore("all", eps=1e-8)]),
        description="test preset",
    )


def _train_tiny(model: TinyEncoder, steps: int = 15) -> TinyEncoder:
    """A few Adam steps regressing the frequency of sinusoids: weights that are not an init."""
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    t = torch.arange(400) / 100.0
    for _ in range(steps):
        freq = 0.5 + 2.0 * torch.rand(16, 1, 1, generator=g)
        x = torch.sin(2 * torch.pi * freq * t).expand(16, len(model.in_leads), 400)
        loss = F.mse_loss(model.forward_embedding(x)[:, 0], freq.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="session")
def _tiny_trained_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = _train_tiny(create_model(TINY_ARCH))  # type: ignore[arg-type]
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture
def tiny_model(_tiny_trained_state: dict[str, torch.Tensor]) -> TinyEncoder:
    """A fresh TinyEncoder (built by create_model) holding the weights trained once per session."""
    model = create_model(TINY_ARCH)
    model.load_state_dict(_tiny_trained_state)
    return model.eval()  # type: ignore[return-value]


@pytest.fixture
def test_preset() -> Preset:
    return tiny_preset()


@pytest.fixture
def tiny_card(tiny_model: TinyEncoder) -> PretrainedCard:
    return make_card(
        tiny_model,
        name="hubtest-tiny",
        preset=tiny_preset(),
        license="MIT",
        paper="none (test model)",
        training="15 Adam steps on synthetic sinusoids inside the test",
    )


@pytest.fixture
def register_temp() -> Iterator[Callable[[PretrainedCard], PretrainedCard]]:
    """Register temporary cards; they are unregistered when the test ends."""
    names: list[str] = []

    def register(card: PretrainedCard) -> PretrainedCard:
        register_pretrained(card)
        names.append(card.name)
        return card

    yield register
    for n in names:
        unregister_pretrained(n)


def populate_hf_cache(
    cache: Path,
    repo_id: str,
    files: Mapping[str, Path],
    *,
    commit: str,
    refs: Sequence[str] = ("main",),
) -> Path:
    """Write ``files`` into ``cache`` as huggingface_hub would after a download.

    Layout: ``models--owner--repo/blobs/<sha256>``, ``snapshots/<commit>/<name>`` (a relative
    symlink to the blob) and ``refs/<ref>`` holding the commit. Returns the snapshot folder.
    """
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / commit
    (repo_dir / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, src in files.items():
        digest = hashlib.sha256(src.read_bytes()).hexdigest()
        blob = repo_dir / "blobs" / digest
        if not blob.exists():
            shutil.copyfile(src, blob)
        link = snapshot / name
        if link.exists() or link.is_symlink():
            link.unlink()
        os.symlink(os.path.relpath(blob, snapshot), link)
    (repo_dir / "refs").mkdir(exist_ok=True)
    for ref in refs:
        (repo_dir / "refs" / ref).write_text(commit)
    return snapshot


@pytest.fixture
def hf_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty hub cache under tmp_path, selected through HF_HOME, with HF_HUB_OFFLINE=1."""
    home = tmp_path / "hf_home"
    (home / "hub").mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home / "hub"


@pytest.fixture
def hf_populate() -> Callable[..., Path]:
    """:func:`populate_hf_cache` (test modules cannot import conftest under importlib mode)."""
    return populate_hf_cache


@pytest.fixture
def model(tmp_path: Path, tiny_model: TinyEncoder, tiny_card: PretrainedCard):
    """The tiny encoder saved with its card and loaded back: a ``PretrainedEncoder``."""
    return from_pretrained(save_pretrained(tiny_model, tmp_path / "m", tiny_card))
