"""The download sink: every byte received reaches the partial file and the hash, in order, and a failure in
any of its threads (write, hash, background sync) reaches the caller instead of being lost.

Real files and a real device only: a descriptor open for reading refuses every write, /dev/null refuses
fdatasync with EINVAL.
"""

from __future__ import annotations

import errno
import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tresnet_zoo.weights.sink import Sink as _Sink


def _open(path, flags=os.O_RDWR | os.O_APPEND | os.O_CREAT) -> int:
    return os.open(path, flags, 0o644)


@settings(max_examples=40, deadline=None)
@given(blocks=st.lists(st.binary(min_size=0, max_size=70_000), max_size=40),
       flush_every=st.integers(min_value=1, max_value=50),
       prefix=st.binary(max_size=5000))
def test_every_block_reaches_file_and_hash_in_order(tmp_path_factory, blocks, flush_every, prefix):
    path = tmp_path_factory.mktemp("sink") / "x.part"
    path.write_bytes(prefix)  # a resume: what the partial already holds is hashed first
    fd = _open(path)
    try:
        sink = _Sink(fd)
        assert sink.size == len(prefix)
        for i, block in enumerate(blocks, 1):
            sink.write(block)
            if i % flush_every == 0:
                sink.flush()
                assert path.stat().st_size == sink.size  # flushed bytes are in the file, not in a queue
        sink.sync()
        digest = sink.hexdigest()
        sink.close()
    finally:
        os.close(fd)
    data = prefix + b"".join(blocks)
    assert path.read_bytes() == data
    assert digest == hashlib.sha256(data).hexdigest()


def test_background_syncs_run_while_writing(tmp_path, monkeypatch):
    """Many sync points in one file: the syncer takes what it can, the final sync waits for it, the bytes
    and hash are whole."""
    monkeypatch.setattr(_Sink, "SYNC_EVERY", 1 << 16)
    monkeypatch.setattr(_Sink, "BATCH", 1 << 14)
    data = os.urandom(3 << 20)
    fd = _open(tmp_path / "y.part")
    try:
        sink = _Sink(fd)
        for start in range(0, len(data), 10_000):
            sink.write(data[start:start + 10_000])
        sink.sync()
        assert sink.hexdigest() == hashlib.sha256(data).hexdigest()
        sink.close()
    finally:
        os.close(fd)
    assert (tmp_path / "y.part").read_bytes() == data


def _error_reaching_the_caller(fd: int, blocks: int, finish: str) -> int:
    """Write ``blocks`` of 64 KiB into a sink on ``fd``, then ``finish`` it (flush or sync): the errno of the
    OSError that must surface; close must still return afterwards."""
    try:
        sink = _Sink(fd)
        with pytest.raises(OSError) as caught:
            for _ in range(blocks):
                sink.write(b"x" * (64 << 10))
            getattr(sink, finish)()
        sink.close()
    finally:
        os.close(fd)
    return caught.value.errno


def test_a_failed_write_reaches_the_caller(tmp_path):
    """The writer thread's error (ENOSPC on a full disk; EBADF here, a descriptor open for reading only)
    surfaces on a later write or flush, and close still returns."""
    path = tmp_path / "z.part"
    path.write_bytes(b"")
    assert _error_reaching_the_caller(os.open(path, os.O_RDONLY), 64, "flush") == errno.EBADF
    assert path.read_bytes() == b""


def test_a_failed_background_sync_reaches_the_caller(monkeypatch):
    """fdatasync runs on its own thread; its error (EINVAL here, EIO on a dying disk) must not be lost."""
    monkeypatch.setattr(_Sink, "SYNC_EVERY", 1 << 16)
    assert _error_reaching_the_caller(_open("/dev/null", os.O_RDWR | os.O_APPEND), 8, "sync") == errno.EINVAL


def test_the_sink_writes_through_its_own_descriptor_and_closes_it(tmp_path):
    """The caller's descriptor may be closed (an interrupt in close(), then the caller's cleanup) while a
    thread of the sink still writes: its own duplicate keeps late writes in the partial, and the number is
    never reused for another file. A normal close leaves no descriptor behind."""
    open_before = len(os.listdir("/proc/self/fd"))
    path = tmp_path / "w.part"
    fd = _open(path)
    sink = _Sink(fd)
    sink.write(b"a" * 1000)
    os.close(fd)  # the caller's is gone
    reused = _open(tmp_path / "other")  # likely takes the closed number
    try:
        sink.write(b"b" * 1000)
        sink.sync()
        sink.close()
    finally:
        os.close(reused)
    assert path.read_bytes() == b"a" * 1000 + b"b" * 1000
    assert (tmp_path / "other").read_bytes() == b""
    assert len(os.listdir("/proc/self/fd")) == open_before
