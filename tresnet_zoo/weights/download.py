"""Moving bytes: a source (HTTP(S) with requests, or a ``file://`` mirror folder) into a partial file.

The pipeline every source kind shares, so that a new kind (an object store, another hub) only has to say
how to open a byte stream at an offset:

    Source.open(start) -> Stream (start, length, read(n))  ─►  transfer(): limits, minimum speed, deadline,
    resume with retries  ─►  _Sink (hash + write on two threads, into the partial's descriptor)

``transfer`` owns the rules: never more bytes than the index's File Size (or the caller's ``max_bytes``
for an entry without one: without either the download is refused), a minimum throughput (curl's
speed-limit/speed-time: below ``low_speed_limit`` bytes/s for ``low_speed_time`` seconds the attempt is
abandoned and resumed, counting as a retry), an overall ``deadline``, and resuming from every byte
received: blocks waiting in the sink are written before the partial's size is used for the next request.

HTTP: urllib3's ``Retry`` retries what happens before a response (refused or reset connections, timeouts,
429/5xx, honouring a capped ``Retry-After``) but not a name that does not resolve (that fails at once).
Redirects are followed here, not by requests: each hop is checked against the URL policy before it is
requested, and their number is bounded. Proxies and CA bundles come from the environment (requests'
``trust_env``: ``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``). URLs are printed
and stored redacted (no ``user:password@``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import queue
import socket
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urljoin, urlsplit

from .. import __version__
from .._urls import filename_problem, redact, redirect_problem, url_problem
from ..errors import DownloadError, IntegrityError
from .hashes import CHUNK, Expected

__all__ = [
    "DownloadConfig",
    "FileSource",
    "HttpSource",
    "RestartFromZero",
    "Source",
    "Stream",
    "TransientError",
    "check_url_allowed",
    "download",
    "header_int",
    "own_redirects_session",
    "redirect_target",
    "open_source",
    "transfer",
]

Progress = Callable[[int, int | None], None]  # (bytes done, total or None)


@dataclass(frozen=True)
class DownloadConfig:
    connect_timeout: float = 10.0
    read_timeout: float = 30.0  # how long a stalled body may send nothing at all
    retries: int = 5  # per phase: urllib3's for the request, ours for resuming a broken body
    backoff: float = 0.5  # seconds before the first retry, doubling, up to max_backoff
    max_backoff: float = 20.0
    max_retry_after: float = 60.0  # never sleep longer than this on a server's Retry-After
    max_redirects: int = 5
    allow_http: bool = False  # plain http to non-loopback hosts
    max_bytes: int | None = None  # the byte limit for an entry without File Size (required for one)
    low_speed_limit: int = 1024  # bytes/s; slower than this for low_speed_time seconds: resume (a retry)
    low_speed_time: float = 30.0
    deadline: float | None = None  # seconds for the whole file, every attempt included
    block_size: int = 64 << 10  # the most one socket read returns: received bytes reach the sink at once


def check_url_allowed(url: str, config: DownloadConfig, *, allow_file: bool = True) -> None:
    why = url_problem(url, allow_http=config.allow_http, allow_file=allow_file)
    if why is not None:
        raise _tagged(DownloadError(f"refusing {redact(url)}: {why}"
                                    + (", and file:// for mirrors" if allow_file else ""),
                                    hint="use an https URL or mirror"), "url-policy")


class TransientError(Exception):
    """The stream broke after it started (reset, stall, short body, too slow): resume from what arrived."""


class RestartFromZero(Exception):
    """The source cannot continue from our partial (a 416, a range that starts elsewhere): start over."""


class Stream(Protocol):
    start: int  # the file offset of the first byte ``read`` returns (0 where a range was ignored)
    length: int | None  # how many bytes this stream announces, if it does

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes as soon as any arrive; b"" at the end. TransientError when the stream breaks."""
        ...

    def close(self) -> None: ...


class Source(Protocol):
    """Where a file's bytes come from. ``open`` raises DownloadError (give up) or TransientError (retry)."""

    display: str  # for messages: a redacted URL or a path

    def open(self, start: int) -> Stream: ...

    def close(self) -> None: ...


def open_source(url: str, filename: str, config: DownloadConfig) -> Source:
    """The source for ``url``: an HTTP(S) URL, or a ``file://`` mirror folder URL joined with ``filename``."""
    from .sources import ObjectStoreSource, is_object_store  # noqa: PLC0415 (import cycle with sources: s3:// mirrors, issue 12)

    if is_object_store(url):
        return ObjectStoreSource(url)
    check_url_allowed(url, config)
    if urlsplit(url).scheme == "file":
        return FileSource.from_url(url, filename)
    return HttpSource(url, config, filename)


