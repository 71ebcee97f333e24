"""Signatures interoperate both ways with the OpenSSF Model Signing tool (`model_signing`): a folder it signs
verifies with `tresnet-zoo verify-signature`, one `tresnet-zoo sign` signs verifies with `model_signing verify`;
keys made with `openssl` work; certificate chains verify offline."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .signkeys import make_ca_and_leaf, make_key, make_mirror

SIG = "tresnet-zoo.sig"


def model_signing(*args) -> subprocess.CompletedProcess:
    tool = Path(sys.executable).with_name("model_signing")
    command = [str(tool)] if tool.exists() else [sys.executable, "-m", "model_signing"]
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_a_folder_signed_by_model_signing_verifies_with_tresnet_zoo(tmp_path, cli):
    key = make_key(tmp_path / "keys")
    folder = make_mirror(tmp_path / "mirror")
    done = model_signing("sign", "key", folder, "--private_key", key.private, "--signature", folder / SIG)
    assert done.returncode == 0, done.stderr
    result = cli("verify-signature", folder, "--public-key", key.public)
    assert result.code == 0, result.text
    assert "signs 5 file(s)" in result.out
    (folder / "index" / "tresnet.yml").write_text("changed\n")
    refused = cli("verify-signature", folder, "--public-key", key.public)
    assert refused.code == 1 and "index/tresnet.yml" in refused.err


def test_a_folder_signed_by_tresnet_zoo_verifies_with_model_signing(tmp_path, cli):
    key = make_key(tmp_path / "keys")
    folder = make_mirror(tmp_path / "mirror")
    assert cli("sign", folder, "--private-key", key.private).code == 0
    done = model_signing("verify", "key", folder, "--signature", folder / SIG, "--public_key", key.public)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Verification succeeded" in done.stdout
    (folder / "tresnet_m-0123abcd.pth").write_bytes(b"tampered")
    done = model_signing("verify", "key", folder, "--signature", folder / SIG, "--public_key", key.public)
    assert done.returncode != 0  # the same tampering, refused by the other tool too


def test_a_signature_outside_the_folder_and_openssl_keys(tmp_path, cli):
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")  # the docs' commands; the keys above are the same kind
    keys = tmp_path / "keys"
    keys.mkdir()
    subprocess.run([openssl, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", keys / "key.pem"],
                   check=True, capture_output=True)
    subprocess.run([openssl, "ec", "-in", keys / "key.pem", "-pubout", "-out", keys / "pub.pem"], check=True,
                   capture_output=True)
    folder = make_mirror(tmp_path / "mirror")
    outside = tmp_path / "mirror.sig"
    assert cli("sign", folder, "--private-key", keys / "key.pem", "--signature", outside).code == 0
    assert not (folder / SIG).exists()
    ok = cli("verify-signature", folder, "--public-key", keys / "pub.pem", "--signature", outside)
    assert ok.code == 0, ok.text
    done = model_signing("verify", "key", folder, "--signature", outside, "--public_key", keys / "pub.pem")
    assert done.returncode == 0, done.stdout + done.stderr


def test_certificate_chains_verify_offline_both_ways(tmp_path, cli):
    ca, leaf, leaf_cert = make_ca_and_leaf(tmp_path / "pki")
    other_ca, _, _ = make_ca_and_leaf(tmp_path / "pki", "other")
    folder = make_mirror(tmp_path / "mirror")
    signed = cli("sign", folder, "--private-key", leaf.private, "--certificate", leaf_cert, "--certificate-chain", ca)
    assert signed.code == 0, signed.text
    ok = cli("verify-signature", folder, "--certificate-chain", ca)
    assert ok.code == 0, ok.text
    assert "certificate CN=ca signer" in ok.out
    done = model_signing("verify", "certificate", folder, "--signature", folder / SIG, "--certificate_chain", ca)
    assert done.returncode == 0, done.stdout + done.stderr
    untrusted = cli("verify-signature", folder, "--certificate-chain", other_ca)
    assert untrusted.code == 1 and "does not verify with the certificate chain" in untrusted.err

    again = make_mirror(tmp_path / "mirror2")
    done = model_signing("sign", "certificate", again, "--signature", again / SIG, "--private_key", leaf.private,
                         "--signing_certificate", leaf_cert, "--certificate_chain", ca)
    assert done.returncode == 0, done.stderr
    ok = cli("verify-signature", again, "--certificate-chain", ca)
    assert ok.code == 0, ok.text
