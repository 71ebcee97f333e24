"""Reference pages generated from the code: the CLI's help texts and the public functions' docstrings.

The CLI hands its command tree in (a click command, e.g. ``typer.main.get_command(app)``): the docs
package never imports the CLI, which imports the docs package.
"""

from __future__ import annotations

import inspect

import tresnet_zoo

__all__ = ["PUBLIC_FUNCTIONS", "api_functions", "cli_commands"]


def cli_commands(root, name: str = "tresnet-zoo") -> list[dict]:
    """Every command under the click command ``root`` with its --help text, in order (groups recursed)."""
    if root is None:
        return []
    out: list[dict] = []

    def walk(command, path: str, parent_ctx) -> None:
        ctx = command.context_class(command, info_name=path.split()[-1], parent=parent_ctx, terminal_width=100,
                                    max_content_width=100)
        out.append({"path": path, "help": command.get_help(ctx).rstrip()})
        for sub_name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {sub_name}", ctx)

    walk(root, name, None)
    return out


PUBLIC_FUNCTIONS = ("load_index", "list_models", "create_model", "fetch")


def api_functions() -> list[dict]:
    out = []
    for name in PUBLIC_FUNCTIONS:
        func = getattr(tresnet_zoo, name, None)
        if func is None:
            continue
        signature = f"tresnet_zoo.{name}{inspect.signature(func)}"
        out.append({"name": name, "signature": signature, "doc": inspect.cleandoc(func.__doc__ or "")})
    return out
