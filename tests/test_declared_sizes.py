"""Hostile round 3b: a cache folder reached through a link, sizes and hashes declared twice in every form
the schema accepts, DNS failures behind an upper-case scheme, a file:// mirror naming another host, and the
offline hint in a folder whose path holds a '#'."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from .helpers.indexes import zoo_index_text
from .helpers.paths import REPO, python_env

A = "a" * 64
B = "b" * 64


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- a cache folder that is a link the user made ---------------------------------------------------------


def test_list_info_and_cache_info_see_files_in_a_linked_cache_folder(cli, zoo, checkpoints, tmp_path):
    """The cache root may be a symbolic link (fetch follows it and finds the file cached); `list`, `info`
    and `cache info` listed the link itself as no folder and reported an empty cache."""
    ckpt = checkpoints["tresnet_m"]
    assert cli(*zoo.args("fetch", "tresnet_m", "--quiet")).code == 0
    real = tmp_path / "real-cache"
    zoo.cache.rename(real)
    zoo.cache.symlink_to(real, target_is_directory=True)
    got = cli(*zoo.args("fetch", "tresnet_m", "--quiet", "--json"))
    assert got.code == 0 and json.loads(got.out)["results"][0]["source"] == "cache", got.text
    got = cli(*zoo.args("list", "--json"))
    cached = {r["name"]: r["cached"] for r in json.loads(got.out)}
    assert cached == {"tresnet_m": True, "tresnet_m_release": False}, got.text
    got = cli(*zoo.args("info", "tresnet_m", "--json"))
    assert json.loads(got.out)["cached"] is True, got.text
    got = cli(*zoo.args("cache", "info", "--json"))
    assert got.code == 0, got.text
    files = json.loads(got.out)["files"]
    assert [f["file"] for f in files] == [ckpt.filename], got.text
    got = cli(*zoo.args("cache", "clear", "tresnet_m"))
    assert got.code == 0 and not (real / ckpt.filename).exists(), got.text


# --- index validation: one cache file, declared twice ----------------------------------------------------

HEAD = "Collections:\n- Name: C\nModels:\n"


def _model(name: str, weights: str, *meta: str) -> str:
    lines = [f"- Name: {name}", "  In Collection: C", "  Metadata:", "    Parameters: 1", *(f"    {m}" for m in meta),
             f"  Weights: {weights}"]
    return "\n".join(lines) + "\n"


def _validate(cli, tmp_path: Path, text: str):
    path = tmp_path / "index.yml"
    path.write_text(HEAD + text)
    return cli("validate", path, "--json")


def _problems(got) -> list[dict]:
    assert got.code in (0, 1), got.text  # never 70
    return json.loads(got.out)["problems"]


def _also_from(name: str, url: str, *declared: str) -> str:
    """An entry of its own whose further source is ``url`` (so the same cache file), declaring ``declared``."""
    return _model(name, f"https://example.org/{name}-bbbbbbbb.pth", "x-tresnet-zoo:", "  sources:",
                  f"  - url: {url}", f"    file: {url.rsplit('/', 1)[1]}", *(f"    {d}" for d in declared))


def _line_of(tmp_path: Path, needle: str, occurrence: int = 1) -> int:
    lines = [i for i, line in enumerate((tmp_path / "index.yml").read_text().splitlines(), 1) if needle in line]
    return lines[occurrence - 1]


def test_a_file_size_written_as_a_string_is_compared(cli, tmp_path):
    """The schema takes File Size as an integer or a string of digits, and the index reads both: "100" and
    a source's 200 for one cache file are two sizes, and validation said OK."""
    url = "https://example.com/w/x-aaaaaaaa.pth"
    got = _validate(cli, tmp_path, _model("m1", url, 'File Size: "100"') + _also_from("m2", url, "size: 200"))
    problems = _problems(got)
    assert len(problems) == 1 and "200 bytes are declared for it here and 100" in problems[0]["message"], got.text
    assert problems[0]["line"] == _line_of(tmp_path, "size: 200"), problems  # the source's size


