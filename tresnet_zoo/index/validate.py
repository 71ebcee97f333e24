"""Validation of model-index documents: the JSON Schema, then the rules a schema cannot express.

Nothing here raises on bad data: every finding becomes a :class:`Problem` naming file, line, entry and
field, and all of them are reported, not only the first.

Rules beyond the schema:
- model names are unique across all files, and so are collection names;
- ``In Collection`` names a collection that exists;
- weight URLs are https (plain http only for loopback hosts: test servers and local mirrors);
- metric percentages lie in 0-100;
- the index holds at least one model.
"""

from __future__ import annotations

import difflib
import json
import os
import stat
from dataclasses import dataclass, field
from functools import lru_cache
from hashlib import sha256
from pathlib import Path
from typing import Any, Iterable

from .._resources import schema_path
from .._urls import filename_problem, url_problem, weights_filename
from .._version import __version__
from .fastschema import compile_schema, schema_errors
from .load import collect_documents
from .problems import Location, Problem
from .records import _int
from .source import Document

__all__ = ["Problem", "ValidationReport", "validate_documents", "validate_paths"]


@dataclass
class ValidationReport:
    roots: list[Path]
    files: list[Path] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    model_count: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


@lru_cache(maxsize=1)
def _schema() -> dict:
    return json.loads(schema_path().read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft202012Validator  # noqa: PLC0415  (a slow import, skipped when a verdict is cached)

    return Draft202012Validator(_schema())


@lru_cache(maxsize=1)
def _plan():
    """The schema compiled for the fast yes/no pass (None: jsonschema judges every document)."""
    return compile_schema(_schema())


def validate_paths(roots: list[Path], *, verdicts: Path | None = None) -> tuple[ValidationReport, list[Document]]:
    """Read ``roots`` (following imports) and validate every document.

    ``verdicts``, a folder, lets a caller that only reads the index (``list``, ``info``) skip the JSON
    Schema pass for documents that passed it before: a document set that validated cleanly leaves an
    empty marker named after the sha256 of the schema, tresnet-zoo's version and every file's bytes.
    Importing jsonschema and validating is most of a ``list`` call's time. The cheap rules run always.
    """
    docs, problems = collect_documents(roots)
    report = ValidationReport(roots=roots, files=list(dict.fromkeys(d.path for d in docs)))
    marker = _verdict_marker(verdicts, docs) if verdicts is not None and not problems else None
    if marker is not None and _ours(marker):
        report.problems = _cross_document_problems(docs, check_nonempty=True)
    else:
        report.problems = problems + validate_documents(docs, check_nonempty=not problems)
        if marker is not None and not report.problems:
            _remember(marker)
    report.problems.sort(key=lambda p: (str(p.location.file), p.location.line or 0))
    report.model_count = sum(
        len(d.data["Models"]) for d in docs if isinstance(d.data, dict) and isinstance(d.data.get("Models"), list)
    )
    return report, docs


def _verdict_marker(folder: Path, docs: list[Document]) -> Path | None:
    """The marker's name: the version, the schema and the digest of every file read (no second read)."""
    digest = sha256(__version__.encode())
    try:
        digest.update(schema_path().read_bytes())
    except OSError:
        return None
    for path, file_digest in dict.fromkeys((d.path, d.digest) for d in docs):
        digest.update(os.fsencode(path) + f"\0{file_digest}\0".encode())
    return folder / "validated" / digest.hexdigest()


def _ours(marker: Path) -> bool:
    """Whether ``marker`` is a marker we wrote: a regular one-link file owned by us. The cache may be shared
    and is untrusted: a name another user planted there must not switch the schema pass off."""
    try:
        st = os.lstat(marker)
    except OSError:
        return False
    own_uid = os.geteuid() if hasattr(os, "geteuid") else None
    return stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and (own_uid is None or st.st_uid == own_uid)


def _remember(marker: Path) -> None:
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        # never through a link planted under the name (it would create the link's target), never blocking on a FIFO
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK, 0o644)
        os.close(fd)
    except OSError:
        pass  # a read-only cache only costs speed


MAX_PROBLEMS = 1000  # schema problems in one index: a thousand imported files of bad entries stay quick


def validate_documents(docs: list[Document], *, check_nonempty: bool = True) -> list[Problem]:
    problems: list[Problem] = []
    for doc in docs:
        if len(problems) >= MAX_PROBLEMS:
            message = f"not checked against the schema: {MAX_PROBLEMS} problems found before"
            problems.append(Problem(doc.location(), message))
            break
        problems.extend(_schema_problems(doc))
    problems.extend(_cross_document_problems(docs, check_nonempty=check_nonempty))
    return problems


# --- the schema --------------------------------------------------------------------------------------


