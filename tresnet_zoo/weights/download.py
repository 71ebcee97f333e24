"""Moving bytes: HTTP(S) with requests (streaming, resume, retries) and ``file://`` mirrors.

Division of labour: urllib3's ``Retry`` (mounted on the requests session) retries what happens before a
response arrives: refused or reset connections, connect and read timeouts, and 429/5xx answers, with
exponential backoff and honouring ``Retry-After`` (capped). What breaks *during* the body (a reset, a
stall past the read timeout, a body shorter than its Content-Length) urllib3 cannot retry; ``download``
resumes it from the bytes already written with an HTTP Range request, a bounded number of times.

Every byte is hashed once, as it arrives (a resumed file's existing bytes are hashed before the
request); hashing and writing run on two threads beside the receiving one (``_Sink``): hashlib, file
writes and socket reads all release the GIL, so they overlap the transfer instead of adding to it.
The caller decides what the hash means (``core.py``).
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urlsplit

from .. import __version__
from ..errors import DownloadError, IntegrityError
from .._urls import url_problem
from .hashes import CHUNK, Expected

__all__ = ["DownloadConfig", "download", "check_url_allowed"]

Progress = Callable[[int, int | None], None]  # (bytes done, total or None)


@dataclass(frozen=True)
class DownloadConfig:
    connect_timeout: float = 10.0
    read_timeout: float = 30.0  # also: how long a stalled body may send nothing
    retries: int = 5  # per phase: urllib3's for the request, ours for resuming a broken body
    backoff: float = 0.5  # seconds before the first retry, doubling, up to max_backoff
    max_backoff: float = 20.0
    max_retry_after: float = 60.0  # never sleep longer than this on a server's Retry-After
    max_redirects: int = 5
    allow_http: bool = False  # plain http to non-loopback hosts


def check_url_allowed(url: str, config: DownloadConfig) -> None:
    why = url_problem(url, allow_http=config.allow_http, allow_file=True)
    if why is not None:
        raise DownloadError(
            f"refusing {url}: {why}, and file:// for mirrors",
            hint="use an https URL or mirror; --allow-http permits plain http if you trust the network",
        )


def download(url: str, part: Path, expected: Expected, config: DownloadConfig, progress: Progress | None = None) -> tuple[int, str]:
    """Fill ``part`` with the file at ``url``, resuming from what ``part`` already holds.

    Returns (size, sha256 hex). Raises DownloadError (network, HTTP) or IntegrityError (more bytes than
    the index's File Size, or fewer at the end). ``part`` keeps what arrived, for a later resume.
    """
    from .sources import copy_object, is_object_store  # s3:// and other fsspec mirrors (issue 12)

    if is_object_store(url):
        return copy_object(url, part, expected, progress)
    check_url_allowed(url, config)
    if urlsplit(url).scheme == "file":
        return _copy_file(url, part, expected, progress)
    return _HttpTransfer(url, part, expected, config, progress).run()


def _copy_file(url: str, part: Path, expected: Expected, progress: Progress | None) -> tuple[int, str]:
    source = Path(unquote(urlsplit(url).path))
    if not source.is_file():
        raise DownloadError(f"{expected.filename}: not in the mirror folder ({source} does not exist)", hint="copy the file into the mirror, or fetch without --mirror")
    sink = _Sink(part)
    try:
        sink.reset()  # a mirror copy always starts from the first byte
        with open(source, "rb") as src:
            while block := src.read(CHUNK):
                if expected.size is not None and sink.size + len(block) > expected.size:
                    raise IntegrityError(f"{expected.filename}: the mirror's file is larger than the index's File Size {expected.size}")
                sink.write(block)
                if progress:
                    progress(sink.size, expected.size)
        sink.sync()
        return sink.size, sink.hexdigest()
    finally:
        sink.close()


_datasync = getattr(os, "fdatasync", os.fsync)  # fdatasync: Linux; macOS and Windows have fsync only


class _Worker:
    """A thread applying ``fn`` to queued chunks in order. An exception stops the work (the queue keeps
    draining, so the producer never blocks) and is raised to the producer on its next call."""

    def __init__(self, fn: Callable[[bytes], object], name: str) -> None:
        self._fn = fn
        self.error: BaseException | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=8)  # bounds memory: at most 8 chunks in flight
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            block = self._queue.get()
            try:
                if block is None:
                    return
                if self.error is None:
                    self._fn(block)
            except BaseException as exc:  # noqa: BLE001 - handed to the producer
                self.error = exc
            finally:
                self._queue.task_done()

    def put(self, block: bytes) -> None:
        self.check()
        self._queue.put(block)

    def drain(self) -> None:
        self._queue.join()
        self.check()

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()


class _Sink:
    """Appends the received chunks to the partial file and hashes them, each on its own thread.

    The receiving thread only reads the socket; hashing (~1.9 GB/s, the floor of the whole transfer) and
    writing run beside it. The writer hands dirty pages to the disk every ``SYNC_EVERY`` bytes, so the
    final fsync has little left to wait for. A file already holding bytes (a resume) is hashed first,
    before anything is appended. A write error (disk full) surfaces on the next ``write``/``sync``;
    ``close`` writes what was queued, so the partial file holds every byte counted as received.
    """

    SYNC_EVERY = 32 << 20

    def __init__(self, path: Path) -> None:
        self._digest = hashlib.sha256()
        self.size = 0
        self._unsynced = 0
        self._file = open(path, "ab+", buffering=0)  # unbuffered: whole chunks go straight to write(2)
        try:
            self._file.seek(0)
            while block := self._file.read(CHUNK):
                self._digest.update(block)
                self.size += len(block)
        except BaseException:
            self._file.close()
            raise
        self._hasher = _Worker(self._hash, "tresnet-zoo-sha256")
        self._writer = _Worker(self._write, "tresnet-zoo-writer")

    def _hash(self, block: bytes) -> None:
        self._digest.update(block)

    def _write(self, block: bytes) -> None:
        view = memoryview(block)
        while view:  # an unbuffered write may be partial
            view = view[self._file.write(view):]
        self._unsynced += len(block)
        if self._unsynced >= self.SYNC_EVERY:
            _datasync(self._file.fileno())
            self._unsynced = 0

    def write(self, block: bytes) -> None:
        self._writer.put(block)
        self._hasher.put(block)
        self.size += len(block)

    def _drain(self) -> None:
        self._writer.drain()
        self._hasher.drain()

    def reset(self) -> None:
        """Throw away what was received: empty the file, start the hash over."""
        self._drain()
        self._file.truncate(0)
        self._digest = hashlib.sha256()
        self.size = 0

    def sync(self) -> None:
        """Everything received is in the file and on disk."""
        self._drain()
        os.fsync(self._file.fileno())

    def hexdigest(self) -> str:
        self._drain()
        return self._digest.hexdigest()

    def close(self) -> None:
        self._writer.stop()
        self._hasher.stop()
        self._file.close()


class _Retry:
    """urllib3's Retry with Retry-After capped (a server must not park us for an hour)."""

    @staticmethod
    def build(config: DownloadConfig):
        from urllib3.util.retry import Retry

        class CappedRetry(Retry):
            def get_retry_after(self, response):  # type: ignore[override]
                value = super().get_retry_after(response)
                return None if value is None else min(value, config.max_retry_after)

        return CappedRetry(
            total=config.retries,
            connect=config.retries,
            read=config.retries,
            status=config.retries,
            other=0,
            redirect=False,  # requests follows redirects itself, bounded by session.max_redirects
            allowed_methods=frozenset({"GET"}),
            status_forcelist=(429, 500, 502, 503, 504),
            backoff_factor=config.backoff,
            backoff_max=config.max_backoff,
            respect_retry_after_header=True,
            raise_on_status=False,
        )


def _session(config: DownloadConfig):
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    session.max_redirects = config.max_redirects
    session.headers["User-Agent"] = f"tresnet-zoo/{__version__}"
    session.headers["Accept-Encoding"] = "identity"  # sizes and hashes are of the file, not a gzip of it
    adapter = HTTPAdapter(max_retries=_Retry.build(config))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _HttpTransfer:
    def __init__(self, url: str, part: Path, expected: Expected, config: DownloadConfig, progress: Progress | None) -> None:
        self.url = url
        self.part = part
        self.expected = expected
        self.config = config
        self.progress = progress
        self.name = expected.filename
        self.sink: _Sink | None = None
        self.responded = False  # whether the current attempt got response headers

    @property
    def done(self) -> int:
        """Bytes of the file received so far (including those a resumed partial held)."""
        return self.sink.size

    def run(self) -> tuple[int, str]:
        self.sink = _Sink(self.part)
        try:
            if self.expected.size is not None and self.done > self.expected.size:
                self.sink.reset()  # a partial longer than the file: nothing in it to trust
            return self._run()
        finally:
            self.sink.close()

    def _run(self) -> tuple[int, str]:
        import requests

        failures = 0
        with _session(self.config) as session:
            while True:
                try:
                    finished = self._attempt(session)
                except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                    if not self.responded:  # urllib3 has already retried the request itself
                        raise DownloadError(f"{self.name}: cannot download {self.url}: {_reason(exc)}{_after(self.config.retries)}",
                                            hint=_OFFLINE_HINT) from None
                    failures += 1
                    if failures > self.config.retries:
                        raise DownloadError(
                            f"{self.name}: transfer from {self.url} broke {failures} times, last after {self.done} bytes: {_reason(exc)}",
                            hint="run the same command again: it resumes from the partial file",
                        ) from None
                    time.sleep(min(self.config.backoff * 2 ** (failures - 1), self.config.max_backoff))
                    continue
                except requests.exceptions.TooManyRedirects:
                    raise DownloadError(f"{self.name}: more than {self.config.max_redirects} redirects from {self.url} (a redirect loop?)",
                                        hint="the server is misconfigured; try --mirror") from None
                except requests.exceptions.RequestException as exc:
                    raise DownloadError(f"{self.name}: cannot download {self.url}: {_reason(exc)}") from None
                if finished:
                    self.sink.sync()
                    return self.done, self.sink.hexdigest()
                failures += 1  # a short body without an error: resume
                if failures > self.config.retries:
                    raise DownloadError(f"{self.name}: {self.url} keeps ending early ({self.done} of {self.expected.size} bytes)",
                                        hint="run the same command again: it resumes from the partial file")

    def _attempt(self, session) -> bool:
        """One request; True when the whole file has arrived."""
        headers = {"Range": f"bytes={self.done}-"} if self.done else {}
        timeout = (self.config.connect_timeout, self.config.read_timeout)
        self.responded = False
        with session.get(self.url, stream=True, timeout=timeout, headers=headers) as response:
            self.responded = True
            final = response.url
            if final != self.url:
                check_url_allowed(final, self.config)  # a redirect must not leave https
            status = response.status_code
            if status == 416 and self.done:  # our partial is not a prefix the server knows: start over
                self.sink.reset()
                return False
            if status == 200 and self.done:  # the server ignores Range: start over, cleanly
                self.sink.reset()
            elif status == 206:
                start = _content_range_start(response.headers.get("Content-Range"))
                if start != self.done:
                    self.sink.reset()
                    return False
            elif status != 200:
                raise DownloadError(_status_message(self.name, self.url, status, response.reason), hint=_status_hint(status))
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and self.expected.size is not None:
                announced = self.done + int(length)
                if announced != self.expected.size:
                    raise IntegrityError(
                        f"{self.name}: {self.url} announces {announced} bytes, the index's File Size is {self.expected.size}",
                        hint="the server serves another file, or the index's File Size is wrong (`tresnet-zoo check`)",
                    )
            for block in response.iter_content(chunk_size=CHUNK):
                if not block:
                    continue
                if self.expected.size is not None and self.done + len(block) > self.expected.size:
                    raise IntegrityError(
                        f"{self.name}: {self.url} sent more than the index's File Size of {self.expected.size} bytes; download aborted",
                        hint="the server serves another file, or the index's File Size is wrong (`tresnet-zoo check`)",
                    )
                self.sink.write(block)
                if self.progress:
                    self.progress(self.done, self.expected.size)
        return self.expected.size is None or self.done == self.expected.size


def _content_range_start(value: str | None) -> int | None:
    # "bytes 100-199/200"
    if not value or not value.startswith("bytes "):
        return None
    try:
        return int(value[6:].split("-", 1)[0])
    except ValueError:
        return None


def _after(retries: int) -> str:
    return "" if retries == 0 else f" (after {retries} {'retry' if retries == 1 else 'retries'})"


_OFFLINE_HINT = ("check the network or the URL and run the same command again; where the host cannot be reached, "
                 "copy the files into a folder and use --mirror DIR (or TRESNET_ZOO_MIRROR)")


def _chain(exc: BaseException):
    """requests wraps urllib3 wraps socket errors: walk from the outer exception to the root cause."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        inner = getattr(exc, "reason", None)  # urllib3's MaxRetryError
        if not isinstance(inner, BaseException):
            inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc.__cause__ or exc.__context__
        exc = inner


def _reason(exc: Exception) -> str:
    """What went wrong, in a few words a user can act on."""
    import socket
    import ssl

    from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError, ProtocolError, ReadTimeoutError

    causes = list(_chain(exc))

    def found(kind):
        return next((c for c in causes if isinstance(c, kind)), None)

    if found((NameResolutionError, socket.gaierror)):
        return "cannot resolve the host name (no network, or DNS blocked)"
    if found(ConnectionRefusedError):
        return "connection refused"
    if found(ConnectionResetError):
        return "connection reset"
    if cert := found(ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({getattr(cert, 'verify_message', None) or cert})"
    if tls := found(ssl.SSLError):
        return f"TLS error ({getattr(tls, 'reason', None) or tls})"
    # urllib3 makes NewConnectionError a ConnectTimeoutError (for old callers): only a real one counts
    if any(isinstance(c, ConnectTimeoutError) and not isinstance(c, NewConnectionError) for c in causes):
        return "connect timed out"
    if found((ReadTimeoutError, TimeoutError)):
        return "read timed out"
    text = " ".join(str(cause) for cause in causes)
    if "IncompleteRead" in text or any(isinstance(c, ProtocolError) and "IncompleteRead" in str(c) for c in causes):
        return "body shorter than its Content-Length (connection closed early)"
    for marker in ("Connection reset", "Connection aborted", "Read timed out", "timed out"):
        if marker in text:
            return marker.lower()
    root = causes[-1]
    return (str(root).splitlines() or [type(root).__name__])[0][:160] or type(root).__name__


def _status_message(name: str, url: str, status: int, reason: str | None) -> str:
    what = {404: "not found", 403: "forbidden", 401: "needs authentication", 410: "gone"}.get(status, reason or "error")
    retried = " (after retries)" if status in (429, 500, 502, 503, 504) else ""
    return f"{name}: {url} answered HTTP {status} {what}{retried}"


def _status_hint(status: int) -> str:
    if status in (404, 410):
        return "the weights URL in the index is wrong or the file was removed; try --mirror"
    if status in (429, 500, 502, 503, 504):
        return "the server is failing or rate-limiting; run the same command again later"
    return "check the URL and your access to it"
