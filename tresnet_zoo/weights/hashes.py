"""Hashes and the torch.hub file-name convention."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Expected", "CHUNK"]

CHUNK = 1 << 20  # 1 MiB reads and writes

@dataclass(frozen=True)
class Expected:
    """What a weight file must be: its name, size and hash (a prefix from the name and/or a full sha256)."""

    filename: str
    size: int | None = None
    sha256_prefix: str | None = None
    sha256: str | None = None

    def hash_problem(self, actual: str) -> str | None:
        """Why ``actual`` (a full hex sha256) does not match, or None when it does."""
        if self.sha256 and actual != self.sha256:
            return f"sha256 {actual} differs from the index's SHA256 {self.sha256}"
        if self.sha256_prefix and not actual.startswith(self.sha256_prefix):
            return f"sha256 {actual[:16]}... does not start with {self.sha256_prefix}, the hash prefix in its name"
        return None

    @property
    def has_hash(self) -> bool:
        return bool(self.sha256 or self.sha256_prefix)
