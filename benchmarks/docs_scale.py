"""`docs build` of a grown index (copies of the bundled entries under new names) against plain MkDocs.

The baseline is ``mkdocs build`` of the very pages tresnet-zoo rendered (its ``--pages`` output): the
ratio shows what rendering, checking and the safe placement add on top of MkDocs itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def grow_index(n: int, path: Path) -> Path:
    """An index of ``n`` entries: the bundled ones copied round-robin as ``<name>_c<k>``."""
    reg = yaml.safe_load((REPO / "registry" / "tresnet.yml").read_text())
    base = reg["Models"]
    models = []
    for k in range(n):
        entry = yaml.safe_load(yaml.safe_dump(base[k % len(base)]))
        entry["Name"] = f"{entry['Name']}_c{k:04d}"
        zoo = (entry.get("Metadata") or {}).get("x-tresnet-zoo")
        if zoo and zoo.get("timm"):
            zoo["timm"] = [f"{tag}_c{k:04d}" for tag in zoo["timm"]]  # a timm tag names exactly one entry
        models.append(entry)
    reg["Models"] = models
    path.write_text(yaml.safe_dump(reg, sort_keys=False))
    return path


def measure(n: int = 600) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRESNET_ZOO")}
    exe = [sys.executable, "-P", "-c", "import sys; from tresnet_zoo.cli import main; sys.exit(main(sys.argv[1:]))"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env["TRESNET_ZOO_CACHE"] = str(tmp / "cache")
        index = grow_index(n, tmp / "grown.yml")
        started = time.perf_counter()
        done = subprocess.run([*exe, "docs", "build", "--index", index, "--out", tmp / "site", "--pages",
                               tmp / "pages"],
                              env=env, capture_output=True, text=True, cwd=tmp, check=False)
        ours = time.perf_counter() - started
        if done.returncode:
            raise RuntimeError(done.stderr)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-m", "mkdocs", "build", "-q", "-f", tmp / "pages" / "mkdocs.yml", "-d",
                        tmp / "plain"], check=True, cwd=tmp, capture_output=True)
        plain = time.perf_counter() - started
        pages = sum(1 for _ in (tmp / "site").rglob("*.html"))
        index_json = (tmp / "site" / "search" / "search_index.json").read_text()
        return {"entries": n, "ours_s": ours, "mkdocs_s": plain, "pages": pages,
                "search_has_all": all(f"_c{k:04d}" in index_json for k in range(n))}


if __name__ == "__main__":
    print(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 600))