def _tagged(error: DownloadError, topic: str) -> DownloadError:
    """Mark an error with what it is about, so that the CLI can add the flags that help (the library names none)."""
    error.topic = topic  # type: ignore[attr-defined]
    return error


def download(url: str, fd: int, expected: Expected, config: DownloadConfig,
             progress: Progress | None = None) -> tuple[int, str]:
    """Fill the partial file open at ``fd`` with the file at ``url``, resuming from what it already holds.

    Returns (size, sha256 hex). Raises DownloadError (network, HTTP, limits) or IntegrityError (more
    bytes than the index's File Size, or fewer at the end). The partial keeps what arrived, for a later resume.
    """
    source = open_source(url, expected.filename, config)
    try:
        return transfer(source, fd, expected, config, progress)
    finally:
        source.close()


def _limit(expected: Expected, config: DownloadConfig, display: str) -> int:
    if expected.size is not None:
        return expected.size
    if config.max_bytes is not None:
        return config.max_bytes
    raise _tagged(DownloadError(
        f"{expected.filename}: the index gives no File Size for it, so there is no limit to how much {display} may "
        "send; refusing to download",
        hint="add its File Size to the index, or give an explicit byte limit",
    ), "no-size")


def transfer(source: Source, fd: int, expected: Expected, config: DownloadConfig,
             progress: Progress | None = None) -> tuple[int, str]:
    """The shared pipeline: stream ``source`` into the partial at ``fd`` with every limit and resume rule."""
    name = expected.filename
    limit = _limit(expected, config, source.display)
    started = time.monotonic()
    sink = _Sink(fd)
    try:
        if sink.size > limit:
            sink.reset()  # a partial longer than the file: nothing in it to trust
        failures = 0
        while True:
            if config.deadline is not None and time.monotonic() - started > config.deadline:
                raise DownloadError(f"{name}: {source.display} did not finish within the deadline of "
                                    f"{config.deadline:g} s ({sink.size} bytes received)",
                                    hint="run the same command again: it resumes from the partial file")
            try:
                stream = source.open(sink.size)
                try:
                    finished = _pump(stream, sink, expected, limit, config, started, source.display, progress)
                finally:
                    stream.close()
            except RestartFromZero:
                sink.reset()
                finished, why = False, "the server cannot continue the partial download"
            except TransientError as exc:
                finished, why = False, str(exc)
            else:
                why = f"ended early ({sink.size} of {expected.size} bytes)"
            sink.flush()  # every byte received is in the partial before its size names the next range
            if finished:
                sink.sync()
                return sink.size, sink.hexdigest()
            if config.deadline is not None and time.monotonic() - started > config.deadline:
                continue  # reported at the top of the loop
            failures += 1
            if failures > config.retries:
                raise DownloadError(f"{name}: transfer from {source.display} broke {failures} times, last after "
                                    f"{sink.size} bytes: {why}",
                                    hint="run the same command again: it resumes from the partial file")
            time.sleep(min(config.backoff * 2 ** (failures - 1), config.max_backoff))
    finally:
        sink.close()


