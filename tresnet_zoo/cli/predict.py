"""`predict`: classify image files and folders with an entry's model."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import UsageError
from ..predict import DEFAULT_MAX_PIXELS, Predictor, collect_images
from .context import State
from .output import console, print_json

MAX_NOTES = 10  # skipped-path notes shown one by one; the rest are counted


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)


def _safe(text: str) -> str:
    """File names are input: show control characters escaped, never raw to the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@contextmanager
def _progress(total: int, enabled: bool):
    """A rich progress bar on stderr (a terminal only)."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn  # noqa: PLC0415 (progress bars: terminal path only)

    with Progress(TextColumn("classifying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console(stderr=True), transient=True) as progress:
        task = progress.add_task("images", total=total)
        yield lambda n: progress.advance(task, n)


def predict(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Model name or timm tag (see `tresnet-zoo list`)."),
    inputs: List[Path] = typer.Argument(..., help="Image files or folders (walked; links inside are not followed)."),
    top: int = typer.Option(5, "--top", min=1, help="How many classes to show per image."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable results."),
    checkpoint: Optional[Path] = typer.Option(
        None, "--checkpoint",
        help="A local or fine-tuned weights file (either layout) or an exported .onnx file, not the entry's weights."
    ),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Images per forward pass."),
    device: str = typer.Option("cpu", "--device", help="torch device, e.g. cpu or cuda."),
    max_pixels: int = typer.Option(
        DEFAULT_MAX_PIXELS, "--max-pixels", min=1, help="Refuse images whose header announces more pixels."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    runtime: str = typer.Option(
        "torch", "--runtime", help="torch, or onnx (onnxruntime on the CPU; exported once into the cache)."
    ),
) -> None:
    """Classify images: the entry's preprocessing (timm's), fused model, class names and probabilities."""
    state: State = ctx.obj
    index = state.load_index()
    entry = index.get(name)
    found = collect_images(inputs)
    notes = [f"note: skipped {_safe(str(p))}: {why}" for p, why in found.skipped]
    for line in notes[:MAX_NOTES]:
        sys.stderr.write(line + "\n")
    if len(notes) > MAX_NOTES:
        sys.stderr.write(f"note: skipped {len(notes) - MAX_NOTES} more\n")
    if not found.files:
        raise UsageError("no images found", hint="name image files, or folders holding .jpg, .png, .webp ... files")
    predictor = Predictor.for_entry(entry.name, checkpoint=checkpoint, index=index, cache_dir=state.cache_root(),
                                    device=device, batch_size=batch_size, max_pixels=max_pixels, runtime=runtime)
    out = console()
    results, failures = [], 0
    with _progress(len(found.files), found.folders > 0 and not quiet) as bar:
        for prediction in predictor.predict_files(found.files, top=top, progress=bar):
            if not prediction.ok:
                failures += 1
                sys.stderr.write(f"error: {_safe(prediction.error)}\n")
            if as_json:
                results.append(prediction.to_dict())
            elif prediction.ok:
                lines = [_safe(prediction.path)]
                for rank, (index_, prob) in enumerate(prediction.top):
                    label = "  ".join(prediction.names[rank]) if prediction.names else f"class {index_}"
                    lines.append(f"  {prob * 100:6.2f}%  {label}")
                out.print("\n".join(lines), markup=False, highlight=False)
    if as_json:
        print_json({"model": entry.name, "ok": failures == 0, "results": results})
    if failures:
        sys.stderr.write(f"{failures} of {len(found.files)} images failed\n")
        raise typer.Exit(1)