MAX_SCHEMA_PROBLEMS = 100  # per document: a hostile file of 50,000 bad entries must not take minutes to list


def _schema_problems(doc: Document, *, fast: bool = True) -> list[Problem]:
    """The schema's problems, at most ``MAX_SCHEMA_PROBLEMS``; ``fast=False`` asks jsonschema alone (the tests'
    reference).

    Past the cap, which problems are listed must not depend on the path taken: both list the first ones in
    the file. The fast path yields the top level's problems, then the list items' item by item in file
    order, so it can stop at the first item past the cap; jsonschema alone yields in its keyword order, so
    it reads on (up to a bound, for a schema the compiler refused) and the problems are sorted and cut.
    """
    seen: set[tuple] = set()
    out: list[Problem] = []
    plan = _plan() if fast else None
    if plan is not None and plan.whole(doc.data):
        return out  # valid: jsonschema (and its import) is needed only for messages
    in_items = 0  # problems found inside list items so far
    last_item: tuple | None = None
    more = False
    for prefix, error in schema_errors(_validator(), plan, doc.data):
        if plan is not None and prefix and prefix != last_item:
            if in_items >= MAX_SCHEMA_PROBLEMS:
                more = True  # every later item's problems lie further down the file
                break
            last_item = prefix
        if len(out) >= MAX_SCHEMA_PROBLEMS * 50:
            more = True
            break
        path = prefix + tuple(error.absolute_path)
        message, extra_field = _describe(error)
        if _already_reported(doc, path + extra_field):
            continue  # the reader said what is wrong there (a too-long number, an unsupported tag)
        key = (path, message)
        if key in seen:
            continue
        seen.add(key)
        in_items += bool(prefix)
        entry, fld = _subject(doc, path)
        out.append(Problem(doc.location(path + extra_field), message, entry=entry, field=fld + extra_field))
    if more or len(out) > MAX_SCHEMA_PROBLEMS:
        out.sort(key=lambda p: (p.location.line or 0, p.message, p.entry or "", p.field))
        out = out[:MAX_SCHEMA_PROBLEMS]
        message = f"more schema problems not listed (stopped after {MAX_SCHEMA_PROBLEMS})"
        out.append(Problem(doc.location(), message))
    return out


def _already_reported(doc: Document, path: tuple) -> bool:
    return any(path[: len(done)] == done for done in doc.reported)


