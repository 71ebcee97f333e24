"""The pipeline every transport shares: ``Source.open(start) -> Stream``, then ``transfer``.

``transfer`` owns the rules: never more bytes than the index's File Size (or the caller's ``max_bytes``
for an entry without one: without either the download is refused), a minimum throughput (below
``low_speed_limit`` bytes/s for ``low_speed_time`` seconds the attempt is abandoned and resumed, counting as
a retry), an overall ``deadline``, and resuming from every byte received: blocks waiting in the sink are
written before the partial's size is used for the next request. A transport only says how to open a byte
stream at an offset.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..._urls import redact, url_problem
from ...errors import DownloadError, IntegrityError, UnboundedDownloadError, UrlPolicyError
from ..hashes import Expected
from ..sink import Sink

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
        raise UrlPolicyError(f"refusing {redact(url)}: {why}" + (", and file:// for mirrors" if allow_file else ""),
                             hint="use an https URL or mirror", url=redact(url))


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


def _limit(expected: Expected, config: DownloadConfig, display: str) -> int:
    if expected.size is not None:
        return expected.size
    if config.max_bytes is not None:
        return config.max_bytes
    raise UnboundedDownloadError(
        f"{expected.filename}: the index gives no File Size for it, so there is no limit to how much {display} may "
        "send; refusing to download",
        hint="add its File Size to the index, or give an explicit byte limit",
    )


def transfer(source: Source, fd: int, expected: Expected, config: DownloadConfig,
             progress: Progress | None = None) -> tuple[int, str]:
    """The shared pipeline: stream ``source`` into the partial at ``fd`` with every limit and resume rule."""
    name = expected.filename
    limit = _limit(expected, config, source.display)
    started = time.monotonic()
    sink = Sink(fd)
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


def _pump(stream: Stream, sink: Sink, expected: Expected, limit: int, config: DownloadConfig, started: float,
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
        raise UnboundedDownloadError(f"{name}: {display} announces {stream.start + stream.length} bytes, more than the "
                                    f"limit of {limit}",
                                    hint="raise the byte limit if the file really is that big")
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
            raise UnboundedDownloadError(f"{name}: {display} sent more than the limit of {limit} bytes; "
                                        "download aborted",
                                        hint="raise the byte limit if the file really is that big")
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


def read_bounded(read: Callable[[int], bytes], limit: int, deadline: float, display: str) -> bytes:
    """A small object (a manifest) whole, whatever its source announced: at most ``limit + 1`` bytes are
    read (the caller refuses a longer one), and past ``deadline`` seconds it is a DownloadError (a source
    dripping a byte at a time never trips a per-read timeout). ``read(n)`` returns what arrived, b"" at the end."""
    started, body = time.monotonic(), bytearray()
    while len(body) <= limit:
        if time.monotonic() - started >= deadline:
            raise DownloadError(f"{display}: not received within {deadline:g} s ({len(body)} bytes arrived)",
                                hint="check the mirror, or run the same command again later")
        try:
            block = read(min(64 << 10, limit + 1 - len(body)))
        except TransientError as exc:
            raise DownloadError(f"{display}: the transfer broke after {len(body)} bytes: {exc}",
                                hint="run the same command again") from None
        if not block:
            break
        body += block
    return bytes(body)
