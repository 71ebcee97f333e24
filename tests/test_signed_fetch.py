"""Fetching from a signed mirror with a public key: the signature is verified first, each file is held to its
signed sha256 while it streams, the bytes loaded are the bytes hashed, and lock, manifest and signature that
disagree are refused naming both. A key with no mirror changes nothing."""

from __future__ import annotations

import hashlib
import json

import pytest

from .signkeys import make_key

SIG = "tresnet-zoo.sig"
FAST = ("--retries", "0", "--timeout", "5")


@pytest.fixture
def signed_mirror(tmp_path, cli, zoo, checkpoints):
    """A folder mirror holding tresnet_m's file and a manifest, signed; the key pair."""
    key = make_key(tmp_path / "keys")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    ckpt = checkpoints["tresnet_m"]
    (mirror / ckpt.filename).write_bytes(ckpt.data)
    (mirror / "tresnet-zoo-manifest.json").write_text(json.dumps({"format": "tresnet-zoo-mirror/1", "files": [
        {"entry": "tresnet_m", "file": ckpt.filename, "size": ckpt.size, "sha256": ckpt.sha256}]}))
    assert cli("sign", mirror, "--private-key", key.private).code == 0
    return mirror, key


def test_fetch_from_a_signed_folder_mirror_verifies_it_first(cli, zoo, signed_mirror, checkpoints, server):
    mirror, key = signed_mirror
    result = cli(*zoo.args("fetch", "tresnet_m", "--mirror", mirror, "--public-key", key.public, "--json", *FAST))
    assert result.code == 0, result.text
    record = json.loads(result.out)["results"][0]
    assert record["sha256"] == checkpoints["tresnet_m"].sha256 and record["hashed"]
    assert not server.hits(checkpoints["tresnet_m"].filename)  # from the mirror, not the index's URL


def test_the_wrong_key_or_no_signature_refuses_before_any_file(cli, zoo, signed_mirror, tmp_path):
    mirror, _ = signed_mirror
    other = make_key(tmp_path / "keys", "other")
    result = cli(*zoo.args("fetch", "tresnet_m", "--mirror", mirror, "--public-key", other.public, *FAST))
    assert result.code == 1 and "does not verify" in result.err, result.text
    assert not zoo.final().exists()
    (mirror / SIG).unlink()
    result = cli(*zoo.args("fetch", "tresnet_m", "--mirror", mirror, "--public-key", other.public, *FAST))
    assert result.code == 1 and f"has no signature {SIG}" in result.err, result.text


def test_a_key_with_no_mirror_changes_nothing(cli, zoo, tmp_path, monkeypatch):
    monkeypatch.setenv("TRESNET_ZOO_PUBLIC_KEY", str(tmp_path / "no-such-key.pem"))
    result = cli(*zoo.args("fetch", "tresnet_m", *FAST))
    assert result.code == 0, result.text
    assert zoo.final().is_file()


def test_a_file_swapped_after_the_signature_was_verified_is_refused(cli, zoo, server, checkpoints, tmp_path):
    """An https/http mirror that serves a valid signature, then other bytes for the file: the stream is hashed
    against the signed sha256 (its only pin: no hash in the name or the index) and discarded."""
    key = make_key(tmp_path / "keys")
    ckpt = checkpoints["tresnet_m"]
    zoo.write(tresnet_m={"filename": "tresnet_m.pth"})
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "tresnet_m.pth").write_bytes(ckpt.data)
    assert cli("sign", folder, "--private-key", key.private).code == 0
    server.add(f"smirror/{SIG}", (folder / SIG).read_bytes())
    server.add("smirror/tresnet_m.pth", ckpt.data)
    server.always("smirror/tresnet_m.pth", "wrong_bytes")
    base = server.url("smirror")
    result = cli(*zoo.args("fetch", "tresnet_m", "--mirror", base, "--public-key", key.public, *FAST))
    assert result.code == 1, result.text
    assert "tresnet_m.pth" in result.err and ckpt.sha256 in result.err and "discarded" in result.err
    assert len(server.hits(f"smirror/{SIG}")) == 1 and len(server.hits("smirror/tresnet_m.pth")) == 1
    server.always("smirror/tresnet_m.pth", None)
    ok = cli(*zoo.args("fetch", "tresnet_m", "--mirror", base, "--public-key", key.public, *FAST))
    assert ok.code == 0, ok.text


def test_an_entry_with_no_other_pin_fetches_when_signed(cli, zoo, checkpoints, tmp_path):
    key = make_key(tmp_path / "keys")
    ckpt = checkpoints["tresnet_m"]
    zoo.write(tresnet_m={"filename": "tresnet_m.pth"})  # no hash in the name, no SHA256 in the index
    mirror = tmp_path / "plain"
    mirror.mkdir()
    (mirror / "tresnet_m.pth").write_bytes(ckpt.data)
    unpinned = cli(*zoo.args("fetch", "tresnet_m", "--mirror", mirror, *FAST))
    assert unpinned.code == 1 and "no hash to check against" in unpinned.err
    assert cli("sign", mirror, "--private-key", key.private).code == 0
    result = cli(*zoo.args("fetch", "tresnet_m", "--mirror", mirror, "--public-key", key.public, "--json", *FAST))
    assert result.code == 0, result.text
    assert json.loads(result.out)["results"][0]["sha256"] == ckpt.sha256


