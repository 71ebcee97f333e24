"""Typed records of a validated model index.

Values arrive as the YAML author wrote them (``'224'``, ``'81.49%'``, ``0.875``); records hold them as
Python types (``224``, ``81.49``, ``0.875``). Every record remembers where each of its fields was written,
so that later checks can point at ``file:line``. Records are built only from documents that passed
validation; the conversions here therefore trust the schema's shapes.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from .._urls import hub_parts, redact, weights_filename
from ..errors import InvalidIndexError, UnknownModelError
from .problems import Location, Problem, display_path
from .source import Document, paused_gc

__all__ = [
    "Paper",
    "Metadata",
    "Result",
    "Collection",
    "ModelEntry",
    "WeightSource",
    "Index",
    "METADATA_FIELDS",
    "ZOO_KEY",
    "DEFAULT_NUM_CLASSES",
    "build_index",
]

ZOO_KEY = "x-tresnet-zoo"  # tresnet-zoo's own metadata (see the schema); upstream tools ignore it
DEFAULT_NUM_CLASSES = 1000


# The schema bounds these already; the converters check again, so that a value the schema let through by
# mistake becomes a ValueError that build_index reports (exit 1), never a crash or a NaN. They accept all
# the schema accepts (an integral float such as 1.0e10 is an integer, 10**15 itself is in range, a string
# such as '9e20' is a number): `validate` says OK only where `list` then reads every value.
_LIMIT = 10**15


def _int(value: Any) -> int:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)  # JSON Schema's integer: 1.0 is one
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"expected an integer, got {type(value).__name__}")
    if isinstance(value, str) and not (value.isascii() and value.isdigit() and len(value) <= 15):
        raise ValueError("expected an integer of at most 15 digits")
    number = int(value)
    if not 0 <= number <= _LIMIT:
        raise ValueError("expected an integer in 0 to 10**15")
    return number


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a number, got {type(value).__name__}")
    if isinstance(value, str) and len(value) > 40:
        raise ValueError("expected a number of at most 40 characters")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("expected a finite number")
    return number


def _percent(value: Any) -> float:
    return _float(value.rstrip("%") if isinstance(value, str) else value)


def _text(value: Any) -> str:
    return str(value)


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


# model-index key -> (record attribute, converter). The order is the order `info` and the docs show.
METADATA_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "Parameters": ("parameters", _int),
    "FLOPs": ("flops", _int),
    "File Size": ("file_size", _int),
    "SHA256": ("sha256", _text),
    "Image Size": ("image_size", _int),
    "Crop Pct": ("crop_pct", _float),
    "Interpolation": ("interpolation", _text),
    "Architecture": ("architecture", _texts),
    "Tasks": ("tasks", _texts),
    "Training Techniques": ("training_techniques", _texts),
    "Training Data": ("training_data", _texts),
    "Training Resources": ("training_resources", _text),
    "Training Time": ("training_time", _text),
    "ID": ("id", _text),
    "LR": ("lr", _float),
    "Epochs": ("epochs", _int),
    "Batch Size": ("batch_size", _int),
    "Momentum": ("momentum", _float),
    "Weight Decay": ("weight_decay", _float),
    "Dropout": ("dropout", _float),
}
_ATTR_TO_KEY = {attr: key for key, (attr, _) in METADATA_FIELDS.items()}


@dataclass(frozen=True)
class Paper:
    title: str
    url: str | None = None

    @classmethod
    def from_raw(cls, raw: Any) -> "Paper | None":
        if raw is None:
            return None
        if isinstance(raw, str):
            return cls(raw)
        return cls(str(raw["Title"]), raw.get("URL"))

    def to_dict(self) -> dict:
        return {"title": self.title, "url": self.url}


@dataclass(frozen=True)
class Metadata:
    """A model's metadata, typed. Fields the format does not name are kept verbatim in ``extra``."""

    parameters: int | None = None
    flops: int | None = None  # multiply-accumulates (MACs), as the model-index format uses the word
    file_size: int | None = None
    sha256: str | None = None
    image_size: int | None = None
    crop_pct: float | None = None
    interpolation: str | None = None
    architecture: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    training_techniques: tuple[str, ...] = ()
    training_data: tuple[str, ...] = ()
    training_resources: str | None = None
    training_time: str | None = None
    id: str | None = None
    lr: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    dropout: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> "Metadata":
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in raw.items():
            if key in METADATA_FIELDS and value is not None:
                attr, convert = METADATA_FIELDS[key]
                try:
                    known[attr] = convert(value)
                except ValueError as exc:
                    raise ValueError(f"Metadata > {key}: {exc}") from None
            else:
                extra[key] = value
        return cls(**known, extra=extra)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else (dict(value) if f.name == "extra" else value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Metadata":
        kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()}
        return cls(**kwargs)

    def items(self) -> Iterator[tuple[str, Any]]:
        """(model-index key, value) for every field that is set, in display order."""
        for key, (attr, _) in METADATA_FIELDS.items():
            value = getattr(self, attr)
            if value is not None and value != ():
                yield key, value
        yield from self.extra.items()


