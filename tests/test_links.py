"""`check --links` against a real loopback server answering 200, 206, 403, 404, 410, a wrong
Content-Length, HEAD refused, redirects, a server that never answers (one request timeout), hostile headers
(sizes that are no plain number, headers dripped past the deadline) and DNS failures."""

from __future__ import annotations

import json
import subprocess

import pytest

from .helpers.cli import run_cli as _run_cli
from .helpers.paths import PYTHON, python_env
from .helpers.servers import LinkServer, Route

SIZE = 100

ROUTES = {
    "/ok/tresnet_m-00000001.pth": Route(200, SIZE),
    "/ranged/tresnet_m-00000002.pth": Route(200, SIZE, head=405),  # HEAD refused: a one-byte GET answers 206
    "/ranged501/tresnet_m-00000003.pth": Route(200, SIZE, head=501),
    "/forbidden/tresnet_m-00000004.pth": Route(403),
    "/missing/tresnet_m-00000005.pth": Route(404),
    "/gone/tresnet_m-00000006.pth": Route(410),
    "/wronglen/tresnet_m-00000007.pth": Route(200, SIZE, length=SIZE + 5),
    "/hang/tresnet_m-00000008.pth": Route(hang=True),
    "/moved/tresnet_m-00000009.pth": Route(302, location="/ok/tresnet_m-00000001.pth"),
    "/away/tresnet_m-0000000a.pth": Route(302, location="ftp://127.0.0.1/x"),
}
NAMES = ["ok", "ranged", "ranged501", "forbidden", "missing", "gone", "wronglen", "hang", "moved", "away"]


@pytest.fixture
def links_index(tmp_path):
    server = LinkServer(ROUTES)
    lines = ["Models:"]
    for name, path in zip(NAMES, ROUTES):
        lines += [
            f"- Name: tresnet_m_{name}",
            "  Metadata:",
            f"    File Size: {SIZE}",
            f"  Weights: {server.url(path)}",
        ]
    lines += [
        "- Name: tresnet_m_dns",
        "  Metadata:",
        f"    File Size: {SIZE}",
        "  Weights: https://no-such-host.invalid/tresnet_m-0000000b.pth",
    ]
    index = tmp_path / "links.yml"
    index.write_text("\n".join(lines) + "\n")
    yield index, server
    server.close()


def test_check_links_verdicts(cli, links_index):
    index, server = links_index
    got = cli("check", "--index", index, "--links", "--link-timeout", "1", "--json")
    assert got.code == 1, got.text
    status = {link["name"].removeprefix("tresnet_m_"): link for link in json.loads(got.out)["links"]}
    assert {k: v["status"] for k, v in status.items()} == {
        "ok": "alive",
        "ranged": "alive",
        "ranged501": "alive",
        "forbidden": "dead",
        "missing": "dead",
        "gone": "dead",
        "wronglen": "size",
        "hang": "unreachable",
        "moved": "alive",
        "away": "unreachable",
        "dns": "dead",
    }, {k: v["message"] for k, v in status.items()}
    assert status["ranged"]["code"] == 206 and status["ranged"]["size"] == SIZE
    assert status["wronglen"]["size"] == SIZE + 5 and status["wronglen"]["expected_size"] == SIZE
    assert "redirects to ftp://127.0.0.1/x, which is refused" in status["away"]["message"]  # at the hop
    # the hanging server costs one request timeout, not the overall deadline
    assert "timed out" in status["hang"]["message"] and "overall limit" not in status["hang"]["message"], status
    assert ("GET", "/ranged/tresnet_m-00000002.pth") in server.seen
    assert not any(method == "GET" and path.startswith("/ok") for method, path in server.seen)  # HEAD sufficed


def test_check_links_lines_and_offline(cli, links_index, monkeypatch):
    index, _ = links_index
    got = cli("check", "--index", index, "--links", "--link-timeout", "1")
    assert got.code == 1
    problems = [
        line for line in got.out.splitlines() if line.split(":")[0] in ("dead link", "size differs", "unreachable")
    ]
    assert len(problems) == 7, got.out
    assert any(
        line.startswith("size differs: tresnet_m_wronglen") and "105 bytes, the index says 100" in line
        for line in problems
    )
    monkeypatch.setenv("TRESNET_ZOO_OFFLINE", "1")
    got = cli("check", "--index", index, "--links")
    assert got.code == 0 and got.out.startswith("skipped: offline")


def test_all_alive_exits_zero(cli, tmp_path):
    server = LinkServer({"/ok/tresnet_m-00000001.pth": Route(200, SIZE)})
    try:
        index = tmp_path / "one.yml"
        index.write_text(
            f"Models:\n- Name: tresnet_m\n  Metadata:\n    File Size: {SIZE}\n  Weights: "
            f"{server.url('/ok/tresnet_m-00000001.pth')}\n"
        )
        got = cli("check", "--index", index, "--links")
        assert got.code == 0 and "1 of 1 links alive" in got.out, got.text
    finally:
        server.close()


