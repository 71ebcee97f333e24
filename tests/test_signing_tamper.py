"""A signed folder refuses every change with exit 1 and one line naming the first file or field; hostile
signatures (not JSON, huge, deeply nested, names outside the folder) and links are refused the same way,
never with exit 70."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from .conftest import PYTHON, REPO, env_without
from .signkeys import make_key, make_mirror

SIG = "tresnet-zoo.sig"


@pytest.fixture
def signed(tmp_path, cli):
    key = make_key(tmp_path / "keys")
    folder = make_mirror(tmp_path / "mirror")
    result = cli("sign", folder, "--private-key", key.private)
    assert result.code == 0, result.text
    assert (folder / SIG).is_file()

    def verify(*extra):
        return cli("verify-signature", folder, "--public-key", key.public, *extra)

    return folder, key, verify


def _refused(result, *words):
    assert result.code == 1, result.text
    error = [line for line in result.err.splitlines() if line.startswith("error: ")]
    assert len(error) == 1, result.err
    for word in words:
        assert word in error[0], error[0]
    assert "internal error" not in result.err
    return error[0]


def test_an_untouched_folder_verifies_every_file_hashed_now(signed):
    folder, _, verify = signed
    result = verify("--json")
    assert result.code == 0, result.text
    data = json.loads(result.out)
    files = {f["file"]: f["sha256"] for f in data["files"]}
    on_disk = {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in folder.rglob("*") if p.is_file() and p.name != SIG}
    assert files == on_disk  # the signature itself is not among what it signs
    assert data["signer"].startswith("key sha256:")


def test_a_flipped_byte_is_refused(signed):
    folder, _, verify = signed
    path = folder / "tresnet_m-0123abcd.pth"
    data = bytearray(path.read_bytes())
    data[1000] ^= 1
    path.write_bytes(bytes(data))
    _refused(verify(), "tresnet_m-0123abcd.pth", "differs from the signed")


def test_a_truncated_file_is_refused(signed):
    folder, _, verify = signed
    path = folder / "tresnet_l-89abcdef.pth"
    path.write_bytes(path.read_bytes()[:-1])
    _refused(verify(), "tresnet_l-89abcdef.pth")


def test_an_added_file_is_refused(signed):
    folder, _, verify = signed
    (folder / "extra.pth").write_bytes(b"x")
    _refused(verify(), "extra.pth", "not signed")


def test_a_removed_file_is_refused(signed):
    folder, _, verify = signed
    (folder / "tresnet_l-89abcdef.pth").unlink()
    _refused(verify(), "tresnet_l-89abcdef.pth", "signed but not in the folder")


def test_a_renamed_file_is_refused_naming_both_names(signed):
    folder, _, verify = signed
    (folder / "tresnet_l-89abcdef.pth").rename(folder / "tresnet_l-00000000.pth")
    _refused(verify(), "tresnet_l-89abcdef.pth", "tresnet_l-00000000.pth")


def test_the_signature_of_another_folder_is_refused(signed, tmp_path, cli):
    folder, key, verify = signed
    other = make_mirror(tmp_path / "other")
    assert cli("sign", other, "--private-key", key.private).code == 0
    shutil.copy(other / SIG, folder / SIG)
    _refused(verify(), "differs from the signed")


def test_the_wrong_public_key_is_refused(signed, tmp_path, cli):
    folder, _, _ = signed
    other = make_key(tmp_path / "keys", "other")
    _refused(cli("verify-signature", folder, "--public-key", other.public), "does not verify", "public key")


@pytest.mark.parametrize("name", ["index/tresnet.yml", "index/tresnet.lock", "tresnet-zoo-manifest.json"])
def test_a_modified_index_lock_or_manifest_is_refused(signed, name):
    folder, _, verify = signed
    with open(folder / name, "a") as handle:
        handle.write("\n")
    _refused(verify(), name, "differs from the signed")


def _rewrite_payload(path, change):
    bundle = json.loads(path.read_text())
    envelope = bundle["dsseEnvelope"]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    change(statement)
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    path.write_text(json.dumps(bundle))


def test_a_signature_re_encoded_with_a_changed_payload_is_refused(signed):
    folder, _, verify = signed
    path = folder / "tresnet_m-0123abcd.pth"
    path.write_bytes(b"other bytes")

    def point_at_the_new_bytes(statement):
        for resource in statement["predicate"]["resources"]:
            if resource["name"] == "tresnet_m-0123abcd.pth":
                resource["digest"] = hashlib.sha256(b"other bytes").hexdigest()

    _rewrite_payload(folder / SIG, point_at_the_new_bytes)
    _refused(verify(), "does not verify")


# --- hostile signatures and folders ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, words",
    [
        (b"\x00\xffnot json at all", ["not a JSON Sigstore bundle"]),
        (b"[" * 200_000 + b"]" * 200_000, ["not a JSON Sigstore bundle"]),  # deeper than the parser goes
        (json.dumps({"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}).encode(),
         ["nested too deep"]),
        (b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}', ["not a Sigstore bundle"]),
        (b'{"verificationMaterial": {"publicKey": 7}, "dsseEnvelope": []}', ["not a Sigstore bundle"]),
        (b"[]", ["not a Sigstore bundle"]),
    ],
    ids=["binary", "deep-beyond-parser", "deep", "no-material", "wrong-types", "array"],
)
def test_a_hostile_signature_file_is_refused(signed, content, words):
    folder, _, verify = signed
    (folder / SIG).write_bytes(content)
    _refused(verify(), *words)


def test_a_huge_signature_is_refused_without_reading_it_whole(signed):
    folder, _, verify = signed
    with open(folder / SIG, "wb") as handle:
        handle.truncate(64 << 30)  # sparse: 64 GiB claimed, a bounded read sees only the first 4 MiB + 1
    _refused(verify(), "more than")


def _sign_statement(key, folder, names):
    """A validly signed statement listing ``names``: only a key holder could make one, and still it is refused."""
    from model_signing import hashing, manifest
    from model_signing._hashing import hashing as digests
    from model_signing._signing import sign_ec_key, signing

    items = [manifest.FileManifestItem(path=__import__("pathlib").PurePosixPath(n),
                                       digest=digests.Digest("sha256", hashlib.sha256(b"x").digest()))
             for n in names]
    serialization = hashing.Config().use_file_serialization()._serializer._serialization_description
    signature = sign_ec_key.Signer(key.private).sign(signing.Payload(manifest.Manifest("m", items, serialization)))
    (folder / SIG).write_text(signature.bundle.to_json())


@pytest.mark.parametrize("name", ["../outside.pth", "/etc/passwd", "a/../../b"])
def test_a_payload_naming_files_outside_the_folder_is_refused(signed, name):
    folder, key, verify = signed
    _sign_statement(key, folder, [name])
    _refused(verify(), "predicate.resources", "not a plain relative name")


def test_a_symbolic_link_in_the_folder_is_refused(signed, tmp_path):
    folder, _, verify = signed
    target = tmp_path / "elsewhere.pth"
    target.write_bytes(b"x")
    (folder / "link.pth").symlink_to(target)
    _refused(verify(), "link.pth", "symbolic link")


def test_a_linked_signature_and_a_fifo_in_the_folder_are_refused(signed, tmp_path):
    folder, _, verify = signed
    moved = tmp_path / "real.sig"
    (folder / SIG).rename(moved)
    (folder / SIG).symlink_to(moved)
    _refused(verify(), SIG, "regular file")
    (folder / SIG).unlink()
    moved.rename(folder / SIG)
    os.mkfifo(folder / "pipe")
    _refused(verify(), "pipe", "not a regular file")


def test_signing_refuses_a_folder_with_a_link(tmp_path, cli):
    key = make_key(tmp_path / "keys")
    folder = make_mirror(tmp_path / "mirror")
    (folder / "link.pth").symlink_to(folder / "tresnet_m-0123abcd.pth")
    _refused(cli("sign", folder, "--private-key", key.private), "symbolic link")
    assert not (folder / SIG).exists()


def test_usage_errors_are_exit_2(signed, tmp_path, cli):
    folder, key, verify = signed
    assert cli("verify-signature", folder).code == 2  # no key
    assert cli("verify-signature", tmp_path / "nowhere", "--public-key", key.public).code == 2
    assert cli("verify-signature", folder, "--public-key", tmp_path / "nokey.pem").code == 2
    (tmp_path / "notakey.pem").write_text("hello")
    result = cli("verify-signature", folder, "--public-key", tmp_path / "notakey.pem")
    assert result.code == 2 and "not a usable PEM" in result.err
    result = cli("sign", folder, "--private-key", key.public)  # a public key where the private one belongs
    assert result.code == 2 and "private key" in result.err


def test_without_the_sign_extra_the_commands_name_it_with_exit_3(signed, tmp_path):
    folder, key, _ = signed
    env = env_without(tmp_path, "model_signing")
    for args in (["sign", str(folder), "--private-key", str(key.private)],
                 ["verify-signature", str(folder), "--public-key", str(key.public)]):
        run = subprocess.run([PYTHON, "-c", "from tresnet_zoo.cli import main; main()", *args], capture_output=True,
                             text=True, env=env, cwd=REPO, timeout=120)
        assert run.returncode == 3, run.stderr
        assert "model-signing" in run.stderr and "sign]" in run.stderr, run.stderr


def test_list_does_not_import_model_signing():
    code = "import sys; from tresnet_zoo.cli import main; main(['list']); print('model_signing' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert run.stdout.strip().splitlines()[-1] == "False"


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


ENVELOPE = {("dsseEnvelope",), ("dsseEnvelope", "signatures"), ("dsseEnvelope", "signatures", 0)}


def test_every_field_of_the_bundle_replaced_by_another_type_is_exit_1(signed):
    """Each field of a valid bundle replaced by null, a number, a string, a list or an object: exit 1 with one
    error line whenever the envelope is touched, never a traceback or exit 70."""
    folder, _, verify = signed
    original = json.loads((folder / SIG).read_text())
    for path in list(_paths(original))[1:]:
        for value in (None, 7, "x", [], {}):
            bundle = json.loads(json.dumps(original))
            node = bundle
            for step in path[:-1]:
                node = node[step]
            node[path[-1]] = value
            (folder / SIG).write_text(json.dumps(bundle))
            result = verify()
            authentic = {"payload", "payloadType", "sig", "mediaType"} & set(path) or path in ENVELOPE
            assert result.code == 1 if authentic else result.code in (0, 1), (path, value, result.text)
            if result.code:  # else a field the signature does not depend on (the key's hint, the log entries)
                assert "internal error" not in result.err and result.err.count("error: ") == 1, (path, value)
            assert "WARNING" not in result.out  # model-signing's own prints do not reach our output
