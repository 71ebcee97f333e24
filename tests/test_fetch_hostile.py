"""Hostile servers and mirrors, against real loopback servers: no size limit, slow drips, links that drop,
redirect chains, credentials in URLs, file sources confined to their folder, DNS failures, proxies and CA
bundles.

Small random files (a few MB) keep these fast; no torch needed.
"""

from __future__ import annotations

import json

import pytest

from .helpers.cli import one_error
from .helpers.indexes import blob, index_text
from .helpers.servers import ConnectProxy, FaultServer

FAST = ("--timeout", "5", "--retries", "2", "--quiet")


# --- limits -----------------------------------------------------------------------------------------------


def test_an_entry_without_file_size_needs_an_explicit_limit(cli, site):
    site.write(size=None)
    refused = cli(*site.args("fetch", "tresnet_m", *FAST))
    assert refused.code == 3
    assert "gives no File Size" in one_error(refused) and "--max-bytes N" in refused.err
    assert not site.web.hits(site.name)  # refused before any request
    small = cli(*site.args("fetch", "tresnet_m", "--max-bytes", "1000", *FAST))
    assert small.code == 3 and "more than the limit of 1000" in one_error(small)
    assert not site.final().exists() and not site.partials()
    # an endless server: the limit holds while streaming too (no Content-Length)
    site.web.always(site.name, "extra_bytes", extra=50 << 20, no_length=True)
    endless = cli(*site.args("fetch", "tresnet_m", "--max-bytes", str(len(site.data) + 10), *FAST))
    assert endless.code == 3 and "sent more than the limit" in one_error(endless)
    site.web.reset()
    ok = cli(*site.args("fetch", "tresnet_m", "--max-bytes", str(len(site.data)), *FAST))
    assert ok.code == 0, ok.text
    assert site.final().read_bytes() == site.data


def test_a_slow_drip_trips_the_minimum_speed_and_keeps_every_byte(cli, site):
    site.web.always(site.name, "drip", interval=0.05)
    result = cli(*site.args("fetch", "tresnet_m", "--speed-limit", "1000", "--speed-time", "1", "--timeout", "5",
                            "--retries", "1", "--quiet"))
    assert result.code == 3, result.text
    assert "broke 2 times" in one_error(result) and "slower than 1000 bytes/s for 1 s" in result.err
    (partial,) = site.partials()
    kept = partial.stat().st_size
    assert kept >= 20 and site.data.startswith(partial.read_bytes())  # the dripped bytes reached the disk
    hits = site.web.hits(site.name)
    assert len(hits) == 2 and hits[1]["Range"].startswith("bytes=")  # the resume counted as the retry
    site.web.reset()
    done = cli(*site.args("fetch", "tresnet_m", *FAST))
    assert done.code == 0 and site.web.hits(site.name)[0]["Range"] == f"bytes={kept}-"
    assert site.final().read_bytes() == site.data


def test_an_overall_deadline(cli, site):
    site.web.always(site.name, "drip", interval=0.05)
    result = cli(*site.args("fetch", "tresnet_m", "--deadline", "1.5", "--speed-limit", "0", *FAST))
    assert result.code == 3, result.text
    assert "did not finish within the deadline of 1.5 s" in one_error(result)  # the deadline, reported as hit
    assert len(site.web.hits(site.name)) == 1  # a deadline is not retried (--retries 2)


def test_a_link_that_drops_every_700_kb_completes_with_resumes(cli, site):
    site.web.always(site.name, "cut", every=700_000)
    result = cli(*site.args("fetch", "tresnet_m", *FAST))
    assert result.code == 0, result.text
    starts = [h.get("Range") for h in site.web.hits(site.name)]
    assert starts == [None, "bytes=700000-", "bytes=1400000-"]  # not one received byte lost
    assert site.final().read_bytes() == site.data


# --- redirects ----------------------------------------------------------------------------------------------


def test_a_redirect_chain_is_followed_hop_by_hop(cli, site):
    site.web.always("a/" + site.name, "redirect", to="/b/" + site.name)
    site.web.always("b/" + site.name, "redirect", to=site.url)
    site.write(url=site.web.url("a/" + site.name))
    result = cli(*site.args("fetch", "tresnet_m", *FAST))
    assert result.code == 0, result.text
    assert [len(site.web.hits(p)) for p in ("a/" + site.name, "b/" + site.name, site.name)] == [1, 1, 1]


