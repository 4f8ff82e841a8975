"""Where the shared real data and conformance fixtures are, for test modules and conftest.

Import it as ``from _shared import FIXTURES, require_shared`` (tests/ is on ``sys.path``):
``from conftest import ...`` is ambiguous, since several test folders have a conftest.py.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ECGFM_SHARED", REPO.parent / "shared")).resolve()
DATA = SHARED / "data"
FIXTURES = SHARED / "fixtures"


def require_shared(path: Path) -> Path:
    """Return ``path`` if it exists; otherwise fail (or skip if explicitly allowed)."""
    if path.exists():
        return path
    msg = f"shared data not found at {path} (set ECGFM_SHARED to the shared/ folder)"
    if os.environ.get("ECGFM_ALLOW_MISSING_SHARED") == "1":
        pytest.skip(msg)
    pytest.fail(msg)


def load_script(path: Path, name: str) -> ModuleType:
    """Import the script at ``path`` (an example, ``docs/generate.py``) as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
