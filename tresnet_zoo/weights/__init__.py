"""Weight files: the cache, downloads and verification."""
