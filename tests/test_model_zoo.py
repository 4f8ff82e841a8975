"""docs/model_zoo.md must equal what the registry generates (it is never edited by hand)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_model_zoo_page_is_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "docs" / "make_model_zoo.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    page = (REPO / "docs" / "model_zoo.md").read_text()
    import ecgfm

    for name in ecgfm.list_pretrained():
        assert f"`{name}`" in page