def test_a_file_size_written_as_an_integral_float_is_compared(cli, tmp_path):
    url = "https://example.com/w/x-aaaaaaaa.pth"
    got = _validate(cli, tmp_path, _model("m1", url, "File Size: 100.0") + _also_from("m2", url, "size: 200"))
    problems = _problems(got)
    assert len(problems) == 1 and "200 bytes are declared for it here and 100" in problems[0]["message"], got.text


def test_a_source_size_written_as_a_float_is_compared(cli, tmp_path):
    url = "https://example.com/w/x-aaaaaaaa.pth"
    got = _validate(cli, tmp_path, _model("m1", url, "File Size: 100") + _also_from("m2", url, "size: 300.0"))
    problems = _problems(got)
    assert len(problems) == 1 and "300 bytes are declared for it here and 100" in problems[0]["message"], got.text


def test_a_later_size_does_not_hide_the_first_sha256(cli, tmp_path):
    """m1 gives the sha256 (no size), m2's source the size (no sha256), m3's source both, with another
    sha256: m2 replaced m1 as the use to compare with, and m3's other sha256 passed."""
    url = "https://example.com/w/x.pth"
    text = (_model("m1", url, f"SHA256: {A}") + _also_from("m2", url, "size: 100")
            + _also_from("m3", url, "size: 100", f"sha256: {B}"))
    problems = _problems(_validate(cli, tmp_path, text))
    assert len(problems) == 1 and "sha256 here differs" in problems[0]["message"], problems
    assert problems[0]["entry"] == "m3" and problems[0]["line"] == _line_of(tmp_path, f"sha256: {B}"), problems


def test_two_entries_weights_disagreeing_stay_checks_finding(cli, tmp_path):
    """Two entries' own Weights on one file with other sizes or hashes: upstream's kind of mistake (an entry
    pointing at another model's weights), which `check` names; validation does not refuse the index."""
    url = "https://example.com/w/x-aaaaaaaa.pth"
    for meta in (("File Size: 100", "File Size: 200"), (f"SHA256: {A}", f"SHA256: {B}")):
        got = _validate(cli, tmp_path, _model("m1", url, meta[0]) + _model("m2", url, meta[1]))
        assert got.code == 0 and _problems(got) == [], got.text


def test_the_source_with_the_primary_url_must_agree_with_its_metadata(cli, tmp_path):
    """A source with the Weights URL names the primary's file: its sha256 and size declare that file
    again. The index reads Metadata's and silently drops the source's; validation said OK."""
    url = "https://example.com/w/model.safetensors"
    text = _model("m1", url, "File Size: 100", f"SHA256: {A}", "x-tresnet-zoo:", "  sources:", f"  - url: {url}",
                  "    file: m1.safetensors", f"    sha256: {B}")
    problems = _problems(_validate(cli, tmp_path, text))
    assert len(problems) == 1 and "sha256 here differs" in problems[0]["message"], problems
    assert problems[0]["line"] == 14, problems  # the source's sha256
    text = _model("m1", url, "File Size: 100", "x-tresnet-zoo:", "  sources:", f"  - url: {url}",
                  "    file: m1.safetensors", "    size: 99")
    problems = _problems(_validate(cli, tmp_path, text))
    assert len(problems) == 1 and "99 bytes are declared for it here and 100" in problems[0]["message"], problems


def test_the_bundled_registry_and_the_upstream_page_still_validate(cli):
    got = cli("validate", "--json")
    assert got.code == 0 and json.loads(got.out)["ok"], got.text
    upstream = Path("/work/shared/upstream/tresnet.md")
    if upstream.exists():
        got = cli("validate", upstream, "--json")
        assert got.code == 0, got.text


# --- check --links: a DNS failure behind an upper-case scheme --------------------------------------------


