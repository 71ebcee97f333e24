"""`check`: every index entry against the reference implementation, one verdict per field.

:func:`run_check` is the whole command as a library call: it validates the index (the JSON Schema and the
cross-entry rules of ``tresnet_zoo.index.validate``; an index that fails them is reported in
``CheckReport.problems`` and no entry is checked, since records are only built from valid documents),
resolves the requested names (before torch is imported, so a typo fails at once), then judges each entry.
:func:`check_index` judges the entries of an ``Index`` already read (the docs build uses it).

Fields and how each is judged:

- **Architecture**: the entry's name (or ``ID``) starts with a variant tresnet-zoo builds.
- **Parameters**: exactly the instantiated model's count (1000 classes).
- **FLOPs**: multiply-accumulates at the entry's Image Size, within ``flops_rtol`` of
  ``FlopCounterMode``'s count / 2 (see ``tresnet_zoo.measure``).
- **File Size**: plausible for the architecture without downloading (see :func:`file_size_bounds`).
- **Weights**: present (https is the schema pass's rule); a torch.hub file name ``<stem>-<8+ hex>.<ext>``
  or a Metadata > SHA256 (else wrong, unless ``x-tresnet-zoo: {unpinned: <reason>}`` acknowledges it);
  the stem names the entry's own architecture; not shared with an entry of another architecture.
- **Image Size** / **Crop Pct**: a multiple of 32 (the stem and four stride-2 stages divide by 32) in
  64-1024; a crop fraction in 0.5-1.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ._deps import require
from ._urls import hub_parts
from .errors import CheckFailedError, UsageError
from .index import Index, ModelEntry, Problem, resolve_roots
from .index.problems import Location
from .index.records import build_index
from .index.validate import validate_paths
from .measure import count
from .models.variants import VARIANTS, resolve_variant
from .weights.lockfile import lock_verdict

__all__ = [
    "Verdict",
    "EntryReport",
    "CheckReport",
    "run_check",
    "check_index",
    "file_size_bounds",
    "FIELDS",
    "FIXABLE",
    "DEFAULT_FLOPS_RTOL",
]

DEFAULT_FLOPS_RTOL = 0.01
FIELDS = ("Architecture", "Parameters", "FLOPs", "File Size", "Weights", "Image Size", "Crop Pct", "Lock")
# The fields whose right value tresnet-zoo measures, so that `fix` can write it back.
FIXABLE = ("Parameters", "FLOPs")
OK, WRONG, SKIP = "ok", "wrong", "skip"
# not wrong, and not "ok" either: the value fits, but the index records it as inferred, not measured; or the
# weights file has no hash pinned (no prefix in its name, no SHA256) and the index acknowledges that
# (x-tresnet-zoo: {unpinned: <reason>}); without the acknowledgement an unpinned file is wrong
INFERRED, UNPINNED = "inferred", "unpinned"

# torch.save's zip container: per tensor a local header and a central-directory record (each holding the
# record name, ~60 bytes here), up to 63 bytes of alignment padding, and the tensor's entry in the pickled
# dict (key + storage reference, ~120 bytes): under 512 bytes. Plus the pickle's fixed part and the
# zip's end records: under 64 KiB. The 2020 release files sit at ~135 bytes per tensor.
PER_TENSOR_OVERHEAD = 512
FIXED_OVERHEAD = 64 * 1024


@dataclass
class Verdict:
    field: str
    status: str  # ok | wrong | skip | inferred | unpinned
    message: str
    location: Location | None = None
    value: Any = None  # what the index says
    measured: Any = None  # what tresnet-zoo measured (what --fix may write)
    unpinned: bool = False  # Weights: no hash to verify a download (wrong unless the index acknowledges it)

    def to_dict(self) -> dict:
        return {
            "field": self.field,
            "status": self.status,
            "message": self.message,
            "location": str(self.location) if self.location else None,
            "value": self.value,
            "measured": self.measured,
        }


@dataclass
class EntryReport:
    name: str
    variant: str | None
    verdicts: list[Verdict] = field(default_factory=list)
    location: Location | None = None

    @property
    def ok(self) -> bool:
        return all(v.status != WRONG for v in self.verdicts)

    def verdict(self, name: str) -> Verdict:
        return next(v for v in self.verdicts if v.field == name)

    @property
    def wrong(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.status == WRONG]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "variant": self.variant,
            "ok": self.ok,
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


@dataclass
class CheckReport:
    roots: list[Path]
    entries: list[EntryReport] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # schema problems (then no entry is checked)
    flops_rtol: float = DEFAULT_FLOPS_RTOL
    digests: dict[Path, str] = field(default_factory=dict)  # sha256 of each index file as it was checked

    @property
    def ok(self) -> bool:
        return not self.problems and all(e.ok for e in self.entries)

    @property
    def fixable(self) -> list[tuple[EntryReport, Verdict]]:
        """Wrong values that `fix` can replace: a measured Parameters or FLOPs count."""
        return [(e, v) for e in self.entries for v in e.wrong if v.field in FIXABLE and v.measured is not None]

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "flops_rtol": self.flops_rtol,
            "problems": [p.to_dict() for p in self.problems],
            "entries": [e.to_dict() for e in self.entries],
        }


def file_size_bounds(state_numel: int, state_tensors: int) -> tuple[int, int]:
    """Bytes a float32 checkpoint of a model can take: its numbers at 4 bytes, plus container overhead.

    Lower bound: the numbers alone (``state_numel * 4``) less 4 bytes per tensor, because a file may
    omit the one-number BatchNorm counters ``num_batches_tracked`` (InPlace-ABN, which the 2020 release
    was trained with, has none). Upper: the numbers plus ``PER_TENSOR_OVERHEAD`` per tensor and
    ``FIXED_OVERHEAD``; the counters are int64 (4 bytes more each), within the per-tensor allowance. A
    half-precision file, or one carrying optimizer state, falls outside and
    is reported.
    """
    data = 4 * state_numel
    return data - 4 * state_tensors, data + PER_TENSOR_OVERHEAD * state_tensors + FIXED_OVERHEAD


def run_check(
    paths: str | os.PathLike | Iterable[str | os.PathLike] | None = None,
    names: list[str] | None = None,
    *,
    flops_rtol: float = DEFAULT_FLOPS_RTOL,
    raise_on_failure: bool = False,
) -> CheckReport:
    """Validate the index at ``paths`` (default: the bundled registry), then check the entries ``names``
    (names or fnmatch patterns; all by default) against the reference TResNet.

    Returns the whole report: schema problems (then no entry is checked) or one verdict per entry and
    field. Unknown names raise ``UnknownModelError`` before torch is imported. With ``raise_on_failure``,
    a report that is not ok raises ``CheckFailedError`` (its ``report`` attribute holds the report).
    """
    roots = resolve_roots(paths)
    validation, docs = validate_paths(roots)
    if validation.problems:
        report = CheckReport(roots=roots, problems=list(validation.problems), flops_rtol=flops_rtol)
    else:
        index = build_index(roots, docs)
        report = check_index(index, names, flops_rtol=flops_rtol)
    if raise_on_failure and not report.ok:
        raise _failed(report)
    return report


def check_index(index: Index, names: list[str] | None = None, *, flops_rtol: float = DEFAULT_FLOPS_RTOL) -> CheckReport:
    """Verdicts for the selected entries (all by default) of an index already read and validated.

    Names are resolved first (``UnknownModelError``), then torch is imported to count.
    """
    if not (isinstance(flops_rtol, (int, float)) and math.isfinite(flops_rtol) and flops_rtol >= 0):
        # a NaN tolerance would make every FLOPs comparison false, i.e. every count "ok"
        raise UsageError(f"the FLOPs tolerance must be a finite number >= 0, got {flops_rtol!r}")
    entries = index.select(names)
    count = _counter()
    report = CheckReport(roots=index.roots, flops_rtol=flops_rtol, digests=dict(index.digests))
    shared = _shared_weights(index)
    for entry in entries:
        report.entries.append(_check_entry(entry, count, shared, flops_rtol))
    return report


def _counter():
    """``measure.count``, which needs torch: imported here, after names are resolved, not at module import,
    so that a wrong name or an invalid index is reported without the seconds torch takes to load."""
    require("torch", "numpy", extra="torch", purpose="`check` builds the reference models and")
    return count


def _failed(report: CheckReport) -> CheckFailedError:
    if report.problems:
        message = f"the index is invalid ({len(report.problems)} problem(s)), first: {report.problems[0]}"
    else:
        wrong = [(e, v) for e in report.entries for v in e.wrong]
        entry, verdict = wrong[0]
        where = f"{verdict.location}: " if verdict.location else ""
        message = (
            f"{len(wrong)} wrong field(s) in {sum(1 for e in report.entries if not e.ok)} of "
            f"{len(report.entries)} entries, first: {where}{entry.name} > {verdict.field}: {verdict.message}"
        )
    error = CheckFailedError(message)
    error.report = report
    return error


def _shared_weights(index: Index) -> dict[str, list[ModelEntry]]:
    groups: dict[str, list[ModelEntry]] = defaultdict(list)
    for entry in index:
        if entry.weights:
            groups[entry.weights].append(entry)
    return {
        url: group for url, group in groups.items() if len({resolve_variant(e.name, e.metadata.id) for e in group}) > 1
    }


def _check_entry(entry: ModelEntry, count, shared: dict[str, list[ModelEntry]], rtol: float) -> EntryReport:
    md = entry.metadata
    variant = resolve_variant(entry.name, md.id)
    report = EntryReport(entry.name, variant, location=entry.location)
    add = report.verdicts.append

    if variant is None:
        add(
            Verdict(
                "Architecture",
                WRONG,
                f"unknown architecture; tresnet-zoo builds {', '.join(VARIANTS)} "
                "and the name or ID must start with one",
                entry.where("Name"),
            )
        )
    else:
        add(Verdict("Architecture", OK, variant, entry.where("Name")))

    size_ok = isinstance(md.image_size, int) and md.image_size % 32 == 0 and 64 <= md.image_size <= 1024
    where = entry.where("Metadata", "Image Size")
    if md.image_size is None:
        add(Verdict("Image Size", WRONG, "missing; needed to count FLOPs", where))
    elif not size_ok:
        add(
            Verdict(
                "Image Size",
                WRONG,
                f"{md.image_size} is not a multiple of 32 in 64-1024 (TResNet divides its input by 32)",
                where,
                md.image_size,
            )
        )
    else:
        add(Verdict("Image Size", OK, str(md.image_size), where, md.image_size))
    where = entry.where("Metadata", "Crop Pct")
    if md.crop_pct is None:
        add(Verdict("Crop Pct", SKIP, "not given (evaluation would assume 0.875)", where))
    elif not 0.5 <= md.crop_pct <= 1.0:
        add(
            Verdict(
                "Crop Pct",
                WRONG,
                f"{md.crop_pct} is outside 0.5-1 (the share of the resized image kept by the center crop)",
                where,
                md.crop_pct,
            )
        )
    else:
        add(Verdict("Crop Pct", OK, f"{md.crop_pct:g}", where, md.crop_pct))

    counts = count(variant, md.image_size if size_ok else 224, entry.num_classes) if variant else None
    _check_parameters(entry, counts, add)
    _check_flops(entry, counts if size_ok else None, rtol, add)
    _check_file_size(entry, counts, add)
    _check_weights(entry, variant, shared, add)
    add(Verdict("Lock", *lock_verdict(entry), entry.where("Weights")))
    for verdict in report.verdicts:  # a value that fits but was never measured is not "ok"
        note = entry.provenance.get(verdict.field)
        if verdict.status == OK and note and "inferred" in note.lower():
            verdict.status = INFERRED
            verdict.message = f"{verdict.message}; {note}"
    report.verdicts.sort(key=lambda v: FIELDS.index(v.field))
    return report


def _check_parameters(entry: ModelEntry, counts, add) -> None:
    where = entry.where("Metadata", "Parameters")
    value = entry.metadata.parameters
    if counts is None:
        add(Verdict("Parameters", SKIP, "no architecture to count", where, value))
    elif value is None:
        add(Verdict("Parameters", WRONG, f"missing; the model has {counts.parameters}", where, None, counts.parameters))
    elif value != counts.parameters:
        diff = value - counts.parameters
        add(
            Verdict(
                "Parameters",
                WRONG,
                f"{value} but the model has {counts.parameters} ({diff:+d}, {diff / counts.parameters:+.1%})",
                where,
                value,
                counts.parameters,
            )
        )
    else:
        add(Verdict("Parameters", OK, f"{value}", where, value, counts.parameters))


def _check_flops(entry: ModelEntry, counts, rtol: float, add) -> None:
    where = entry.where("Metadata", "FLOPs")
    value = entry.metadata.flops
    if counts is None:
        add(Verdict("FLOPs", SKIP, "no architecture or image size to count at", where, value))
    elif value is None:
        add(
            Verdict(
                "FLOPs",
                WRONG,
                f"missing; the model has {counts.macs} MACs at {counts.image_size}px",
                where,
                None,
                counts.macs,
            )
        )
    else:
        rel = (value - counts.macs) / counts.macs
        text = f"{value} vs {counts.macs} MACs measured at {counts.image_size}px ({rel:+.2%})"
        if abs(rel) > rtol:
            add(Verdict("FLOPs", WRONG, text + f", outside ±{rtol:.1%}", where, value, counts.macs))
        else:
            add(Verdict("FLOPs", OK, text, where, value, counts.macs))


def _check_file_size(entry: ModelEntry, counts, add) -> None:
    where = entry.where("Metadata", "File Size")
    value = entry.metadata.file_size
    if value is None:
        add(Verdict("File Size", WRONG, "missing; downloads cannot be checked without it", where))
        return
    if counts is None:
        add(Verdict("File Size", SKIP, "no architecture to compare with", where, value))
        return
    low, high = file_size_bounds(counts.state_numel, counts.state_tensors)
    if not low <= value <= high:
        add(
            Verdict(
                "File Size",
                WRONG,
                f"{value} bytes cannot be a float32 checkpoint of this architecture "
                f"({counts.state_numel} numbers: {low}-{high} bytes)",
                where,
                value,
            )
        )
    else:
        add(Verdict("File Size", OK, f"{value} bytes fits {low}-{high}", where, value))


def _signed_sha256(filename: str) -> str | None:
    """The sha256 a signed mirror pins for ``filename`` when a public key and a mirror are set in the
    environment, as ``fetch`` would hold it to (the signature verified once per process), else None."""
    if not (os.environ.get("TRESNET_ZOO_PUBLIC_KEY") and os.environ.get("TRESNET_ZOO_MIRROR")):
        return None
    from .weights.signing import signed_digest  # noqa: PLC0415 (only with a key and a mirror)

    return signed_digest(filename)


def _check_weights(entry: ModelEntry, variant: str | None, shared: dict[str, list[ModelEntry]], add) -> None:
    where = entry.where("Weights")
    url = entry.weights
    if not url:
        add(Verdict("Weights", WRONG, "missing: no weights URL", where))
        return
    filename = entry.weights_filename or ""
    parts = hub_parts(filename)
    if parts is None:
        stem = filename.split("-", 1)[0].rsplit(".", 1)[0] if "." in filename else filename
        signed = _signed_sha256(filename) if entry.metadata.sha256 is None else None
        if signed is not None:  # the mirror's signature pins it (TRESNET_ZOO_MIRROR + TRESNET_ZOO_PUBLIC_KEY)
            add(Verdict("Weights", OK, f"{filename}: pinned by the mirror's signature (sha256 {signed[:12]}…)",
                        where, url))
            parts = (stem, signed)
        elif entry.metadata.sha256 is None:
            why = (f"{filename}: no hash pinned (no <name>-<8+ hex> prefix in the file name, no Metadata > SHA256), "
                   "so no download of it can be verified")
            if entry.unpinned:  # the index says so itself: a caveat, not a failure
                add(Verdict("Weights", UNPINNED, f"{why}; acknowledged by the index: {entry.unpinned}",
                            entry.where("Metadata", "x-tresnet-zoo", "unpinned"), url, unpinned=True))
            else:
                add(Verdict("Weights", WRONG, f"{why}; record its SHA256, or acknowledge it with x-tresnet-zoo: "
                                              "{unpinned: <reason>}", where, url, unpinned=True))
            return
        else:
            parts = (stem, entry.metadata.sha256)
    stem, _ = parts
    owner = resolve_variant(stem)
    others = [e.name for e in shared.get(url, []) if e.name != entry.name]
    if variant is not None and owner != variant:
        belongs = f"belongs to {owner}" if owner else "names no known architecture"
        also = f"; {', '.join(others)} use{'s' if len(others) == 1 else ''} the same file" if others else ""
        add(Verdict("Weights", WRONG, f"file {filename} {belongs}, not {variant}{also}", where, url))
    elif others and owner is None:
        add(
            Verdict(
                "Weights",
                WRONG,
                f"file {filename} is shared with {', '.join(others)} of another architecture",
                where,
                url,
            )
        )
    else:
        add(Verdict("Weights", OK, filename, where, url))
