"""The package's layers (docs/architecture.md), checked on the source: which subpackage may
import which, and no import cycle between modules.

Imports are read with ``ast`` from every module of ``ecgfm`` (module level and inside
functions; ``if TYPE_CHECKING:`` blocks excluded, they never run). A module importing its own
package ``__init__`` is not an edge (lazy re-exports).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "ecgfm"

# subpackage / top-level module -> what it may import (besides itself and private helpers
# ecgfm._lazy, ecgfm._version, ecgfm._interface)
ALLOWED: dict[str, set[str]] = {
    "leads": set(),
    "signal_quality": {"leads"},
    "signal": {"leads", "signal_quality"},
    "distributed": set(),
    "rhythm": set(),
    "losses": {"distributed"},
    "models": {"leads", "losses"},
    "transforms": {"leads", "signal"},
    "data": {"leads", "signal"},
    "plot": {"leads", "signal"},
    "convert": {"leads", "models"},
    "hub": {"leads", "signal", "models", "transforms", "convert"},
    "train": {"leads", "signal", "distributed", "losses", "models", "transforms", "data", "hub",
              "convert", "rhythm"},
    "methods": {"leads", "losses", "models", "transforms", "train"},
    "eval": {"leads", "signal", "models", "transforms", "data", "hub", "rhythm"},
    "cli": {"leads", "signal", "data", "hub", "convert", "eval"},
}  # fmt: skip
PRIVATE = {"_cache", "_deprecated", "_lazy", "_version", "_interface"}


def _modules() -> dict[str, Path]:
    out = {}
    for f in ROOT.rglob("*.py"):
        parts = ("ecgfm", *f.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join([*pkg, base] if base else pkg)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]  # fmt: skip
        for t in targets:
            if not t.startswith("ecgfm"):
                continue
            while t not in modules and "." in t:
                t = t.rsplit(".", 1)[0]
            if t != name and not name.startswith(t + "."):
                found.add(t)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(m, p, modules) for m, p in modules.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_layers_import_only_what_they_may() -> None:
    graph = _graph()
    unknown = sorted({_layer(m) for m in graph} - ALLOWED.keys() - PRIVATE - {""})
    assert not unknown, f"new top-level modules {unknown}: add them to ALLOWED and the docs"
    bad = []
    for m, deps in graph.items():
        layer = _layer(m)
        if layer in PRIVATE or layer == "":
            continue
        for d in deps:
            other = _layer(d)
            if other not in (layer, "", *PRIVATE) and other not in ALLOWED[layer]:
                bad.append(f"{m} -> {d}")
    assert not bad, "imports against the layering (docs/architecture.md):\n" + "\n".join(bad)


def test_no_import_cycle() -> None:
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_checker_sees_a_cycle_and_a_layer_violation(tmp_path: Path) -> None:
    """The reader resolves relative and absolute imports (guards against a checker that
    silently finds nothing)."""
    graph = _graph()
    assert "ecgfm.models.net1d" in graph["ecgfm.hub._engine"] or any(
        d.startswith("ecgfm.models") for d in graph["ecgfm.hub._engine"]
    )
    assert any(d.startswith("ecgfm.leads") for d in graph["ecgfm.signal"])
