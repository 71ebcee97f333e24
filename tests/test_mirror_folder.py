"""Mirror folders (file:// and plain paths): what fetch reads from them, inside the folder only, never blocking
on a special file; a missing or foreign folder is one error whose hint runs as printed."""

from __future__ import annotations

import hashlib
import os
import re

import pytest

import tresnet_zoo
from tresnet_zoo.errors import DownloadError

from .helpers.cli import hinted_command as _hinted_command
from .helpers.cli import one_error
from .helpers.cli import run_cli as _run_cli
from .helpers.cli import run_hint as _run_hint

FAST = ("--timeout", "5", "--retries", "2", "--quiet")


def test_file_mirror_for_air_gapped_clusters(cli, zoo, server, checkpoints, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    ckpt = checkpoints["tresnet_m"]
    (mirror / ckpt.filename).write_bytes(ckpt.data)
    result = cli(*zoo.args("fetch", "tresnet_m", "--mirror", mirror.as_uri(), *FAST))
    assert result.code == 0, result.text
    assert f"downloaded from {mirror.as_uri()}/{ckpt.filename}" in result.out
    assert not server.hits(ckpt.filename)
    # a mirror with other bytes under the same name is caught the same way
    (mirror / checkpoints["tresnet_m_release"].filename).write_bytes(ckpt.data)
    bad = cli(*zoo.args("fetch", "tresnet_m_release", "--mirror", str(mirror), *FAST))
    assert checkpoints["tresnet_m"].size > checkpoints["tresnet_m_release"].size
    announced = (f"{mirror / checkpoints['tresnet_m_release'].filename} announces {ckpt.size} bytes, "
                 "the index's File Size is")
    assert bad.code == 1 and announced in bad.err
    assert not (zoo.cache / checkpoints["tresnet_m_release"].filename).exists()


def test_special_files_in_a_mirror_folder_or_lock_never_block(cli, zoo, checkpoints, tmp_path):
    """A FIFO under the manifest's name made `mirror push` and `fetch --mirror` wait forever, as did a FIFO
    under a weight file's name in the push destination and a FIFO as the lock file; a manifest or lock nested
    100000 deep was exit 70. Each is now one clean error, in bounded time, and nothing is written through."""

    ckpt = checkpoints["tresnet_m"]
    assert cli(*zoo.args("fetch", "tresnet_m", "--quiet")).code == 0
    fifo_manifest = tmp_path / "m1"
    fifo_manifest.mkdir()
    os.mkfifo(fifo_manifest / "tresnet-zoo-manifest.json")
    fifo_file = tmp_path / "m2"
    fifo_file.mkdir()
    os.mkfifo(fifo_file / ckpt.filename)
    deep = tmp_path / "m3"
    deep.mkdir()
    (deep / "tresnet-zoo-manifest.json").write_text("[" * 100_000)
    fresh = ["--index", zoo.index, "--cache-dir", tmp_path / "fresh", "fetch", "tresnet_m", "--quiet", "--mirror"]

    got = _run_cli(zoo.args("mirror", "push", fifo_manifest, "tresnet_m"))
    assert got[0] == 1 and "not a regular file" in got[1], got
    got = _run_cli([*fresh, fifo_manifest])
    assert got[0] == 1 and "not a regular file" in got[1], got
    got = _run_cli(zoo.args("mirror", "push", fifo_file, "tresnet_m"))
    assert got[0] == 1 and "not a regular file" in got[1] and "does not replace it" in got[1], got
    assert not (fifo_file / "tresnet-zoo-manifest.json").exists()
    got = _run_cli([*fresh, deep])
    assert got[0] == 1 and "not valid JSON" in got[1], got

    lock = tmp_path / "fifo.lock.json"
    os.mkfifo(lock)
    got = _run_cli(zoo.args("fetch", "tresnet_m", "--quiet"), env={"TRESNET_ZOO_LOCK": str(lock)})
    assert got[0] == 1 and "not a regular file" in got[1], got
    lock.unlink()
    lock.write_text("{" * 100_000)
    got = _run_cli(zoo.args("fetch", "tresnet_m", "--quiet"), env={"TRESNET_ZOO_LOCK": str(lock)})
    assert got[0] == 1 and "not valid JSON" in got[1], got


def test_a_file_mirror_naming_another_host_is_refused_not_read_locally(cli, zoo, checkpoints, tmp_path):
    """file://other.example/srv/w is a folder on other.example; it was read as the local /srv/w (online and
    offline), silently. A host other than localhost is refused, before any file is read."""
    ckpt = checkpoints["tresnet_m"]
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / ckpt.filename).write_bytes(ckpt.data)
    for extra in ((), ("--offline",)):
        got = cli(*zoo.args("fetch", "tresnet_m", "--quiet", "--mirror", f"file://files.example{folder}", *extra))
        assert got.code == 2, got.text
        assert "files.example" in got.err and "another host" in got.err, got.text
        assert not zoo.final().exists()
    got = cli(*zoo.args("fetch", "tresnet_m", "--quiet", "--offline", "--mirror", f"file://localhost{folder}"))
    assert got.code == 0 and zoo.final().read_bytes() == ckpt.data, got.text


