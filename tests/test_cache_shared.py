"""The cache as shared, untrusted space: planted links, FIFOs and hard links under our names, a planted
final file, foreign names in every folder, malformed records, the umask. Real files, a real loopback server.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers.cli import one_error
from .helpers.indexes import Setup
from .test_fetch_hostile import FAST


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def host() -> str:
    from tresnet_zoo.weights.partials import this_host

    return this_host()


def outside(tmp_path, text=b"a file outside the cache that must stay as it is") -> tuple:
    path = tmp_path / "outside.bin"
    path.write_bytes(text)
    return path, text


@pytest.mark.parametrize("kind", ["symlink", "fifo", "hardlink"])
def test_a_planted_partial_is_never_adopted_or_written_through(cli, site, tmp_path, kind):
    target, original = outside(tmp_path)
    site.cache.mkdir()
    planted = site.cache / f"{site.name}.{dead_pid()}@{host()}.abc123.part"
    if kind == "symlink":
        planted.symlink_to(target)
    elif kind == "fifo":
        os.mkfifo(planted)
    else:
        os.link(target, planted)
    result = cli(*site.args("fetch", "tresnet_m", *FAST))
    assert result.code == 0, result.text
    assert f"warning: {site.name}: ignoring {planted.name}" in result.err  # said so
    assert target.read_bytes() == original  # nothing written through it
    final = os.lstat(site.final())
    assert stat.S_ISREG(final.st_mode) and final.st_nlink == 1 and site.final().read_bytes() == site.data
    assert os.path.lexists(planted)  # left where it was: not ours to remove
    assert not site.web.hits(site.name)[0].get("Range")  # a fresh download, nothing resumed from it
    cleared = cli(*site.args("cache", "clear"))
    assert cleared.code == 0 and os.path.lexists(planted) and target.read_bytes() == original
    assert "left" in cleared.out and planted.name in cleared.out


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_planted_final_file_is_not_cached_and_is_replaced_by_a_verified_one(cli, site, tmp_path, kind):
    target, original = outside(tmp_path, site.data[:-1] + b"!")  # same size, other bytes
    site.cache.mkdir()
    (site.cache / "records").mkdir()
    (site.cache / "records" / (site.name + ".json")).write_text(json.dumps(
        {"filename": site.name, "size": len(site.data), "sha256": "0" * 64, "verified_at": 1.0, "url": None}))
    if kind == "symlink":
        site.final().symlink_to(target)
    else:
        os.mkfifo(site.final())
    info = json.loads(cli(*site.args("cache", "info", "--json")).out)
    assert not info["files"] and {f["path"] for f in info["foreign"]} == {site.name}
    result = cli(*site.args("fetch", "tresnet_m", *FAST))
    assert result.code == 0 and "downloaded from" in result.out, result.text
    assert stat.S_ISREG(os.lstat(site.final()).st_mode) and site.final().read_bytes() == site.data
    assert target.read_bytes() == original


def test_files_and_records_follow_the_umask(cli, site):
    old = os.umask(0o022)
    try:
        assert cli(*site.args("fetch", "tresnet_m", *FAST)).code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(site.final()).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(site.cache / "records" / (site.name + ".json")).st_mode) == 0o644


def plant_foreign(cache) -> list:
    """Names tresnet-zoo would never create, in every folder it uses."""
    (cache / "records").mkdir(parents=True, exist_ok=True)
    (cache / "locks").mkdir(exist_ok=True)
    (cache / "validated").mkdir(exist_ok=True)
    (cache / "elsewhere").mkdir(exist_ok=True)
    paths = {
        "notes.txt": b"mine",
        "records/notes.txt": b"x",
        "records/README": b"x",
        "locks/other.txt": b"x",
        "validated/not-hex": b"x",
        "validated/" + "A" * 64: b"x",  # upper case: not our marker
        "elsewhere/keep.bin": b"x",
        "x.part": b"x",
        "tresnet_m-deadbeef.pth.notapid@host.abc.part": b"x",
        "tresnet_m-deadbeef.pth": b"a weight file with no record of ours",
        "records/tresnet_m-12345678.pth.json": b'{"filename": "tresnet_m-12345678.pth", "size": 1, "sha256": 5, '
                                               b'"verified_at": 0}',
        "records/tresnet_m-87654321.pth.json": b"{garbage",
        "tresnet_m-12345678.pth": b"x",
    }
    out = []
    for rel, data in paths.items():
        (cache / rel).write_bytes(data)
        out.append(cache / rel)
    return out


def test_cache_clear_removes_only_what_tresnet_zoo_created(cli, site):
    assert cli(*site.args("fetch", "tresnet_m", *FAST)).code == 0
    foreign = plant_foreign(site.cache)
    ours = [site.final(), site.cache / "records" / (site.name + ".json")]
    dead = site.cache / f"{site.name}.{dead_pid()}@{host()}.zz9.part"
    dead.write_bytes(b"abc")
    info = cli(*site.args("cache", "info", "--json"))
    assert info.code == 0
    listed = {f["path"] for f in json.loads(info.out)["foreign"]}
    assert {"x.part", "records/README", "validated/not-hex", "records/tresnet_m-87654321.pth.json"} <= listed
    cleared = cli(*site.args("cache", "clear"))
    assert cleared.code == 0, cleared.text
    assert all(os.path.lexists(p) for p in foreign), [p for p in foreign if not os.path.lexists(p)]
    assert not any(p.exists() for p in ours) and not dead.exists()
    assert (site.cache / "records").is_dir() and (site.cache / "elsewhere" / "keep.bin").exists()  # no folder removed
    assert "left" in cleared.out and "name(s) that tresnet-zoo did not create" in cleared.out


@pytest.mark.parametrize("command",
                         [("fetch", "tresnet_m"), ("cache", "info"), ("cache", "info", "--json"), ("cache", "clear"),
                                     ("cache", "clear", "--partials"), ("verify",), ("list",)])
def test_malformed_names_and_records_never_crash(cli, site, command):
    site.cache.mkdir()
    (site.cache / "records").mkdir()
    for pid in ("1" * 20, "0", "-1", str(2**22 + 5)):
        (site.cache / f"{site.name}.{pid}@{host()}.abc.part").write_bytes(b"zz")
    (site.cache / "records" / (site.name + ".json")).write_text(
        json.dumps({"filename": site.name, "size": 3, "sha256": 5}))
    args = [*command, *(FAST if command[0] == "fetch" else ())]
    result = cli(*site.args(*args))
    assert result.code != 70 and "internal error" not in result.text, result.text
    if command[0] == "fetch":
        assert result.code == 0 and site.final().read_bytes() == site.data


# --- the property: random names and records never crash a cache command, nothing foreign is deleted ------

_piece = st.text(alphabet="abc019._-@/\\%\x00é ", min_size=0, max_size=12)
_name = st.one_of(
    st.builds(lambda a, p, h, i: f"{a}.{p}@{h}.{i}.part",
              st.sampled_from(["tresnet_m-SITE.pth", "x.pth", "", ".", "a..b"]),
              st.one_of(st.integers(-5, 10**25).map(str), _piece), st.one_of(st.just("HOST"), _piece), _piece),
    st.builds(lambda a, b: a + b, _piece, st.sampled_from([".part", ".json", ".lock", "", ".pth"])),
)
_record = st.one_of(
    st.binary(max_size=40),
    st.dictionaries(st.sampled_from(["filename", "size", "sha256", "verified_at", "url", "extra"]),
                    st.one_of(st.none(), st.integers(-3, 2**70), st.integers(10**300, 10**400), st.booleans(),
                              st.floats(allow_nan=True), st.text(max_size=70),
                              st.just("SITE"),
                              st.lists(st.integers(), max_size=2)), max_size=6).map(lambda d: json.dumps(d).encode()),
)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(names=st.lists(_name, max_size=6), records=st.lists(_record, max_size=3))
def test_random_cache_contents_never_crash_and_nothing_foreign_is_deleted(cli, tmp_path_factory, web,  # noqa: F811
                                                                          names, records):
    from tresnet_zoo.weights.cache import parse_record
    from tresnet_zoo.weights.partials import parse_name

    web.reset()
    site = Setup(tmp_path_factory.mktemp("prop"), web)
    site.cache.mkdir()
    (site.cache / "records").mkdir()
    planted = []
    for raw in names:
        name = raw.replace("SITE", site.name.split("-")[1][:-4]).replace("HOST", host())
        if not name or "/" in name or "\x00" in name or name in (".", "..", "records", "locks", "validated"):
            continue
        path = site.cache / name
        try:
            path.write_bytes(b"p")
        except OSError:
            continue
        planted.append(path)
    for i, data in enumerate(records):
        data = data.replace(b"SITE", site.name.encode())
        path = site.cache / "records" / (site.name if i == 0 else f"tresnet_m-0000000{i}.pth")
        path = path.with_name(path.name + ".json")
        path.write_bytes(data)
        planted.append(path)
    # what is not ours must survive every command
    def foreign(path):  # the site file's own record name is ours: fetch writes its record there
        if path.parent.name == "records" and path.name == site.name + ".json":
            return False
        if path.parent.name == "records":
            return parse_record(path.read_bytes(), path.name[:-5]) is None
        return parse_name(path.name) is None and path.name != site.name
    keep = [p for p in planted if foreign(p)]
    for command in (("cache", "info", "--json"), ("fetch", "tresnet_m", *FAST), ("cache", "info"),
                    ("cache", "clear", "--partials"),
                    ("verify",), ("cache", "clear")):
        result = cli(*site.args(*command))
        assert result.code != 70 and "internal error" not in result.text, (command, result.text)
        assert [p for p in keep if not os.path.lexists(p)] == [], command


def test_a_planted_lock_link_is_not_opened(cli, site, tmp_path):
    """filelock opens with O_TRUNC: a link under the lock's name would truncate what it points to."""
    target, original = outside(tmp_path)
    (site.cache / "locks").mkdir(parents=True)
    (site.cache / "locks" / (site.name + ".lock")).symlink_to(target)
    result = cli(*site.args("fetch", "tresnet_m", *FAST))
    assert result.code == 0, result.text
    assert "downloading without the lock" in result.err and target.read_bytes() == original
    assert site.final().read_bytes() == site.data


def test_a_planted_records_link_is_not_written_through(cli, site, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    site.cache.mkdir()
    (site.cache / "records").symlink_to(elsewhere, target_is_directory=True)
    result = cli(*site.args("fetch", "tresnet_m", *FAST))
    assert result.code == 3 and "not a folder" in one_error(result)
    assert list(elsewhere.iterdir()) == [] and not site.final().exists()


def test_a_folder_under_the_final_name(cli, site):
    (site.final() / "inside").mkdir(parents=True)
    result = cli(*site.args("fetch", "tresnet_m", *FAST))
    assert result.code == 3 and "a folder stands where a file should be" in one_error(result)
    assert (site.final() / "inside").is_dir()  # never removed
