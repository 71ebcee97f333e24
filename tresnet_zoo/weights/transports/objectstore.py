"""Object stores (S3 and other fsspec protocols) as a transport.

Credentials and the endpoint come from the standard AWS chain (``AWS_ENDPOINT_URL`` or
``AWS_ENDPOINT_URL_S3`` for MinIO/Ceph, ``AWS_PROFILE``, the key variables, instance roles). Nothing of
them is printed or stored: messages name the bucket and key only, and URLs pass through ``redact``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from ..._urls import redact
from ...errors import DeadSourceError, DownloadError, IntegrityError, MissingExtraError, ZooError
from ..hashes import CHUNK
from .base import DownloadConfig, RestartFromZero, TransientError, read_bounded
from .http import ca_bundle

READ_BLOCK = 8 << 20  # bytes per ranged GET from an object store: few requests, bounded memory


class ObjectStore:
    """An fsspec file system for one URL scheme; S3's endpoint from ``AWS_ENDPOINT_URL(_S3)``.

    fsspec and its backends are an optional extra: a missing one is ``MissingExtraError`` (exit 3) with the
    install command. Listing caches are off: a mirror may change between two reads, and we must see it.
    """

    def __init__(self, url: str, *, writing: bool = False, config: DownloadConfig | None = None) -> None:
        self.scheme = url.split("://", 1)[0].lower()
        try:  # deliberate lazy import: fsspec/s3fs are the optional `s3` extra
            import fsspec  # noqa: PLC0415 (fsspec/s3fs: only object-store mirrors)

            kwargs: dict = {"skip_instance_cache": True}
            if self.scheme in ("s3", "s3a"):
                kwargs["use_listings_cache"] = False
                if writing:
                    kwargs["fixed_upload_size"] = True  # equal parts: the multipart ETag can be checked
                kwargs["client_kwargs"] = client = {}
                endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
                if endpoint:
                    client["endpoint_url"] = endpoint
                # the HTTP policy's CA bundle (botocore alone reads AWS_CA_BUNDLE only) and timeouts; proxies
                # come from the same variables as for https (botocore reads HTTPS_PROXY and NO_PROXY)
                bundle = ca_bundle()
                if isinstance(bundle, str) and not os.environ.get("AWS_CA_BUNDLE"):
                    client["verify"] = bundle
                config = config or DownloadConfig()
                kwargs["config_kwargs"] = {"connect_timeout": config.connect_timeout,
                                           "read_timeout": config.read_timeout}
            self.fs = fsspec.filesystem(self.scheme, **kwargs)
        except ImportError as exc:
            extra = "s3" if self.scheme in ("s3", "s3a") else None
            hint = (
                'pip install "tresnet-zoo[s3]"'
                if extra
                else f"install the fsspec backend for {self.scheme}:// (see fsspec's list of implementations)"
            )
            raise MissingExtraError(
                f"reading {self.scheme}:// needs {'s3fs' if extra else 'an fsspec backend'}, which is not installed "
                f"({_first_line(exc)})",
                hint=hint,
                extra=extra,
            ) from None
        except ValueError as exc:  # fsspec: unknown protocol
            raise DownloadError(
                f"unsupported mirror scheme {self.scheme}:// ({_first_line(exc)})",
                hint="use s3://bucket/prefix, an https URL or a folder",
            ) from None

    @staticmethod
    def path(url: str) -> str:
        return url.split("://", 1)[1]

    def info(self, url: str) -> dict:
        """The object's metadata (size, type, ETag); DownloadError when it is missing or unreadable."""
        try:
            return self.fs.info(self.path(url))
        except Exception as exc:
            raise _store_error(url, exc, "cannot read") from None

    def size(self, url: str) -> int:
        """The object's size in bytes; DownloadError when it is missing, unreadable or not a file."""
        info = self.info(url)
        if info.get("type") not in (None, "file"):
            raise DownloadError(f"{redact(url)} is not a file (a folder or prefix)",
                                hint="point the mirror at the folder that holds the files")
        return int(info["size"])

    def read_from(self, url: str, offset: int) -> Iterator[bytes]:
        """The object's bytes from ``offset`` on, in chunks (ranged reads, one block in memory at a time)."""
        try:
            with self.fs.open(self.path(url), "rb", block_size=READ_BLOCK, cache_type="readahead") as handle:
                if offset:
                    handle.seek(offset)
                while True:
                    block = handle.read(CHUNK)
                    if not block:
                        return
                    yield block
        except ZooError:
            raise
        except Exception as exc:
            raise _store_error(url, exc, "cannot read") from None

    def read_small(self, url: str, limit: int, deadline: float) -> bytes | None:
        """A small object (a manifest) whole, or None when there is none: one streaming GET, at most
        ``limit + 1`` bytes read whatever the store announces, within ``deadline`` seconds."""
        try:
            stream = ObjectStoreSource(url, store=self).open(0)
        except DeadSourceError:
            return None
        try:
            if stream.length is not None and stream.length > limit:
                raise IntegrityError(f"{redact(url)} is {stream.length} bytes, more than the {limit} a manifest "
                                     "may take")
            return read_bounded(stream.read, limit, deadline, redact(url))
        finally:
            stream.close()


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def _store_error(url: str, exc: BaseException, what: str) -> DownloadError:
    """A DownloadError for a failed object-store call; ``dead`` is set for missing/forbidden objects."""
    if isinstance(exc, ZooError) and isinstance(exc, DownloadError):
        return exc
    name = redact(url)
    if isinstance(exc, FileNotFoundError):
        return DeadSourceError(f"{name}: not found in the object store", url=name, status=404)
    if isinstance(exc, PermissionError):
        return DeadSourceError(
            f"{name}: access denied by the object store",
            hint="check the credentials (AWS_PROFILE or the AWS_* variables) and the bucket policy",
            url=name,
            status=403,
        )
    text = _first_line(exc)
    for secret in _secrets():
        text = text.replace(secret, "***")
    hint = "check AWS_ENDPOINT_URL and the network, then run the same command again"
    if _no_credentials(exc):  # botocore found no key at all: the endpoint and network are not the problem
        hint = ("give the object store's credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE), "
                "then run the same command again")
    return DownloadError(f"{name}: {what} the object store: {type(exc).__name__}: {text}", hint=hint)


