"""Files planted in a shared cache (records, validation markers, special files, a file under another entry's
name): verify, verify --repair and cache clear NAME act only on what they hashed or created. Found by attacking
the fallback-source support of verify and the shared cache's validation markers.

Real files, a real loopback server (tests/helpers/servers.py), the real CLI in this process. Small random
"weights" suffice where only sizes and hashes are checked (no --deep)."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

pytestmark = pytest.mark.hostile  # each case was found by attacking the code (see the docstrings)


def _index(path, entries: list[dict]) -> None:
    """An index of ``entries``: name, weights (optional), size, sha256 (optional), sources (optional)."""
    lines = ["Models:"]
    for e in entries:
        lines += [f"- Name: {e['name']}", "  Metadata:", "    Parameters: 31389032", "    Image Size: 224"]
        if e.get("size") is not None:
            lines.append(f"    File Size: {e['size']}")
        if e.get("sha256"):
            lines.append(f"    SHA256: {e['sha256']}")
        if e.get("sources"):
            lines += ["    x-tresnet-zoo:", "      sources:"]
            for source in e["sources"]:
                lines.append(f"      - url: {source['url']}")
                for key in ("file", "size", "sha256"):
                    if key in source:
                        lines.append(f"        {key}: {source[key]}")
        if e.get("weights"):
            lines.append(f"  Weights: {e['weights']}")
    path.write_text("\n".join(lines) + "\n")


def _blob(n: int = 5000) -> tuple[bytes, str]:
    data = os.urandom(n)
    return data, hashlib.sha256(data).hexdigest()


def test_cache_clear_name_keeps_a_file_another_entry_uses(cli, server, tmp_path):
    """tresnet_m's fallback source is tresnet_l's Weights (the same URL, so the same cache file, as the
    index allows). `cache clear tresnet_m` must not delete tresnet_l's weights: it keeps the shared file
    and says why. Naming both entries removes it."""
    data, sha = _blob()
    server.add("l/shared.bin", data)
    server.always("m/tresnet_m.pth", "status", code=404)
    index = tmp_path / "index.yml"
    _index(index, [
        {"name": "tresnet_m", "size": len(data), "sha256": sha, "weights": server.url("m/tresnet_m.pth"),
         "sources": [{"url": server.url("l/shared.bin"), "file": "shared.bin", "size": len(data), "sha256": sha}]},
        {"name": "tresnet_l", "size": len(data), "sha256": sha, "weights": server.url("l/shared.bin")},
    ])
    cache = tmp_path / "cache"
    got = cli("--index", index, "--cache-dir", cache, "fetch", "tresnet_l", "--quiet")
    assert got.code == 0, got.text
    got = cli("--index", index, "--cache-dir", cache, "cache", "clear", "tresnet_m")
    assert got.code == 0, got.text
    assert (cache / "shared.bin").read_bytes() == data, "tresnet_l's weights were deleted by `cache clear tresnet_m`"
    assert (cache / "records" / "shared.bin.json").exists()
    assert "shared.bin" in got.out and "tresnet_l" in got.out  # says what it kept, and whose it is
    got = cli("--index", index, "--cache-dir", cache, "cache", "clear", "tresnet_m", "tresnet_l")
    assert got.code == 0, got.text
    assert not (cache / "shared.bin").exists()


def _fallback_in_cache(cli, server, tmp_path, tag: str):
    """An entry whose primary source is dead and whose fallback file is verified in the cache."""
    data, sha = _blob()
    server.add(f"{tag}/f.bin", data)
    server.always(f"{tag}/tresnet_m.pth", "status", code=404)
    index = tmp_path / "index.yml"
    _index(index, [
        {"name": "tresnet_m", "size": len(data), "sha256": sha, "weights": server.url(f"{tag}/tresnet_m.pth"),
         "sources": [{"url": server.url(f"{tag}/f.bin"), "file": "f.bin", "size": len(data), "sha256": sha}]},
    ])
    cache = tmp_path / "cache"
    got = cli("--index", index, "--cache-dir", cache, "fetch", "tresnet_m", "--quiet", "--retries", "0")
    assert got.code == 0, got.text
    return index, cache, data


@pytest.mark.parametrize("planted", ["symlink", "fifo", "foreign"])
def test_verify_checks_the_file_that_loads_not_a_name_planted_under_the_primary(cli, server, tmp_path, planted):
    """A neighbour plants something under the primary's cache name while the fallback's file is verified:
    fetch and create_model load the fallback's file (the primary has no record of ours), so verify must
    check that one. It checked the planted name instead and failed for ever: `verify --repair` downloaded
    the fallback again, said "repaired", and the next verify failed the same way."""
    index, cache, data = _fallback_in_cache(cli, server, tmp_path, f"plant-{planted}")
    target = tmp_path / "target"
    target.write_bytes(b"not weights")
    if planted == "symlink":
        os.symlink(target, cache / "tresnet_m.pth")
    elif planted == "fifo":
        os.mkfifo(cache / "tresnet_m.pth")
    else:
        (cache / "tresnet_m.pth").write_bytes(b"x" * len(data))  # a regular file without a record of ours
    got = cli("--index", index, "--cache-dir", cache, "fetch", "tresnet_m", "--json")
    assert got.code == 0 and json.loads(got.out)["results"][0]["file"] == "f.bin", got.text
    for args in (["verify", "--json"], ["verify", "tresnet_m", "--json"]):
        got = cli("--index", index, "--cache-dir", cache, *args)
        assert got.code == 0, got.text
        (checked,) = json.loads(got.out)["files"]
        assert checked["file"] == "f.bin" and checked["hashed"] and checked["ok"]
    got = cli("--index", index, "--cache-dir", cache, "verify", "tresnet_m", "--repair", "--json")
    assert got.code == 0, got.text
    assert "repaired" not in json.loads(got.out)["files"][0]  # nothing to repair: no download
    assert target.read_bytes() == b"not weights"
    assert os.path.lexists(cache / "tresnet_m.pth")  # not ours: left where it is


def test_verify_refuses_a_file_only_a_planted_record_vouches_for(cli, tmp_path):
    """The index gives no sha256 for the fallback's file (no SHA256, no hash in its name). fetch and
    create_model refuse such a file; verify said "ok" because the bytes matched a record, which anyone
    sharing the cache can write."""
    data, sha = _blob()
    index = tmp_path / "index.yml"
    _index(index, [
        {"name": "tresnet_m", "size": len(data), "weights": "https://example.org/w/tresnet_m.pth",
         "sources": [{"url": "https://example.org/w/f.bin", "file": "f.bin", "size": len(data)}]},
    ])
    cache = tmp_path / "cache"
    (cache / "records").mkdir(parents=True)
    (cache / "f.bin").write_bytes(data)
    (cache / "records" / "f.bin.json").write_text(json.dumps(
        {"filename": "f.bin", "size": len(data), "sha256": sha, "verified_at": 1.0}))
    got = cli("--index", index, "--cache-dir", cache, "fetch", "tresnet_m", "--offline")
    assert got.code == 1 and "no hash" in got.err  # what loading says
    for args in (["verify"], ["verify", "tresnet_m"]):
        got = cli("--index", index, "--cache-dir", cache, *args)
        assert got.code == 1, got.text
        assert "f.bin" in got.err and "sha256" in got.err


def test_verify_and_repair_an_entry_whose_only_weights_are_sources(cli, server, tmp_path):
    """An entry without `Weights` whose weights come from `sources` (fetch and create_model use them):
    `verify NAME` said "has no usable weights URL" (a usage error) and `verify NAME --repair` refused to
    fetch the file it can fetch."""
    data, sha = _blob()
    server.add("only/f.bin", data)
    index = tmp_path / "index.yml"
    _index(index, [{"name": "tresnet_m", "sources": [
        {"url": server.url("only/f.bin"), "file": "f.bin", "size": len(data), "sha256": sha}]}])
    cache = tmp_path / "cache"
    got = cli("--index", index, "--cache-dir", cache, "verify", "tresnet_m")
    assert got.code == 1 and "f.bin" in got.err and "not in the cache" in got.err, got.text
    got = cli("--index", index, "--cache-dir", cache, "verify", "tresnet_m", "--repair", "--json")
    assert got.code == 0, got.text
    (checked,) = json.loads(got.out)["files"]
    assert checked["repaired"] is True and checked["file"] == "f.bin"
    assert (cache / "f.bin").read_bytes() == data


@pytest.mark.parametrize("odd", [
    "      sources: 5",
    "      sources:\n      - url: https://example.org/x.bin\n        file: x.bin\n        size: -5",
    "      sources:\n      - url: https://example.org/x.bin\n        file: [1]",
])
def test_a_validation_marker_another_user_planted_does_not_skip_the_schema(cli, tmp_path, odd):
    """`validated/<sha256>` in the cache lets a read skip the JSON Schema pass. A shared cache is
    untrusted: a marker that is not ours (planted by another user for an index that does not validate)
    made every command read unvalidated sources and crash (exit 70)."""
    from tresnet_zoo.index.load import collect_documents
    from tresnet_zoo.index.validate import _verdict_marker

    index = tmp_path / "index.yml"
    index.write_text("Models:\n- Name: tresnet_m\n  Metadata:\n    Parameters: 31389032\n    File Size: 5000\n"
                     "    x-tresnet-zoo:\n" + odd + "\n  Weights: https://example.org/w/tresnet_m-abcdef12.pth\n")
    cache = tmp_path / "cache"
    docs, _ = collect_documents([index])
    marker = _verdict_marker(cache, docs)  # the name is computable by anyone who can read the index
    marker.parent.mkdir(parents=True)
    marker.touch()
    os.chown(marker, 4242, 4242)  # another user's
    for args in (["list"], ["verify"], ["verify", "tresnet_m"], ["cache", "clear", "tresnet_m"],
                 ["fetch", "tresnet_m", "--offline"], ["info", "tresnet_m"]):
        got = cli("--index", index, "--cache-dir", cache, *args)
        assert got.code == 1 and "invalid model index" in got.err and "sources" in got.err, (args, got.text)
    got = cli("--index", index, "--cache-dir", cache, "cache", "info")  # inspectable with a broken index
    assert got.code == 0, got.text


def test_a_planted_dangling_link_as_validation_marker_is_not_written_through(cli, tmp_path):
    """Remembering a clean validation must not follow a link a neighbour planted under the marker's name
    (Path.touch creates the link's target)."""
    from tresnet_zoo.index.load import collect_documents
    from tresnet_zoo.index.validate import _verdict_marker

    index = tmp_path / "index.yml"
    index.write_text("Models:\n- Name: tresnet_m\n  Metadata:\n    Parameters: 31389032\n"
                     "  Weights: https://example.org/w/tresnet_m-abcdef12.pth\n")
    cache = tmp_path / "cache"
    docs, _ = collect_documents([index])
    marker = _verdict_marker(cache, docs)
    marker.parent.mkdir(parents=True)
    victim = tmp_path / "victim-file"
    os.symlink(victim, marker)
    got = cli("--index", index, "--cache-dir", cache, "list")
    assert got.code == 0, got.text
    assert not victim.exists()


@pytest.mark.parametrize("planted", ["fifo", "folder"])
def test_verify_names_a_special_file_for_what_it_is(cli, tmp_path, planted):
    """A FIFO or folder under the only cached name is "not a regular file" (said once, the path once), not
    "not in the cache"; verify never blocks on the FIFO."""
    data, sha = _blob()
    index = tmp_path / "i.yml"
    _index(index, [{"name": "a", "weights": "https://example.org/a.bin", "size": len(data), "sha256": sha}])
    cache = tmp_path / "cache"
    cache.mkdir()
    target = cache / "a.bin"
    os.mkfifo(target) if planted == "fifo" else target.mkdir()
    got = cli("--index", index, "--cache-dir", cache, "verify", "a")
    assert got.code == 1 and "not a regular file" in got.err and "not in the cache" not in got.err, got.text
    assert got.err.count(str(target)) == 1, got.err
    got = cli("--index", index, "--cache-dir", cache, "verify", "--json")
    assert got.code == 1 and json.loads(got.out)["files"][0]["present"] is True, got.text


def test_a_failed_repair_leaves_another_entrys_good_file(cli, server, tmp_path):
    """Two entries' Weights on one file (upstream's mistake: a valid index, `check`'s finding), with their own
    File Sizes. `verify --repair` of the wrong one fails, and must not have deleted the file the other entry
    verified: nothing is removed before a verified download replaces it."""
    data, sha = _blob()
    index = tmp_path / "index.yml"
    cache = tmp_path / "cache"
    # the file name's hash prefix is the index's only hash here: the name its bytes deserve
    server.add(f"w/shared-{sha[:8]}.pth", data)
    _index(index, [
        {"name": "good", "size": len(data), "weights": server.url(f"w/shared-{sha[:8]}.pth")},
        {"name": "wrong", "size": len(data) + 7, "weights": server.url(f"w/shared-{sha[:8]}.pth")},
    ])
    assert cli("--index", index, "--cache-dir", cache, "fetch", "good", "--quiet").code == 0
    got = cli("--index", index, "--cache-dir", cache, "verify", "wrong", "--repair")
    assert got.code == 1, got.text
    assert (cache / f"shared-{sha[:8]}.pth").read_bytes() == data
    got = cli("--index", index, "--cache-dir", cache, "verify", "good")
    assert got.code == 0, got.text


@pytest.mark.parametrize("when", ["1" + "0" * 400, "-1" + "0" * 400])
def test_a_record_with_a_huge_integer_time_is_foreign_not_a_crash(cli, zoo, checkpoints, when):
    """``"verified_at": 10**400`` is valid JSON (under Python's 4300-digit limit) and passed the type check;
    math.isfinite then raised OverflowError: fetch, cache info and cache clear ended in exit 70."""
    ckpt = checkpoints["tresnet_m"]
    assert cli(*zoo.args("fetch", "tresnet_m", "--quiet")).code == 0
    record = zoo.cache / "records" / f"{ckpt.filename}.json"
    data = json.loads(record.read_text())
    text = json.dumps(data).replace(json.dumps(data["verified_at"]), when)
    record.write_text(text)
    for args in (("cache", "info"), ("cache", "info", "--json"), ("fetch", "tresnet_m", "--quiet"),
                 ("verify", "tresnet_m"), ("list",), ("cache", "clear")):
        got = cli(*zoo.args(*args))
        assert got.code in (0, 1), (args, got.text)
        assert "internal error" not in got.text and "Traceback" not in got.text, (args, got.text)
