"""Where the repository's files are, and environments for a child Python (the CLI run as a user runs it)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UPSTREAM = REPO / "tests" / "fixtures" / "upstream_tresnet.md"
REGISTRY = REPO / "registry" / "tresnet.yml"
PYTHON = sys.executable


def python_env() -> dict:
    env = dict(os.environ)
    env.pop("TRESNET_ZOO_DEBUG", None)
    return env


def env_without(tmp_path: Path, *packages: str) -> dict:
    """An environment for a child Python in which ``packages`` cannot be imported, as on a machine that
    lacks an extra: a ``sitecustomize`` on PYTHONPATH puts a finder first that refuses them."""
    hide = tmp_path / "hide-modules"
    hide.mkdir(exist_ok=True)
    (hide / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {packages!r}:\n"
        "            raise ModuleNotFoundError(name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Hide())\n"
    )
    return dict(python_env(), PYTHONPATH=os.pathsep.join([str(hide), str(REPO), os.environ.get("PYTHONPATH", "")]))
