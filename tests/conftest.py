"""Shared test configuration.

Real data and conformance fixtures live in ``../shared`` next to the repository (read-only).
``ECGFM_SHARED`` overrides that location. Tests that need it fail loudly when it is missing
unless ``ECGFM_ALLOW_MISSING_SHARED=1`` is set, in which case they are skipped with a reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# tests/_tolerance.py (float reordering tolerances) is importable from every test module
# (pytest runs in importlib mode).
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from _shared import DATA, FIXTURES, REPO, SHARED, require_shared

__all__ = ["DATA", "FIXTURES", "REPO", "SHARED", "require_shared"]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return require_shared(SHARED)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return require_shared(DATA)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return require_shared(FIXTURES)


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every Net1D fast-path wrapper (``Net1DInference``) the code under test builds."""
    import ecgfm.models.net1d_inference as net1d_module

    made: list = []
    original = net1d_module.optimize_for_inference

    def spy(model, **kwargs):
        made.append(original(model, **kwargs))
        return made[-1]

    monkeypatch.setattr(net1d_module, "optimize_for_inference", spy)
    return made


@pytest.fixture
def one_thread():
    """Run the test with one torch thread (restored afterwards).

    Small torch ops slow down by 10-40x when two threads compete with other processes; use it
    module-wide with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
