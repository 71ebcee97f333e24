"""`export`: an entry's model as ONNX, TorchScript, a torch.export program or a folder timm loads."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..export import FORMATS, export
from . import output
from .context import State
from .output import print_json


def register(app: typer.Typer) -> None:
    app.command("export")(export_cmd)


def export_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Model name or timm tag (see `tresnet-zoo list`)."),
    fmt: str = typer.Option(..., "--format", help=f"One of {', '.join(FORMATS)}."),
    out: Path = typer.Option(..., "--out", help="Output folder (made if missing; never a link)."),
    checkpoint: Optional[Path] = typer.Option(
        None, "--checkpoint", help="A local weights file (either layout) instead of the entry's verified weights."
    ),
    force: bool = typer.Option(False, "--force", help="Replace files a previous export wrote there."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable results."),
) -> None:
    """Export a model; the file is checked against the model (logits within 1e-4, same top-5) before it is kept."""
    state: State = ctx.obj
    result = export(name, fmt, out, checkpoint=checkpoint, force=force, index=state.load_index(),
                    cache_dir=state.cache_root())
    if as_json:
        print_json(result.to_dict())
        return
    output.line(f"exported {result.name} as {result.format}: max |logit difference| {result.max_abs_diff:.1e} on "
                f"{result.images} images")
    for path in result.files:
        output.line(f"  {path}")