def test_check_counts_a_signed_file_as_pinned(cli, zoo, checkpoints, tmp_path, monkeypatch):
    key = make_key(tmp_path / "keys")
    zoo.write(tresnet_m={"filename": "tresnet_m.pth"})  # no hash in the name, no SHA256 in the index
    mirror = tmp_path / "plain"
    mirror.mkdir()
    (mirror / "tresnet_m.pth").write_bytes(checkpoints["tresnet_m"].data)
    unpinned = cli(*zoo.args("check", "tresnet_m", "--format", "json"))
    assert unpinned.code == 1 and "no hash pinned" in unpinned.out, unpinned.text
    assert cli("sign", mirror, "--private-key", key.private).code == 0
    monkeypatch.setenv("TRESNET_ZOO_MIRROR", str(mirror))
    monkeypatch.setenv("TRESNET_ZOO_PUBLIC_KEY", str(key.public))
    signed = cli(*zoo.args("check", "tresnet_m", "--format", "json"))
    assert "pinned by the mirror's signature" in signed.out and "no hash pinned" not in signed.out, signed.text
    (mirror / "tresnet_m.pth").write_bytes(b"other")  # the signature no longer matches the folder: still the
    assert cli(*zoo.args("check", "tresnet_m", "--format", "json")).code != 70  # signed digest, never a crash


def test_lock_and_signature_disagreeing_are_refused_naming_both(cli, zoo, signed_mirror, checkpoints):
    mirror, key = signed_mirror
    ckpt = checkpoints["tresnet_m"]
    other = ckpt.sha256[:8] + "0" * 56  # agrees with the name's prefix, not with the signed bytes
    lock = zoo.index.with_name("index.lock")
    lock.write_text(json.dumps({"format": "tresnet-zoo-lock/1", "files": {
        ckpt.filename: {"size": ckpt.size, "sha256": other, "entries": ["tresnet_m"]}}}))
    result = cli(*zoo.args("fetch", "tresnet_m", "--mirror", mirror, "--public-key", key.public, *FAST))
    assert result.code == 1, result.text
    assert f"the lock file {lock}" in result.err and "signature" in result.err and other in result.err


def test_manifest_and_signature_disagreeing_are_refused(cli, zoo, signed_mirror, checkpoints):
    mirror, key = signed_mirror
    ckpt = checkpoints["tresnet_m"]
    manifest = mirror / "tresnet-zoo-manifest.json"
    data = json.loads(manifest.read_text())
    data["files"][0]["sha256"] = ckpt.sha256[:8] + "1" * 56
    manifest.write_text(json.dumps(data))
    result = cli(*zoo.args("fetch", "tresnet_m", "--mirror", mirror, "--public-key", key.public, *FAST))
    assert result.code == 1 and "manifest" in result.err and "differs from the one signed" in result.err, result.text
    assert cli("sign", mirror, "--private-key", key.private).code == 0  # now the wrong line is signed too
    result = cli(*zoo.args("fetch", "tresnet_m", "--mirror", mirror, "--public-key", key.public, *FAST))
    assert result.code == 1 and "the mirror's manifest pins" in result.err and "signs sha256" in result.err


def test_create_model_loads_only_the_signed_bytes(zoo, signed_mirror, checkpoints):
    import tresnet_zoo

    mirror, key = signed_mirror
    kwargs = dict(index=zoo.index, cache_dir=zoo.cache, mirror=str(mirror), public_key=key.public)
    assert tresnet_zoo.fetch("tresnet_m", **kwargs) == zoo.final()
    model = tresnet_zoo.create_model("tresnet_m", pretrained=True, **kwargs)
    assert model.num_classes == 1000
    data = bytearray(zoo.final().read_bytes())  # swapped in the cache between verification and load
    data[-100] ^= 1
    zoo.final().write_bytes(bytes(data))
    with pytest.raises(tresnet_zoo.ZooError) as caught:
        tresnet_zoo.create_model("tresnet_m", pretrained=True, **kwargs)
    assert caught.value.exit_code == 1 and hashlib.sha256(bytes(data)).hexdigest()[:16] in str(caught.value)


def test_mirror_push_into_a_signed_folder_says_stale_and_re_signs(cli, zoo, signed_mirror, checkpoints):
    mirror, key = signed_mirror
    assert cli(*zoo.args("fetch", "tresnet_m_release", *FAST)).code == 0
    pushed = cli(*zoo.args("mirror", "push", mirror, "tresnet_m_release"))
    assert pushed.code == 0, pushed.text
    assert f"{SIG} no longer matches" in pushed.err and "--sign" in pushed.err
    stale = cli("verify-signature", mirror, "--public-key", key.public)
    assert stale.code == 1 and checkpoints["tresnet_m_release"].filename in stale.err
    assert cli(*zoo.args("mirror", "push", mirror, "tresnet_m_release", "--sign", key.private)).code == 0
    assert cli("verify-signature", mirror, "--public-key", key.public).code == 0


