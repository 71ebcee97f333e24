"""Shared fixtures: paths, a CLI runner, and small index writers."""

from __future__ import annotations

import contextlib
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


def python_env() -> dict:
    env = dict(os.environ)
    env.pop("TRESNET_ZOO_DEBUG", None)
    return env


PYTHON = sys.executable


# --- weights: checkpoints written with the reference model, served by a real local HTTP server ---------


@dataclass
class Checkpoint:
    name: str  # index entry name
    filename: str
    data: bytes
    sha256: str
    layout: str
    image_size: int = 224

    @property
    def size(self) -> int:
        return len(self.data)


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
    from .httpserver import FaultServer

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


def zoo_index_text(checkpoints: dict[str, Checkpoint], base_url: str, **overrides) -> str:
    """An index of the test checkpoints; ``overrides[name]`` may set size, filename or sha256."""
    lines = ["Collections:", "- Name: TResNet", "Models:"]
    for ckpt in checkpoints.values():
        o = overrides.get(ckpt.name, {})
        lines += [f"- Name: {ckpt.name}", "  In Collection: TResNet", "  Metadata:", "    Parameters: 31389032"]
        lines += [f"    File Size: {o.get('size', ckpt.size)}", f"    Image Size: {ckpt.image_size}"]
        if "sha256" in o:
            lines.append(f"    SHA256: {o['sha256']}")
        lines.append(f"  Weights: {base_url.rstrip('/')}/{o.get('filename', ckpt.filename)}")
    return "\n".join(lines) + "\n"


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