def _pump(stream: Stream, sink: _Sink, expected: Expected, limit: int, config: DownloadConfig, started: float,
          display: str, progress: Progress | None) -> bool:
    """Move one stream into the sink; True when the whole file has arrived."""
    name = expected.filename
    if stream.start != sink.size:
        if stream.start != 0:
            raise RestartFromZero()
        sink.reset()  # the source ignores ranges: start over, cleanly
    if stream.length is not None and expected.size is not None and stream.start + stream.length != expected.size:
        raise IntegrityError(f"{name}: {display} announces {stream.start + stream.length} bytes, the index's File Size "
                             f"is {expected.size}",
                             hint="the server serves another file, or the index's File Size is wrong")
    if stream.length is not None and stream.start + stream.length > limit:
        raise _tagged(DownloadError(f"{name}: {display} announces {stream.start + stream.length} bytes, more than the "
                                    f"limit of {limit}",
                                    hint="raise the byte limit if the file really is that big"), "no-size")
    received = 0
    window_start, window_bytes = time.monotonic(), 0
    while True:
        block = stream.read(config.block_size)
        if not block:
            break
        if sink.size + len(block) > limit:
            if expected.size is not None:
                raise IntegrityError(f"{name}: {display} sent more than the index's File Size of {expected.size} "
                                     "bytes; download aborted",
                                     hint="the server serves another file, or the index's File Size is wrong")
            raise _tagged(DownloadError(f"{name}: {display} sent more than the limit of {limit} bytes; "
                                        "download aborted",
                                        hint="raise the byte limit if the file really is that big"), "no-size")
        sink.write(block)
        received += len(block)
        if progress:
            progress(sink.size, expected.size)
        now = time.monotonic()
        window_bytes += len(block)
        if now - window_start >= config.low_speed_time:
            if window_bytes < config.low_speed_limit * (now - window_start):
                raise TransientError(f"slower than {config.low_speed_limit} bytes/s for {config.low_speed_time:g} s")
            window_start, window_bytes = now, 0
        if config.deadline is not None and now - started > config.deadline:
            return False  # transfer() reports the deadline
    if stream.length is not None and received < stream.length:
        raise TransientError("body shorter than its Content-Length (connection closed early)")
    return expected.size is None or sink.size == expected.size


# --- file:// mirrors ------------------------------------------------------------------------------------


class FileSource:
    """A file in a mirror folder: the folder from the mirror URL, the name only from the strict cache file
    name, the path confined to the folder, opened without following links, a regular file required."""

    def __init__(self, folder: Path, filename: str) -> None:
        problem = filename_problem(filename)
        if problem:
            raise DownloadError(f"refusing to read a mirror file under an unsafe name: {problem}")
        self.folder = folder
        self.filename = filename
        self.path = folder / filename
        self.display = str(self.path)

    @classmethod
    def from_url(cls, url: str, filename: str) -> FileSource:
        """``url`` is the mirror folder joined with the file name (``fetch.source_url``); only the folder
        part is taken from it, the file name is the strict one the cache uses."""
        path = unquote(urlsplit(url).path)
        folder = path[: -len(filename)] if path.endswith("/" + filename) else path.rsplit("/", 1)[0]
        return cls(Path(folder or "/"), filename)

    def open(self, start: int) -> _FileStream:
        try:
            folder = self.folder.resolve(strict=True)
        except OSError as exc:
            raise DownloadError(f"{self.filename}: the mirror folder {self.folder} cannot be read: "
                                f"{exc.strerror or exc}",
                                hint="check the mirror path") from None
        target = folder / self.filename
        if target.parent != folder:
            raise DownloadError(f"{self.filename}: would leave the mirror folder {folder}")
        try:
            fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise DownloadError(f"{self.filename}: not in the mirror folder ({target} does not exist)",
                                hint="copy the file into the mirror, or fetch without a mirror") from None
        except OSError as exc:
            why = "a symbolic link" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
            raise DownloadError(f"{self.filename}: the mirror's {target} cannot be read: {why}",
                                hint="put the file itself into the mirror folder") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise DownloadError(f"{self.filename}: the mirror's {target} is not a regular file",
                                hint="put the file itself into the mirror folder")
        os.set_blocking(fd, True)
        return _FileStream(fd)  # a mirror copy always starts from the first byte (start 0)

    def close(self) -> None:
        pass


class _FileStream:
    start = 0

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.length = os.fstat(fd).st_size

    def read(self, n: int) -> bytes:
        return os.read(self.fd, max(n, CHUNK))  # local disk: big reads, no socket to wait on

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# --- HTTP(S) --------------------------------------------------------------------------------------------


_REDIRECTS = (301, 302, 303, 307, 308)


