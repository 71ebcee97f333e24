"""The typer application, its global options, and the one place errors become messages and exit codes."""

from __future__ import annotations

import os
import shlex
import sys
import traceback
from pathlib import Path
from typing import Optional

import typer

try:  # typer 0.2x vendors click as ``typer._click``; older versions use click itself
    from typer._click import exceptions as _click_errors
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as _click_errors

from .._deps import missing_extra
from .._version import __version__
from ..errors import EXIT_BUG, EXIT_CODES, EXIT_USAGE, ZooError
from . import output
from .context import State, current, set_current
from .hints import as_command, hint_for, set_argv

DEBUG_ENV = "TRESNET_ZOO_DEBUG"
_NO_ARGS = getattr(_click_errors, "NoArgsIsHelpError", ())  # click >= 8.2 only

# "\b" keeps click from re-wrapping the table into one paragraph
EPILOG = "\b\nExit codes:\n" + "\n".join(f"  {code:>2}  {meaning}" for code, meaning in EXIT_CODES.items()) + (
    f"\n\b\nErrors are one line (error: ...) plus a hint you can run as printed; {DEBUG_ENV}=1 adds a traceback."
)

app = typer.Typer(
    name="tresnet-zoo",
    help="A checked model-index registry and weight cache for the TResNet image classifiers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EPILOG,
)


def _typed(ctx: typer.Context, *names: str) -> frozenset[str]:
    """The options given on the command line (not from the environment): hints repeat exactly these."""
    out = set()
    for name in names:
        source = ctx.get_parameter_source(name)
        if source is not None and getattr(source, "name", "") == "COMMANDLINE":
            out.add(name)
    return frozenset(out)


def _version(value: bool) -> None:
    if value:
        output.line(f"tresnet-zoo {__version__}")
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
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    ctx.obj = State(index=index, cache_dir=cache_dir, typed=_typed(ctx, "index", "cache_dir"))
    set_current(ctx.obj)


from . import check_cmd, docs_cmds, export, index_cmds, mirror, predict, sign, weights_cmds  # noqa: E402  (registers the commands)

index_cmds.register(app)
check_cmd.register(app)
weights_cmds.register(app)
docs_cmds.register(app)
predict.register(app)
mirror.register(app)
sign.register(app)
export.register(app)


def _full_summaries(group: typer.Typer) -> None:
    """Each command's whole first help line as its summary: click would cut it to fit ("...") in --help."""
    for info in group.registered_commands:
        doc = info.help or (info.callback.__doc__ if info.callback else None)
        if doc and not info.short_help:
            info.short_help = doc.strip().split("\n")[0]
    for sub in group.registered_groups:
        _full_summaries(sub.typer_instance)
        if not sub.short_help:
            sub.short_help = (sub.help or sub.typer_instance.info.help or "").strip().split("\n")[0] or None


_full_summaries(app)


def _usage_error(exc: _click_errors.UsageError) -> tuple[str, str]:
    message = exc.format_message().strip().rstrip(".")
    message = message[:1].lower() + message[1:]
    path = exc.ctx.command_path if exc.ctx is not None else "tresnet-zoo"
    return message, f"`{path} --help` shows the usage"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI. As the console script (``argv`` None) it exits; called with ``argv`` it returns the code.

    Every failure ends here as ``error: <message>`` plus a ``hint:`` and one exit code from
    ``errors.EXIT_CODES``: a ``ZooError`` carries its code, a click usage error (unknown option, missing
    argument) is 2, anything else is a bug (70). ``TRESNET_ZOO_DEBUG=1`` adds the traceback to stderr and
    changes nothing else.
    """
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    set_current(None)
    command = typer.main.get_command(app)
    set_argv(sys.argv[1:] if argv is None else argv, command)
    output.capture_warnings()
    try:
        result = command.main(args=argv, prog_name="tresnet-zoo", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except typer.Exit as exc:
        code = exc.exit_code
    except _NO_ARGS as exc:  # bare `tresnet-zoo`: the help, as a first contact
        output.lines(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
        code = 0
    except _click_errors.UsageError as exc:
        _debug_traceback(debug)
        message, hint = _usage_error(exc)
        output.error(message, as_command(hint, usage=True))
        code = EXIT_USAGE
    except ZooError as exc:
        _debug_traceback(debug)
        output.error(exc.message, hint_for(exc, current()))
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        output.error("interrupted")
        code = 130
    except _click_errors.ClickException as exc:
        _debug_traceback(debug)
        output.error(exc.format_message(), "tresnet-zoo --help  # shows the usage")
        code = exc.exit_code
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:  # noqa: BLE001 - a bug: say so in one line, with the traceback only when debugging
        _debug_traceback(debug)
        missing = missing_extra(exc) if isinstance(exc, ModuleNotFoundError) else None
        if missing is not None:  # an extra not installed, met deep inside a command: exit 3 naming it
            output.error(missing.message, hint_for(missing, current()))
            code = missing.exit_code
        else:
            output.error(
                f"internal error ({type(exc).__name__}: {exc})",
                f"{DEBUG_ENV}=1 " + " ".join(["tresnet-zoo", *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
                + "  # a bug in tresnet-zoo: this shows the traceback; please report it",
            )
            code = EXIT_BUG
    if argv is None:
        _exit(code)
    return code


def _debug_traceback(debug: bool) -> None:
    if debug:
        output.lines(traceback.format_exc(), err=True)


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