def _s3_code(exc: BaseException) -> str | None:
    """The S3 error code (botocore's ClientError, which s3fs keeps as the cause) anywhere in the chain."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
        if code:
            return str(code)
        exc = exc.__cause__ or exc.__context__
    return None


def _no_credentials(exc: BaseException) -> bool:
    """botocore's NoCredentialsError anywhere in the chain, matched by name (botocore is an optional extra)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ in ("NoCredentialsError", "PartialCredentialsError"):
            return True
        current = current.__cause__ or current.__context__
    return False


def _secrets() -> list[str]:
    """Values that must never appear in a message (defence in depth: botocore does not print them)."""
    return [
        v
        for k in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
        if len(v := os.environ.get(k, "")) >= 4
    ]


class ObjectStoreSource:
    """An object as a ``download.Source``: ``open(start)`` is one streaming ranged GET from ``start`` on.

    The shared pipeline (``download.transfer``) then applies every rule it applies to HTTP: the byte limit,
    the announced size, minimum speed, deadline, resume from every byte received.
    """

    def __init__(self, url: str, *, store: ObjectStore | None = None, config: DownloadConfig | None = None) -> None:
        self.url = url
        self.display = redact(url)
        self.store = store or ObjectStore(url, config=config)  # the download's timeouts for the S3 client

    def open(self, start: int) -> _ObjectStream:
        fs = self.store.fs
        if not hasattr(fs, "_call_s3"):  # other fsspec protocols: a file object with ranged block reads
            try:
                handle = fs.open(self.store.path(self.url), "rb", block_size=READ_BLOCK, cache_type="readahead")
                size = int(handle.size)
                if start:
                    handle.seek(start)
            except Exception as exc:
                raise _store_error(self.url, exc, "cannot read") from None
            return _ObjectStream(start, size - start, handle.read, handle.close)
        from fsspec.asyn import sync  # noqa: PLC0415 (fsspec/s3fs: only object-store mirrors)

        bucket, key, version = fs.split_path(self.store.path(self.url))
        extra = {"VersionId": version} if version else {}
        try:
            response = sync(
                fs.loop, fs._call_s3, "get_object", Bucket=bucket, Key=key, Range=f"bytes={start}-", **extra
            )
        except Exception as exc:
            if start and _s3_code(exc) == "InvalidRange":
                raise RestartFromZero() from None
            raise _store_error(self.url, exc, "cannot read") from None
        body = response["Body"]
        length = response.get("ContentLength")

        def read(n: int) -> bytes:
            try:
                return sync(fs.loop, body.read, n)
            except Exception as exc:
                raise TransientError(f"the object store's stream broke ({type(exc).__name__})") from None

        return _ObjectStream(start, int(length) if length is not None else None, read, body.close)

    def close(self) -> None:
        pass


class _ObjectStream:
    def __init__(
        self, start: int, length: int | None, read: Callable[[int], bytes], close: Callable[[], object]
    ) -> None:
        self.start = start
        self.length = length
        self.read = read
        self._close = close

    def close(self) -> None:
        try:
            self._close()
        except Exception:
            pass