class HttpSource:
    """An HTTP(S) URL: Range requests, redirects checked hop by hop, errors named by their root cause."""

    def __init__(self, url: str, config: DownloadConfig, filename: str = "") -> None:
        self.url = url
        self.config = config
        self.display = redact(url)
        self.prefix = f"{filename}: " if filename else ""
        self._session = None

    def _get_session(self):
        if self._session is None:
            self._session = _session(self.config)
        return self._session

    def open(self, start: int) -> _HttpStream:
        import requests  # noqa: PLC0415 (network stack: only downloads)

        session = self._get_session()
        headers = {"Range": f"bytes={start}-"} if start else {}
        timeout = (self.config.connect_timeout, self.config.read_timeout)
        url, hops = self.url, 0
        while True:
            try:
                response = session.get(url, stream=True, timeout=timeout, headers=headers, allow_redirects=False)
            except requests.exceptions.RequestException as exc:
                # before a response: urllib3 has already retried what is worth retrying
                raise _tagged(DownloadError(f"{self.prefix}cannot download {redact(url)}: "
                                            f"{_reason(exc)}{_after(self.config.retries, exc)}",
                                            hint=_OFFLINE_HINT), "network") from None
            except ValueError as exc:  # urllib3's LocationParseError: a URL the policy let through, still unusable
                raise _tagged(DownloadError(f"{self.prefix}cannot download {redact(url)}: not a usable URL "
                                            f"({_reason(exc)})", hint="fix the URL in the index or the mirror"),
                              "url-policy") from None
            status = response.status_code
            if status in _REDIRECTS and response.headers.get("Location"):
                target = redirect_target(url, response.headers["Location"])
                response.close()
                hops += 1
                if hops > self.config.max_redirects:
                    raise _tagged(DownloadError(f"{self.prefix}more than {self.config.max_redirects} redirects from "
                                                f"{self.display} (a redirect loop?)",
                                        hint="the server is misconfigured; try a mirror"), "network")
                why = (redirect_problem(url, target, allow_http=self.config.allow_http) if target is not None
                       else "not a URL that can be parsed")
                if why is not None:  # checked before it is requested
                    shown = redact(target) if target is not None else repr(response.headers["Location"][:200])
                    raise _tagged(DownloadError(f"{self.prefix}{self.display} redirects to {shown}, which is "
                                                f"refused: {why}",
                                                hint="the server sends downloads somewhere insecure; use an https "
                                                     "mirror"), "url-policy")
                url = target
                continue
            break
        try:
            if status == 416 and start:
                raise RestartFromZero()
            if status == 206:
                first = _content_range_start(response.headers.get("Content-Range"))
                if first != start:
                    raise RestartFromZero()
            elif status == 200:
                first = 0
            else:
                shown = self.display if url == self.url else redact(url)
                raise _tagged(DownloadError(self.prefix + _status_message(shown, status, response.reason),
                                            hint=_status_hint(status)), "network")
            length = response.headers.get("Content-Length")
            return _HttpStream(response, first, header_int(length))
        except BaseException:
            response.close()
            raise

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class _HttpStream:
    def __init__(self, response, start: int, length: int | None) -> None:
        import requests  # noqa: PLC0415 (network stack: only downloads)
        from urllib3.exceptions import HTTPError as Urllib3Error  # noqa: PLC0415 (network stack: only downloads)

        self.response = response
        self.start = start
        self.length = length
        self._read1 = response.raw.read1
        self._broken = (Urllib3Error, requests.exceptions.RequestException, OSError)  # looked up once, not per read

    def read(self, n: int) -> bytes:
        try:
            return self._read1(n, decode_content=True) or b""
        except self._broken as exc:
            raise TransientError(_reason(exc)) from None

    def close(self) -> None:
        self.response.close()


def own_redirects_session():
    """A requests Session that leaves redirects to us: with ``allow_redirects=False`` requests still parses
    a response's Location to offer the next request, and a hostile one (``http://[x``) raised from inside
    ``get``; here it is never looked at, and our hop check (``redirect_problem``) reads it instead."""
    import requests  # noqa: PLC0415 (network stack: only downloads)

    class OwnRedirects(requests.Session):
        def resolve_redirects(self, *args, **kwargs):  # noqa: ARG002 - requests' signature
            return iter(())

    return OwnRedirects()


def redirect_target(url: str, location: str) -> str | None:
    """The URL a Location header names, relative to ``url``; None when it cannot be parsed at all."""
    try:
        return urljoin(url, location)
    except ValueError:
        return None


