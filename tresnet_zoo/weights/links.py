"""`check --links`: is every source of every entry alive, and of the size the index says, without downloading it?

Each http(s) source is asked with HEAD; where a server refuses HEAD (405, 501) a one-byte ranged GET
(``Range: bytes=0-0``) gives the size from ``Content-Range``. Redirects are followed here, at most
``max_redirects`` hops, and every hop passes ``_urls.url_problem`` before it is requested (a redirect may
not leave https). Object-store sources are asked for their size through fsspec, folder sources with stat.

Verdicts: alive (200/206, size matching or unknown), dead (403, 404, 410, a host name that does not
resolve, a missing object), size (alive, but not the index's size: this is how an inferred ``File Size``
becomes a measured one), unreachable (timeouts, refused connections, 5xx: the environment, not the data).
Work is bounded: ``workers`` requests at a time, ``timeout`` seconds per request, ``deadline`` seconds in
all; a source not answered by then is unreachable.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .._urls import is_object_store, redact, url_problem
from ..errors import DeadSourceError, ZooError
from .sources import HF_ENDPOINT_ENV, entry_sources
from .transports.http import RedirectError, RequestFailed, _reason, _unresolved, follow, header_int, session
from .transports.objectstore import ObjectStore

__all__ = ["LinkResult", "LinksReport", "check_links"]

ALIVE, DEAD, SIZE, UNREACHABLE = "alive", "dead", "size", "unreachable"


@dataclass
class LinkResult:
    entry: str
    source: int  # 1-based position among the entry's sources
    url: str  # redacted
    status: str  # alive | dead | size | unreachable
    code: int | None = None  # the final HTTP status, where there was one
    size: int | None = None  # what the source says its size is
    expected: int | None = None  # what the index says
    message: str = ""
    unresolved: bool = False  # the host name did not resolve

    @property
    def problem(self) -> bool:
        return self.status != ALIVE

    def to_dict(self) -> dict:
        return {
            "name": self.entry,
            "source": self.source,
            "url": self.url,
            "status": self.status,
            "code": self.code,
            "size": self.size,
            "expected_size": self.expected,
            "message": self.message,
        }


@dataclass
class LinksReport:
    results: list[LinkResult] = field(default_factory=list)
    skipped: str | None = None  # why nothing was checked (offline)
    seconds: float = 0.0
    # not one http(s) source's host name resolved: more likely no network (or DNS) than dead links, so
    # those sources are reported unreachable (the environment), not dead (the data)
    no_dns: bool = False

    @property
    def bad(self) -> list[LinkResult]:
        """Dead links and size mismatches: the data is wrong (exit 1)."""
        return [r for r in self.results if r.status in (DEAD, SIZE)]

    @property
    def unreachable(self) -> list[LinkResult]:
        return [r for r in self.results if r.status == UNREACHABLE]

    def to_dict(self) -> dict:
        return {
            "ok": not self.bad and not self.unreachable,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
            "links": [r.to_dict() for r in self.results],
        }


def check_links(
    entries,
    *,
    offline: bool = False,
    workers: int = 8,
    timeout: float = 10.0,
    deadline: float | None = None,
    max_redirects: int = 5,
    allow_http: bool = False,
) -> LinksReport:
    """Probe every source of ``entries``; one ``LinkResult`` per source, in entry order."""
    started = time.monotonic()
    if offline:
        return LinksReport(skipped="offline mode is on (TRESNET_ZOO_OFFLINE or --offline): no link was checked")
    deadline = deadline if deadline is not None else max(30.0, 6 * timeout)
    jobs = [(entry.name, number, spec) for entry in entries for number, spec in enumerate(entry_sources(entry), 1)]
    results = _run_bounded(
        [lambda job=job: _probe_source(*job, timeout, max_redirects, allow_http) for job in jobs], workers, deadline
    )
    report = LinksReport(seconds=time.monotonic() - started)
    for i, (name, number, spec) in enumerate(jobs):
        report.results.append(
            results[i]
            or LinkResult(
                name,
                number,
                spec.redacted_url,
                UNREACHABLE,
                expected=spec.size,
                message=f"no answer within the overall limit of {deadline:.0f} s",
            )
        )
    # by the scheme as URLs read it (`HTTPS://` is https): a DNS failure of any http(s) source counts
    web = [r for r, (_, _, spec) in zip(report.results, jobs) if _scheme(spec.url) in ("http", "https")]
    if web and all(r.status == DEAD and r.unresolved for r in web):
        report.no_dns = True
        for result in web:
            result.status = UNREACHABLE
    return report


def _run_bounded(calls: list, workers: int, deadline: float) -> list:
    """Each call's result (None where it did not end within ``deadline`` seconds), ``workers`` at a time.

    Daemon threads, not a ThreadPoolExecutor: a server dripping header bytes never trips a per-read timeout,
    and the executor's threads are joined when the interpreter exits, so the command outlived its deadline
    for as long as such a server went on. An abandoned probe ends with its connection, or with the process.
    An exception in a probe (a bug) is raised here.
    """
    results: list = [None] * len(calls)
    errors: list[BaseException] = []
    pending = list(range(len(calls)))
    left = [len(calls)]
    lock, finished = threading.Lock(), threading.Event()

    def work() -> None:
        while True:
            with lock:
                if not pending:
                    return
                i = pending.pop(0)
            try:
                value = calls[i]()
            except BaseException as exc:  # handed to the caller's thread below
                with lock:
                    errors.append(exc)
                    finished.set()
                return
            with lock:
                results[i] = value
                left[0] -= 1
                if left[0] == 0:
                    finished.set()

    if calls:
        for n in range(max(1, min(workers, len(calls)))):
            threading.Thread(target=work, name=f"tresnet-zoo-link-{n}", daemon=True).start()
        finished.wait(deadline)
    with lock:
        if errors:
            raise errors[0]
        return list(results)


def _probe_source(name: str, number: int, spec, timeout: float, max_redirects: int, allow_http: bool) -> LinkResult:
    result = LinkResult(name, number, spec.redacted_url, UNREACHABLE, expected=spec.size)
    if _scheme(spec.url) is None:  # the index's URLs parse (validation); $HF_ENDPOINT rewrites them: not always
        result.message = f"refusing {spec.redacted_url}: {url_problem(spec.url)}" + (
            f" (check {HF_ENDPOINT_ENV}, which rewrites Hugging Face URLs)" if os.environ.get(HF_ENDPOINT_ENV) else "")
        return result
    try:
        if is_object_store(spec.url):
            result.size, result.code = _store_size(spec.url), None
        elif urlsplit(spec.url).scheme == "file":
            path = Path(unquote(urlsplit(spec.url).path))
            if not path.is_file():
                result.status, result.message = DEAD, "no such file"
                return result
            result.size = path.stat().st_size
        else:
            result.code, result.size = _probe_http(spec.url, timeout, max_redirects, allow_http)
            if result.code in (403, 404, 410):
                result.status, result.message = DEAD, f"HTTP {result.code} {_WHAT[result.code]}"
                return result
            if result.code not in (200, 206):
                result.message = f"HTTP {result.code}"
                return result
    except _Dead as exc:
        result.status, result.message, result.unresolved = DEAD, str(exc), exc.unresolved
        return result
    except (_Unreachable, ZooError) as exc:
        result.message = getattr(exc, "message", None) or str(exc)
        return result
    if spec.size is not None and result.size is not None and result.size != spec.size:
        result.status = SIZE
        result.message = f"{result.size} bytes, the index says {spec.size}"
    else:
        result.status = ALIVE
        result.message = f"{result.size} bytes" if result.size is not None else "alive (size not announced)"
    return result


_WHAT = {403: "forbidden", 404: "not found", 410: "gone"}


def _scheme(url: str) -> str | None:
    """The URL's scheme as URLs read it (lower case), or None when ``urlsplit`` cannot parse it."""
    try:
        return urlsplit(url).scheme
    except ValueError:
        return None


