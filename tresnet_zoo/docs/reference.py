"""Reference pages generated from the code: the CLI's help texts and the public functions' docstrings.

The CLI hands its command tree in (a click command, e.g. ``typer.main.get_command(app)``): the docs
package never imports the CLI, which imports the docs package.
"""

from __future__ import annotations

import inspect

import tresnet_zoo

__all__ = ["PUBLIC_FUNCTIONS", "api_functions", "cli_commands", "signature"]


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


def _annotation(value) -> str:
    return value if isinstance(value, str) else inspect.formatannotation(value)  # postponed: already text


def _parameter(p: inspect.Parameter) -> str:
    text = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name
    if p.annotation is not p.empty:
        text += f": {_annotation(p.annotation)}"
    if p.default is not p.empty:
        text += (" = " if p.annotation is not p.empty else "=") + repr(p.default)
    return text


def signature(qualified: str, func, width: int = 72) -> str:
    """``func``'s signature as code: one line when it fits ``width``, else one parameter per line."""
    sig = inspect.signature(func)
    params, star = [], False
    for p in sig.parameters.values():
        if p.kind is p.KEYWORD_ONLY and not star:
            params.append("*")
        star = star or p.kind in (p.KEYWORD_ONLY, p.VAR_POSITIONAL)
        params.append(_parameter(p))
    returns = f" -> {_annotation(sig.return_annotation)}" if sig.return_annotation is not sig.empty else ""
    one = f"{qualified}({', '.join(params)}){returns}"
    if len(one) <= width:
        return one
    return f"{qualified}(\n" + "".join(f"    {p},\n" for p in params) + f"){returns}"


def api_functions() -> list[dict]:
    out = []
    for name in PUBLIC_FUNCTIONS:
        func = getattr(tresnet_zoo, name, None)
        if func is None:
            continue
        out.append({"name": name, "signature": signature(f"tresnet_zoo.{name}", func),
                    "doc": inspect.cleandoc(func.__doc__ or "")})
    return out
