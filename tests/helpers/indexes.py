"""Index texts the tests serve and fetch: the test checkpoints' entries, or one small random file, pointed at a
loopback server."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .servers import FaultServer


@dataclass
class Checkpoint:
    name: str  # index entry name
    filename: str
    data: bytes
    sha256: str
    layout: str
    image_size: int = 224

    @property
    def size(self) -> int:
        return len(self.data)


def zoo_index_text(checkpoints: dict[str, Checkpoint], base_url: str, **overrides) -> str:
    """An index of the test checkpoints; ``overrides[name]`` may set size, filename or sha256."""
    lines = ["Collections:", "- Name: TResNet", "Models:"]
    for ckpt in checkpoints.values():
        o = overrides.get(ckpt.name, {})
        lines += [f"- Name: {ckpt.name}", "  In Collection: TResNet", "  Metadata:", "    Parameters: 31389032"]
        lines += [f"    File Size: {o.get('size', ckpt.size)}", f"    Image Size: {ckpt.image_size}"]
        if "sha256" in o:
            lines.append(f"    SHA256: {o['sha256']}")
        lines.append(f"  Weights: {base_url.rstrip('/')}/{o.get('filename', ckpt.filename)}")
    return "\n".join(lines) + "\n"


def blob(size: int, seed: int) -> tuple[str, bytes]:
    data = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    data = bytes(b ^ (i & 0xFF) for i, b in enumerate(data[:size])) if size < 4096 else data[:size]
    return f"tresnet_m-{hashlib.sha256(data).hexdigest()[:8]}.pth", data


def index_text(url: str, size: int | None) -> str:
    lines = ["Collections:", "- Name: TResNet", "Models:", "- Name: tresnet_m", "  In Collection: TResNet",
             "  Metadata:",
             "    Parameters: 31389032", "    Image Size: 224"]
    if size is not None:
        lines.append(f"    File Size: {size}")
    lines.append(f"  Weights: {url}")
    return "\n".join(lines) + "\n"


class Setup:
    """One entry whose weights are a small random file served by ``web``; its index and cache under ``tmp_path``."""

    def __init__(self, tmp_path: Path, web: "FaultServer", size: int = 2_000_000, seed: int = 1) -> None:
        self.web = web
        self.name, self.data = blob(size, seed)
        self.url = web.add(self.name, self.data)
        self.index = tmp_path / "index.yml"
        self.cache = tmp_path / "cache"
        self.write()

    def write(self, url: str | None = None, size: int | None | str = "same") -> None:
        self.index.write_text(index_text(url or self.url, len(self.data) if size == "same" else size))

    def args(self, *args: str) -> list[str]:
        return ["--index", str(self.index), "--cache-dir", str(self.cache), *args]

    def final(self) -> Path:
        return self.cache / self.name

    def partials(self) -> list[Path]:
        return sorted(self.cache.glob("*.part")) if self.cache.exists() else []

