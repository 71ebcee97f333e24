"""Mirrors over http: allowed on loopback, refused as plain http elsewhere before any request."""

from __future__ import annotations

from .test_fetch_faults import assert_clean_failure, fetch

FAST = ("--timeout", "5", "--retries", "2", "--quiet")


def test_http_mirror_on_loopback(cli, zoo, server, checkpoints):
    ckpt = checkpoints["tresnet_m"]
    server.add(f"mirror/{ckpt.filename}", ckpt.data)
    result = cli(*zoo.args("fetch", "tresnet_m", "--mirror", server.url("mirror"), *FAST))
    assert result.code == 0, result.text
    assert len(server.hits(f"mirror/{ckpt.filename}")) == 1 and not server.hits(ckpt.filename)


def test_plain_http_mirror_is_refused_without_touching_the_network(cli, zoo, checkpoints):
    result = fetch(cli, zoo, "--mirror", "http://198.51.100.7/weights")
    assert_clean_failure(result, zoo, checkpoints, "refusing http://198.51.100.7/weights/", "only https", code=3)
