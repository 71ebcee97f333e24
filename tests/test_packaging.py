"""The wheel carries registry/ and schemas/: an installed (non-editable) tresnet-zoo works from anywhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from .helpers.paths import REPO, UPSTREAM

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        check=True, capture_output=True, text=True,
    )
    (built,) = out.glob("tresnet_zoo-*.whl")
    return built


def test_wheel_contains_the_registry_and_schema(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "tresnet_zoo/_data/registry/tresnet.yml" in names
    assert "tresnet_zoo/_data/schemas/model-index.schema.json" in names
    assert "tresnet_zoo/_data/docs/templates/collection.md.j2" in names
    assert "tresnet_zoo/_data/docs/assets/vendor/tablesort/tablesort.min.js" in names
    assert "tresnet_zoo/_data/upstream/tresnet.md" in names
    assert not any(n.startswith(("tests/", "registry/")) for n in names)


def test_installed_wheel_lists_models_from_the_filesystem_root(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = venv / "bin" / "pip"
    done = subprocess.run([str(pip), "install", "-q", str(wheel)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    exe = venv / "bin" / "tresnet-zoo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRESNET_ZOO")}
    env["TRESNET_ZOO_CACHE"] = str(tmp_path / "cache")
    env["PYTHONPATH"] = ""

    def run(*args):
        return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, cwd="/", env=env)

    listed = run("list", "--json")
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)
    assert len(records) == 10 and records[0]["name"] == "tresnet_l"
    assert "/_data/registry/tresnet.yml" in records[0]["source"]
    assert run("info", "tresnet_xl").returncode == 0
    upstream = tmp_path / "tresnet.md"
    shutil.copy(UPSTREAM, upstream)
    validated = run("validate", upstream)
    assert validated.returncode == 0 and "OK: 6 models" in validated.stdout
