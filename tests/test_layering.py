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
