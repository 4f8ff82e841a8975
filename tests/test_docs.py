"""Execute every ```python block of the Markdown docs so examples cannot rot.

Blocks of one page run in order in a single fresh interpreter with the repository root as the
working directory (so ``../shared/data`` paths in examples resolve as they do for a user of a
clone). A block fenced as ```python no-run is shown but not executed (use sparingly, e.g. for
code that needs weights a user must download).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# model_zoo.md is generated from the cards; its usage snippets name placeholder paths and its
# freshness is checked by tests/test_generated.py instead.
PAGES = sorted(
    [REPO / "README.md", *(p for p in (REPO / "docs").glob("*.md") if p.name != "model_zoo.md")]
)
_BLOCK = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks(page: Path) -> list[str]:
    return [m.group(2) for m in _BLOCK.finditer(page.read_text()) if "no-run" not in m.group(1)]


def test_docs_have_pages() -> None:
    assert (REPO / "docs").is_dir()
    assert any(_blocks(p) for p in PAGES), "no executable ```python example in the docs"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_doc_examples_run(page: Path, tmp_path: Path) -> None:
    blocks = _blocks(page)
    if not blocks:
        pytest.skip(f"{page.name} has no ```python block")
    script = tmp_path / f"{page.stem}_examples.py"
    script.write_text("\n\n".join(blocks))
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, (
        f"examples of {page.name} failed:\n--- stdout\n{proc.stdout[-3000:]}"
        f"\n--- stderr\n{proc.stderr[-5000:]}"
    )
