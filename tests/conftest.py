"""Shared fixtures: paths, a CLI runner, and small index writers."""

from __future__ import annotations

import os
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UPSTREAM = REPO / "tests" / "fixtures" / "upstream_tresnet.md"
REGISTRY = REPO / "registry" / "tresnet.yml"


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    """No test reads the user's cache or index settings."""
    monkeypatch.setenv("TRESNET_ZOO_CACHE", str(tmp_path_factory.mktemp("cache")))
    for var in ("TRESNET_ZOO_INDEX", "TRESNET_ZOO_DEBUG", "TRESNET_ZOO_MIRROR", "TRESNET_ZOO_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("COLUMNS", "200")


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@pytest.fixture
def cli(capsys):
    """Run ``tresnet-zoo ARGS`` in this process; returns exit code, stdout and stderr."""
    from tresnet_zoo.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def write(tmp_path):
    """Write a (dedented) text file under tmp_path and return its path."""

    def _write(name: str, text: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


def python_env() -> dict:
    env = dict(os.environ)
    env.pop("TRESNET_ZOO_DEBUG", None)
    return env


PYTHON = sys.executable
