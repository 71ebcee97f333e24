"""Object-store mirrors over a real S3 server on loopback (moto's threaded server: the S3 protocol over
HTTP, started and stopped here), `mirror push` with its manifest written last, and the lock file."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import uuid

import pytest

torch = pytest.importorskip("torch")
boto3 = pytest.importorskip("boto3")
pytest.importorskip("s3fs")

SECRET = "sEcReT-" + uuid.uuid4().hex  # must never appear in any output or record
KEY_ID = "AKIATESTKEY0123"
BUCKET = "zoo-weights"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    """Credentials and endpoint through the standard AWS variables, and a fresh bucket client."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    client = boto3.client("s3", endpoint_url=s3_server)
    try:
        client.create_bucket(Bucket=BUCKET)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    return client


def no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text


def prefix() -> str:
    return "m-" + uuid.uuid4().hex[:8]


def test_push_then_fetch_into_a_fresh_cache(cli, zoo, s3, checkpoints, tmp_path):
    ckpt = checkpoints["tresnet_m"]
    assert cli(*zoo.args("fetch", "tresnet_m", "--quiet")).code == 0
    dest = f"s3://{BUCKET}/{prefix()}"
    pushed = cli(*zoo.args("mirror", "push", dest, "tresnet_m"))
    assert pushed.code == 0, pushed.text
    assert "pushed: tresnet_m" in pushed.out and "manifest:" in pushed.out
    key = dest.split("/", 3)[3]
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{key}/tresnet-zoo-manifest.json")["Body"].read())
    assert manifest["files"] == [
        {"entry": "tresnet_m", "file": ckpt.filename, "size": ckpt.size, "sha256": ckpt.sha256}
    ]
    assert s3.get_object(Bucket=BUCKET, Key=f"{key}/{ckpt.filename}")["Body"].read() == ckpt.data

    fresh = tmp_path / "fresh-cache"
    got = cli("--index", zoo.index, "--cache-dir", fresh, "fetch", "tresnet_m", "--mirror", dest, "--quiet", "--json")
    assert got.code == 0, got.text
    result = json.loads(got.out)["results"][0]
    assert result["downloaded"] and result["source"] == f"{dest}/{ckpt.filename}"
    assert (fresh / ckpt.filename).read_bytes() == ckpt.data
    records = "".join(p.read_text() for p in (fresh / "records").iterdir())
    no_secret(pushed.text, got.text, records, json.dumps(manifest))
    # a second push of the same bytes finds them there (size, and the ETag is our bytes' MD5) and keeps them
    before = s3.head_object(Bucket=BUCKET, Key=f"{key}/{ckpt.filename}")["LastModified"]
    again = cli(*zoo.args("mirror", "push", dest, "tresnet_m"))
    assert again.code == 0 and "already there: tresnet_m" in again.out and "ETag" in again.out, again.text
    assert s3.head_object(Bucket=BUCKET, Key=f"{key}/{ckpt.filename}")["LastModified"] == before


def test_changed_or_missing_object_is_rejected(cli, zoo, s3, checkpoints, tmp_path):
    ckpt = checkpoints["tresnet_m"]
    assert cli(*zoo.args("fetch", "tresnet_m", "--quiet")).code == 0
    dest = f"s3://{BUCKET}/{prefix()}"
    assert cli(*zoo.args("mirror", "push", dest)).code == 0
    key = dest.split("/", 3)[3] + "/" + ckpt.filename
    tampered = bytearray(ckpt.data)
    tampered[1000:1004] = b"EVIL"
    s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(tampered))
    got = cli("--index", zoo.index, "--cache-dir", tmp_path / "c1", "fetch", "tresnet_m", "--mirror", dest, "--quiet")
    assert got.code == 1, got.text
    assert "sha256" in got.err and ckpt.filename in got.err
    assert not (tmp_path / "c1" / ckpt.filename).exists()

    s3.put_object(Bucket=BUCKET, Key=key, Body=ckpt.data + b"x")
    got = cli("--index", zoo.index, "--cache-dir", tmp_path / "c2", "fetch", "tresnet_m", "--mirror", dest, "--quiet")
    assert got.code == 1 and f"announces {ckpt.size + 1} bytes" in got.err, got.text

    s3.delete_object(Bucket=BUCKET, Key=key)
    got = cli("--index", zoo.index, "--cache-dir", tmp_path / "c3", "fetch", "tresnet_m", "--mirror", dest, "--quiet")
    assert got.code == 3 and "not found in the object store" in got.err, got.text  # unavailable: the environment
    no_secret(got.text)


