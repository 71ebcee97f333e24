"""File names whose bytes are not UTF-8 (Python holds them as lone surrogates) are shown escaped
(``caf\\xe9.yml``) wherever a path becomes display text (problems' locations, error messages), hashed as
bytes (the index marker's digest), and kept exact in JSON fields that hold a path (``\\u`` escapes).
Found by an attack: such a name, even one picked up by a glob ``Import:``, made list, info, fetch and
predict exit 70."""

from __future__ import annotations

import json
import os

import pytest

from tresnet_zoo.index.problems import path_text

from .conftest import REGISTRY

BAD = os.fsdecode(b"caf\xe9")  # 'caf\udce9'
SHOWN = "caf\\xe9"


@pytest.fixture
def indexes(tmp_path):
    """(an index file whose own name is not UTF-8, a root importing such a file through a glob)."""
    text = REGISTRY.read_text(encoding="utf-8")
    named = tmp_path / f"{BAD}.yml"
    named.write_text(text, encoding="utf-8")
    (tmp_path / "globbed" / "sub").mkdir(parents=True)
    (tmp_path / "globbed" / "sub" / f"{BAD}.yml").write_text(text, encoding="utf-8")
    root = tmp_path / "globbed" / "root.yml"
    root.write_text("Import:\n- 'sub/*.yml'\n", encoding="utf-8")
    return named, root


def test_path_text_escapes_only_what_is_not_utf8():
    assert path_text(f"/data/{BAD}.yml") == f"/data/{SHOWN}.yml"
    assert path_text("/data/café.yml") == "/data/café.yml"
    assert path_text(f"{BAD}.yml").encode("utf-8")  # always encodable


@pytest.mark.parametrize("args", [("list",), ("list", "--json"), ("info", "tresnet_m"), ("info", "tresnet_m", "--json"),
                                  ("validate",), ("fetch", "tresnet_m", "--offline")])
def test_index_commands_read_an_index_under_a_non_utf8_name(indexes, cli, args):
    for index in indexes:
        done = cli("--index", index, *args)
        assert done.code in ((2, 3) if args[0] == "fetch" else (0,)), done.text
        assert "internal error" not in done.text and "Traceback" not in done.text
        if args[0] == "fetch" and index == indexes[0]:  # the hint names the very file, runnable in bash
            shown = "$'" + str(index).replace(BAD, SHOWN) + "'"
            assert f"--index {shown} " in done.err, done.err
        if args == ("list", "--json"):
            sources = {row["source"] for row in json.loads(done.out)}
            assert all(SHOWN in source for source in sources)


def test_a_problem_in_a_non_utf8_file_names_it_escaped(tmp_path, cli):
    bad = tmp_path / f"{BAD}.yml"
    bad.write_text("Models:\n- Name: 5\n", encoding="utf-8")
    done = cli("--index", bad, "validate", "--json")
    assert done.code == 1, done.text
    problems = json.loads(done.out)["problems"]
    assert problems and all(p["file"] == str(bad) for p in problems)
    done = cli("--index", bad, "list")
    assert done.code == 1 and f"{SHOWN}.yml:2" in done.err, done.text


def test_predict_walks_and_names_non_utf8_images(checkpoints, tmp_path, cli):
    from PIL import Image

    from .test_models import one_entry_index

    weights = tmp_path / "w.pth"
    weights.write_bytes(checkpoints["tresnet_m"].data)
    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("RGB", (40, 30), (3, 90, 160)).save(folder / f"{BAD}.png")
    (folder / f"{BAD}-damaged.jpg").write_bytes(b"\xff\xd8\xff not really")
    done = cli("--index", one_entry_index(tmp_path, "tresnet_m"), "predict", "tresnet_m", folder,
               "--checkpoint", weights, "--json")
    assert done.code == 1, done.text  # the damaged one fails, by name
    results = {r["file"]: r for r in json.loads(done.out)["results"]}
    assert results[str(folder / f"{BAD}.png")]["ok"]
    damaged = folder / f"{BAD}-damaged.jpg"
    assert not results[str(damaged)]["ok"] and path_text(damaged) in results[str(damaged)]["error"]
    assert "internal error" not in done.err
