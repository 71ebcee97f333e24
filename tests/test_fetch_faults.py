"""Downloads against a real local HTTP server, one test per way the network fails.

For each fault: the exit code, a one-line error naming the file and the cause, nothing under the final
name in the cache, and a later fetch that succeeds once the server is healthy.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

FAST = ("--timeout", "1", "--retries", "2", "--quiet")


def range_start(headers: dict) -> int:
    value = headers.get("Range", "")
    assert value.startswith("bytes="), headers
    return int(value[6:].split("-")[0])


def fetch(cli, zoo, *extra):
    return cli(*zoo.args("fetch", "tresnet_m", *FAST, *extra))


def assert_clean_failure(result, zoo, checkpoints, *fragments, code=1):
    assert result.code == code, result.text
    assert "Traceback" not in result.text
    errors = [ln for ln in result.err.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, result.err
    assert checkpoints["tresnet_m"].filename in errors[0]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    assert not zoo.final().exists()
    assert not (zoo.cache / "records" / (checkpoints["tresnet_m"].filename + ".json")).exists()


def assert_recovers(cli, zoo, server, checkpoints):
    server.reset()
    result = fetch(cli, zoo)
    assert result.code == 0, result.text
    ckpt = checkpoints["tresnet_m"]
    assert zoo.final().read_bytes() == ckpt.data
    assert f"sha256 {ckpt.sha256}" in result.out
    assert not zoo.partials()


def test_healthy_fetch_then_cached(cli, zoo, server, checkpoints):
    result = fetch(cli, zoo)
    assert result.code == 0, result.text
    ckpt = checkpoints["tresnet_m"]
    assert zoo.final().read_bytes() == ckpt.data
    assert f"{ckpt.size} bytes, sha256 {ckpt.sha256}, downloaded from {server.url(ckpt.filename)}" in result.out
    again = fetch(cli, zoo)
    assert again.code == 0 and "already cached" in again.out
    assert len(server.hits(ckpt.filename)) == 1
    listed = cli(*zoo.args("list", "--json"))

    assert {r["name"]: r["cached"] for r in json.loads(listed.out)} == {"tresnet_m": True, "tresnet_m_release": False}


def test_connection_reset_mid_body_is_resumed(cli, zoo, server, checkpoints):
    name = checkpoints["tresnet_m"].filename
    server.fault(name, "reset", after=8 << 20)
    result = fetch(cli, zoo)
    assert result.code == 0, result.text
    hits = server.hits(name)
    assert len(hits) == 2 and "Range" not in hits[0]
    assert 0 < range_start(hits[1]) <= 8 << 20  # resumed (a reset may drop what was still in flight)
    assert zoo.final().read_bytes() == checkpoints["tresnet_m"].data


def test_connection_reset_every_time(cli, zoo, server, checkpoints):
    server.always(checkpoints["tresnet_m"].filename, "reset", after=4 << 20)
    result = fetch(cli, zoo)
    assert_clean_failure(result, zoo, checkpoints, "broke 3 times", "connection reset", code=3)
    (partial,) = zoo.partials()  # kept: the next fetch resumes from it
    kept = partial.stat().st_size
    assert kept > 0
    server.reset()
    result = fetch(cli, zoo)
    assert result.code == 0
    assert range_start(server.hits(checkpoints["tresnet_m"].filename)[0]) == kept
    assert zoo.final().read_bytes() == checkpoints["tresnet_m"].data


def test_body_shorter_than_content_length(cli, zoo, server, checkpoints):
    server.always(checkpoints["tresnet_m"].filename, "short", after=1 << 20)
    result = fetch(cli, zoo)
    assert_clean_failure(result, zoo, checkpoints, "body shorter than its Content-Length", code=3)
    assert_recovers(cli, zoo, server, checkpoints)


def test_wrong_bytes_hash_mismatch(cli, zoo, server, checkpoints):
    ckpt = checkpoints["tresnet_m"]
    server.always(ckpt.filename, "wrong_bytes")
    result = fetch(cli, zoo)
    assert_clean_failure(result, zoo, checkpoints, f"does not start with {ckpt.sha256[:8]}", "discarded")
    assert not zoo.partials()  # wrong bytes are not kept for a resume
    assert_recovers(cli, zoo, server, checkpoints)


def test_full_sha256_in_the_index_is_checked_too(cli, zoo, server, checkpoints):
    zoo.write(tresnet_m={"sha256": "a" * 64})
    result = fetch(cli, zoo)
    assert_clean_failure(result, zoo, checkpoints, "differs from the index's SHA256 " + "a" * 64)
    zoo.write(tresnet_m={"sha256": checkpoints["tresnet_m"].sha256})
    assert_recovers(cli, zoo, server, checkpoints)


def test_more_bytes_than_file_size_announced(cli, zoo, server, checkpoints):
    server.always(checkpoints["tresnet_m"].filename, "extra_bytes")
    result = fetch(cli, zoo)
    assert_clean_failure(result, zoo, checkpoints, "announces", f"File Size is {checkpoints['tresnet_m'].size}")
    assert_recovers(cli, zoo, server, checkpoints)


def test_more_bytes_than_file_size_without_content_length(cli, zoo, server, checkpoints):
    # the server sends no Content-Length, so only counting the streamed bytes can catch the excess
    server.always(checkpoints["tresnet_m"].filename, "no_length")
    zoo.write(tresnet_m={"size": checkpoints["tresnet_m"].size - 100})
    result = fetch(cli, zoo)
    assert_clean_failure(result, zoo, checkpoints, "sent more than the index's File Size", "aborted")
    zoo.write()
    assert_recovers(cli, zoo, server, checkpoints)


def test_no_content_length_is_fine_when_the_bytes_are(cli, zoo, server, checkpoints):
    server.always(checkpoints["tresnet_m"].filename, "no_length")
    result = fetch(cli, zoo)
    assert result.code == 0, result.text
    assert zoo.final().read_bytes() == checkpoints["tresnet_m"].data


def test_http_404(cli, zoo, server, checkpoints):
    server.always(checkpoints["tresnet_m"].filename, "status", code=404)
    result = fetch(cli, zoo)
    assert_clean_failure(result, zoo, checkpoints, "HTTP 404 not found", code=3)
    assert len(server.hits(checkpoints["tresnet_m"].filename)) == 1  # a 404 is not retried
    assert_recovers(cli, zoo, server, checkpoints)


def test_http_500_then_success(cli, zoo, server, checkpoints):
    server.fault(checkpoints["tresnet_m"].filename, "status", code=500)
    result = fetch(cli, zoo)
    assert result.code == 0, result.text
    assert len(server.hits(checkpoints["tresnet_m"].filename)) == 2


def test_http_500_every_time(cli, zoo, server, checkpoints):
    server.always(checkpoints["tresnet_m"].filename, "status", code=500)
    result = fetch(cli, zoo)
    assert_clean_failure(result, zoo, checkpoints, "HTTP 500", code=3)
    assert len(server.hits(checkpoints["tresnet_m"].filename)) == 3  # 1 + 2 retries
    assert_recovers(cli, zoo, server, checkpoints)


def test_503_with_retry_after_then_success(cli, zoo, server, checkpoints):
    """The retry waits as told. The spacing is what the server saw between the two requests: a lower bound,
    which a busy machine can only make longer, never a limit on how long the fetch may take."""
    server.fault(checkpoints["tresnet_m"].filename, "status", code=503, headers={"Retry-After": "1"})
    result = fetch(cli, zoo)
    assert result.code == 0, result.text
    first, second = server.hits(checkpoints["tresnet_m"].filename)
    assert second["at"] - first["at"] >= 0.9  # it waited as told


def test_stalled_server_read_timeout(cli, zoo, server, checkpoints):
    server.always(checkpoints["tresnet_m"].filename, "stall", after=1 << 20, seconds=20)
    result = fetch(cli, zoo)
    assert_clean_failure(result, zoo, checkpoints, "read timed out", code=3)
    hits = server.hits(checkpoints["tresnet_m"].filename)
    assert len(hits) == 3, hits  # each stall cost one read timeout and one retry (--retries 2), then it gave up
    assert_recovers(cli, zoo, server, checkpoints)


def test_server_ignoring_range_restarts_cleanly(cli, zoo, server, checkpoints):
    name = checkpoints["tresnet_m"].filename
    server.fault(name, "reset", after=8 << 20)
    server.always(name, "ignore_range")
    result = fetch(cli, zoo)
    assert result.code == 0, result.text
    hits = server.hits(name)
    assert len(hits) == 2 and range_start(hits[1]) > 0  # asked to resume, got the whole file
    assert zoo.final().read_bytes() == checkpoints["tresnet_m"].data


def test_redirect_loop(cli, zoo, server, checkpoints):
    server.always(checkpoints["tresnet_m"].filename, "redirect")
    result = fetch(cli, zoo)
    assert_clean_failure(result, zoo, checkpoints, "more than 5 redirects", code=3)
    assert_recovers(cli, zoo, server, checkpoints)


def test_wrong_hash_prefix_in_the_index(cli, zoo, server, checkpoints):
    ckpt = checkpoints["tresnet_m"]
    wrong = ckpt.filename.replace(ckpt.sha256[:8], "deadbeef")
    server.add(wrong, ckpt.data)
    zoo.write(tresnet_m={"filename": wrong})
    result = fetch(cli, zoo)
    assert result.code == 1 and "Traceback" not in result.text
    assert f"error: tresnet_m: {wrong}: sha256 {ckpt.sha256[:16]}... does not start with deadbeef" in result.err
    assert not (zoo.cache / wrong).exists()
    zoo.write()
    assert_recovers(cli, zoo, server, checkpoints)


@pytest.mark.parametrize("kind", ["file", "link-loop"])
def test_unwritable_cache_says_what_is_wrong(cli, zoo, checkpoints, tmp_path, kind):
    """A cache path that is a file, a read-only folder or a symlink loop: exit 3 (the environment), and the
    message names the cause instead of suggesting to free some space."""
    import os

    if kind == "file":
        cache = tmp_path / "cache-file"
        cache.write_text("a file where the cache folder should be")
        words = "not a folder"
    else:
        cache = tmp_path / "loop"
        os.symlink(tmp_path / "loop2", cache)
        os.symlink(cache, tmp_path / "loop2")
        words = "not a folder"
    result = cli("--index", zoo.index, "--cache-dir", cache, "fetch", "tresnet_m", *FAST)
    assert result.code == 3 and "Traceback" not in result.text and "internal error" not in result.text, result.text
    assert f"error: tresnet_m: {checkpoints['tresnet_m'].filename}: cannot write to the cache" in result.err
    assert words in result.err and "free some space" not in result.err, result.err
    assert "--cache-dir" in result.err


@pytest.mark.parametrize("code, words",
                         [("ENOSPC", "the disk is full"), ("EACCES", "permission denied"),
                          ("EROFS", "permission denied"),
                                         ("ELOOP", "not a folder"), ("ENOTDIR", "not a folder")])
def test_cache_errors_are_named_by_errno(tmp_path, code, words):
    """Each way a cache folder fails (the tests run as root here, so read-only cannot be staged) has its words."""
    import errno
    import os

    from tresnet_zoo.errors import CacheError
    from tresnet_zoo.weights.fetch import cache_error

    error = cache_error("x.pth", tmp_path,
                        OSError(getattr(errno, code), os.strerror(getattr(errno, code)), str(tmp_path)))
    assert isinstance(error, CacheError) and error.exit_code == 3
    assert words in error.message and (code == "ENOSPC") == ("free some space" in error.hint)
    assert "--" not in error.message + error.hint  # the library names no flags


def test_nothing_listening_is_a_clean_error_with_a_way_out(cli, zoo, checkpoints):
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = fetch(cli, zoo, "--mirror", f"http://127.0.0.1:{port}/weights")
    assert_clean_failure(result, zoo, checkpoints, f"cannot download http://127.0.0.1:{port}/weights/",
                         "connection refused", code=3)
    assert "--mirror DIR" in result.err


@pytest.mark.parametrize(
    "root, words",
    [
        (lambda: __import__("socket").gaierror(-2, "Name or service not known"), "cannot resolve the host name"),
        (lambda: ConnectionRefusedError(111, "Connection refused"), "connection refused"),
        (lambda: __import__("ssl").SSLCertVerificationError(1, "certificate verify failed"),
         "TLS certificate not trusted"),
        (lambda: TimeoutError("timed out"), "read timed out"),
        (lambda: OSError("something odd\nsecond line"), "something odd"),
    ],
)
def test_network_causes_are_named_in_a_few_words(root, words):
    """requests wraps urllib3 wraps the socket error: the message names the root cause, in one line."""
    import requests
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    from tresnet_zoo.weights.transports.http import _reason

    cause = root()
    wrapped = NewConnectionError(None, f"Failed to establish a new connection: {cause}")
    wrapped.__cause__ = cause
    exc = requests.exceptions.ConnectionError(MaxRetryError(None, "https://example.org/x.pth", reason=wrapped))
    reason = _reason(exc)
    assert reason.startswith(words) and "\n" not in reason and len(reason) < 200, reason


@pytest.mark.parametrize("text", ["\u00b2", "9" * 5000])
def test_download_with_a_hostile_content_length_is_not_a_crash(cli, zoo, server, checkpoints, text):
    """The same header text that crashed `check --links` reached `int()` in the download (exit 70): a
    Content-Length that is not a plain number is no announced length; the bytes are still held to the index."""
    ckpt = checkpoints["tresnet_m"]
    server.fault(ckpt.filename, "raw_length", text=text)
    got = cli(*zoo.args("fetch", "tresnet_m", "--quiet"))
    assert got.code == 0, got.text
    assert zoo.final().read_bytes() == ckpt.data
