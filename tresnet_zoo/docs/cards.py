"""The data behind the pages: one record per model (its card), ordering, the accuracy/compute Pareto front.

Everything here is computed from the index (and the collection prose files for what the index does not
hold, such as the paper's throughput table). No text is escaped here: the templates escape every value
(``safe.text`` is their finalizer); this module only decides which strings are links (``safe.http_url``)
and which file each page gets (``safe.Slugs``).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._urls import redact
from ..models.labels import label_set_for
from .safe import http_url

__all__ = ["ModelCard", "family", "order_key", "pareto_front", "search_boosts", "source_location"]

_FAMILY = re.compile(r"tresnet_(v2_)?(m|l|xl)(?![a-z0-9])")
_SIZES = {"m": 0, "l": 1, "xl": 2}


def family(*names: str | None) -> tuple[int, int] | None:
    """(generation, size rank) of a TResNet name: tresnet_m (0, 0) ... tresnet_v2_l (1, 1); None if not one."""
    for name in names:
        found = _FAMILY.match((name or "").lower())
        if found:
            return (1 if found.group(1) else 0, _SIZES[found.group(2)])
    return None


def order_key(entry) -> tuple:
    """Family, then size (m, l, xl, then v2), then image size (224 before 448), then name."""
    fam = family(entry.name, entry.metadata.id)
    return (fam is None, fam or (9, 9), entry.metadata.image_size or 0, entry.name)


def pareto_front(points: dict[str, tuple[float, float]]) -> dict[str, str]:
    """name -> the model that beats it: at most its MACs and at least its accuracy, better in one.

    ``points`` maps a name to (MACs, top-1). Of several that beat a model, the most accurate is named.
    Names absent from the answer are on the front.
    """
    beaten: dict[str, str] = {}
    for name, (macs, top1) in points.items():
        rivals = [(t, -m, other) for other, (m, t) in points.items()
                  if other != name and m <= macs and t >= top1 and (m < macs or t > top1)]
        if rivals:
            beaten[name] = max(rivals)[2]
    return beaten


def search_boosts(entries) -> dict[str, int]:
    """name -> the search weight of its card: 1 plus how many names and timm tags of other entries extend this
    entry's own (a name that is extended counts double).

    The site's search matches every word as a prefix, so `tresnet_m` also matches each longer name that
    starts with it and those cards score as high; weighting a card by the names that extend it puts an
    exact name first. A name and a tag extending each other both ways (tresnet_v2_l's tag extends
    tresnet_v2_l_miil_in21k's) favour the name. Sorted identifiers make it O(n log n) for big indexes.
    """
    ids = sorted(i for e in entries for i in set(e.names()))
    boosts = {}
    for e in entries:
        own = set(e.names())
        total = 0
        for m in own:
            extending = bisect_left(ids, m + "\U0010ffff") - bisect_left(ids, m)
            extending -= sum(1 for o in own if o.startswith(m))  # its own names and tags
            total += extending * (2 if m == e.name else 1)
        boosts[e.name] = 1 + total
    return boosts


def source_location(location, roots: list[Path]) -> tuple[str, int | None] | None:
    """Where an entry was written, relative to its index root: ``registry/tresnet.yml`` and a line.

    Shown as ``<root folder name>/<path below it>``, where a file root's folder is the one holding it:
    never the build machine's absolute path.
    """
    if location is None:
        return None
    file = Path(location.file)
    for root in roots:
        root = Path(root)
        base = root if root.is_dir() else root.parent
        try:
            rel = file.resolve().relative_to(base.resolve())
        except ValueError:
            continue
        shown = f"{base.name}/{rel.as_posix()}" if base.name else rel.as_posix()
        return shown, location.line
    return file.name, location.line


@dataclass
class ModelCard:
    """What one model page shows, in the order a reader choosing a checkpoint needs it."""

    entry: Any
    slug: str
    title: str
    collection: str | None
    collection_page: str
    location: tuple[str, int | None] | None
    verdicts: list[dict]
    unchecked_reason: str | None
    beaten_by: Any = None  # ModelCard of the model that beats this one on both accuracy and MACs
    throughput: dict | None = None  # the paper's GPU throughput for this model's family, if it gives one
    repo_url: str | None = None
    extra: dict = field(default_factory=dict)

    # --- plain facts, formatted -------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def page(self) -> str:
        return f"models/{self.slug}.md"

    @property
    def md(self):
        return self.entry.metadata

    @staticmethod
    def _fmt(value, spec: str) -> str:
        return format(value, spec) if value is not None else "-"

    @property
    def params_m(self) -> str:
        return self._fmt(self.md.parameters / 1e6 if self.md.parameters else None, ".2f")

    @property
    def gmacs(self) -> str:
        return self._fmt(self.md.flops / 1e9 if self.md.flops else None, ".2f")

    @property
    def top1(self) -> str:
        return self._fmt(self.entry.top1, ".2f")

    @property
    def top5(self) -> str:
        return self._fmt(self.entry.top5, ".2f")

    @property
    def image_size(self):
        return self.md.image_size or "-"

    @property
    def size_mb(self) -> str:
        return self._fmt(self.md.file_size / 1e6 if self.md.file_size else None, ".1f")

    @property
    def label_set(self) -> str | None:
        """The bundled class names the head's outputs are: ``imagenet-1k``, ``imagenet-21k-miil`` or None."""
        return label_set_for(self.num_classes)

    @property
    def in21k(self) -> bool:
        """An ImageNet-21K-P head (11221 classes): it has no ImageNet-1k top-1."""
        return self.label_set == "imagenet-21k-miil"

    @property
    def pretraining(self) -> str | None:
        """What the weights learnt from before their final dataset (``Training Data`` but its last), or the
        one dataset of a head that is not ImageNet-1k's; None for weights trained on ImageNet-1k alone."""
        data = [str(d) for d in self.md.training_data]
        if len(data) > 1:
            return ", ".join(data[:-1])
        return data[0] if data and self.num_classes != 1000 else None

    @property
    def beaten_with_more_data(self) -> bool:
        """The model that beats this one learnt from data this one did not see (the win is not the design's)."""
        rival = self.beaten_by
        return bool(rival and rival.pretraining and rival.pretraining != self.pretraining)

    @property
    def description(self) -> str:
        """One line for the page's meta description and search result."""
        what = (f"an ImageNet-21K-P classifier ({self.num_classes} classes)" if self.in21k
                else f"top-1 {self.top1}% on ImageNet")
        return (f"{self.name}: a TResNet with {self.params_m} M parameters, {self.gmacs} GMACs at "
                f"{self.image_size} px, {what}; weights, code and check results.")

    def inferred(self, key: str) -> str | None:
        """The provenance note of ``key`` when the index says its value was inferred, not measured."""
        note = self.entry.provenance.get(key)
        return note if note and "inferred" in note.lower() else None

    @property
    def fields(self) -> list[tuple[str, str]]:
        """Every metadata field and result as (name, text): lists joined here, so templates only print strings."""
        out = []
        for key, value in self.md.items():
            if key == "x-tresnet-zoo":  # the card shows it as rows (sources redacted, tags, licence)
                continue
            if isinstance(value, (list, tuple)):
                value = ", ".join(str(v) for v in value)
            out.append((str(key), str(value)))
        for result in self.entry.results:
            for metric, value in result.metrics.items():
                out.append((f"{metric} ({result.dataset})", str(value)))
        return out

    @property
    def provenance(self) -> list[tuple[str, str]]:
        return list(self.entry.provenance.items())

    # --- links and names ----------------------------------------------------------------------------
    @property
    def weights_url(self) -> str | None:
        return _redacted(http_url(self.entry.weights))

    @property
    def weights_text(self) -> str | None:
        return _redacted(self.entry.weights)

    @property
    def filename(self) -> str | None:
        return self.entry.weights_filename

    @property
    def _primary(self):
        """The ``Weights`` file as a source (size, sha256, name prefix), or None: what the link beside it is."""
        sources = self.entry.sources
        return sources[0] if sources and self.entry.weights and sources[0].url == self.entry.weights else None

    @property
    def hash_prefix(self) -> str | None:
        return self._primary.sha256_prefix if self._primary else None

    @property
    def sha256(self) -> str | None:
        """The full sha256 of the ``Weights`` file itself: never another source's (that is another file)."""
        return self._primary.sha256 if self._primary else None

    @property
    def sources(self) -> list[dict]:
        """Further weight sources (``x-tresnet-zoo.sources``), after the primary ``Weights`` URL; ``pinned``
        is False for one with neither a sha256 nor a hash prefix in its name: its bytes cannot be verified,
        so fetch refuses it."""
        further = self.entry.sources[1:] if self._primary else self.entry.sources
        return [{"url": _redacted(http_url(s.url)), "text": s.redacted_url, "file": s.filename, "size": s.size,
                 "sha256": s.sha256, "prefix": s.sha256_prefix, "pinned": bool(s.sha256 or s.sha256_prefix)}
                for s in further]

    @property
    def timm_tags(self) -> tuple[str, ...]:
        return self.entry.timm_tags

    @property
    def license(self) -> str | None:
        return self.entry.license

    @property
    def num_classes(self) -> int:
        return self.entry.num_classes

    @property
    def paper(self) -> dict | None:
        paper = self.entry.paper
        if paper is None:
            return None
        return {"title": paper.title, "url": _redacted(http_url(paper.url))}

    @property
    def code_url(self) -> str | None:
        return _redacted(http_url(self.entry.code))

    @property
    def code_text(self) -> str | None:
        return _redacted(self.entry.code)

    @property
    def source_link(self) -> str | None:
        if not (self.repo_url and self.location):
            return None
        path, line = self.location
        return f"{self.repo_url.rstrip('/')}/blob/HEAD/{path}" + (f"#L{line}" if line else "")

    @property
    def location_text(self) -> str | None:
        if not self.location:
            return None
        path, line = self.location
        return f"{path}:{line}" if line else path


def _redacted(url: str | None) -> str | None:
    """A URL as a page may show it: never with ``user:password@`` (a site is public)."""
    return redact(url) if url else url