@dataclass(frozen=True)
class Result:
    task: str
    dataset: str
    metrics: Mapping[str, float]

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> "Result":
        return cls(str(raw["Task"]), str(raw["Dataset"]), {str(k): _percent(v) for k, v in raw["Metrics"].items()})

    def to_dict(self) -> dict:
        return {"task": self.task, "dataset": self.dataset, "metrics": dict(self.metrics)}


@dataclass(frozen=True)
class Collection:
    name: str
    paper: Paper | None
    metadata: Mapping[str, Any]  # raw, inherited by the collection's models
    code: str | None
    readme: str | None
    location: Location


@dataclass(frozen=True)
class WeightSource:
    """One place an entry's weights can be fetched from, with what the index says about the file.

    ``filename`` is the cache file name (a strict slug: the URL's last segment for the primary ``Weights``,
    the ``file`` field for further sources); ``sha256_prefix`` is the hash prefix a torch.hub file name
    carries (``tresnet_m_80_8-dbc13962.pth``), checked when no full ``sha256`` is known.
    """

    url: str
    filename: str
    size: int | None = None
    sha256: str | None = None
    sha256_prefix: str | None = None
    location: Location | None = field(default=None, compare=False)

    @property
    def pinned(self) -> bool:
        """A hash to check a download against (full, or the prefix its name carries): else never fetched."""
        return bool(self.sha256 or self.sha256_prefix)

    @property
    def redacted_url(self) -> str:
        """The URL without credentials: safe to print and to store."""
        return redact(self.url)