def test_check_links_upper_case_scheme_dns_failure_is_the_environment(cli, tmp_path):
    """`HTTPS://` passes validation; its DNS failure counted as a dead link (exit 1), not as no network."""
    index = tmp_path / "dns.yml"
    index.write_text("Models:\n- Name: tresnet_m\n  Metadata:\n    File Size: 100\n  Weights: "
                     "HTTPS://no-such-host.invalid/tresnet_m-00000001.pth\n"
                     "- Name: tresnet_l\n  Metadata:\n    File Size: 100\n  Weights: "
                     "https://no-such-host.invalid/tresnet_l-00000001.pth\n")
    got = cli("check", "--index", index, "--links", "--link-timeout", "2")
    assert got.code == 3 and "no host name of any source resolved" in got.err, got.text
    assert "dead link" not in got.out, got.text


# --- file:// mirrors ----------------------------------------------------------------------------------------


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


def test_the_offline_hint_runs_in_a_folder_whose_path_holds_a_hash_sign(cli, tmp_path, checkpoints, monkeypatch):
    """The hint said TRESNET_ZOO_MIRROR="file://$PWD/weights": a '#' (or '?', '%') in $PWD is a URL's
    fragment, so the folder read was another one and the hint failed as printed."""
    work = tmp_path / "run#1"
    work.mkdir()
    (work / "index.yml").write_text(zoo_index_text(checkpoints, f"http://127.0.0.1:{_closed_port()}/"))
    monkeypatch.chdir(work)
    r = cli("--index", "index.yml", "--cache-dir", "cache", "fetch", "tresnet_m", "--offline", "-q")
    assert r.code == 2, r.text
    hint = [line for line in r.err.splitlines() if line.startswith("hint: ")][-1]
    command = re.findall(r"`([^`]+)`", hint)[-1]
    ckpt = checkpoints["tresnet_m"]
    (work / "weights").mkdir()
    (work / "weights" / ckpt.filename).write_bytes(ckpt.data)
    env = python_env()
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (command, done.stderr)
    assert (work / "cache" / ckpt.filename).read_bytes() == ckpt.data


def test_check_links_with_an_unparsable_hf_endpoint_is_no_internal_error(cli, tmp_path, monkeypatch):
    """$HF_ENDPOINT rewrites Hugging Face URLs after validation: an unparsable one (`https://[x`) crashed
    the probe with ValueError (exit 70), and fetch blamed the file ("no hash to check against"). It is the
    user's setting that is wrong: a usage error naming HF_ENDPOINT, in every command that reads sources."""
    index = tmp_path / "hf.yml"
    index.write_text("Models:\n- Name: tresnet_m\n  Metadata:\n    File Size: 100\n  Weights: "
                     "https://huggingface.co/timm/tresnet_m/resolve/main/tresnet_m-00000001.pth\n")
    monkeypatch.setenv("HF_ENDPOINT", "https://[x")
    for args in (["check", "--index", index, "--links", "--link-timeout", "2"],
                 ["--index", index, "--cache-dir", tmp_path / "c", "fetch", "tresnet_m"]):
        got = cli(*args)
        assert got.code == 2 and "HF_ENDPOINT='https://[x' is not a URL" in got.err, got.text
        assert "no hash" not in got.err


def test_a_dead_local_source_beside_dns_failures_is_still_a_dead_link(cli, tmp_path, monkeypatch):
    """$HF_ENDPOINT may name a local hub folder (file://): a file missing there is a dead link (the data),
    found without DNS. With every http(s) host unresolved beside it, check said 'the network' and exited 3."""
    hub = tmp_path / "hub"
    hub.mkdir()
    index = tmp_path / "mix.yml"
    index.write_text("Models:\n- Name: tresnet_m\n  Metadata:\n    File Size: 100\n  Weights: "
                     "https://huggingface.co/timm/tresnet_m/resolve/main/tresnet_m-00000001.pth\n"
                     "- Name: tresnet_l\n  Metadata:\n    File Size: 100\n  Weights: "
                     "https://no-such-host.invalid/tresnet_l-00000001.pth\n")
    monkeypatch.setenv("HF_ENDPOINT", hub.as_uri())
    got = cli("check", "--index", index, "--links", "--link-timeout", "2")
    assert "dead link: tresnet_m" in got.out and "unreachable: tresnet_l" in got.out, got.text
    assert got.code == 1, got.text
