"""Fetch and verify on a ~300 MB checkpoint (TResNet-XL, written with the reference model) over loopback.

The file is served by ``python -m http.server`` in its own process; the same server serves curl.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import loopback_server, median_process, run_process


def served(folder: Path):
    return loopback_server(lambda port: [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                         "--directory", str(folder)])


def write_checkpoint(folder: Path, variant: str) -> tuple[str, int]:
    import torch

    from tresnet_zoo.models.tresnet import build

    tmp = folder / f"{variant}.tmp"
    torch.save(build(variant).state_dict(), tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    name = f"{variant}_bench-{digest[:8]}.pth"
    tmp.rename(folder / name)
    return name, (folder / name).stat().st_size


def write_index(path: Path, base: str, files: dict[str, tuple[str, int]]) -> None:
    lines = ["Models:"]
    for variant, (name, size) in files.items():
        lines += [f"- Name: {variant}_bench", "  Metadata:", f"    File Size: {size}", f"  Weights: {base}/{name}"]
    path.write_text("\n".join(lines) + "\n")


def measure(repeat: int = 3) -> dict:
    exe = shutil.which("tresnet-zoo", path=str(Path(sys.executable).parent)) or "tresnet-zoo"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        served_dir = tmp / "served"
        served_dir.mkdir()
        files = {v: write_checkpoint(served_dir, v) for v in ("tresnet_xl", "tresnet_m")}
        big_name, big_size = files["tresnet_xl"]
        with served(served_dir) as base:
            index = tmp / "index.yml"
            write_index(index, base, files)
            cache = tmp / "cache"
            env = dict(os.environ, TRESNET_ZOO_CACHE=str(cache))

            def ours(variant: str):
                shutil.rmtree(cache, ignore_errors=True)  # a fresh download each time, not a replace
                return run_process([exe, "--index", str(index), "fetch", f"{variant}_bench", "--quiet"], env=env)

            def curl():
                (tmp / "curl.out").unlink(missing_ok=True)
                return run_process(["curl", "-sS", "-f", "-o", str(tmp / "curl.out"), f"{base}/{big_name}"])

            def api() -> float:
                """The fetch itself, timed inside a fresh process after its imports and after reading the
                index: lock, transfer, hashing, fsync and the atomic rename (``fetch_entry``)."""
                shutil.rmtree(cache, ignore_errors=True)
                code = (
                    "import time, tresnet_zoo, requests\n"
                    "from tresnet_zoo.weights import Cache, FetchOptions, fetch_entry\n"
                    f"entry = tresnet_zoo.load_index({str(index)!r}).get('tresnet_xl_bench')\n"
                    "start = time.perf_counter()\n"
                    f"fetch_entry(entry, FetchOptions(cache=Cache({str(cache)!r})))\n"
                    "print(time.perf_counter() - start)\n"
                )
                done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
                return float(done.stdout.strip().splitlines()[-1])

            ours("tresnet_xl")  # warm the page cache and the server
            fetch_runs, curl_runs, api_runs = [], [], []
            for _ in range(repeat):  # interleaved: a slow moment hits all of them
                fetch_runs.append(ours("tresnet_xl"))
                curl_runs.append(curl())
                api_runs.append(api())
            small = ours("tresnet_m")
            ours("tresnet_xl")  # leave the big file cached for the verify measurements

            # verify: the library's check of the cached file vs hashlib alone, in this process
            from tresnet_zoo import load_index
            from tresnet_zoo.weights import Cache
            from tresnet_zoo.weights.pins import expected_for
            from tresnet_zoo.weights.verify import check_file

            entry = load_index(index).get("tresnet_xl_bench")
            path = cache / big_name
            verify_times, hash_times = [], []
            for _ in range(repeat):
                start = time.perf_counter()
                digest = hashlib.sha256()
                with open(path, "rb") as handle:
                    while block := handle.read(1 << 20):
                        digest.update(block)
                hash_times.append(time.perf_counter() - start)
                start = time.perf_counter()
                result = check_file(entry, Cache(cache), expected_for(entry))
                verify_times.append(time.perf_counter() - start)
                assert result.ok, result.problems
            verify_cli = median_process([exe, "--index", str(index), "verify", "tresnet_xl_bench"], repeat, env=env)

    def med(values):
        return sorted(values)[len(values) // 2]

    fetch_s, curl_s = med([r.seconds for r in fetch_runs]), med([r.seconds for r in curl_runs])
    return {
        "size_mb": big_size / 1e6,
        "api_mb_s": big_size / 1e6 / med(api_runs),
        "fetch_mb_s": big_size / 1e6 / fetch_s,
        "curl_mb_s": big_size / 1e6 / curl_s,
        "fetch_peak_mb": max(r.peak_rss_mb for r in fetch_runs),
        "small_size_mb": files["tresnet_m"][1] / 1e6,
        "small_peak_mb": small.peak_rss_mb,
        "verify_s": med(verify_times),
        "hashlib_s": med(hash_times),
        "verify_cli_s": verify_cli.seconds,
    }


if __name__ == "__main__":
    print(measure())
