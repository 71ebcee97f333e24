"""The corrections page's data: every value of the index that differs from the upstream page, explained.

Each correction says the old and the new value, how the new one was established (the entry's
``Provenance`` note, what ``check`` measures, or the field's note in ``docs/templates/corrections.yml``),
cross-checks computed from the two indexes (sibling entries that must agree, values copied from another
entry), and the likely cause (a value equal to another entry's is most likely a copy of it).
"""

from __future__ import annotations

from typing import Any

from .._urls import redact
from ..index.records import METADATA_FIELDS
from .cards import family
from .safe import Trusted

__all__ = ["MEASURED", "corrections"]

MEASURED = {
    "Parameters": "measured by `tresnet-zoo check`: the parameters of the reference model built for this entry",
    "FLOPs": "measured by `tresnet-zoo check`: multiply-accumulates counted by torch's FlopCounterMode at "
             "the entry's image size (its count of FLOPs halved)",
}
# fields whose value is one per architecture: the 224 and 448 entries of one variant must agree
_PER_ARCHITECTURE = ("Parameters", "File Size")


def _values(entry) -> dict[str, Any]:
    out = {key: getattr(entry.metadata, attr) for key, (attr, _) in METADATA_FIELDS.items()}
    out["Weights"] = redact(entry.weights) if entry.weights else entry.weights  # a site is public
    for result in entry.results:
        for metric in result.metrics:
            out[metric] = entry.metric(metric)
    return out


def corrections(index, upstream, notes: dict | None = None, pages: dict[str, str] | None = None) -> list[dict]:
    """One item per (model, field) whose value differs from ``upstream``, in ``index`` order.

    ``notes`` maps a field to hand-written {how, cross_checks, cause} for what data cannot say (the
    paper's text for a typo); ``pages`` maps a model name to its page. Project prose (``MEASURED``, the
    notes) is returned as ``Trusted`` Markdown, index text as plain strings for the template to escape.
    """
    notes = notes or {}
    pages = pages or {}
    up_values = {e.name: _values(e) for e in upstream}
    now_values = {e.name: _values(e) for e in index}
    fam = {e.name: family(e.name, e.metadata.id) for e in index}
    by_family: dict = {}
    for e in index:
        if fam[e.name] is not None:
            by_family.setdefault(fam[e.name], []).append(e.name)
    # (field, value) -> entries of the corrected index holding it: an upstream value that is another
    # architecture's correct value was most likely copied from that entry
    holders: dict = {}
    for name, values in now_values.items():
        for key, value in values.items():
            if value is not None:
                holders.setdefault((key, str(value)), []).append(name)
    items: list[dict] = []
    for entry in index:
        page = pages.get(entry.name)
        if entry.name not in up_values:
            continue  # an entry the upstream page does not have is an addition, not a correction
        old, new = up_values[entry.name], now_values[entry.name]
        for key in [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]:
            a, b = old.get(key), new.get(key)
            note = notes.get(key) or {}
            how = entry.provenance.get(key)
            if how is None:
                how = Trusted(MEASURED.get(key) or note.get("how") or "edited in the index (no provenance recorded)")
            checks: list[str] = []
            cause = None
            copied = [n for n in holders.get((key, str(a)), []) if n != entry.name and fam.get(n) != fam[entry.name]]
            if a is not None and copied:
                cause = (f"copied from another entry: the upstream value is {copied[0]}'s {key}"
                         + (f" (and {len(copied) - 1} more)" if len(copied) > 1 else ""))
            if key in _PER_ARCHITECTURE and fam[entry.name] is not None:
                siblings = [n for n in by_family[fam[entry.name]] if n != entry.name]
                agree = [n for n in siblings if now_values[n].get(key) == b]
                if agree:
                    checks.append(f"equals {', '.join(agree[:5])}'s {key} in the corrected index, as entries of one "
                                  "architecture must")
                up_sib = sorted({str(up_values[n].get(key)) for n in siblings if n in up_values} - {str(a)})
                if up_sib:
                    checks.append(f"upstream, the same architecture's other entries say {', '.join(up_sib[:5])}: "
                                  "the upstream page contradicts itself")
            if note.get("cross_checks"):
                checks.append(Trusted(note["cross_checks"]))
            if cause is None and note.get("cause"):
                cause = Trusted(note["cause"])
            items.append({"model": entry.name, "page": page, "field": key, "old": "-" if a is None else a,
                          "new": "-" if b is None else b, "how": how, "checks": checks, "cause": cause,
                          "inferred": "inferred" in str(how).lower(), "change": _change(a, b)})
    return items


def _change(old, new) -> str:
    """The correction as a signed percentage of the upstream number (``+24.0%``), or "-" where either is not one."""
    if isinstance(old, bool) or isinstance(new, bool) or not all(isinstance(v, (int, float)) for v in (old, new)):
        return "-"
    return f"{(new - old) / old * 100:+.1f}%" if old else "-"
