"""`verify-signature` with a key loads model-signing's key verifier without its keyless-Sigstore stack
(sigstore, tuf, boto3), and model-signing stays whole for other code in the same process; hashing that runs
beside the signature check leaves no thread or descriptor behind when the signature is refused."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from tresnet_zoo.weights.signing import SignatureError, sign, verify_signature

from .conftest import REPO
from .signkeys import make_key, make_mirror

CHILD = """
import importlib.metadata, sys
from tresnet_zoo.cli import main
code = main(["verify-signature", sys.argv[1], "--public-key", sys.argv[2]])
heavy = sorted(m for m in ("sigstore", "tuf", "boto3") if m in sys.modules)
import model_signing
from model_signing import verifying
whole = (model_signing.__version__ == importlib.metadata.version("model-signing")
         and hasattr(model_signing.signing, "Config") and hasattr(verifying, "Config"))
print(code, ",".join(heavy) or "-", whole)
"""


def test_a_key_verification_does_not_load_keyless_sigstore_and_leaves_model_signing_whole(tmp_path):
    key = make_key(tmp_path / "keys")
    folder = make_mirror(tmp_path / "mirror")
    sign(folder, key.private)
    run = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(key.public)], capture_output=True,
                         text=True, cwd=REPO, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split()[-3:] == ["0", "-", "True"], run.stdout + run.stderr


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open descriptors through /proc")
def test_a_refused_signature_stops_hashing_and_closes_every_descriptor(tmp_path):
    key, other = make_key(tmp_path / "keys"), make_key(tmp_path / "keys", "other")
    folder = make_mirror(tmp_path / "mirror")
    (folder / "big.bin").write_bytes(os.urandom(1 << 20) * 64)  # hashing still runs when the key is refused
    sign(folder, key.private)
    assert verify_signature(folder, key.public).files["big.bin"][0] == 64 << 20
    threads, fds = threading.active_count(), len(os.listdir("/proc/self/fd"))
    with pytest.raises(SignatureError, match="does not verify"):
        verify_signature(folder, other.public)
    assert threading.active_count() == threads
    assert len(os.listdir("/proc/self/fd")) == fds