def test_no_host_resolving_is_the_environment(cli, tmp_path):
    index = tmp_path / "dns.yml"
    index.write_text(
        f"Models:\n- Name: tresnet_m\n  Metadata:\n    File Size: {SIZE}\n  Weights: "
        "https://no-such-host.invalid/tresnet_m-00000001.pth\n"
    )
    got = cli("check", "--index", index, "--links", "--link-timeout", "2")
    assert got.code == 3 and "no host name of any source resolved" in got.err, got.text
    # each source is the environment's failure too, not a dead link (the data's)
    assert "dead link" not in got.out and "unreachable: tresnet_m: source 1" in got.out, got.text
    got = cli("check", "--index", index, "--links", "--link-timeout", "2", "--json")
    assert got.code == 3 and [r["status"] for r in json.loads(got.out)["links"]] == ["unreachable"], got.text


def _links_index(tmp_path, server, routes) -> object:
    lines = ["Models:"]
    for i, path in enumerate(routes):
        lines += [f"- Name: tresnet_m_l{i}", "  Metadata:", "    File Size: 100", f"  Weights: {server.url(path)}"]
    index = tmp_path / "links.yml"
    index.write_text("\n".join(lines) + "\n")
    return index


def test_check_links_hostile_headers_are_verdicts_not_crashes(tmp_path):
    """Content-Length '²' passes str.isdigit() and fails int(); 5000 digits exceed int()'s limit: each made a
    probe raise ValueError, and `check --links` exit 70. A size header that is not a plain ASCII number now
    counts as no size announced; the others' verdicts stand."""
    from .helpers.servers import LinkServer, Route

    routes = {
        "/sup/tresnet_m-00000001.pth": Route(200, 100, raw_length="\u00b2"),
        "/long/tresnet_m-00000002.pth": Route(200, 100, raw_length="9" * 5000),
        "/rsup/tresnet_m-00000003.pth": Route(200, 100, head=405, raw_range="bytes 0-0/\u00b9\u00b2"),
        "/rlong/tresnet_m-00000004.pth": Route(200, 100, head=405, raw_range="bytes 0-0/" + "7" * 5000),
        "/ok/tresnet_m-00000005.pth": Route(200, 100),
        "/wrong/tresnet_m-00000006.pth": Route(200, 100, raw_length="101"),
    }
    server = LinkServer(routes)
    try:
        got = _run_cli(["check", "--index", _links_index(tmp_path, server, routes), "--links", "--json"], timeout=60)
    finally:
        server.close()
    assert got[0] == 1, got
    assert "internal error" not in got[1]
    import json

    links = {item["name"]: item for item in json.loads(got[1][got[1].index("{"):])["links"]}
    assert [links[f"tresnet_m_l{i}"]["status"] for i in range(6)] == ["alive"] * 5 + ["size"], links


def test_check_links_dripped_headers_end_within_the_deadline(tmp_path):
    """A server sending one header byte every 0.3 s never trips the per-read timeout: the report came at the
    overall deadline, but the process then waited for the probe's thread at exit, for as long as the server
    went on. The process ends at its deadline: the server drips until it is closed, which is only after the
    child has exited (a child that waited for the probe would be "hang")."""
    from .helpers.servers import LinkServer, Route

    routes = {"/drip/tresnet_m-00000001.pth": Route(drip=0.3), "/ok/tresnet_m-00000002.pth": Route(200, 100)}
    server = LinkServer(routes)
    code = (
        "import json, sys\n"
        "from tresnet_zoo.index import load_index\n"
        "from tresnet_zoo.weights.links import check_links\n"
        "report = check_links(load_index(sys.argv[1]).select(None), timeout=1, deadline=2)\n"
        "print(json.dumps(report.to_dict()))\n"
    )
    try:
        proc = subprocess.run([PYTHON, "-c", code, str(_links_index(tmp_path, server, routes))], capture_output=True,
                              text=True, timeout=60, env=python_env())
        exited = True
    except subprocess.TimeoutExpired:
        exited = False
    finally:
        server.close()
    assert exited, "check_links outlived its deadline"
    assert proc.returncode == 0, proc.stderr
    links = {item["name"]: item for item in json.loads(proc.stdout)["links"]}
    assert links["tresnet_m_l0"]["status"] == "unreachable", links
    assert "no answer within the overall limit of 2 s" in links["tresnet_m_l0"]["message"], links
    assert links["tresnet_m_l1"]["status"] == "alive", links
    assert ("GET", "/ok/tresnet_m-00000002.pth") not in server.seen  # the healthy link cost one HEAD


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
