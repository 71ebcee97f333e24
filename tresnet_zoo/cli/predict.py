"""`predict`: classify image files and folders with an entry's model."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import UsageError
from ..predict import DEFAULT_MAX_PIXELS, Predictor, collect_images
from . import output
from .context import State
from .output import print_json

MAX_NOTES = 10  # skipped-path notes shown one by one; the rest are counted


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)


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
    notes = [f"note: skipped {p}: {why}" for p, why in found.skipped]
    for line in notes[:MAX_NOTES]:
        output.line(line, err=True)
    if len(notes) > MAX_NOTES:
        output.line(f"note: skipped {len(notes) - MAX_NOTES} more", err=True)
    if not found.files:
        raise UsageError("no images found", hint="name image files, or folders holding .jpg, .png, .webp ... files")
    predictor = Predictor.for_entry(entry.name, checkpoint=checkpoint, index=index, cache_dir=state.cache_root(),
                                    device=device, batch_size=batch_size, max_pixels=max_pixels, runtime=runtime)
    results, failures = [], 0
    with output.progress(found.folders > 0 and not quiet, files=False) as bar:
        done = [0]

        def advance(n: int) -> None:
            done[0] += n
            bar(None, done[0], len(found.files))

        for prediction in predictor.predict_files(found.files, top=top, progress=advance if bar else None):
            if not prediction.ok:
                failures += 1
                output.error(prediction.error)
            if as_json:
                results.append(prediction.to_dict())
            elif prediction.ok:
                output.line(prediction.path)
                for rank, (index_, prob) in enumerate(prediction.top):
                    label = "  ".join(prediction.names[rank]) if prediction.names else f"class {index_}"
                    output.line(f"  {prob * 100:6.2f}%  {label}")
    if as_json:
        print_json({"model": entry.name, "ok": failures == 0, "results": results})
    if failures:
        output.line(f"{failures} of {len(found.files)} images failed", err=True)
        raise typer.Exit(1)
