"""Fixtures only: an isolated environment, a CLI runner, small index writers, the test checkpoints and the
loopback server that serves them. What they build on is in tests/helpers/ (the names imported here stay
importable from this module for older test files)."""

from __future__ import annotations

import contextlib
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from .helpers.indexes import Checkpoint, Setup, zoo_index_text
from .helpers.paths import PYTHON, REGISTRY, REPO, UPSTREAM, env_without, python_env

# Under pytest-xdist each worker is one process on a shared machine: one math thread each (torch reads this on
# import) instead of every worker starting one per core and all of them contending.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("OMP_NUM_THREADS", "1")

__all__ = ["Checkpoint", "zoo_index_text", "PYTHON", "REGISTRY", "REPO", "UPSTREAM", "env_without", "python_env"]


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    """No test reads the user's cache or index settings."""
    monkeypatch.setenv("TRESNET_ZOO_CACHE", str(tmp_path_factory.mktemp("cache")))
    for var in ("TRESNET_ZOO_INDEX", "TRESNET_ZOO_DEBUG", "TRESNET_ZOO_MIRROR", "TRESNET_ZOO_OFFLINE",
                "TRESNET_ZOO_LOCK", "HF_ENDPOINT"):
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


# Every `hint:` line the CLI prints through the `cli` fixture in this session, one per line, for
# tests/test_hints_run_as_printed.py (which runs each as printed); pytest_configure names the file.
HINT_LOG = "TRESNET_ZOO_TEST_HINT_LOG"


def pytest_configure(config):
    if not os.environ.get(HINT_LOG):
        import tempfile

        fd, path = tempfile.mkstemp(prefix="tresnet-zoo-hints-", suffix=".txt")
        os.close(fd)
        os.environ[HINT_LOG] = path


def pytest_unconfigure(config):
    path = os.environ.get(HINT_LOG, "")
    if os.path.basename(path).startswith("tresnet-zoo-hints-"):
        with contextlib.suppress(OSError):
            os.unlink(path)


def record_hints(text: str) -> None:
    hints = [line[len("hint: "):] for line in text.splitlines() if line.startswith("hint: ")]
    if hints and os.environ.get(HINT_LOG):
        with open(os.environ[HINT_LOG], "a", encoding="utf-8") as log:
            log.write("".join(f"{os.getcwd()}\t{h}\n" for h in hints))


def hint_command(text: str) -> str:
    """The command of the last ``hint:`` line in ``text`` (a hint is ``COMMAND  # what it does``)."""
    hints = [line[len("hint: "):] for line in text.splitlines() if line.startswith("hint: ")]
    assert hints, text
    return hints[-1].split("  # ", 1)[0]


@pytest.fixture
def cli(capsys):
    """Run ``tresnet-zoo ARGS`` in this process; returns exit code, stdout and stderr."""
    from tresnet_zoo.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        record_hints(captured.err)
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


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> dict[str, Checkpoint]:
    """tresnet_m weights in both layouts (timm and the 2020 release layout), as files and bytes."""
    import hashlib

    import torch

    from tresnet_zoo.models.layouts import timm_to_release
    from tresnet_zoo.models.tresnet import build

    torch.manual_seed(1234)
    model = build("tresnet_m").eval()
    state = model.state_dict()
    out: dict[str, Checkpoint] = {}
    folder = tmp_path_factory.mktemp("checkpoints")
    for name, layout, payload in (
        ("tresnet_m", "timm", state),
        ("tresnet_m_release", "release", {"model": timm_to_release(state, model)}),
    ):
        tmp = folder / f"{name}.pth"
        torch.save(payload, tmp)
        data = tmp.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        filename = f"{name}-{digest[:8]}.pth"
        tmp.rename(folder / filename)
        out[name] = Checkpoint(name, filename, data, digest, layout)
    return out


@pytest.fixture(scope="session")
def _server_session(checkpoints):
    from .helpers.servers import FaultServer

    server = FaultServer()
    for ckpt in checkpoints.values():
        server.add(ckpt.filename, ckpt.data)
    yield server
    server.close()


@pytest.fixture
def server(_server_session):
    _server_session.reset()
    yield _server_session
    _server_session.reset()


@pytest.fixture
def zoo(tmp_path, checkpoints, server):
    """An index whose weight URLs point at the local server, and a fresh cache folder."""

    class Zoo:
        index = tmp_path / "index.yml"
        cache = tmp_path / "weights-cache"

        def write(self, **overrides) -> None:
            self.index.write_text(zoo_index_text(checkpoints, server.url("/"), **overrides))

        def args(self, *args: str) -> list[str]:
            return ["--index", str(self.index), "--cache-dir", str(self.cache), *args]

        def final(self, name: str = "tresnet_m") -> Path:
            return self.cache / checkpoints[name].filename

        def partials(self) -> list[Path]:
            return sorted(self.cache.glob("*.part")) if self.cache.exists() else []

    zoo = Zoo()
    zoo.write()
    return zoo


# --- one small random weights file on a server of its own (hostile-server and shared-cache tests) -----------


@pytest.fixture(scope="module")
def web():
    from .helpers.servers import FaultServer

    server = FaultServer()
    yield server
    server.close()


@pytest.fixture
def site(tmp_path, web):
    web.reset()
    yield Setup(tmp_path, web)
    web.reset()