@pytest.mark.parametrize("target", ["http://198.51.100.7/x/{name}", "ftp://127.0.0.1/{name}", "file:///etc/{name}"])
def test_a_redirect_leaving_https_is_refused_before_it_is_requested(cli, site, target):
    """Plain http to another host (here an address that would hang if contacted), other schemes: refused at
    the hop, before any connection, also as an intermediate hop."""
    site.web.always("a/" + site.name, "redirect", to="/b/" + site.name)
    site.web.always("b/" + site.name, "redirect", to=target.format(name=site.name))
    site.write(url=site.web.url("a/" + site.name))
    result = cli(*site.args("fetch", "tresnet_m", *FAST))
    assert result.code == 3, result.text
    line = one_error(result)  # refused at the hop: a contacted host would be a connection error instead
    assert f"redirects to {target.format(name=site.name)}, which is refused" in line
    assert not site.final().exists() and not site.web.hits(site.name)


# --- credentials --------------------------------------------------------------------------------------------


def test_credentials_in_a_url_are_never_printed_or_stored(cli, site):
    secret_url = site.url.replace("http://", "http://alice:s3cr3t-pw@")
    site.write(url=secret_url)
    result = cli(*site.args("fetch", "tresnet_m", *FAST, "--json"))
    assert result.code == 0, result.text
    assert "s3cr3t" not in result.text and "alice" not in result.text
    assert "Authorization" in site.web.hits(site.name)[0]  # the credentials were used, just never shown
    record = (site.cache / "records" / (site.name + ".json")).read_text()
    assert "s3cr3t" not in record and json.loads(record)["url"].startswith("http://***@127.0.0.1")
    info = cli(*site.args("cache", "info", "--json"))
    assert "s3cr3t" not in info.text
    site.web.always(site.name, "status", code=404)
    failed = cli(*site.args("fetch", "tresnet_m", "--force", *FAST))
    assert failed.code == 3 and "HTTP 404" in failed.err and "s3cr3t" not in failed.text


# --- mirrors --------------------------------------------------------------------------------------------------


def test_file_source_confines_names(tmp_path):
    from tresnet_zoo.errors import DownloadError
    from tresnet_zoo.weights.transports.file import FileSource

    for bad in ("../x.pth", "a/../../x.pth", "..", ".hidden"):
        with pytest.raises(DownloadError):
            FileSource(tmp_path, bad)


# --- DNS, proxies, CA bundles ---------------------------------------------------------------------------------


def test_a_name_that_does_not_resolve_fails_fast(cli, site):
    site.write(url=f"https://tresnet-zoo-test.invalid/w/{site.name}")
    result = cli(*site.args("fetch", "tresnet_m", "--retries", "5", "--quiet"))
    assert result.code == 3, result.text
    line = one_error(result)  # fast: no retry (a retry would say "after N retries")
    assert "cannot resolve the host name" in line and "retries" not in line


@pytest.fixture
def tls(tmp_path):
    pytest.importorskip("cryptography")  # a test dependency (pyproject [test]); the venv has it
    from .helpers.servers import self_signed_cert

    cert, key = self_signed_cert(tmp_path)
    server = FaultServer(tls=(cert, key))
    proxy = ConnectProxy()
    yield server, proxy, cert
    proxy.close()
    server.close()