def _session(config: DownloadConfig):
    from requests.adapters import HTTPAdapter  # noqa: PLC0415 (network stack: only downloads)

    session = own_redirects_session()
    session.trust_env = True  # HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, .netrc: as the user set them
    # OpenSSL's variable, which requests (certifi) ignores; REQUESTS_CA_BUNDLE still wins
    if os.environ.get("SSL_CERT_FILE"):
        session.verify = os.environ["SSL_CERT_FILE"]
    # redirects: followed in HttpSource.open, hop by hop (allow_redirects=False on every request)
    session.headers["User-Agent"] = f"tresnet-zoo/{__version__}"
    session.headers["Accept-Encoding"] = "identity"  # sizes and hashes are of the file, not a gzip of it
    adapter = HTTPAdapter(max_retries=_retry(config))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _retry(config: DownloadConfig):
    """urllib3's Retry with Retry-After capped (a server must not park us for an hour), and a host name
    that does not resolve failing at once (DNS answers the same on the fifth try)."""
    from urllib3.exceptions import MaxRetryError, NameResolutionError  # noqa: PLC0415 (network stack: only downloads)
    from urllib3.util.retry import Retry  # noqa: PLC0415 (network stack: only downloads)

    class ZooRetry(Retry):
        def get_retry_after(self, response):  # type: ignore[override]
            value = super().get_retry_after(response)
            return None if value is None else min(value, config.max_retry_after)

        def increment(self, method=None, url=None, response=None, error=None, _pool=None,  # type: ignore[override]
                      _stacktrace=None):
            if error is not None and any(isinstance(c, NameResolutionError) for c in _chain(error)):
                raise MaxRetryError(_pool, url, error)
            return super().increment(method, url, response, error, _pool, _stacktrace)

    return ZooRetry(
        total=config.retries,
        connect=config.retries,
        read=config.retries,
        status=config.retries,
        other=0,
        redirect=False,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=(429, 500, 502, 503, 504),
        backoff_factor=config.backoff,
        backoff_max=config.max_backoff,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


# --- the sink --------------------------------------------------------------------------------------------

_datasync = getattr(os, "fdatasync", os.fsync)  # fdatasync: Linux; macOS and Windows have fsync only


class _Worker:
    """A thread applying ``fn`` to queued batches in order. An exception stops the work (the queue keeps
    draining, so the producer never blocks) and is raised to the producer on its next call."""

    def __init__(self, fn: Callable[[list], object], name: str, backlog: int = 8) -> None:
        self._fn = fn
        self.error: BaseException | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=backlog)  # bounds memory: at most `backlog` batches in flight
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            try:
                if batch is None:
                    return
                if self.error is None:
                    self._fn(batch)
            except BaseException as exc:  # noqa: BLE001 - handed to the producer
                self.error = exc
            finally:
                self._queue.task_done()

    def put(self, batch: list) -> None:
        self.check()
        self._queue.put(batch)

    def offer(self, batch: list) -> bool:
        """Queue ``batch`` unless the backlog is full; never waits."""
        self.check()
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            return False
        return True

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
    """Appends received blocks to the partial (an ``O_APPEND`` descriptor) and hashes them, each on its own
    thread.

    The receiving thread only reads the socket. Small blocks are gathered into batches of ``BATCH`` bytes
    (or whatever arrived within ``FLUSH_AFTER`` seconds) and handed on as lists: the writer writes a batch
    with one ``writev``, the hasher updates block by block, no copy. ``flush`` hands on and writes what is
    gathered (done before every resume, so the file holds each byte received); the writer hands dirty pages
    to the disk every ``SYNC_EVERY`` bytes through a third thread (an ``fdatasync`` blocks its caller until
    the disk answers; the writer never waits for one), so the final fsync has little left. A write or sync
    error (disk full, EIO) surfaces on the next ``write``/``flush``; ``close`` writes what was queued.
    """

    SYNC_EVERY = 32 << 20
    BATCH = 1 << 20
    FLUSH_AFTER = 0.5

    def __init__(self, fd: int) -> None:
        self._digest = hashlib.sha256()
        self.size = 0
        self._unsynced = 0
        self._batch: list[bytes] = []
        self._batched = 0
        self._batch_since = time.monotonic()
        os.lseek(fd, 0, os.SEEK_SET)
        while block := os.read(fd, CHUNK):  # a resume: hash what the partial holds before appending
            self._digest.update(block)
            self.size += len(block)
        # our own descriptor for the partial: the caller may close its own while a thread of ours still
        # writes (an interrupt in close()); this one is closed only after every thread has stopped, so its
        # number can never be reused for another file under a late write
        self._fd = os.dup(fd)
        self._hasher = _Worker(self._hash, "tresnet-zoo-sha256")
        self._writer = _Worker(self._write, "tresnet-zoo-writer")
        # one sync running and one waiting at most: a later sync covers every page written before it
        self._syncer = _Worker(self._sync_pages, "tresnet-zoo-sync", backlog=1)

    def _hash(self, batch: list) -> None:
        for block in batch:
            self._digest.update(block)

    def _write(self, batch: list) -> None:
        total = sum(len(b) for b in batch)
        written = os.writev(self._fd, batch)
        if written < total:  # a partial writev: finish the rest block by block
            view = memoryview(b"".join(batch))[written:]
            while view:
                view = view[os.write(self._fd, view):]
        self._unsynced += total
        if self._unsynced >= self.SYNC_EVERY and self._syncer.offer([]):
            self._unsynced = 0

    def _sync_pages(self, _batch: list) -> None:
        _datasync(self._fd)

    def write(self, block: bytes) -> None:
        self._batch.append(block)
        self._batched += len(block)
        self.size += len(block)
        if (self._batched >= self.BATCH or len(self._batch) >= 512
                or time.monotonic() - self._batch_since >= self.FLUSH_AFTER):
            self._hand_on()

    def _hand_on(self) -> None:
        if self._batch:
            batch, self._batch, self._batched = self._batch, [], 0
            self._writer.put(batch)
            self._hasher.put(batch)
        self._batch_since = time.monotonic()

    def flush(self) -> None:
        """Everything received is in the file (not yet necessarily on disk)."""
        self._hand_on()
        self._writer.drain()
        self._hasher.drain()

    def reset(self) -> None:
        """Throw away what was received: empty the file, start the hash over."""
        self._batch, self._batched = [], 0
        self._writer.drain()
        self._hasher.drain()
        self._syncer.drain()
        os.ftruncate(self._fd, 0)
        self._digest = hashlib.sha256()
        self.size = 0

    def sync(self) -> None:
        """Everything received is in the file and on disk."""
        self.flush()
        self._syncer.drain()
        os.fsync(self._fd)

    def hexdigest(self) -> str:
        self.flush()
        return self._digest.hexdigest()

    def close(self) -> None:
        with contextlib.suppress(BaseException):  # a failed writer has already reported its error
            self._hand_on()
        self._writer.stop()
        self._hasher.stop()
        self._syncer.stop()
        os.close(self._fd)  # not reached when a stop is interrupted: the descriptor then stays ours, open


