"""Keys and certificates for the signing tests, made with the ``cryptography`` package (as ``openssl ecparam``
and ``openssl req`` would), and a small mirror folder of the kind ``tresnet-zoo sign`` signs."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class KeyPair:
    private: Path
    public: Path
    key: ec.EllipticCurvePrivateKey


def make_key(folder: Path, name: str = "key") -> KeyPair:
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private = folder / f"{name}.pem"
    public = folder / f"{name}.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return KeyPair(private, public, key)


def _cert(subject: str, key, issuer_name: str, issuer_key, *, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                                     encipher_only=False, decipher_only=False), critical=True)
    )
    return builder.sign(issuer_key, hashes.SHA256())


def make_ca_and_leaf(folder: Path, name: str = "ca") -> tuple[Path, KeyPair, Path]:
    """(CA certificate, the leaf's key pair, the leaf's certificate signed by the CA)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert(f"{name} root", ca_key, f"{name} root", ca_key, ca=True)
    leaf = make_key(folder, f"{name}-leaf")
    cert = _cert(f"{name} signer", leaf.key, f"{name} root", ca_key, ca=False)
    ca_path, leaf_path = folder / f"{name}.crt", folder / f"{name}-leaf.crt"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    leaf_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return ca_path, leaf, leaf_path


def make_mirror(folder: Path, weights: dict[str, bytes] | None = None) -> Path:
    """A mirror folder: weight files, a manifest, an index and a lock file, as `mirror push` and `lock` write."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = weights or {"tresnet_m-0123abcd.pth": os.urandom(50_000), "tresnet_l-89abcdef.pth": os.urandom(30_000)}
    lines = []
    for name, data in weights.items():
        (folder / name).write_bytes(data)
        lines.append({"entry": name.split("-")[0], "file": name, "size": len(data),
                      "sha256": hashlib.sha256(data).hexdigest()})
    (folder / "tresnet-zoo-manifest.json").write_text(json.dumps({"format": "tresnet-zoo-mirror/1",
                                                                   "files": lines}, indent=2))
    (folder / "index").mkdir(exist_ok=True)
    (folder / "index" / "tresnet.yml").write_text("Models:\n- Name: tresnet_m\n")
    (folder / "index" / "tresnet.lock").write_text(json.dumps({"format": "tresnet-zoo-lock/1", "files": {}}))
    return folder