def test_manifest_that_disagrees_with_the_index_is_an_error(cli, zoo, s3, checkpoints, tmp_path):
    ckpt = checkpoints["tresnet_m"]
    dest = f"s3://{BUCKET}/{prefix()}"
    key = dest.split("/", 3)[3]
    s3.put_object(Bucket=BUCKET, Key=f"{key}/{ckpt.filename}", Body=ckpt.data)
    wrong = {
        "format": "tresnet-zoo-mirror/1",
        "files": [{"entry": "tresnet_m", "file": ckpt.filename, "size": ckpt.size, "sha256": "0" * 64}],
    }
    s3.put_object(Bucket=BUCKET, Key=f"{key}/tresnet-zoo-manifest.json", Body=json.dumps(wrong).encode())
    got = cli("--index", zoo.index, "--cache-dir", tmp_path / "c", "fetch", "tresnet_m", "--mirror", dest, "--quiet")
    assert got.code == 1 and "manifest disagrees with the index" in got.err, got.text
    # without a manifest the mirror still works, by name and the index's checks, and says so
    s3.delete_object(Bucket=BUCKET, Key=f"{key}/tresnet-zoo-manifest.json")
    got = cli("--index", zoo.index, "--cache-dir", tmp_path / "c", "fetch", "tresnet_m", "--mirror", dest, "--quiet")
    assert got.code == 0 and "has no manifest" in got.err, got.text


def test_interrupted_push_leaves_no_manifest(cli, zoo, s3, checkpoints):
    good, bad = checkpoints["tresnet_m"], checkpoints["tresnet_m_release"]
    assert cli(*zoo.args("fetch", "--all", "--quiet")).code == 0
    # the second file goes bad in the cache after it was verified (same size, other bytes)
    path = zoo.final("tresnet_m_release")
    data = bytearray(path.read_bytes())
    data[-100:-96] = b"EVIL"
    path.write_bytes(bytes(data))
    dest = f"s3://{BUCKET}/{prefix()}"
    key = dest.split("/", 3)[3]
    got = cli(*zoo.args("mirror", "push", dest))
    assert got.code == 1, got.text
    assert "manifest not written" in got.err and bad.filename in got.err
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=key).get("Contents", [])}
    assert f"{key}/tresnet-zoo-manifest.json" not in listed
    assert f"{key}/{bad.filename}" not in listed  # the aborted upload left nothing behind
    assert f"{key}/{good.filename}" in listed

    # a file that vanished from the cache (its record still there): no manifest either
    path.unlink()
    got = cli(*zoo.args("mirror", "push", dest, "tresnet_m", "tresnet_m_release"))
    assert got.code == 1 and "manifest not written" in got.err
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=key).get("Contents", [])}
    assert f"{key}/tresnet-zoo-manifest.json" not in listed
    no_secret(got.text)


def test_push_to_a_folder_and_fetch_from_it(cli, zoo, checkpoints, tmp_path):
    ckpt = checkpoints["tresnet_m"]
    assert cli(*zoo.args("fetch", "tresnet_m", "--quiet")).code == 0
    folder = tmp_path / "mirror"
    got = cli(*zoo.args("mirror", "push", folder, "tresnet_m"))
    assert got.code == 0, got.text
    manifest = json.loads((folder / "tresnet-zoo-manifest.json").read_text())
    assert manifest["files"][0]["sha256"] == ckpt.sha256 and manifest["tresnet_zoo"]
    assert not list(folder.glob(".*.tmp"))
    got = cli(
        "--index", zoo.index, "--cache-dir", tmp_path / "fresh", "fetch", "tresnet_m", "--mirror", folder, "--quiet"
    )
    assert got.code == 0, got.text
    # a different file already under that name in the folder is never overwritten
    (folder / ckpt.filename).write_bytes(b"not ours")
    got = cli(*zoo.args("mirror", "push", folder, "tresnet_m"))
    assert got.code == 1 and "does not overwrite" in got.err
    assert (folder / ckpt.filename).read_bytes() == b"not ours"