@dataclass(frozen=True)
class ModelEntry:
    """One model of the index, with its collection's metadata merged in (the model's own values win)."""

    name: str
    collection: str | None
    metadata: Metadata
    results: tuple[Result, ...] = ()
    paper: Paper | None = None
    code: str | None = None
    weights: str | None = None
    config: str | None = None
    readme: str | None = None
    # field name -> how its value was established, where it was not measured ("inferred, not measured: ...")
    provenance: Mapping[str, str] = field(default_factory=dict)
    location: Location | None = field(default=None, compare=False)
    # field path (e.g. ("Metadata", "Parameters")) -> where it was written; ("Metadata",) is the entry's
    # own Metadata key, absent when all its metadata comes from the collection
    locations: Mapping[tuple[str, ...], Location] = field(default_factory=dict, compare=False, repr=False)
    # metadata keys from the collection
    inherited: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def where(self, *path: str) -> Location | None:
        """Where a field was written (falling back to the entry itself)."""
        while path and path not in self.locations:
            path = path[:-1]
        return self.locations.get(path, self.location)

    def metric(self, name: str, dataset: str | None = None) -> float | None:
        for result in self.results:
            if name in result.metrics and (dataset is None or result.dataset == dataset):
                return result.metrics[name]
        return None

    @property
    def top1(self) -> float | None:
        return self.metric("Top 1 Accuracy")

    @property
    def top5(self) -> float | None:
        return self.metric("Top 5 Accuracy")

    @property
    def weights_filename(self) -> str | None:
        """The cache file name of the primary ``Weights`` (see :attr:`sources`)."""
        if not self.weights:
            return None
        for raw in self._zoo.get("sources") or ():
            if isinstance(raw, Mapping) and raw.get("url") == self.weights and raw.get("file"):
                return str(raw["file"])  # see `sources`: a further source with the primary's URL names its file
        try:
            return weights_filename(self.weights)
        except ValueError:
            return None  # validation reports it

    # --- tresnet-zoo's own metadata (``Metadata: x-tresnet-zoo:``) ------------------------------------
    @property
    def _zoo(self) -> Mapping[str, Any]:
        value = self.metadata.extra.get(ZOO_KEY)
        return value if isinstance(value, Mapping) else {}

    @property
    def timm_tags(self) -> tuple[str, ...]:
        """timm's pretrained tags for exactly these weights; the first is canonical."""
        return tuple(str(t) for t in self._zoo.get("timm") or ())

    @property
    def num_classes(self) -> int:
        """Classifier outputs: 1000 (ImageNet-1k) unless the index says otherwise (11221 for ImageNet-21K-P)."""
        value = self._zoo.get("num_classes")
        return _int(value) if value is not None else DEFAULT_NUM_CLASSES

    @property
    def license(self) -> str | None:
        value = self._zoo.get("license")
        return str(value) if value is not None else None

    @property
    def note(self) -> str | None:
        """What a user must know before comparing numbers (e.g. the ambiguity of timm's old ``tresnet_m``)."""
        value = self._zoo.get("note")
        return str(value) if value is not None else None

    @property
    def unpinned(self) -> str | None:
        """Why the index records no hash for these weights: its acknowledgement that no download is verifiable."""
        value = self._zoo.get("unpinned")
        return str(value) if value is not None else None

    @property
    def sources(self) -> tuple[WeightSource, ...]:
        """Where the weights can be fetched, in the order to try: ``Weights`` first, then the further sources.

        A further source with the primary's URL is not listed twice; its ``file`` then names the primary's
        cache file (a Hugging Face URL ends in a generic ``model.safetensors``).
        """
        extras: list[WeightSource] = []
        for j, raw in enumerate(self._zoo.get("sources") or ()):
            if not isinstance(raw, Mapping) or not raw.get("url") or not raw.get("file"):
                continue  # validation reports it
            file = str(raw["file"])
            parts = hub_parts(file)
            extras.append(
                WeightSource(
                    url=str(raw["url"]),
                    filename=file,
                    size=_int(raw["size"]) if raw.get("size") is not None else None,
                    sha256=str(raw["sha256"]) if raw.get("sha256") else None,
                    sha256_prefix=parts[1] if parts else None,
                    location=self.where("Metadata", ZOO_KEY, "sources", str(j)),
                )
            )
        if not self.weights:
            return tuple(extras)
        same = next((x for x in extras if x.url == self.weights), None)
        try:
            filename = same.filename if same else weights_filename(self.weights)
        except ValueError:
            return tuple(extras)  # validation reports the primary URL
        parts = hub_parts(filename)
        primary = WeightSource(
            url=self.weights,
            filename=filename,
            size=self.metadata.file_size,
            sha256=self.metadata.sha256 or (same.sha256 if same else None),
            sha256_prefix=parts[1] if parts else None,
            location=self.where("Weights"),
        )
        return (primary, *(x for x in extras if x is not same))

    @property
    def weights_files(self) -> tuple[str, ...]:
        """The cache file names of :attr:`sources`, in their order, without building them: ``list`` and
        ``cache info`` ask it of every entry of an index that may hold thousands."""
        extras = [(raw["url"], str(raw["file"])) for raw in self._zoo.get("sources") or ()
                  if isinstance(raw, Mapping) and raw.get("url") and raw.get("file")]
        primary = self.weights_filename if self.weights else None
        if primary is None:  # no Weights, or a URL that validation reports: the further sources only
            return tuple(dict.fromkeys(f for _, f in extras))
        same = next((i for i, (url, _) in enumerate(extras) if url == self.weights), None)
        return tuple(dict.fromkeys([primary, *(f for i, (_, f) in enumerate(extras) if i != same)]))

    def names(self) -> tuple[str, ...]:
        """Every name this entry answers to: its own, then its timm tags."""
        return (self.name, *self.timm_tags)

    def to_dict(self) -> dict:
        """A JSON-ready record; ``ModelEntry.from_dict`` reads it back."""
        return {
            "name": self.name,
            "collection": self.collection,
            "metadata": self.metadata.to_dict(),
            "results": [r.to_dict() for r in self.results],
            "paper": self.paper.to_dict() if self.paper else None,
            "code": self.code,
            "weights": self.weights,
            "config": self.config,
            "readme": self.readme,
            "provenance": dict(self.provenance),
            "source": str(self.location) if self.location else None,
            "timm": list(self.timm_tags),
            "num_classes": self.num_classes,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelEntry":
        return cls(
            name=data["name"],
            collection=data.get("collection"),
            metadata=Metadata.from_dict(data.get("metadata") or {}),
            results=tuple(Result(r["task"], r["dataset"], dict(r["metrics"])) for r in data.get("results") or ()),
            paper=Paper(**data["paper"]) if data.get("paper") else None,
            code=data.get("code"),
            weights=data.get("weights"),
            config=data.get("config"),
            readme=data.get("readme"),
            provenance=dict(data.get("provenance") or {}),
        )


class Index:
    """A validated model index: its collections and models, in file order."""

    def __init__(self, roots: list[Path], files: list[Path], collections: list[Collection], models: list[ModelEntry],
                 *, digests: Mapping[Path, str] | None = None):
        self.roots = roots
        self.files = files
        self.digests = dict(digests or {})  # sha256 of each file's bytes as they were read
        self.collections = {c.name: c for c in collections}
        self.models = models
        self._by_name = {m.name: m for m in models}
        # our names and timm tags, lower-cased: lookups are case-insensitive (validation keeps them unique)
        self._by_key: dict[str, ModelEntry] = {}
        for m in models:
            for key in m.names():
                self._by_key.setdefault(key.lower(), m)

    def __len__(self) -> int:
        return len(self.models)

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self.models)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        return [m.name for m in self.models]

    def get(self, name: str) -> ModelEntry:
        """The entry called ``name`` (our name or a timm tag, any case); UnknownModelError with close matches."""
        found = self._by_name.get(name) or self._by_key.get(name.lower())
        if found is not None:
            return found

        raise UnknownModelError(name, self.suggest(name), index=self.describe()) from None

    def select(self, patterns: list[str] | None = None) -> list[ModelEntry]:
        """Entries whose name or timm tags match any of the fnmatch ``patterns``, any case (all if none given).

        A pattern without wildcards must name an entry (UnknownModelError otherwise).
        """
        if not patterns:
            return list(self.models)
        chosen: dict[str, ModelEntry] = {}
        for pattern in patterns:
            if not set("*?[") & set(pattern):
                entry = self.get(pattern)
                chosen.setdefault(entry.name, entry)
                continue
            folded = pattern.lower()
            for m in self.models:
                if any(fnmatch.fnmatchcase(key.lower(), folded) for key in m.names()):
                    chosen.setdefault(m.name, m)
        return [m for m in self.models if m.name in chosen]

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """Close matches among names and timm tags, compared without case, spelled as the index spells them."""
        spelled: dict[str, str] = {}
        for m in self.models:
            for key in m.names():
                spelled.setdefault(key.lower(), key)
        close = difflib.get_close_matches(name.lower(), list(spelled), n=n, cutoff=0.6)
        return [spelled[c] for c in close]

    def describe(self) -> str:
        return ", ".join(display_path(r) for r in self.roots)