# --- messages ---------------------------------------------------------------------------------------------


def header_int(text: str | None) -> int | None:
    """A byte count from a server's header, or None: plain ASCII digits only, at most 20 of them. Header
    text is hostile: '²' passes ``str.isdigit`` and fails ``int``, 5000 digits exceed ``int``'s limit."""
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 20 else None


def _content_range_start(value: str | None) -> int | None:
    # "bytes 100-199/200"
    if not value or not value.startswith("bytes "):
        return None
    return header_int(value[6:].split("-", 1)[0])


def _after(retries: int, exc: BaseException | None = None) -> str:
    from urllib3.exceptions import NameResolutionError  # noqa: PLC0415 (network stack: only downloads)

    if retries == 0 or (exc is not None and any(isinstance(c, NameResolutionError) for c in _chain(exc))):
        return ""  # a name that does not resolve is not retried
    return f" (after {retries} {'retry' if retries == 1 else 'retries'})"


_OFFLINE_HINT = ("check the network or the URL and run the same command again; where the host cannot be reached, "
                 "copy the files into a folder and use it as a mirror")


def _chain(exc: BaseException):
    """requests wraps urllib3 wraps socket errors: walk from the outer exception to the root cause."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        inner = getattr(exc, "reason", None)  # urllib3's MaxRetryError
        if not isinstance(inner, BaseException):
            inner = (exc.args[0] if exc.args and isinstance(exc.args[0], BaseException)
                     else exc.__cause__ or exc.__context__)
        exc = inner


def _reason(exc: Exception) -> str:
    """What went wrong, in a few words a user can act on."""
    import ssl  # noqa: PLC0415 (network stack: only downloads)

    from urllib3.exceptions import (  # noqa: PLC0415 (network stack: only downloads)
        ConnectTimeoutError,
        NameResolutionError,
        NewConnectionError,
        ProtocolError,
        ReadTimeoutError,
    )

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


def _status_message(url: str, status: int, reason: str | None) -> str:
    what = {404: "not found", 403: "forbidden", 401: "needs authentication", 410: "gone"}.get(status, reason or "error")
    retried = " (after retries)" if status in (429, 500, 502, 503, 504) else ""
    return f"{url} answered HTTP {status} {what}{retried}"


def _status_hint(status: int) -> str:
    if status in (404, 410):
        return "the weights URL in the index is wrong or the file was removed; try a mirror"
    if status in (429, 500, 502, 503, 504):
        return "the server is failing or rate-limiting; run the same command again later"
    return "check the URL and your access to it"
