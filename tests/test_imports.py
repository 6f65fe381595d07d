"""The package's modules import each other without a cycle, and its packages are layers that
import only downward (imports inside functions count: they only hide an arrow), so that each
module can be read, tested and changed on its own and the folders show the architecture."""

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
    assert "bpsweep.settings" in graph["bpsweep.sweeps.config"]
    assert "bpsweep.engine.kernels" in graph["bpsweep.engine.batch"]  # `from . import kernels`
    assert "bpsweep.sweeps.runner" in graph["bpsweep.commands.run"]  # `from ..sweep import ...`
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    modules = _modules()
    graph = {n: _imports(n, p, modules) for n, p in modules.items()}
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


#: The layers, bottom first: a module may import from its own layer and the ones below only.
#: The base is the flat top of the package (the vocabulary every layer shares); bench measures
#: the engine, sweeps and maps for the command that prints it; the package itself and
#: ``python -m bpsweep`` are the front doors.
LAYERS = (
    ("base", ("_version", "errors", "_numba", "model", "settings", "atomic", "machine", "wording")),
    ("engine", ("engine",)),
    ("sweeps", ("sweeps",)),
    ("analysis", ("analysis",)),
    ("maps", ("maps",)),
    ("explore", ("explore",)),
    ("bench", ("bench",)),
    ("commands", ("commands",)),
    ("front doors", ("", "__main__")),
)


def _layer(module: str) -> int:
    """The index in LAYERS of a bpsweep module; a KeyError names a module no layer holds."""
    rest = module.removeprefix("bpsweep").removeprefix(".")
    head = rest.split(".")[0]
    for index, (_, members) in enumerate(LAYERS):
        if head in members or rest in members:
            return index
    raise KeyError(f"{module} belongs to no layer: add it to LAYERS in {__file__}")


def _upward(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module from a higher layer, as 'a (layer) -> b (layer)'."""
    return sorted(
        f"{a} ({LAYERS[_layer(a)][0]}) -> {b} ({LAYERS[_layer(b)][0]})"
        for a, targets in graph.items()
        for b in targets
        if _layer(b) > _layer(a)
    )


def test_the_layer_check_sees_an_upward_import():
    fake = {"bpsweep.engine.kernels": {"bpsweep.sweeps.config"}, "bpsweep.sweeps.config": set()}
    assert _upward(fake) == ["bpsweep.engine.kernels (engine) -> bpsweep.sweeps.config (sweeps)"]
    assert _upward({"bpsweep.maps.runner": {"bpsweep.sweeps.window", "bpsweep.errors"}}) == []


def test_packages_are_layers_that_import_only_downward():
    modules = _modules()
    graph = {n: _imports(n, p, modules) for n, p in modules.items()}
    for name in graph:
        _layer(name)  # every module sits in a layer
    assert _upward(graph) == []