def build_index(roots: list[Path], docs: list[Document]) -> Index:
    """Typed records from validated documents (collections first, so models can inherit from them)."""
    with paused_gc():
        return _build_index(roots, docs)


def _build_index(roots: list[Path], docs: list[Document]) -> Index:
    collections: list[Collection] = []
    coll_docs: dict[str, tuple[Document, tuple]] = {}  # where each collection was written
    for doc in docs:
        for i, raw in enumerate(_list(doc.data, "Collections")):
            name = str(raw["Name"])
            coll_docs[name] = (doc, ("Collections", i))
            collections.append(
                Collection(
                    name=name,
                    paper=Paper.from_raw(raw.get("Paper")),
                    metadata=raw.get("Metadata") or {},
                    code=raw.get("Code"),
                    readme=raw.get("README"),
                    location=doc.location(("Collections", i)),
                )
            )

    models: list[ModelEntry] = []
    colls = {c.name: c for c in collections}
    # where each collection's metadata was written: computed once, shared by all its models
    coll_locations: dict[str, dict[tuple[str, ...], Location]] = {}
    for name, (cdoc, cat) in coll_docs.items():
        coll_locations[name] = {("Metadata", key): cdoc.location(cat + ("Metadata", key))
                                for key in colls[name].metadata}
    for doc in docs:
        for i, raw in enumerate(_list(doc.data, "Models")):
            at = ("Models", i)
            coll_name = raw.get("In Collection")
            coll = colls.get(coll_name) if coll_name else None
            metadata: dict[str, Any] = {}
            if coll is not None:
                metadata.update(coll.metadata)
            inherited = set(metadata)
            own = raw.get("Metadata") or {}
            metadata.update(own)
            inherited.difference_update(own)
            inherit = coll_locations[coll.name] if coll is not None else {}
            try:
                metadata_record = Metadata.from_raw(metadata)
                results = tuple(Result.from_raw(r) for r in raw.get("Results") or ())
            except ValueError as exc:  # only when the schema let a value through that the records cannot hold
                problem = Problem(doc.location(at), str(exc), entry=str(raw.get("Name")))
                raise InvalidIndexError([problem], paths=roots) from None
            models.append(
                ModelEntry(
                    name=str(raw["Name"]),
                    collection=coll_name,
                    metadata=metadata_record,
                    results=results,
                    paper=Paper.from_raw(raw.get("Paper")) or (coll.paper if coll else None),
                    code=raw.get("Code") or (coll.code if coll else None),
                    weights=raw.get("Weights"),
                    config=raw.get("Config"),
                    readme=raw.get("README"),
                    provenance={str(k): str(v) for k, v in (raw.get("Provenance") or {}).items()},
                    location=doc.location(at),
                    locations=_LazyLocations(doc, at, raw, inherit),
                    inherited=frozenset(inherited),
                )
            )
    files = list(dict.fromkeys(d.path for d in docs))
    return Index(roots, files, collections, models, digests={d.path: d.digest for d in docs})


