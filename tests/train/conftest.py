"""Small pre-training data sets on the shared PTB-XL subset, built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ecgfm.train.pretrain_data import DataSources, PretrainData
from ecgfm.transforms.presets import get_preset

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("ECGFM_SHARED", REPO.parent / "shared"))
PTBXL_ROOT = SHARED / "data" / "ptbxl"


@pytest.fixture(scope="session")
def ptbxl_root() -> Path:
    if not (PTBXL_ROOT / "ptbxl_database.csv").is_file():
        if os.environ.get("ECGFM_ALLOW_MISSING_SHARED") == "1":
            pytest.skip(f"PTB-XL subset not found at {PTBXL_ROOT}")
        pytest.fail(f"PTB-XL subset not found at {PTBXL_ROOT} (set ECGFM_SHARED)")
    return PTBXL_ROOT


@pytest.fixture(scope="session")
def train_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ecgfm_cache")


@pytest.fixture(scope="session")
def stmem_data(ptbxl_root: Path, train_cache: Path) -> PretrainData:
    """12 PTB-XL training-fold records in the ST-MEM preset (250 Hz, 2500-sample records)."""
    sources = DataSources(ptbxl_root=str(ptbxl_root), max_ptbxl=12)
    return PretrainData.build(sources, get_preset("st_mem"), cache_dir=train_cache)
