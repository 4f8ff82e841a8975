"""Lazy imports: ``import ecgfm`` and ``ecgfm list`` stay cheap, every public name still resolves.

The package ``__init__`` files resolve their public names on first use (``ecgfm._lazy``); these
tests pin what a fresh interpreter imports and that the lazy tables, the ``TYPE_CHECKING``
imports static type checkers read, and ``__all__`` describe the same names. Timing is measured
by ``benchmarks/import_time.py``, not here.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import ecgfm
from ecgfm._lazy import attach

PACKAGE_DIR = Path(ecgfm.__file__).resolve().parent
# Every package of ecgfm: the top level and each subpackage (found, not listed by hand).
PACKAGES = ["ecgfm", *sorted(f"ecgfm.{p.parent.name}" for p in PACKAGE_DIR.glob("*/__init__.py"))]
# Optional or slow-to-import dependencies that only the functions needing them may import.
HEAVY = ("torch", "scipy", "sklearn", "matplotlib", "wfdb", "huggingface_hub", "pandas")


def _loaded_after(code: str) -> tuple[list[str], str]:
    """Run ``code`` in a fresh interpreter; the HEAVY packages it loaded, and its stdout."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    *out, last = done.stdout.strip().splitlines()
    return json.loads(last), "\n".join(out)


def test_import_ecgfm_imports_no_heavy_dependency() -> None:
    loaded, _ = _loaded_after("import ecgfm")
    assert loaded == [], f"`import ecgfm` imported {loaded}; import them where they are used"


@pytest.mark.parametrize("argv", [["list"], ["info", "selfmis-lead1"]])
def test_cli_card_commands_import_no_heavy_dependency(argv: list[str]) -> None:
    # The pretrained cards are data: listing or showing them needs neither torch nor SciPy.
    loaded, out = _loaded_after(f"from ecgfm.cli import main\nrc = main({argv!r})\nassert rc == 0")
    assert "selfmis-lead1" in out
    assert loaded == [], f"`ecgfm {' '.join(argv)}` imported {loaded}"


def test_first_access_imports_what_the_name_needs() -> None:
    loaded, _ = _loaded_after("import ecgfm\necgfm.from_pretrained")
    assert "torch" in loaded
    assert "sklearn" not in loaded and "matplotlib" not in loaded


def _tree(package: str) -> ast.Module:
    init = PACKAGE_DIR.joinpath(*package.split(".")[1:], "__init__.py")
    return ast.parse(init.read_text(encoding="utf-8"))


def _type_checking_imports(tree: ast.Module) -> dict[str, str]:
    """``{name: module}`` of the ``from module import name`` lines under ``if TYPE_CHECKING:``."""
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module, ast.unparse(imp)
                found.update({a.asname or a.name: imp.module for a in imp.names})
    return found


def _lazy_table(tree: ast.Module, package: str) -> dict[str, str] | None:
    """``{name: module}`` of the ``attach(...)`` call (a submodule maps to ``package``)."""
    for node in tree.body:
        call = node.value if isinstance(node, ast.Assign) else None
        if isinstance(call, ast.Call) and ast.unparse(call.func) == "attach":
            kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
            table = {name: package for name in kw.get("submodules", [])}
            for module, names in kw.get("attributes", {}).items():
                table.update(dict.fromkeys(names, module))
            return table
    return None


@pytest.mark.parametrize("package", PACKAGES)
def test_lazy_table_matches_type_checking_imports_and_all(package: str) -> None:
    tree = _tree(package)
    table = _lazy_table(tree, package)
    module = importlib.import_module(package)
    if table is None:  # an eager package: nothing to keep in sync
        assert not _type_checking_imports(tree)
        return
    # Static type checkers see exactly the names (and origins) the lazy table serves.
    assert _type_checking_imports(tree) == table
    # __all__ lists the lazy names; besides them only submodules and eager names may appear.
    eager = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert set(module.__all__) - set(table) <= eager, package
    not_public = {n for n in set(table) - set(module.__all__) if table[n] != package}
    assert not not_public, f"{package}: lazy names missing from __all__: {sorted(not_public)}"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__, package
    listed = set(dir(module))
    table = _lazy_table(_tree(package), package) or {}
    for name in module.__all__:
        value = getattr(module, name)  # also what `from package import name` does
        assert name in listed, f"dir({package}) lacks {name}"
        origin = table.get(name)
        if origin == package:
            assert value is importlib.import_module(f"{package}.{name}")
        elif origin is not None:
            assert value is getattr(importlib.import_module(origin), name)


def test_star_import_and_unknown_attribute() -> None:
    namespace: dict[str, object] = {}
    exec("from ecgfm import *", namespace)
    assert set(ecgfm.__all__) <= set(namespace)
    assert namespace["from_pretrained"] is ecgfm.hub.from_pretrained
    with pytest.raises(AttributeError, match="module 'ecgfm' has no attribute 'from_pretrain'"):
        ecgfm.from_pretrain  # noqa: B018
    assert not hasattr(ecgfm.data, "read_wfbd")


def test_attach_refuses_a_name_listed_twice() -> None:
    with pytest.raises(ValueError, match="'x' is listed twice"):
        attach("ecgfm", submodules=["x"], attributes={"ecgfm.leads": ["x"]})
    with pytest.raises(ValueError, match="'y' is listed twice"):
        attach("ecgfm", attributes={"ecgfm.leads": ["y"], "ecgfm.signal": ["y"]})


def test_architecture_page_lists_every_top_level_name() -> None:
    """docs/architecture.md "The public surface" shows a newcomer every name of
    ``ecgfm.__all__``, grouped by purpose, and its count."""
    page = (PACKAGE_DIR.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = page.split("## The public surface", 1)[1].split("\n## ", 1)[0]
    listed = section.split("**Deprecated names**", 1)[0]
    missing = [n for n in ecgfm.__all__ if f"`{n}`" not in listed]
    assert not missing, f"add {missing} to 'The public surface' in docs/architecture.md"
    assert f"`ecgfm.__all__` holds {len(ecgfm.__all__)} names" in listed
