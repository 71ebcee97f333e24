"""One HTTP policy: fetch, `check --links` and the Hugging Face source share one session factory (CA bundle
and proxy variables, identity encoding) and one redirect follower. Against a real loopback https server
whose certificate is signed by a CA made here: trusted through SSL_CERT_FILE by both paths, refused without."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl

import pytest

from .helpers.servers import LinkServer, Route

SIZE = 100
PATH = "/w/tresnet_m-00000001.pth"


def _pem_pair(tmp_path):
    """A CA and a server certificate for 127.0.0.1 it signs: (ca.pem, cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tresnet-zoo test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "HTTPS_PROXY", "https_proxy",
                     "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
    ca, cert, key = _pem_pair(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = LinkServer({PATH: Route(200, SIZE)}, tls=context)
    yield server, ca
    server.close()


def _entry(tmp_path, url):
    from tresnet_zoo import load_index

    index = tmp_path / "tls.yml"
    index.write_text(f"Models:\n- Name: tresnet_m_tls\n  Metadata:\n    File Size: {SIZE}\n  Weights: {url}\n")
    return load_index(index).get("tresnet_m_tls")


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_check_links_and_fetch_trust_the_ca_bundle_of_the_environment(tls_server, tmp_path, monkeypatch, variable):
    from tresnet_zoo.weights.links import check_links
    from tresnet_zoo.weights.transports import DownloadConfig
    from tresnet_zoo.weights.transports.http import HttpSource

    server, ca = tls_server
    entry = _entry(tmp_path, server.url(PATH))
    monkeypatch.setenv(variable, str(ca))
    [link] = check_links([entry], timeout=5).results
    assert (link.status, link.code, link.size) == ("alive", 200, SIZE), link.message
    source = HttpSource(server.url(PATH), DownloadConfig(retries=0))
    try:
        stream = source.open(0)
        assert stream.length == SIZE
        stream.close()
    finally:
        source.close()


def test_without_the_ca_both_paths_refuse_the_certificate(tls_server, tmp_path):
    from tresnet_zoo.errors import DownloadError
    from tresnet_zoo.weights.links import check_links
    from tresnet_zoo.weights.transports import DownloadConfig
    from tresnet_zoo.weights.transports.http import HttpSource

    server, _ = tls_server
    [link] = check_links([_entry(tmp_path, server.url(PATH))], timeout=5).results
    assert link.status == "unreachable" and "TLS certificate not trusted" in link.message, link.message
    source = HttpSource(server.url(PATH), DownloadConfig(retries=0))
    with pytest.raises(DownloadError, match="TLS certificate not trusted"):
        source.open(0)
    source.close()


def test_one_session_configuration(monkeypatch, tmp_path):
    """Downloads and link checks get the same session settings from the one factory."""
    from tresnet_zoo.weights import links
    from tresnet_zoo.weights.transports import DownloadConfig
    from tresnet_zoo.weights.transports.http import ca_bundle, session

    bundle = tmp_path / "bundle.pem"
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert ca_bundle() == str(bundle)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", os.devnull)  # requests' own variable wins, as in requests
    assert ca_bundle() == os.devnull
    monkeypatch.setattr(links._local, "session", None, raising=False)  # this thread's session, made now
    download, probe = session(DownloadConfig()), links._session()
    for http in (download, probe):
        assert http.verify == os.devnull and http.trust_env
        assert http.headers["Accept-Encoding"] == "identity"
        assert http.headers["User-Agent"].startswith("tresnet-zoo/")
    assert list(download.resolve_redirects(None, None)) == []
