"""The zoo's accuracy-vs-GMACs chart, drawn with matplotlib at build time from the index.

Two drawings of the same data: a wide one for desktops and a tall one with larger type for phones (the
page picks one with ``<picture>``), so point labels stay readable at 390 px. Labels are drawn as text
with mathtext off (a ``$`` in a name is not a formula) and cut to 32 characters; past 24 points only the
Pareto-front models are labelled, one label per spot, 24 at most, each at the first spot beside its
marker that covers no other label, marker or the legend. The SVG holds glyph outlines, not text,
and is shown with ``<img>``.

matplotlib reads a ``matplotlibrc`` from the current folder when it is imported, and the current folder
is untrusted (a pull request can add one): ``text.usetex`` there would run ``latex`` on index text,
``svg.fonttype: none`` would put names in the SVG as text. The chart is drawn under matplotlib's own
defaults (``rcdefaults`` inside an ``rc_context``), whatever rc file or style was loaded.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["LABEL_ALL_UP_TO", "accuracy_chart"]

LABEL_ALL_UP_TO = 24


def _label(name: str) -> str:
    return name if len(name) <= 32 else name[:31] + "…"


def accuracy_chart(points: list[tuple[str, float, float, int]], front: set[str], path: Path | None, *,
                   narrow: bool = False):
    """An SVG of top-1 against GMACs; ``points`` are (name, GMACs, top-1, image size), ``front`` the unbeaten.

    Returns ``path``; with ``path`` None nothing is written and the answer is (label boxes, obstacles) in
    display coordinates, to check that no label covers another label, a marker or the legend."""
    import matplotlib  # noqa: PLC0415 (docs extra, optional)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 (docs extra, optional)

    with matplotlib.rc_context():
        # the package's defaults, not a matplotlibrc found in the (untrusted) current folder
        matplotlib.rcdefaults()
        matplotlib.rcParams["svg.hashsalt"] = "tresnet-zoo"  # the same index gives the same file
        return _draw(plt, points, front, path, narrow)


# where a label may sit, in points from its marker: right, left, above, below, then the diagonals
_SPOTS = [((7, -4), "left"), ((-7, -4), "right"), ((0, 8), "center"), ((0, -16), "center"),
          ((7, 6), "left"), ((-7, 6), "right"), ((7, -14), "left"), ((-7, -14), "right")]


def _place_labels(fig, ax, labelled: list, points: list, fontsize: float, narrow: bool) -> tuple[list, list]:
    """Label each point at the first spot that overlaps no marker, no label placed before, not the legend,
    and stays in the figure; returns the labels' boxes and the obstacles (display coordinates)."""
    renderer = fig.canvas.get_renderer()
    marks = []
    r = 6 if narrow else 5
    for _, x, y, _ in points:
        cx, cy = ax.transData.transform((x, y))
        marks.append((cx - r, cy - r, cx + r, cy + r))
    legend = ax.get_legend()
    if legend is not None:
        box = legend.get_window_extent(renderer)
        marks.append((box.x0, box.y0, box.x1, box.y1))
    placed: list[tuple[float, float, float, float]] = []
    frame = fig.bbox
    for name, x, y, _ in labelled:
        shown = _label(name).replace("tresnet_", "") if narrow else _label(name)
        for n, (offset, align) in enumerate([*_SPOTS, _SPOTS[0]]):  # nowhere free: the first spot after all
            text = ax.annotate(shown, (x, y), textcoords="offset points", xytext=offset, fontsize=fontsize,
                               ha=align, parse_math=False, annotation_clip=False)
            box = text.get_window_extent(renderer)
            edges = (box.x0, box.y0, box.x1, box.y1)
            inside = box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0 and box.y1 <= frame.y1
            if n == len(_SPOTS) or inside and not any(_overlap(edges, other) for other in placed + marks):
                placed.append(edges)
                break
            text.remove()
    return placed, marks


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _draw(plt, points, front, path: Path, narrow: bool) -> Path:
    import matplotlib.ticker  # noqa: PLC0415 (docs extra, optional)

    font = 15 if narrow else 9
    fig, ax = plt.subplots(figsize=(4.2, 5.6) if narrow else (7.2, 4.5), dpi=100)
    sizes = sorted({p[3] for p in points})
    markers = ["o", "s", "^", "D", "v"]
    label_all = len(points) <= LABEL_ALL_UP_TO
    for i, size in enumerate(sizes):
        group = list({(p[1], p[2]): p for p in points if p[3] == size}.values())  # one marker per spot
        ax.scatter([p[1] for p in group], [p[2] for p in group], marker=markers[i % len(markers)],
                   s=90 if narrow else 60, label=f"{size} px", zorder=3)
    labelled: dict[tuple[float, float], tuple] = {}  # one label per spot: copies of a model share theirs
    for p in points:
        if (label_all or p[0] in front) and (p[1], p[2]) not in labelled and len(labelled) < LABEL_ALL_UP_TO:
            labelled[(p[1], p[2])] = p
    frontier = sorted({(p[1], p[2]): p for p in points if p[0] in front}.values(), key=lambda p: p[1])
    if len(frontier) > 1:
        ax.plot([p[1] for p in frontier], [p[2] for p in frontier], color="grey", linewidth=1, linestyle="--",
                zorder=2, label="Pareto front")
    ax.set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain if not narrow else matplotlib.ticker.NullFormatter())  # no room on a phone
    ax.tick_params(labelsize=font - 3 if narrow else font)
    ax.margins(x=0.35 if narrow else 0.15, y=0.1)
    ax.set_xlabel("GMACs per image (log scale)", fontsize=font - 2 if narrow else font)
    ax.set_ylabel("ImageNet top-1 (%)", fontsize=font - 2 if narrow else font)
    if not narrow:
        ax.set_title("Accuracy vs compute")
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # one point, or none on the front: nothing to explain
        ax.legend(loc="lower right", fontsize=font - 4 if narrow else font - 1)
    fig.tight_layout()
    boxes = _place_labels(fig, ax, list(labelled.values()), points, font - 2 if narrow else font, narrow)
    if path is None:
        plt.close(fig)
        return boxes
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)
    return path
