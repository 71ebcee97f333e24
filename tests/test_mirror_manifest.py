"""The mirror manifest (and the lock file that shares its format): read within the fetch's deadline, refused when
what it declares is impossible."""

from __future__ import annotations

import json

import pytest

from .helpers.cli import run_cli as _run_cli


def test_dripping_mirror_manifest_is_bounded_by_the_timeout(zoo, server, checkpoints, tmp_path):
    """An http mirror's manifest was read with a fixed 30 s read timeout and no deadline: a server sending a
    byte every 0.2 s kept `fetch --mirror URL --timeout 2` waiting ~2 days for a 1 MiB manifest. The whole
    manifest now has the fetch's timeout, and the error says so."""

    ckpt = checkpoints["tresnet_m"]
    manifest = {"format": "tresnet-zoo-mirror/1", "files": [
        {"entry": "tresnet_m", "file": ckpt.filename, "size": ckpt.size, "sha256": ckpt.sha256}]}
    server.add("mirror/tresnet-zoo-manifest.json", json.dumps(manifest).encode() + b" " * (1 << 20))
    server.always("mirror/tresnet-zoo-manifest.json", "drip", interval=0.2)
    got = _run_cli(["--index", zoo.index, "--cache-dir", tmp_path / "c", "fetch", "tresnet_m", "--quiet",
                    "--mirror", server.url("/mirror/"), "--timeout", "2"], timeout=40)
    assert got[0] == 3, got
    assert "not received within 2 s" in got[1], got  # the deadline the fetch reports having hit
    assert len(server.hits("mirror/tresnet-zoo-manifest.json")) == 1  # one request, given up: not retried
    assert not (tmp_path / "c" / ckpt.filename).exists()


@pytest.mark.parametrize("size", ["1" + "0" * 400, "true", "-1", "1e3"])
def test_a_lock_or_manifest_with_an_impossible_size_is_malformed(cli, zoo, checkpoints, tmp_path, monkeypatch, size):
    """Sizes a file system cannot hold (a 400-digit integer), booleans, negatives, floats: the lock file
    and a mirror's manifest are malformed (exit 1, one line, a hint), never trusted, never a crash."""
    ckpt = checkpoints["tresnet_m"]
    lock = tmp_path / "team.lock"
    lock.write_text('{"format": "tresnet-zoo-lock/1", "files": {"%s": {"size": %s, "sha256": "%s"}}}'
                    % (ckpt.filename, size, ckpt.sha256))
    monkeypatch.setenv("TRESNET_ZOO_LOCK", str(lock))
    got = cli(*zoo.args("fetch", "tresnet_m", "--quiet"))
    assert got.code == 1 and "lock file" in got.err and "needs a size" in got.err, got.text
    monkeypatch.delenv("TRESNET_ZOO_LOCK")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / ckpt.filename).write_bytes(ckpt.data)
    (mirror / "tresnet-zoo-manifest.json").write_text(
        '{"format": "tresnet-zoo-mirror/1", "files": [{"entry": "tresnet_m", "file": "%s", "size": %s, '
        '"sha256": "%s"}]}' % (ckpt.filename, size, ckpt.sha256))
    got = cli(*zoo.args("fetch", "tresnet_m", "--quiet", "--mirror", str(mirror)))
    assert got.code == 1 and "malformed" in got.err, got.text
