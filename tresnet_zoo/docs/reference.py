"""Reference pages generated from the code: the CLI's help texts and the public functions' docstrings."""

from __future__ import annotations

import inspect


def cli_commands() -> list[dict]:
    """Every command of the typer app with its --help text, in the app's order (groups recursed)."""
    import typer.main

    from ..cli.main import app

    root = typer.main.get_command(app)
    out: list[dict] = []

    def walk(command, path: str, parent_ctx) -> None:
        ctx = command.context_class(command, info_name=path.split()[-1], parent=parent_ctx, terminal_width=100, max_content_width=100)
        out.append({"path": path, "help": command.get_help(ctx).rstrip()})
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}", ctx)

    walk(root, "tresnet-zoo", None)
    return out


PUBLIC_FUNCTIONS = ("load_index", "list_models", "create_model", "fetch")


def api_functions() -> list[dict]:
    import tresnet_zoo

    out = []
    for name in PUBLIC_FUNCTIONS:
        func = getattr(tresnet_zoo, name)
        signature = f"tresnet_zoo.{name}{inspect.signature(func)}"
        out.append({"name": name, "signature": signature, "doc": inspect.cleandoc(func.__doc__ or "")})
    return out
