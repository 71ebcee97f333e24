"""Index texts the tests serve and fetch: the test checkpoints' entries, pointed at a loopback server."""

from __future__ import annotations

from dataclasses import dataclass


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

