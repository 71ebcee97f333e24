"""Every byte the CLI writes goes through one output path: text from an index, a cache, a server or a file
name never reaches the terminal as a control, bidi or zero-width character, and a stream that is not UTF-8
gets replacements (JSON: ``\\u`` escapes), never a crash."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from .conftest import PYTHON, REPO, python_env
from .helpers.servers import LinkServer, Route

# ESC sequences (colour, OSC title, clear screen), a C1 CSI, bidi override and isolates, zero-width space and
# joiner, a line separator, NUL and BEL
HOSTILE = "\x1b[31mred\x1b]0;owned\x07\u202eevil\u2066x\u2069\u200b\u200d\x9b2J\u2028\x00"
ARG = HOSTILE.replace("\x00", "")  # the same on a command line (which cannot hold NUL)
# what must never be written raw (a newline ends a line of ours; a tab only separates tsv fields)
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _clean(result, *, tabs: bool = False) -> None:
    for name, text in (("stdout", result.out), ("stderr", result.err)):
        found = RAW.search(text) or (None if tabs else re.search("\t", text))
        assert found is None, f"{name} holds {found[0]!r}: {text!r}"


@pytest.fixture
def hostile(tmp_path):
    """An index in a folder whose name holds escape sequences, hostile text in every free-text field."""
    folder = tmp_path / f"dir{HOSTILE.replace(chr(0), '')}"
    folder.mkdir()
    text = json.dumps(HOSTILE)
    index = folder / "index.yml"
    index.write_text(
        f"Collections:\n- Name: {text}\n"
        "Models:\n"
        "- Name: tresnet_m\n"
        f"  In Collection: {text}\n"
        "  Metadata:\n"
        "    Parameters: 31389032\n"
        "    FLOPs: 5736545792\n"
        "    File Size: 125861314\n"
        "    Image Size: 224\n"
        f"    Training Resources: {text}\n"
        f"    x-tresnet-zoo: {{note: {text}, license: {text}, unpinned: {text}}}\n"
        "  Results:\n"
        f"  - {{Task: {text}, Dataset: {text}, Metrics: {{Top 1 Accuracy: 80.8}}}}\n"
        f"  Paper: {{Title: {text}, URL: 'https://example.org/p'}}\n"
        "  Weights: https://example.org/tresnet_m.safetensors\n"
        "  Provenance:\n"
        f"    File Size: {text}\n",
        encoding="utf-8",
    )
    return index


@pytest.mark.parametrize("args", [
    ("list",), ("list", "--format", "table"), ("list", "--format", "plain"), ("list", "--json"), ("info", "tresnet_m"),
    ("info", "tresnet_m", "--format", "table"), ("info", "tresnet_m", "--format", "plain"),
    ("info", "tresnet_m", "--json"),
    ("validate",), ("validate", "--json"), ("list", "nothing*"), ("info", "nope"), ("fetch", "tresnet_m", "-q"),
    ("verify",), ("lock", "tresnet_m"), ("cache",), ("cache", "clear"), ("mirror", "push", "dest"),
    ("mirror", "push", f"d{ARG}"), ("lock", "--output", f"o{ARG}.lock"), ("fetch", "--all", "--mirror", f"m{ARG}"),
    ("predict", "tresnet_m", f"p{ARG}.jpg"), ("check", "--links", f"x{ARG}"), ("info", ARG),
])
def test_index_text_is_escaped_in_every_command(cli, hostile, args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("--index", hostile, *args)
    assert result.code in (0, 1, 2, 3), result.text
    _clean(result)


def test_tsv_has_tabs_only_between_fields(cli, hostile):
    result = cli("--index", hostile, "list", "--format", "tsv")
    assert result.code == 0
    _clean(result, tabs=True)
    header, row = result.out.splitlines()
    assert header.count("\t") == row.count("\t") == 8


def test_schema_problems_and_check_lines_are_escaped(cli, tmp_path):
    index = tmp_path / "bad.yml"
    text = json.dumps(HOSTILE)
    index.write_text(f"Models:\n- Name: tresnet_m\n  Metadata: {{Parameters: {text}, {text}: 1}}\n", encoding="utf-8")
    for args in (("validate",), ("list",), ("check",), ("check", "--json")):
        result = cli("--index", index, *args)
        assert result.code == 1, result.text
        _clean(result)
        assert "\\x1b[31m" in result.text or "\\u001b" in result.text  # shown, escaped


def test_a_collection_name_and_weights_url_with_escapes_in_check(cli, tmp_path):
    index = tmp_path / "i.yml"
    text = json.dumps(HOSTILE)
    url = "https://example.org/\x1b[2J\u202e/tresnet_m-0123abcd.pth"
    index.write_text(f"Collections:\n- Name: {text}\nModels:\n- Name: tresnet_m\n  In Collection: {text}\n"
                     f"  Metadata: {{Parameters: 1, File Size: 1, Image Size: 224}}\n  Weights: {json.dumps(url)}\n",
                     encoding="utf-8")
    result = cli("--index", index, "check")
    assert result.code == 1
    _clean(result)


def test_a_servers_reason_phrase_is_escaped_in_fetch_and_check_links(cli, zoo, server, checkpoints):
    reason = "\x1b[2J\x1b]0;owned\x07\x9b31m"  # a reason phrase is Latin-1 on the wire
    name = checkpoints["tresnet_m"].filename
    server.always(name, "status", code=503, reason=reason)
    fetched = cli(*zoo.args("fetch", "tresnet_m", "--retries", "0", "-q"))
    assert fetched.code == 3, fetched.text
    _clean(fetched)
    errors = [line for line in fetched.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and len(fetched.err.splitlines()) <= 3, fetched.err  # one error, one hint (+ a total)
    assert "\\x1b[2J" in errors[0], errors  # the server's words, shown escaped

    links = LinkServer({"/r/tresnet_m-00000001.pth": Route(599, 100, reason=reason),
                        "/gone/tresnet_m-00000002.pth": Route(404, reason=reason),
                        "/moved/tresnet_m-00000003.pth": Route(302, location=f"/{HOSTILE[:12]}/x")})
    try:
        index = zoo.index.with_name("links.yml")
        index.write_text("Models:\n" + "".join(
            f"- Name: tresnet_m_{i}\n  Metadata: {{File Size: 100}}\n  Weights: {json.dumps(links.url(path))}\n"
            for i, path in enumerate(links.routes)), encoding="utf-8")
        for args in (("--links", "--link-timeout", "2"), ("--links", "--json", "--link-timeout", "2")):
            result = cli("check", "--index", index, *args)
            assert result.code in (1, 3) and "tresnet_m_2" in result.out, result.text  # every link was asked
            _clean(result)
    finally:
        links.close()


def test_file_names_from_a_cache_and_an_image_folder_are_escaped(cli, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / f"x{HOSTILE.replace(chr(0), '')}.pth").write_bytes(b"not ours")
    for args in (("cache", "info"), ("cache", "info", "--format", "table"), ("cache", "clear"), ("verify",)):
        result = cli("--cache-dir", cache, *args)
        assert result.code in (0, 1), result.text
        _clean(result)
    images = tmp_path / "images"
    images.mkdir()
    (images / f"a{HOSTILE.replace(chr(0), '')}.txt").write_bytes(b"x")
    result = cli("predict", "tresnet_m", images)
    assert result.code == 2, result.text
    _clean(result)


def _run(*args: str, encoding: str) -> subprocess.CompletedProcess:
    env = dict(python_env(), PYTHONIOENCODING=encoding, PYTHONPATH=str(REPO), COLUMNS="80")
    return subprocess.run([PYTHON, "-c", "from tresnet_zoo.cli import main; main()", *args], capture_output=True,
                          env=env, timeout=120, cwd=REPO)


@pytest.mark.parametrize("encoding", ["latin-1", "ascii"])
def test_a_stream_that_is_not_utf8_gets_replacements_and_exact_json(tmp_path, encoding):
    index = tmp_path / "i.yml"
    words = "Обучение → 8× ✓ 中文"
    index.write_text(f"Models:\n- Name: tresnet_m\n  Metadata:\n    Training Resources: {json.dumps(words)}\n",
                     encoding="utf-8")
    for args in (("info", "tresnet_m"), ("info", "tresnet_m", "--format", "table"), ("list",),
                 ("validate",), ("list", "--format", "tsv")):
        done = _run("--index", str(index), *args, encoding=encoding)
        assert done.returncode == 0, done.stderr
        done.stdout.decode(encoding)  # every byte is in the stream's encoding
    for args in (("list", "--json"), ("info", "tresnet_m", "--json")):
        done = _run("--index", str(index), *args, encoding=encoding)
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout.decode(encoding))
        record = data[0] if isinstance(data, list) else data
        assert record["metadata"]["training_resources"] == words  # exact, through \u escapes


def test_only_the_output_module_writes_to_the_terminal():
    """One output path: no other module of tresnet_zoo prints, echoes or makes a console of its own."""
    writes = re.compile(r"\bprint\(|typer\.echo|click\.echo|\.print\(|sys\.std(out|err)\.write|Console\(|print_exc")
    found = [f"{path.relative_to(REPO)}:{n}" for path in sorted((REPO / "tresnet_zoo").rglob("*.py"))
             if path.name != "output.py" or path.parent.name != "cli"
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if writes.search(line)]
    assert found == []