def test_a_huge_or_hostile_signature_on_an_http_mirror_is_refused(cli, zoo, server, checkpoints, tmp_path):
    key = make_key(tmp_path / "keys")
    ckpt = checkpoints["tresnet_m"]
    server.add(f"hmirror/{ckpt.filename}", ckpt.data)
    base = server.url("hmirror")
    for body, words in (((b"{" * 50) + b" " * (5 << 20), "more than"), (b"[" * 100_000, "not a JSON Sigstore bundle")):
        server.add(f"hmirror/{SIG}", body)
        result = cli(*zoo.args("fetch", "tresnet_m", "--mirror", base, "--public-key", key.public, *FAST))
        assert result.code == 1 and words in result.err, result.text
        assert not server.hits(f"hmirror/{ckpt.filename}")  # refused before any weight byte was asked for


def test_a_file_the_signature_does_not_list_is_not_fetched_from_the_mirror(cli, zoo, signed_mirror, checkpoints):
    mirror, key = signed_mirror
    release = checkpoints["tresnet_m_release"]
    (mirror / release.filename).write_bytes(release.data)  # added after signing
    result = cli(*zoo.args("fetch", "tresnet_m_release", "--mirror", mirror, "--public-key", key.public, *FAST))
    assert result.code == 1 and release.filename in result.err and "is not signed" in result.err, result.text


@pytest.fixture
def s3_bucket(monkeypatch):
    """A real S3 server on loopback (moto's), its endpoint and credentials in the standard AWS variables."""
    pytest.importorskip("s3fs")
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"
    for name, value in (("AWS_ACCESS_KEY_ID", "AKIATESTKEY0123"), ("AWS_SECRET_ACCESS_KEY", "test-secret"),
                        ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_ENDPOINT_URL", endpoint)):
        monkeypatch.setenv(name, value)
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket="signed")
    yield client
    server.stop()


@pytest.mark.slow
def test_fetch_from_a_signed_object_store_mirror(cli, zoo, checkpoints, tmp_path, s3_bucket):
    """The same on S3: the signature object at the prefix's root is read with a byte bound, and a replaced
    object is refused against its signed sha256."""
    key = make_key(tmp_path / "keys")
    ckpt = checkpoints["tresnet_m"]
    zoo.write(tresnet_m={"filename": "tresnet_m.pth"})  # the signature is its only pin
    folder = tmp_path / "to-upload"
    folder.mkdir()
    (folder / "tresnet_m.pth").write_bytes(ckpt.data)
    assert cli("sign", folder, "--private-key", key.private).code == 0
    for name in ("tresnet_m.pth", SIG):
        s3_bucket.put_object(Bucket="signed", Key=f"m/{name}", Body=(folder / name).read_bytes())
    dest = "s3://signed/m"
    ok = cli(*zoo.args("fetch", "tresnet_m", "--mirror", dest, "--public-key", key.public, "--json", *FAST))
    assert ok.code == 0, ok.text
    assert json.loads(ok.out)["results"][0]["sha256"] == ckpt.sha256
    s3_bucket.put_object(Bucket="signed", Key="m/tresnet_m.pth", Body=ckpt.data[:-1] + bytes([ckpt.data[-1] ^ 1]))
    bad = cli(*zoo.args("fetch", "tresnet_m", "--mirror", dest, "--public-key", key.public, "--force", *FAST))
    assert bad.code == 1 and ckpt.sha256 in bad.err, bad.text


def test_signed_digest_is_the_pin_check_can_count(signed_mirror, checkpoints, monkeypatch, tmp_path):
    from tresnet_zoo.weights.signing import SignatureError, signed_digest

    mirror, key = signed_mirror
    ckpt = checkpoints["tresnet_m"]
    assert signed_digest(ckpt.filename) is None  # no mirror, no key: nothing is pinned by a signature
    monkeypatch.setenv("TRESNET_ZOO_MIRROR", str(mirror))
    monkeypatch.setenv("TRESNET_ZOO_PUBLIC_KEY", str(key.public))
    assert signed_digest(ckpt.filename) == ckpt.sha256
    assert signed_digest("not-signed.pth") is None
    other = make_key(tmp_path / "keys", "other")
    with pytest.raises(SignatureError):
        signed_digest(ckpt.filename, public_key=str(other.public))


def test_the_key_from_the_environment_applies_to_the_api(zoo, signed_mirror, monkeypatch, tmp_path):
    import tresnet_zoo
    from tresnet_zoo.weights.signing import SignatureError

    mirror, _ = signed_mirror
    other = make_key(tmp_path / "keys", "other")
    monkeypatch.setenv("TRESNET_ZOO_PUBLIC_KEY", str(other.public))
    with pytest.raises(SignatureError) as caught:
        tresnet_zoo.fetch("tresnet_m", index=zoo.index, cache_dir=zoo.cache, mirror=str(mirror))
    assert caught.value.exit_code == 1 and "does not verify" in str(caught.value)
    assert not zoo.final().exists()