class _LazyLocations(Mapping):
    """An entry's field locations, worked out on first use.

    Why: most commands never ask where a field was written (``list`` of a 6000-entry index asks for
    none), and finding ~30 locations per entry was a third of the time spent typing a large index.
    """

    __slots__ = ("_source", "_found")

    def __init__(self, doc: Document, at: tuple, raw: Mapping[str, Any], inherited: Mapping[tuple[str, ...], Location]):
        self._source: tuple | None = (doc, at, raw, inherited)
        self._found: dict[tuple[str, ...], Location] | None = None

    def _all(self) -> dict[tuple[str, ...], Location]:
        if self._found is None:
            doc, at, raw, inherited = self._source  # type: ignore[misc]
            self._found = _entry_locations(doc, at, raw, inherited)
            self._source = None
        return self._found

    def __getitem__(self, key: tuple[str, ...]) -> Location:
        return self._all()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._all()

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def _entry_locations(doc: Document, at: tuple, raw: Mapping[str, Any],
                     inherited: Mapping[tuple[str, ...], Location]) -> dict:
    """field path -> where it was written, for one model (its collection's metadata first, its own wins)."""
    locations: dict[tuple[str, ...], Location] = dict(inherited)
    for key in raw.get("Metadata") or {}:
        locations[("Metadata", key)] = doc.location(at + ("Metadata", key))
    zoo = (raw.get("Metadata") or {}).get(ZOO_KEY)
    if isinstance(zoo, dict):
        for key in zoo:
            locations[("Metadata", ZOO_KEY, key)] = doc.location(at + ("Metadata", ZOO_KEY, key))
        for j, _ in enumerate(zoo.get("sources") or ()):
            locations[("Metadata", ZOO_KEY, "sources", str(j))] = doc.location(at + ("Metadata", ZOO_KEY, "sources", j))
    for key in raw:
        locations[(key,)] = doc.location(at + (key,))
    for j, result in enumerate(raw.get("Results") or ()):
        for metric in result.get("Metrics", {}):
            locations[("Results", str(j), "Metrics", metric)] = doc.location(at + ("Results", j, "Metrics", metric))
    return locations


def _list(data: Any, key: str) -> list:
    if isinstance(data, dict) and isinstance(data.get(key), list):
        return [item for item in data[key] if isinstance(item, dict)]
    return []
