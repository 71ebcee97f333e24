"""Index data never reaches Python's recursion limit: import chains are walked with a stack and bounded
in depth, globs walk deep folders with a stack, and every reader refuses deep nesting as a problem
(exit 1), never a RecursionError (exit 70). Found by an attack: a 400-file chain of imports."""

from __future__ import annotations

import pytest

from tresnet_zoo.index.load import MAX_IMPORT_DEPTH

from .conftest import REGISTRY


def _chain(folder, files: int):
    for i in range(files - 1):
        (folder / f"f{i}.yml").write_text(f"Import:\n- f{i + 1}.yml\n", encoding="utf-8")
    (folder / f"f{files - 1}.yml").write_text(REGISTRY.read_text(encoding="utf-8"), encoding="utf-8")
    return folder / "f0.yml"


def test_a_long_import_chain_is_a_problem_not_a_crash(tmp_path, cli):
    root = _chain(tmp_path, 400)  # under the file limit, well over what recursion would survive
    done = cli("--index", root, "validate")
    assert done.code == 1, done.text
    assert f"imports nest deeper than {MAX_IMPORT_DEPTH} files" in done.text
    assert "Traceback" not in done.text and "RecursionError" not in done.text


def test_a_chain_within_the_bound_reads_every_file(tmp_path, cli):
    root = _chain(tmp_path, MAX_IMPORT_DEPTH)
    done = cli("--index", root, "list", "--json")
    assert done.code == 0, done.text
    assert '"tresnet_m"' in done.out


def test_a_recursive_glob_walks_folders_deeper_than_recursion(tmp_path, cli):
    folder = tmp_path / "deep"
    deepest = folder
    folder.mkdir()
    for _ in range(1100):  # 2200 characters of path: deeper than Python's recursion limit (os.makedirs's too)
        deepest = deepest / "d"
        deepest.mkdir()
    (deepest / "models.yml").write_text(REGISTRY.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "root.yml").write_text("Import:\n- 'd/**/models.yml'\n", encoding="utf-8")
    try:
        done = cli("--index", folder / "root.yml", "list", "--json")
    finally:  # shutil.rmtree (pytest's clean-up) recurses too: take the folders down from the bottom
        (deepest / "models.yml").unlink()
        while deepest != folder:
            deepest.rmdir()
            deepest = deepest.parent
    assert "RecursionError" not in done.text and "Traceback" not in done.text
    assert done.code == 0, done.text
    assert '"tresnet_m"' in done.out


@pytest.mark.parametrize(("name", "text"), [
    ("flow.yml", "Models: " + "[" * 100_000 + "]" * 100_000 + "\n"),
    ("map.yml", "Models: " + "{a: " * 50_000 + "1" + "}" * 50_000 + "\n"),
    ("key.yml", "? " + "[" * 50_000 + "]" * 50_000 + "\n: 1\n"),
    ("deep.json", '{"Models": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    ("page.md", "<!--\nType: model-index\nModels: " + "[" * 100_000 + "]" * 100_000 + "\n-->\n"),
])
def test_deeply_nested_values_are_refused_by_the_reader(write, cli, name, text):
    done = cli("--index", write(name, text), "validate")
    assert done.code == 1, done.text
    assert name in done.text and "Traceback" not in done.text


def test_an_import_through_a_long_chain_of_links_is_a_problem_not_a_crash(tmp_path, cli):
    """Path.resolve recurses once per link: a chain of 1500 links was a RecursionError (exit 70)."""
    (tmp_path / "l1500.yml").write_text(REGISTRY.read_text(encoding="utf-8"), encoding="utf-8")
    for i in range(1500):
        (tmp_path / f"l{i}.yml").symlink_to(f"l{i + 1}.yml")
    (tmp_path / "root.yml").write_text("Import:\n- l0.yml\n", encoding="utf-8")
    (tmp_path / "globbed.yml").write_text("Import:\n- 'l1*.yml'\n", encoding="utf-8")
    done = cli("--index", tmp_path / "root.yml", "validate")
    assert done.code == 1, done.text
    assert "'l0.yml' cannot be followed" in done.text and "RecursionError" not in done.text
    done = cli("--index", tmp_path / "globbed.yml", "list", "--json")  # links the system follows still count
    assert done.code == 0, done.text
    assert '"tresnet_m"' in done.out
