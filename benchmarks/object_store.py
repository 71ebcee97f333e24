"""8 concurrent fetches of one ~300 MB object from a loopback S3 server, against 8 plain boto3 downloads.

The server is moto's (``python -m moto.server``, its own process on 127.0.0.1): the S3 protocol over HTTP.
Ours: 8 ``tresnet-zoo fetch --mirror s3://...`` processes, each into its own cache (transfer, sha256 of
every byte, the manifest's full hash, fsync, verified rename). Baseline: 8 processes of
``boto3.client("s3").download_file`` (what ``aws s3 cp`` does: parallel ranged GETs, no hashing, no
fsync). Both sides start together and are timed from the first start to the last exit; aggregate
throughput = 8 x size / wall. Peak RSS is each process's own (measured by ``measure_child.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import loopback_server

HERE = Path(__file__).resolve().parent
SIZE = 300 * 1000 * 1000
PROCESSES = 8
BUCKET = "bench"


def moto_server():
    return loopback_server(lambda port: [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)])


def _concurrently(commands: list[list[str]], env: dict) -> tuple[float, list[float]]:
    """Start every command at once; (wall seconds until the last exits, each one's peak RSS in MB)."""
    helper = [sys.executable, str(HERE / "measure_child.py")]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(helper + cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for cmd in commands
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"measuring failed: {err[-500:]}")
        results.append(json.loads(out))
    wall = time.perf_counter() - start
    for result in results:
        if result["code"] != 0:
            raise RuntimeError(f"a process exited {result['code']}: {result['stderr']}")
    return wall, [r["peak_rss_kb"] / 1024 for r in results]


BOTO = "import sys, boto3; boto3.client('s3').download_file(sys.argv[1], sys.argv[2], sys.argv[3])"


def measure(processes: int = PROCESSES, size: int = SIZE) -> dict:
    import boto3

    exe = shutil.which("tresnet-zoo", path=str(Path(sys.executable).parent)) or "tresnet-zoo"
    with tempfile.TemporaryDirectory() as tmp, moto_server() as endpoint:
        tmp = Path(tmp)
        env = dict(
            os.environ,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench-secret",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL=endpoint,
        )
        env.pop("AWS_PROFILE", None)
        data = os.urandom(size)
        digest = hashlib.sha256(data).hexdigest()
        name = f"bench_s3-{digest[:8]}.pth"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="bench",
            aws_secret_access_key="bench-secret",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key=f"w/{name}", Body=data)
        manifest = {
            "format": "tresnet-zoo-mirror/1",
            "tresnet_zoo": "bench",
            "files": [{"entry": "bench_s3", "file": name, "size": size, "sha256": digest}],
        }
        client.put_object(Bucket=BUCKET, Key="w/tresnet-zoo-manifest.json", Body=json.dumps(manifest).encode())
        del data
        index = tmp / "index.yml"
        index.write_text(
            f"Models:\n- Name: bench_s3\n  Metadata:\n    File Size: {size}\n  Weights: https://weights.invalid/{name}\n"
        )

        outs = [tmp / f"boto-{i}.bin" for i in range(processes)]
        base_wall, base_rss = _concurrently(
            [[sys.executable, "-c", BOTO, BUCKET, f"w/{name}", str(out)] for out in outs], env
        )
        for out in outs:
            assert out.stat().st_size == size
            out.unlink()

        caches = [tmp / f"cache-{i}" for i in range(processes)]
        ours_wall, ours_rss = _concurrently(
            [
                [
                    exe,
                    "--index",
                    str(index),
                    "--cache-dir",
                    str(c),
                    "fetch",
                    "bench_s3",
                    "--mirror",
                    f"s3://{BUCKET}/w",
                    "--quiet",
                ]
                for c in caches
            ],
            env,
        )
        for cache in caches:
            assert (cache / name).stat().st_size == size
            shutil.rmtree(cache)
    total = processes * size / 1e6
    return {
        "size_mb": size / 1e6,
        "processes": processes,
        "ours_mb_s": total / ours_wall,
        "boto_mb_s": total / base_wall,
        "ours_wall": ours_wall,
        "boto_wall": base_wall,
        "ours_peak_mb": max(ours_rss),
        "boto_peak_mb": max(base_rss),
    }


if __name__ == "__main__":
    print(measure())
