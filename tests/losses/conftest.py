"""Make the helper modules of tests/losses importable (pytest runs in importlib mode).

``_loss_reference`` (naive references) and ``_dist_worker`` (the distributed test's worker,
also run as a script) have basenames no other test folder uses.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
