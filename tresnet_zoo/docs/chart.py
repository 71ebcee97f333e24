"""The zoo's accuracy-vs-GMACs chart, drawn with matplotlib at build time from the index."""

from __future__ import annotations

from pathlib import Path


def accuracy_chart(models: list, path: Path) -> Path:
    """An SVG of top-1 accuracy against GMACs, one labelled point per model, 224 and 448 px apart."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "tresnet-zoo"  # the same index gives the same file
    fig, ax = plt.subplots(figsize=(7.2, 4.5), dpi=100)
    sizes = sorted({m.metadata.image_size for m in models if m.metadata.image_size})
    markers = ["o", "s", "^", "D", "v"]
    for i, size in enumerate(sizes):
        group = [m for m in models if m.metadata.image_size == size and m.metadata.flops and m.top1 is not None]
        if not group:
            continue
        xs = [m.metadata.flops / 1e9 for m in group]
        ys = [m.top1 for m in group]
        ax.scatter(xs, ys, marker=markers[i % len(markers)], s=60, label=f"{size} px", zorder=3)
        for m, x, y in zip(group, xs, ys):
            ax.annotate(m.name, (x, y), textcoords="offset points", xytext=(6, -10), fontsize=8)
    ax.set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.margins(x=0.15, y=0.1)
    ax.set_xlabel("GMACs per image (log scale)")
    ax.set_ylabel("ImageNet top-1 accuracy (%)")
    ax.set_title("TResNet zoo: accuracy vs compute")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(title="image size", loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)
    return path
