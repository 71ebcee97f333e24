"""`check --links` against a real loopback server answering 200, 206, 403, 404, 410, a wrong
Content-Length, HEAD refused, redirects, and a server that never answers (bounded time)."""

from __future__ import annotations

import json

import pytest

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
