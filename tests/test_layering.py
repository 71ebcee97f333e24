"""Dependencies run one way: cli -> api / check / fix / docs -> weights -> models -> index -> errors, _urls, _fs.

Read from the source with ``ast`` (imports inside functions count too), so a cycle cannot creep back in
through a lazy import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tresnet_zoo"

# package -> packages it must never import
FORBIDDEN = {
    "index": {"weights", "models", "check", "fix", "docs", "cli", "api", "predict", "measure"},
    "models": {"weights", "check", "fix", "docs", "cli", "api"},
    "weights": {"check", "fix", "docs", "cli", "api"},
    "docs": {"cli"},
    "errors": {"index", "models", "weights", "check", "fix", "docs", "cli", "api"},
    "_urls": {"index", "models", "weights", "check", "fix", "docs", "cli", "api"},
    "_fs": {"index", "models", "weights", "check", "fix", "docs", "cli", "api"},
    "_version": {"index", "models", "weights", "check", "fix", "docs", "cli", "api", "errors", "_urls", "_fs"},
}


def _module_name(path: Path) -> list[str]:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imports(path: Path) -> set[str]:
    """The tresnet_zoo top-level parts (``weights``, ``cli`` ...) that ``path`` imports."""
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here[:-1]
    return _imports_of(path.read_text(encoding="utf-8"), package)


def _imports_of(source: str, package: list[str]) -> set[str]:
    """Imports of ``source`` as a module of ``package`` (``['tresnet_zoo', 'models']``); imports under
    ``if TYPE_CHECKING:`` are for annotations only and do not count."""
    tree = ast.parse(source)
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and getattr(node.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = base + (node.module.split(".") if node.module else [])
                names = [target + [alias.name] for alias in node.names] if not node.module else [target]
            else:
                names = [node.module.split(".")] if node.module else []
            for name in names:
                if name[:1] == ["tresnet_zoo"] and len(name) > 1:
                    found.add(name[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "tresnet_zoo" and len(parts) > 1:
                    found.add(parts[1])
    return found


def _layer(path: Path) -> str:
    return _module_name(path)[1] if len(_module_name(path)) > 1 else "__init__"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_dependencies_run_one_way(path):
    layer = _layer(path).removesuffix(".py")
    bad = _imports(path) & FORBIDDEN.get(layer, set())
    assert not bad, f"{path.relative_to(PACKAGE)} ({layer}) imports {sorted(bad)}"


def test_nobody_imports_the_cli():
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if _layer(p) != "cli" and "cli" in _imports(p)]
    assert offenders == []


def test_the_rule_sees_a_violation():
    """The checker itself can fail: lazy and relative imports of weights and the CLI from models are found;
    an annotation-only import is not."""
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..docs import build\n"
              "from ..weights import fetch\n\ndef f():\n    from ..cli import main\n    import tresnet_zoo.api\n")
    assert _imports_of(source, ["tresnet_zoo", "models"]) == {"weights", "cli", "api"}


def _module_graph() -> dict[str, set[str]]:
    """tresnet_zoo module -> the tresnet_zoo modules it imports (inside functions too; the package root
    counts: ``from .. import x`` is an edge to the root unless ``x`` is a submodule)."""
    modules = {".".join(_module_name(p)): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        graph[name] = {t for t in _import_targets(path.read_text(encoding="utf-8"), package, modules)
                       if t != name}
    return graph


def _import_targets(source: str, package: list[str], modules) -> set[str]:
    tree = ast.parse(source)
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and getattr(node.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + (node.module.split(".") if node.module else []))
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {t for t in found if t in modules}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_anywhere():
    """No cycle among tresnet_zoo's modules, the package root and imports inside functions included."""
    graph = _module_graph()
    assert "tresnet_zoo" in graph and "tresnet_zoo._version" in graph
    assert _cycles(graph) == []


def test_the_cycle_check_sees_a_cycle():
    """The checker can fail: a lazy import back into the package root closes a cycle."""
    modules = {"tresnet_zoo", "tresnet_zoo.api", "tresnet_zoo.weights", "tresnet_zoo.weights.fetch"}
    graph = {
        "tresnet_zoo": _import_targets("from .api import fetch\n", ["tresnet_zoo"], modules),
        "tresnet_zoo.api": _import_targets("def f():\n    from .weights import fetch\n", ["tresnet_zoo"], modules),
        "tresnet_zoo.weights": set(),
        "tresnet_zoo.weights.fetch": _import_targets("from .. import __version__\n", ["tresnet_zoo", "weights"],
                                                     modules),
    }
    assert graph["tresnet_zoo.api"] == {"tresnet_zoo.weights.fetch"}
    assert _cycles(graph) == [["tresnet_zoo", "tresnet_zoo.api", "tresnet_zoo.weights.fetch"]]