def test_a_missing_mirror_folder_is_one_error_with_a_runnable_hint(cli, zoo, checkpoints, tmp_path):
    missing = tmp_path / "shared" / "weights"
    r = cli(*zoo.args("fetch", "--all", "--mirror", f"file://{missing}", "-q"))
    assert r.code == 3, r.text
    # once, naming the folder: no per-entry "has no manifest" notes, no per-source warnings
    assert r.err.count("error:") == 1, r.err
    assert f"the mirror folder {missing} does not exist" in r.err
    assert "no manifest" not in r.err and "warning:" not in r.err
    command = _hinted_command(r.err)
    prefix = f"tresnet-zoo --index {zoo.index} --cache-dir {zoo.cache}"
    # the files are in no cache yet (that is why they were fetched): the hint fetches them from their own
    # sources, then fills the folder; it runs as printed
    assert command == f"{prefix} fetch --all && {prefix} mirror push {missing}"
    for part in command.split(" && "):
        assert _run_hint(cli, part).code == 0
    fresh = tmp_path / "fresh-cache"
    r = cli("--index", str(zoo.index), "--cache-dir", str(fresh), "fetch", "tresnet_m", "--mirror", f"file://{missing}")
    assert r.code == 0, r.text
    assert (fresh / checkpoints["tresnet_m"].filename).read_bytes() == checkpoints["tresnet_m"].data


def test_a_missing_mirror_folder_in_python_says_so(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(DownloadError, match=f"the mirror folder {re.escape(str(missing))} does not exist"):
        tresnet_zoo.fetch("tresnet_xl", mirror=f"file://{missing}")


def test_a_mirror_is_read_only_inside_its_folder(cli, site, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    secret = tmp_path / "secret.pth"
    secret.write_bytes(b"private bytes outside the mirror")
    secret_sha = hashlib.sha256(secret.read_bytes()).hexdigest()
    # a base name that decodes to a path: no usable file name, so nothing is read
    site.write(url=f"https://example.org/w/%2E%2E%2Fsecret-{secret_sha[:8]}.pth")
    result = cli(*site.args("fetch", "tresnet_m", "--mirror", mirror.as_uri(), *FAST))
    assert result.code in (1, 2) and secret_sha not in result.text
    one_error(result)
    # a link in the mirror folder pointing outside it: refused, not followed
    os.symlink(secret, mirror / site.name)
    site.write()
    linked = cli(*site.args("fetch", "tresnet_m", "--mirror", mirror.as_uri(), *FAST))
    assert linked.code == 3 and "a symbolic link" in one_error(linked) and secret_sha not in linked.text
    (mirror / site.name).unlink()
    os.mkfifo(mirror / site.name)  # a FIFO would block a plain open()
    fifo = cli(*site.args("fetch", "tresnet_m", "--mirror", str(mirror), *FAST))
    assert fifo.code == 3 and "not a regular file" in one_error(fifo)
    (mirror / site.name).unlink()
    (mirror / site.name).write_bytes(site.data)
    ok = cli(*site.args("fetch", "tresnet_m", "--mirror", str(mirror), *FAST))
    assert ok.code == 0 and site.final().read_bytes() == site.data
