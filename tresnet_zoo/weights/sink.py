"""The sink: received blocks appended to a partial file and hashed while streaming, each on its own thread."""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
import time
from collections.abc import Callable

from .hashes import CHUNK

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


class Sink:
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
