"""Audit of round 3: hidden variants of the issues' defect classes that the earlier rounds missed."""

from __future__ import annotations

import json

import pytest

from .helpers.indexes import zoo_index_text

# --- issue 8: validation applies the cache's file-name rules, including the names the cache uses itself ---


@pytest.mark.parametrize("name", ["records", "locks", "validated", "Records", "tresnet-zoo-manifest.json"])
def test_a_weights_file_named_like_a_cache_folder_or_the_manifest_fails_validate(cli, write, name):
    """A Weights URL ending in /records (or locks, validated) passed validate; fetch then met the cache's
    own records/ folder ('a folder stands where a file should be', exit 3: blamed on the environment) and
    verify called the folder a bad file and suggested --repair, which cannot help. A file named like the
    mirror manifest would be overwritten by it in `mirror push`."""
    sha = "a" * 64
    index = write("index.yml", f"""
        Models:
        - Name: tresnet_m
          Metadata:
            Parameters: 31389032
            File Size: 1000
            SHA256: {sha}
          Weights: https://h.example/w/{name}
        """)
    got = cli("--index", index, "validate")
    assert got.code == 1, got.text
    assert "tresnet-zoo uses that name itself" in got.text, got.text
    source = write("source.yml", f"""
        Models:
        - Name: tresnet_m
          Metadata:
            Parameters: 31389032
            File Size: 1000
            x-tresnet-zoo:
              sources:
              - url: https://h.example/model.safetensors
                file: {name}
          Weights: https://h.example/w/tresnet_m-{sha[:8]}.pth
        """)
    got = cli("--index", source, "validate")
    assert got.code == 1 and "tresnet-zoo uses that name itself" in got.text, got.text


def test_reserved_names_reach_no_cache_folder_through_fetch(cli, zoo, checkpoints, server):
    """The same index through fetch: one clean data error (exit 1), nothing written into records/."""
    ckpt = checkpoints["tresnet_m"]
    server.add("records", ckpt.data)
    zoo.index.write_text(zoo_index_text(checkpoints, server.url("/"),
                                        tresnet_m={"filename": "records", "sha256": ckpt.sha256}))
    got = cli(*zoo.args("fetch", "tresnet_m"))
    assert got.code == 1, got.text
    assert not (zoo.cache / "records").is_file()


# --- issue 9: user:password@ in a URL is redacted everywhere, also where the index is shown ----------------

_SECRET_INDEX = """
    Collections:
    - Name: C
      Paper:
        Title: T
        URL: https://pat:paperpw@papers.example/p
    Models:
    - Name: tresnet_m
      In Collection: C
      Metadata:
        Parameters: 31389032
        File Size: 1000
        x-tresnet-zoo:
          sources:
          - url: https://carol:sourcepw@hub.example/model.safetensors
            file: m.safetensors
      Code: https://cody:codepw@code.example/tresnet.py
      Weights: https://alice:weightspw@h.example/w/tresnet_m-0123abcd.pth
    """
_SECRETS = ("paperpw", "sourcepw", "codepw", "weightspw", "alice", "carol")


@pytest.mark.parametrize("args", [("info", "tresnet_m"), ("info", "tresnet_m", "--json"), ("list", "--json")])
def test_credentials_in_index_urls_are_not_printed_by_info_or_list(cli, write, args):
    """info redacted a further source's URL but printed Weights (and Code, Paper) as written, and info/list
    --json printed every URL with its password: output that ends up pasted into bug reports."""
    index = write("index.yml", _SECRET_INDEX)
    got = cli("--index", index, *args)
    assert got.code == 0, got.text
    assert not [s for s in _SECRETS if s in got.text], got.text
    assert "***@h.example" in got.text


def test_credentials_in_index_urls_are_not_published_on_the_site(write, tmp_path, monkeypatch):
    """The model card linked the Weights URL, the sources and the code as written: a published site gave
    away the password of a private mirror."""
    from tresnet_zoo.docs import build  # noqa: PLC0415 (docs extra: only this test)
    from tresnet_zoo.index import load_index  # noqa: PLC0415 (keeps the module's import light)

    monkeypatch.setattr(build, "_verdicts", lambda index: ({}, "not checked in this test"))
    index = load_index([write("index.yml", _SECRET_INDEX)])
    pages = tmp_path / "pages"
    build.render_pages(index, pages)
    text = "\n".join(p.read_text(encoding="utf-8") for p in pages.rglob("*.md"))
    assert "tresnet_m" in text
    assert not [s for s in _SECRETS if s in text]


# --- issue 9: our own records are parsed strictly; anything unexpected is foreign, never a crash -----------


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


def test_push_to_a_read_only_folder_is_refused_whole(cli, zoo, tmp_path):
    """A mirror folder without write bits is refused before any file is copied, even for root (who may
    write anyway): the owner asked for it to stay as it is."""
    assert cli(*zoo.args("fetch", "tresnet_m", "--quiet")).code == 0
    folder = tmp_path / "ro-mirror"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        got = cli(*zoo.args("mirror", "push", str(folder)))
        assert got.code == 3 and "is read-only; nothing was pushed" in got.err, got.text
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("planted", ["fifo", "dangling-link", "file"])
def test_a_mirror_folder_that_is_not_a_folder(cli, zoo, tmp_path, planted):
    """A FIFO, a dangling link or a file where the mirror folder should be: fetch says so without blocking
    and without hinting a `mirror push` that would fail the same way; push refuses it and writes nothing."""
    import os

    where = tmp_path / "not-a-folder"
    if planted == "fifo":
        os.mkfifo(where)
    elif planted == "dangling-link":
        where.symlink_to(tmp_path / "nowhere")
    else:
        where.write_text("x")
    got = cli(*zoo.args("fetch", "tresnet_m", "--quiet", "--mirror", str(where)))
    assert got.code == 3 and f"the mirror folder {where} is not a folder" in got.err, got.text
    assert "mirror push" not in got.err
    got = cli(*zoo.args("mirror", "push", str(where)))
    assert got.code in (1, 3) and "exists and is not a folder" in got.err, got.text
    assert not (tmp_path / "nowhere").exists()