class _Dead(Exception):
    def __init__(self, message: str, *, unresolved: bool = False) -> None:
        super().__init__(message)
        self.unresolved = unresolved


class _Unreachable(Exception):
    pass


def _store_size(url: str) -> int:
    try:
        return ObjectStore(url).size(url)
    except DeadSourceError as exc:
        raise _Dead(exc.message) from None


_local = threading.local()


def _session():
    """This thread's session: the one HTTP policy (``transports.http.session``), without download retries."""
    if getattr(_local, "session", None) is None:
        _local.session = session()
    return _local.session


def _probe_http(url: str, timeout: float, max_redirects: int, allow_http: bool) -> tuple[int, int | None]:
    """(final status, size) for ``url``: HEAD, or a one-byte ranged GET where HEAD is refused."""
    import requests  # noqa: PLC0415 (network stack: only downloads)

    why = url_problem(url, allow_http=allow_http)
    if why is not None:
        raise _Unreachable(f"refusing {redact(url)}: {why}")
    method, headers = "HEAD", {}
    while True:
        try:
            response, url = follow(_session(), method, url, headers=headers, timeout=(min(timeout, 10.0), timeout),
                                   max_redirects=max_redirects, allow_http=allow_http)
        except RequestFailed as failed:
            if not isinstance(failed.cause, requests.RequestException):  # urllib3's LocationParseError
                raise _Unreachable(f"not a usable URL ({_reason(failed.cause)})") from None
            if _unresolved(failed.cause):
                raise _Dead(_reason(failed.cause), unresolved=True) from None
            raise _Unreachable(_reason(failed.cause)) from None
        except RedirectError as exc:
            if exc.loop:
                raise _Unreachable(f"more than {max_redirects} redirects (a redirect loop?)") from None
            raise _Unreachable(f"{redact(url)} redirects to {exc.target}, which is refused: {exc.why}") from None
        with response:
            status = response.status_code
            length = response.headers.get("Content-Length")
            content_range = response.headers.get("Content-Range")
        if method == "HEAD" and status in (405, 501):
            method, headers = "GET", {"Range": "bytes=0-0"}  # HEAD refused: ask for one byte instead
            continue
        if status == 206:
            return status, header_int((content_range or "").rpartition("/")[2])
        if status == 200:
            return status, header_int(length or "")
        return status, None


def links_offline() -> bool:
    """Whether offline mode is on in the environment (``TRESNET_ZOO_OFFLINE``)."""
    return os.environ.get("TRESNET_ZOO_OFFLINE", "") not in ("", "0")