def _describe(error: Any) -> tuple[str, tuple[str, ...]]:
    """A short message for a jsonschema error, and a field name to add to its path (for missing keys)."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    kind = error.validator
    if kind == "required":
        missing = [p for p in error.validator_value if isinstance(error.instance, dict) and p not in error.instance]
        name = missing[0] if missing else "?"
        return "missing (required)", (name,)
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(schema.get("properties", {}))
        extras = [k for k in error.instance if k not in allowed]
        name = extras[0] if extras else "?"
        close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(allowed)}"
        return "unknown field" + hint, (name,)
    expected = schema.get("x-expected")
    if expected:
        return f"expected {expected}, got {_render(error.instance)}", ()
    return error.message.splitlines()[0], ()


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _subject(doc: Document, path: tuple) -> tuple[str | None, tuple[str, ...]]:
    """(entry, field path) for a value path: ('tresnet_m', ('Metadata', 'Parameters'))."""
    if len(path) >= 2 and path[0] in ("Models", "Collections") and isinstance(path[1], int):
        raw = doc.data[path[0]][path[1]]
        name = raw.get("Name") if isinstance(raw, dict) else None
        kind = "model" if path[0] == "Models" else "collection"
        entry = name if isinstance(name, str) and name else f"{path[0]}[{path[1]}]"
        if kind == "collection" and isinstance(name, str):
            entry = f"collection {name}"
        return entry, _field_names(path[2:])
    return None, _field_names(path)


def _field_names(path: Iterable) -> tuple[str, ...]:
    out: list[str] = []
    for part in path:
        if isinstance(part, int) and out:
            out[-1] += f"[{part}]"
        else:
            out.append(str(part) if not isinstance(part, int) else f"[{part}]")
    return tuple(out)


# --- rules across documents ---------------------------------------------------------------------------


def _entries(docs: list[Document], key: str):
    for doc in docs:
        items = doc.data.get(key) if isinstance(doc.data, dict) else None
        if not isinstance(items, list):
            continue
        for i, raw in enumerate(items):
            if isinstance(raw, dict):
                yield doc, i, raw


def _cross_document_problems(docs: list[Document], *, check_nonempty: bool) -> list[Problem]:
    problems: list[Problem] = []
    collections: dict[str, Location] = {}
    for doc, i, raw in _entries(docs, "Collections"):
        name = raw.get("Name")
        if not isinstance(name, str):
            continue
        where = doc.location(("Collections", i, "Name"))
        if name in collections:
            message = f"duplicate collection name (first defined at {collections[name]})"
            problems.append(Problem(where, message, entry=f"collection {name}", field=("Name",)))
        else:
            collections[name] = where

    models: dict[str, Location] = {}
    count = 0
    for doc, i, raw in _entries(docs, "Models"):
        count += 1
        at = ("Models", i)
        name = raw.get("Name")
        entry = name if isinstance(name, str) and name else f"Models[{i}]"
        if isinstance(name, str):
            where = doc.location(at + ("Name",))
            if name in models:
                message = f"duplicate model name (first defined at {models[name]}); names must be unique"
                problems.append(Problem(where, message, entry=entry, field=("Name",)))
            else:
                models[name] = where
        coll = raw.get("In Collection")
        if isinstance(coll, str) and coll not in collections:
            known = ", ".join(sorted(collections)) or "none"
            where = doc.location(at + ("In Collection",))
            message = f"names unknown collection {coll!r} (known: {known})"
            problems.append(Problem(where, message, entry=entry, field=("In Collection",)))
        url = raw.get("Weights")
        if isinstance(url, str):
            why = url_problem(url)
            if why is None:
                try:
                    weights_filename(url)
                except ValueError as exc:
                    why = str(exc)
            if why is not None:
                where = doc.location(at + ("Weights",))
                problems.append(Problem(where, f"weights URL {url!r}: {why}", entry=entry, field=("Weights",)))
        results = raw.get("Results")
        for j, result in enumerate(results if isinstance(results, list) else []):
            metrics = result.get("Metrics") if isinstance(result, dict) else None
            for metric, value in (metrics.items() if isinstance(metrics, dict) else []):
                if isinstance(value, str) and value.endswith("%"):
                    try:
                        number = float(value[:-1])
                    except ValueError:
                        continue  # the schema reports it
                    if not 0 <= number <= 100:
                        where = doc.location(at + ("Results", j, "Metrics", metric))
                        message = f"percentage out of range 0-100, got {value!r}"
                        fld = (f"Results[{j}]", "Metrics", metric)
                        problems.append(Problem(where, message, entry=entry, field=fld))
    problems.extend(_source_problems(docs))
    if check_nonempty and count == 0 and docs:
        message = "holds no models: add a 'Models' list (or Import files that have one)"
        problems.append(Problem(docs[0].location(), message))
    return problems


@dataclass(frozen=True)
class _Use:
    """One use of a cache file name: by an entry's Weights or by one of its sources."""

    file: str
    url: str
    sha: str | None
    where: Location
    field: tuple[str, ...]
    size: int | None
    size_where: Location
    sha_where: Location
    size_field: tuple[str, ...] = ()  # the field each of the two is written at (for the problem's label)
    sha_field: tuple[str, ...] = ()


def _both_weights(one: _Use, other: _Use) -> bool:
    """Two entries' Weights on one file: `check` reports which entry points at another model's weights (the
    upstream page's own mistake), so validation does not hold their File Size / SHA256 to agree."""
    return one.field == other.field == ("Weights",)


def _declared_size(value) -> int | None:
    """A File Size or source size as the index reads it (an integer, an integral float such as 1.0e8, a
    string of digits: all the schema accepts); None where there is none or the schema reports the value."""
    if value is None:
        return None
    try:
        return _int(value)
    except (ValueError, OverflowError):
        return None


