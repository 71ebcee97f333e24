"""Running the CLI as a user does: in a child process (a hang is a result, not a stuck run), the command a
hint names, and a port nothing listens on."""

from __future__ import annotations

import shlex
import socket
import subprocess

from .paths import PYTHON, python_env


def run_cli(args, *, timeout: float = 30, env: dict | None = None) -> tuple[int | str, str]:
    """The CLI in a child process, so that a hang is a failed assertion rather than a stuck test run."""
    code = "import sys; from tresnet_zoo.cli import main; sys.exit(main(sys.argv[1:]))"
    try:
        proc = subprocess.run([PYTHON, "-c", code, *map(str, args)], capture_output=True, text=True,
                              timeout=timeout, env={**python_env(), **(env or {})})
    except subprocess.TimeoutExpired:
        return "hang", ""
    return proc.returncode, proc.stdout + proc.stderr


def hinted_command(err: str) -> str:
    """The command of the last ``hint:`` line of ``err`` (a hint is ``COMMAND  # what it does``)."""
    hints = [line[len("hint: "):] for line in err.splitlines() if line.startswith("hint: ")]
    assert hints, err
    return hints[-1].split("  # ", 1)[0]


def run_hint(cli, command: str):
    """Run a hinted ``tresnet-zoo ...`` command line through the ``cli`` fixture."""
    words = shlex.split(command)
    assert words[0] == "tresnet-zoo", command
    return cli(*words[1:])


def closed_port() -> int:
    """A loopback port that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_error(result) -> str:
    """The one ``error:`` line of a CLI result (and no traceback, no internal error)."""
    assert "Traceback" not in result.text and "internal error" not in result.text, result.text
    errors = [ln for ln in result.err.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, result.err
    return errors[0]

