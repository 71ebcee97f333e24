"""`tresnet-zoo verify-signature` of a ~1.2 GB folder against one single-threaded hashlib sha256 pass over its
files (its own process) and against `model_signing verify key` on the same folder and signature.

The folder: four 300 MB files of random bytes and a few small ones (a manifest, an index, a lock), signed
once by `tresnet-zoo sign`. Every command runs once first (warm page cache for all three), then ``repeat``
rounds that run the three one after the other (so a change in the machine's load hits all three alike);
medians per command, and the 1-minute load average before and after. The folder lives under $TMPDIR and
is removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import run_process

HASHLIB = """
import hashlib, os, sys
for root, dirs, files in os.walk(sys.argv[1]):
    dirs.sort()
    for name in sorted(files):
        if name == "tresnet-zoo.sig":
            continue
        digest = hashlib.sha256()
        with open(os.path.join(root, name), "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
"""


def _folder(root: Path, files: int, size: int) -> None:
    root.mkdir()
    block = 16 << 20
    for i in range(files):
        with open(root / f"tresnet_bench{i}-{i:08x}.pth", "wb") as handle:
            for _ in range(size // block):
                handle.write(os.urandom(block))
    (root / "tresnet-zoo-manifest.json").write_text('{"format": "tresnet-zoo-mirror/1", "files": []}\n')
    (root / "index").mkdir()
    (root / "index" / "tresnet.yml").write_text("Models: []\n")
    (root / "index" / "tresnet.lock").write_text('{"format": "tresnet-zoo-lock/1", "files": {}}\n')


def measure(repeat: int = 5, files: int = 4, size: int = 300 << 20) -> dict:
    bin_dir = Path(sys.executable).parent
    exe = shutil.which("tresnet-zoo", path=str(bin_dir)) or "tresnet-zoo"
    tool = shutil.which("model_signing", path=str(bin_dir)) or "model_signing"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = tmp / "mirror"
        _folder(folder, files, size)
        key, pub = tmp / "key.pem", tmp / "pub.pem"
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key], check=True)
        subprocess.run(["openssl", "ec", "-in", key, "-pubout", "-out", pub], check=True, capture_output=True)
        subprocess.run([exe, "sign", folder, "--private-key", key], check=True, capture_output=True)
        sig = folder / "tresnet-zoo.sig"
        commands = {
            "ours": [exe, "verify-signature", str(folder), "--public-key", str(pub)],
            "hashlib": [sys.executable, "-c", HASHLIB, str(folder)],
            "model_signing": [tool, "verify", "key", str(folder), "--signature", str(sig), "--public_key", str(pub)],
        }
        runs: dict[str, list] = {name: [] for name in commands}
        for argv in commands.values():
            run_process(argv)  # the page cache holds the folder for all three
        load = [os.getloadavg()[0]]
        for _ in range(repeat):
            for name, argv in commands.items():
                runs[name].append(run_process(argv))
        load.append(os.getloadavg()[0])
    seconds = {name: statistics.median(r.seconds for r in rs) for name, rs in runs.items()}
    cpu = {name: statistics.median(r.cpu_seconds for r in rs) for name, rs in runs.items()}
    return {"cpu_s": cpu, "size_gb": files * size / 1e9, "ours_s": seconds["ours"], "hashlib_s": seconds["hashlib"],
            "model_signing_s": seconds["model_signing"], "ours_peak_mb": max(r.peak_rss_mb for r in runs["ours"]),
            "cpus": os.cpu_count(), "load": load, "repeat": repeat,
            "ratios": sorted(o.seconds / h.seconds for o, h in zip(runs["ours"], runs["hashlib"]))}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    print(measure(repeat=int(sys.argv[1]) if len(sys.argv) > 1 else 3))