def _source_problems(docs: list[Document]) -> list[Problem]:
    """``x-tresnet-zoo``: each further source's URL and file name pass the URL policy; a cache file name
    stands for one file across the index (the same URL, or sources agreeing on its sha256), so where a
    source of ours declares its size or sha256 they agree with the other declaration (two entries' Weights
    on one file are `check`'s finding: one of them points at another model's weights); a timm tag
    names one entry, and no tag is another entry's name (names and tags are looked up without case)."""
    problems: list[Problem] = []
    files: dict[str, _Use] = {}  # cache file name -> its first use
    shas: dict[str, _Use] = {}  # cache file name -> its first use that declares a sha256
    sizes: dict[str, _Use] = {}  # cache file name -> its first use that declares a size
    names: dict[str, tuple[str, bool]] = {}  # lower-cased name or tag -> (the entry answering to it, is a tag)
    for doc, i, raw in _entries(docs, "Models"):
        at = ("Models", i)
        entry = raw.get("Name") if isinstance(raw.get("Name"), str) else f"Models[{i}]"
        metadata = raw.get("Metadata")
        zoo = metadata.get("x-tresnet-zoo") if isinstance(metadata, dict) else None
        zoo = zoo if isinstance(zoo, dict) else {}
        sources = [s for s in (zoo.get("sources") if isinstance(zoo.get("sources"), list) else [])
                   if isinstance(s, dict)]
        used: list[_Use] = []
        weights = raw.get("Weights")
        same = None
        if isinstance(weights, str):
            same = next((s for s in sources if s.get("url") == weights and isinstance(s.get("file"), str)), None)
            try:
                name = same["file"] if same else weights_filename(weights)
                sha = metadata.get("SHA256") if isinstance(metadata, dict) else None
                size = metadata.get("File Size") if isinstance(metadata, dict) else None
                used.append(_Use(name, weights, sha if isinstance(sha, str) else None, doc.location(at + ("Weights",)),
                                 ("Weights",), _declared_size(size), doc.location(at + ("Metadata", "File Size")),
                                 doc.location(at + ("Metadata", "SHA256")), ("Metadata", "File Size"),
                                 ("Metadata", "SHA256")))
            except ValueError:
                pass  # reported with the Weights URL
        for j, source in enumerate(sources):
            url, file, sha = source.get("url"), source.get("file"), source.get("sha256")
            field = ("Metadata", "x-tresnet-zoo", f"sources[{j}]")
            where = doc.location(at + ("Metadata", "x-tresnet-zoo", "sources", j))
            if isinstance(url, str):
                why = url_problem(url)
                if why is not None:
                    problems.append(Problem(doc.location(at + ("Metadata", "x-tresnet-zoo", "sources", j, "url")),
                                            f"source URL {url!r}: {why}", entry=entry, field=field + ("url",)))
            if isinstance(file, str):
                why = filename_problem(file)
                if why is not None:
                    problems.append(Problem(doc.location(at + ("Metadata", "x-tresnet-zoo", "sources", j, "file")), why,
                                            entry=entry, field=field + ("file",)))
                elif isinstance(url, str) and (url != weights or source is same):
                    # the source with the Weights URL names the primary's file: what it declares of that file
                    # (sha256, size) is a second declaration, held to agree like any other
                    here = at + ("Metadata", "x-tresnet-zoo", "sources", j)
                    used.append(_Use(file, url, sha if isinstance(sha, str) else None, where, field + ("file",),
                                     _declared_size(source.get("size")), doc.location(here + ("size",)),
                                     doc.location(here + ("sha256",)), field + ("size",), field + ("sha256",)))
        for use in used:
            first = files.setdefault(use.file, use)
            # the first declared sha256 and size of the file, each kept on its own: a later use that declares
            # only the size must not hide the sha256 that later uses have to agree with
            sha_first = shas.setdefault(use.file, use) if use.sha else shas.get(use.file)
            size_first = sizes.setdefault(use.file, use) if use.size is not None else sizes.get(use.file)
            if first is use:
                continue
            if first.url != use.url and not (use.sha and use.sha == (sha_first.sha if sha_first else None)):
                problems.append(Problem(use.where, f"cache file name {use.file!r} is already used by another file (at "
                                                   f"{first.where}): give this source its own file name, or the same "
                                                   "sha256 if it is the same file", entry=entry, field=use.field))
            elif (use.sha and sha_first is not None and use.sha.lower() != sha_first.sha.lower()
                  and not _both_weights(use, sha_first)):
                problems.append(Problem(use.sha_where, f"cache file name {use.file!r} is one file, but its sha256 here "
                                                       f"differs from the one given at {sha_first.sha_where}",
                                        entry=entry, field=use.sha_field))
            elif (use.size is not None and size_first is not None and use.size != size_first.size
                  and not _both_weights(use, size_first)):
                problems.append(Problem(use.size_where, f"cache file name {use.file!r} is one file, but {use.size} "
                                                        f"bytes are declared for it here and {size_first.size} at "
                                                        f"{size_first.size_where}", entry=entry, field=use.size_field))
        tags = zoo.get("timm") if isinstance(zoo.get("timm"), list) else []
        for j, key in enumerate([raw.get("Name")] + tags):
            if not isinstance(key, str):
                continue
            owner, owner_tag = names.setdefault(key.lower(), (entry, j > 0))
            if owner == entry or (j == 0 and not owner_tag):
                continue  # the same entry, or two equal names (the duplicate-name rule reports those)
            if j == 0:
                problems.append(Problem(doc.location(at + ("Name",)),
                                        f"name {key!r} is a timm tag of {owner}: a name or tag names one entry",
                                        entry=entry, field=("Name",)))
            else:
                where = doc.location(at + ("Metadata", "x-tresnet-zoo", "timm", j - 1))
                problems.append(Problem(where, f"timm tag {key!r} already names {owner}: a name or tag names one entry",
                                        entry=entry, field=("Metadata", "x-tresnet-zoo", f"timm[{j - 1}]")))
    return problems
