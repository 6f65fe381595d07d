"""The package's modules import each other without a cycle (imports inside functions count:
they only hide a cycle), so that each module can be read, tested and changed on its own."""

from __future__ import annotations

import ast
from pathlib import Path

import bpsweep

PACKAGE = Path(bpsweep.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, modules) -> set[str]:
    """Modules of the package that ``name`` imports (at any depth of its code)."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            stem = ".".join([*base, *(node.module.split(".") if node.module else [])])
            # `from . import x` names a module; `from .m import f` names m
            targets = [f"{stem}.{a.name}" for a in node.names if f"{stem}.{a.name}" in modules]
            targets = targets or [stem]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of modules, or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_walk_sees_imports():
    modules = _modules()
    graph = {n: _imports(n, p, modules) for n, p in modules.items()}
    assert "bpsweep.settings" in graph["bpsweep.config"]
    assert "bpsweep.kernels" in graph["bpsweep.batch"]  # `from . import kernels`
    assert "bpsweep.sweep" in graph["bpsweep.commands.run"]  # `from ..sweep import ...`
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    modules = _modules()
    graph = {n: _imports(n, p, modules) for n, p in modules.items()}
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
