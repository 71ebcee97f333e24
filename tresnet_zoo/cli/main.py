"""The typer application, its global options, and the one place errors become messages and exit codes."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from .. import __version__
from ..errors import ZooError
from .context import State

DEBUG_ENV = "TRESNET_ZOO_DEBUG"

app = typer.Typer(
    name="tresnet-zoo",
    help="A checked model-index registry and weight cache for the TResNet image classifiers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tresnet-zoo {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    ctx: typer.Context,
    index: Optional[Path] = typer.Option(
        None, "--index", envvar="TRESNET_ZOO_INDEX", help="Index file or folder to use instead of the bundled registry."
    ),
    cache_dir: Optional[Path] = typer.Option(
        None,
        "--cache-dir",
        envvar="TRESNET_ZOO_CACHE",
        help="Weight cache folder [default: $XDG_CACHE_HOME/tresnet-zoo, else ~/.cache/tresnet-zoo].",
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    ctx.obj = State(index=index, cache_dir=cache_dir)


from . import check_cmd, docs_cmds, index_cmds, mirror, weights_cmds  # noqa: E402  (registers the commands)

index_cmds.register(app)
check_cmd.register(app)
weights_cmds.register(app)
docs_cmds.register(app)
mirror.register(app)


def _print_error(exc: ZooError) -> None:
    sys.stderr.write(f"error: {exc.message}\n")
    if exc.hint:
        sys.stderr.write(f"hint: {exc.hint}\n")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI. As the console script (``argv`` None) it exits; called with ``argv`` it returns the code.

    Usage errors (unknown option, missing argument) are click's to report, with exit code 2; a
    ``ZooError`` becomes ``error: <message>`` plus a hint and its own exit code; anything else is a bug
    and is reported in one line unless ``TRESNET_ZOO_DEBUG=1`` asks for the traceback.
    """
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        try:
            app(args=argv, prog_name="tresnet-zoo")
            code = 0
        except SystemExit as exc:  # click's standalone mode always ends here
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except ZooError as exc:
            if debug:
                raise
            _print_error(exc)
            code = exc.exit_code
        except KeyboardInterrupt:
            sys.stderr.write("error: interrupted\n")
            code = 130
    except Exception as exc:  # a bug: say so in one line unless debugging
        if debug:
            raise
        sys.stderr.write(
            f"error: internal error ({type(exc).__name__}: {exc}); "
            f"rerun with {DEBUG_ENV}=1 for a traceback and please report it\n"
        )
        code = 70
    if argv is None:
        _exit(code)
    return code


def _exit(code: int) -> None:
    """Exit the console script. Once torch (and the torch._dynamo that FlopCounterMode pulls in) is
    loaded, the interpreter's orderly teardown of their modules takes about a second; every file and
    lock of ours is closed by then (context managers), so flush the streams and leave at once."""
    if "torch" in sys.modules:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    sys.exit(code)


__all__ = ["app", "main"]