@pytest.mark.parametrize("ca_var", ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"])
def test_https_through_a_connect_proxy_with_a_private_ca(cli, tmp_path, tls, monkeypatch, ca_var):
    server, proxy, cert = tls
    name, data = blob(1_500_000, 7)
    server.add(name, data)
    url = server.url(name, host="localhost")
    site_index = tmp_path / "i.yml"
    site_index.write_text(index_text(url, len(data)))
    for var in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                "SSL_CERT_FILE", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    args = ["--index", str(site_index), "--cache-dir", str(tmp_path / "c"), "fetch", "tresnet_m", *FAST]
    untrusted = cli(*args)
    assert untrusted.code == 3 and "TLS certificate not trusted" in one_error(untrusted)
    monkeypatch.setenv(ca_var, cert)
    result = cli(*args)
    assert result.code == 0, result.text
    assert (tmp_path / "c" / name).read_bytes() == data
    assert proxy.targets and set(proxy.targets) == {f"localhost:{server.port}"}  # every request went through the proxy
    monkeypatch.setenv("NO_PROXY", "localhost")
    before = len(proxy.targets)
    again = cli(*[*args, "--force"])
    assert again.code == 0 and len(proxy.targets) == before  # NO_PROXY: straight to the server


def test_a_redirect_from_https_down_to_plain_http_is_refused(cli, tmp_path, tls, monkeypatch):
    """Loopback http is allowed for URLs the user or the index chose; a server's redirect may not step down
    from https to it (nor send a remote host's client to this machine: see test_urls_redirect_policy)."""
    server, _, cert = tls
    plain = FaultServer()
    try:
        name, data = blob(1000, 9)
        plain.add(name, data)
        server.always(f"a/{name}", "redirect", to=plain.url(name))
        index = tmp_path / "i.yml"
        index.write_text(index_text(server.url(f"a/{name}", host="localhost"), len(data)))
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)
        for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(var, raising=False)
        result = cli("--index", index, "--cache-dir", tmp_path / "c", "fetch", "tresnet_m", *FAST)
        assert result.code == 3 and "a redirect from https to plain http" in one_error(result), result.text
        assert not plain.hits(name)
    finally:
        plain.close()


@pytest.mark.parametrize("source, target, refused", [
    ("https://weights.example/a.pth", "http://127.0.0.1:8080/a.pth", "https to plain http"),
    ("https://weights.example/a.pth", "https://localhost/a.pth", "another host to this machine"),
    ("https://weights.example/a.pth", "https://[::1]/a.pth", "another host to this machine"),
    ("http://127.0.0.1:1/a.pth", "http://localhost:2/b.pth", None),  # a local server to itself: as chosen
    ("https://weights.example/a.pth", "https://cdn.example/a.pth", None),
])
def test_urls_redirect_policy(source, target, refused):
    from tresnet_zoo._urls import redirect_problem

    why = redirect_problem(source, target)
    assert (why is None) if refused is None else (refused in why), why


@pytest.mark.parametrize("host", ["a..b", "a" * 300 + ".com", "x." + "b" * 64 + ".org", ".lead"])
def test_an_unusable_host_name_is_refused_not_a_crash(cli, tmp_path, host):
    """Host names with an empty label or one over 63 characters passed validation, and urllib3's parse
    error surfaced as exit 70 from fetch and check --links. Validation refuses them now, with the line;
    the same URL as a mirror is refused by the policy before any request."""
    index = tmp_path / "i.yml"
    index.write_text(index_text(f"https://{host}/x-0123abcd.pth", 100))
    got = cli("validate", index)
    assert got.code == 1, got.text
    assert "empty label or one longer than 63" in got.text or "longer than 253" in got.text, got.text
    good = tmp_path / "good.yml"
    good.write_text(index_text("https://example.org/x-0123abcd.pth", 100))
    got = cli("--index", good, "--cache-dir", tmp_path / "c", "fetch", "tresnet_m", "--mirror", f"https://{host}/w",
              *FAST)
    assert got.code in (2, 3) and "is not a valid URL" in got.err, got.text


@pytest.mark.parametrize("location", ["http://[x/{name}", "//[::1/{name}", "https://a..b/{name}"])
def test_an_unparsable_redirect_location_is_a_clean_error(cli, site, location):
    """A server's Location header is hostile text: one that `urljoin` cannot even parse (an unclosed IPv6
    bracket) or a host no DNS name can have is refused at the hop, one error line, never exit 70; the same
    for `check --links`."""
    site.web.always("a/" + site.name, "redirect", to=location.format(name=site.name))
    site.write(url=site.web.url("a/" + site.name))
    result = cli(*site.args("fetch", "tresnet_m", *FAST))
    assert result.code == 3 and "redirect" in one_error(result) and "refused" in one_error(result), result.text
    assert not site.final().exists()
    links = cli("check", "--index", site.index, "--links", "--link-timeout", "2", "--json")
    assert links.code in (1, 3) and "internal error" not in links.text, links.text