def test_push_never_overwrites_another_object_in_the_store(cli, zoo, s3, checkpoints):
    """Other bytes under the file's name in the bucket (a neighbour's, an older upload) stay as they are, and
    no manifest vouches for the mirror; the same bytes uploaded by another tool in other part sizes (another
    ETag) are hashed and kept."""
    from boto3.s3.transfer import TransferConfig

    ckpt = checkpoints["tresnet_m"]
    assert cli(*zoo.args("fetch", "tresnet_m", "--quiet")).code == 0
    dest = f"s3://{BUCKET}/{prefix()}"
    key = dest.split("/", 3)[3]
    theirs = bytearray(ckpt.data)
    theirs[5000:5004] = b"MINE"  # same size, other bytes
    s3.put_object(Bucket=BUCKET, Key=f"{key}/{ckpt.filename}", Body=bytes(theirs))
    got = cli(*zoo.args("mirror", "push", dest, "tresnet_m"))
    assert got.code == 1 and "does not overwrite" in got.err and "manifest not written" in got.err, got.text
    assert s3.get_object(Bucket=BUCKET, Key=f"{key}/{ckpt.filename}")["Body"].read() == bytes(theirs)
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=key).get("Contents", [])}
    assert f"{key}/tresnet-zoo-manifest.json" not in listed

    import io

    other = f"s3://{BUCKET}/{prefix()}"
    other_key = other.split("/", 3)[3]
    s3.upload_fileobj(io.BytesIO(ckpt.data), BUCKET, f"{other_key}/{ckpt.filename}",
                      Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
    got = cli(*zoo.args("mirror", "push", other, "tresnet_m", "--json"))
    assert got.code == 0, got.text
    (line,) = json.loads(got.out)["already"]
    assert line["checked_by"] == "sha256" and line["sha256"] == ckpt.sha256


def test_missing_backend_is_an_environment_error(cli, zoo, tmp_path):
    got = cli(*zoo.args("fetch", "tresnet_m", "--mirror", "gcs://bucket/weights", "--quiet"))
    assert got.code == 3, got.text  # the environment: a missing extra, named with an install hint
    assert "needs an fsspec backend" in got.err or "not installed" in got.err
    from tresnet_zoo.errors import MissingExtraError
    from tresnet_zoo.weights.transports.objectstore import ObjectStore

    with pytest.raises(MissingExtraError) as info:
        ObjectStore("gcs://bucket/weights")
    assert info.value.exit_code == 3 and info.value.hint


# --- the lock file ------------------------------------------------------------------------------------------


def test_lock_pins_files_and_tampering_is_refused(cli, zoo, s3, checkpoints, tmp_path):
    ckpt = checkpoints["tresnet_m"]
    assert cli(*zoo.args("fetch", "tresnet_m", "--quiet")).code == 0
    locked = cli(*zoo.args("lock", "tresnet_m"))
    assert locked.code == 0, locked.text
    lock_file = zoo.index.with_name("index.lock")
    data = json.loads(lock_file.read_text())
    assert data["files"][ckpt.filename] == {"size": ckpt.size, "sha256": ckpt.sha256, "entries": ["tresnet_m"]}

    dest = f"s3://{BUCKET}/{prefix()}"
    assert cli(*zoo.args("mirror", "push", dest, "tresnet_m")).code == 0

    # the cached file is replaced and its record claims a hash with the right 8-digit prefix: the prefix
    # alone would accept the record; the lock's full sha256 does not
    fake = ckpt.sha256[:8] + "f" * 56
    zoo.final().write_bytes(b"\0" * ckpt.size)
    record = zoo.cache / "records" / (ckpt.filename + ".json")
    rec = json.loads(record.read_text())
    rec["sha256"] = fake
    record.write_text(json.dumps(rec))
    verify = cli(*zoo.args("verify", "tresnet_m"))
    assert verify.code == 1 and ckpt.sha256 in verify.err, verify.text
    fetched = cli(*zoo.args("fetch", "tresnet_m", "--quiet", "--json"))
    assert fetched.code == 0 and json.loads(fetched.out)["results"][0]["downloaded"], (
        fetched.text
    )  # not the tampered one
    assert zoo.final().read_bytes() == ckpt.data

    # the bucket copy tampered together with its manifest: the lock refuses it
    key = dest.split("/", 3)[3]
    evil = b"\1" * ckpt.size
    s3.put_object(Bucket=BUCKET, Key=f"{key}/{ckpt.filename}", Body=evil)
    manifest = {
        "format": "tresnet-zoo-mirror/1",
        "files": [
            {"entry": "tresnet_m", "file": ckpt.filename, "size": ckpt.size, "sha256": hashlib.sha256(evil).hexdigest()}
        ],
    }
    s3.put_object(Bucket=BUCKET, Key=f"{key}/tresnet-zoo-manifest.json", Body=json.dumps(manifest).encode())
    got = cli("--index", zoo.index, "--cache-dir", tmp_path / "c", "fetch", "tresnet_m", "--mirror", dest, "--quiet")
    assert got.code == 1 and "disagrees" in got.err, got.text
    assert not (tmp_path / "c" / ckpt.filename).exists()

    # an index File Size that no longer matches the lock is an error, never a silent override
    zoo.write(tresnet_m={"size": ckpt.size + 1})
    got = cli(*zoo.args("fetch", "tresnet_m", "--quiet"))
    assert got.code == 1 and "lock file" in got.err and "disagrees" in got.err, got.text


def test_check_reports_entries_without_a_lock_line(cli, zoo, checkpoints):
    assert cli(*zoo.args("fetch", "tresnet_m", "--quiet")).code == 0
    assert cli(*zoo.args("lock")).code == 0  # tresnet_m_release is not cached: no line for it
    got = cli("check", "--index", zoo.index, "--json")
    entries = {e["name"]: {v["field"]: v for v in e["verdicts"]} for e in json.loads(got.out)["entries"]}
    assert entries["tresnet_m"]["Lock"]["status"] == "ok"
    assert entries["tresnet_m_release"]["Lock"]["status"] == "wrong"
    assert "no line in the lock" in entries["tresnet_m_release"]["Lock"]["message"]


def test_create_model_pretrained_holds_the_file_to_the_lock(cli, zoo, checkpoints):
    import tresnet_zoo
    from tresnet_zoo.errors import IntegrityError

    ckpt = checkpoints["tresnet_m"]
    assert cli(*zoo.args("fetch", "tresnet_m", "--quiet")).code == 0
    lock_file = zoo.index.with_name("index.lock")
    assert cli(*zoo.args("lock", "tresnet_m")).code == 0
    model = tresnet_zoo.create_model("tresnet_m", pretrained=True, index=zoo.index, cache_dir=zoo.cache)
    assert model is not None
    # a lock pinning other bytes (same size, same 8-digit prefix): the cached file no longer counts, and
    # the download does not match either
    data = json.loads(lock_file.read_text())
    data["files"][ckpt.filename]["sha256"] = ckpt.sha256[:8] + "0" * 56
    lock_file.write_text(json.dumps(data))
    with pytest.raises(IntegrityError) as info:
        tresnet_zoo.create_model("tresnet_m", pretrained=True, index=zoo.index, cache_dir=zoo.cache)
    assert ckpt.sha256[:8] + "0" * 56 in info.value.message


def test_lock_refuses_the_bundled_registry(cli):
    got = cli("lock")
    assert got.code == 2 and "--output" in got.err


def test_resume_from_a_partial_with_a_ranged_read(s3, checkpoints, tmp_path):
    from tresnet_zoo.weights.hashes import Expected
    from tresnet_zoo.weights.transports import DownloadConfig, download

    ckpt = checkpoints["tresnet_m"]
    key = f"{prefix()}/{ckpt.filename}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=ckpt.data)
    part = tmp_path / "partial.part"
    half = ckpt.size // 2
    part.write_bytes(ckpt.data[:half])
    expected = Expected(ckpt.filename, ckpt.size, ckpt.filename.rsplit("-", 1)[1][:8], ckpt.sha256)
    fd = os.open(part, os.O_RDWR | os.O_APPEND)
    try:
        size, digest = download(f"s3://{BUCKET}/{key}", fd, expected, DownloadConfig())
    finally:
        os.close(fd)
    assert (size, digest) == (ckpt.size, ckpt.sha256)  # had the read started at 0, the file would be too long
    assert part.read_bytes() == ckpt.data


def test_unreachable_endpoint_names_no_secret(cli, zoo, s3, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    got = cli(*zoo.args("fetch", "tresnet_m", "--mirror", f"s3://{BUCKET}/nowhere", "--quiet", "--json"))
    assert got.code != 0
    assert "object store" in got.text
    no_secret(got.text)
    assert KEY_ID not in got.text


def test_no_credentials_at_all_hints_the_credentials(cli, zoo, s3_server, monkeypatch, tmp_path):
    """A newcomer's first try of `fetch --mirror s3://...` without any AWS key: the hint names the credentials,
    not the endpoint or the network (which are fine)."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    got = cli(*zoo.args("fetch", "tresnet_m", "--mirror", f"s3://{BUCKET}/{prefix()}", "--quiet"))
    assert got.code == 3, got.text
    assert "NoCredentialsError" in got.err
    assert "  # give the object store's credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in got.err
    assert "check AWS_ENDPOINT_URL" not in got.err


def test_manifest_is_read_with_a_byte_bound_and_a_deadline(s3, monkeypatch):
    """An S3 mirror's manifest is read through one bounded stream: never more than the limit (plus one
    byte, to tell) whatever the store announces, and not past the deadline."""
    from tresnet_zoo.errors import DownloadError, IntegrityError
    from tresnet_zoo.weights import mirror
    from tresnet_zoo.weights.transports.objectstore import ObjectStore

    key = prefix()
    url = f"s3://{BUCKET}/{key}/tresnet-zoo-manifest.json"
    s3.put_object(Bucket=BUCKET, Key=f"{key}/tresnet-zoo-manifest.json", Body=b"x" * 5000)
    store = ObjectStore(url)
    assert store.read_small(url, 5000, 30.0) == b"x" * 5000
    assert store.read_small(f"s3://{BUCKET}/{key}/none.json", 5000, 30.0) is None
    with pytest.raises(IntegrityError, match="more than the 4999"):
        store.read_small(url, 4999, 30.0)
    with pytest.raises(DownloadError, match="not received within 0 s"):
        store.read_small(url, 5000, 0.0)  # a deadline already spent: refused before the first read
    monkeypatch.setattr(mirror, "MAX_MANIFEST_BYTES", 100)
    with pytest.raises(IntegrityError, match="more than the 100"):
        mirror.read_manifest(f"s3://{BUCKET}/{key}")


def test_a_stream_longer_than_it_announced_is_cut_at_the_bound():
    """The bound counts bytes read, not what the source announced: a source that says 10 bytes and
    sends a megabyte yields limit + 1 bytes, no more."""
    from tresnet_zoo.weights.transports.base import read_bounded

    sent = []

    def read(n):
        sent.append(n)
        return b"y" * n

    body = read_bounded(read, 10, 30.0, "manifest")
    assert body == b"y" * 11 and sum(sent) == 11


def test_the_s3_client_gets_the_http_policy(s3, monkeypatch, tmp_path):
    """The S3 client gets the CA bundle of the one HTTP policy and its timeouts."""
    from tresnet_zoo.weights.transports import DownloadConfig
    from tresnet_zoo.weights.transports.objectstore import ObjectStore

    bundle = tmp_path / "ca.pem"
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    fs = ObjectStore(f"s3://{BUCKET}/x", config=DownloadConfig(connect_timeout=3.0, read_timeout=7.0)).fs
    assert fs.client_kwargs["verify"] == str(bundle)
    assert fs.config_kwargs == {"connect_timeout": 3.0, "read_timeout": 7.0}
