"""The one home of the URL and weights file-name policy, used by index validation and by downloads alike.

- which URLs may be fetched: https; plain http only for loopback hosts (test servers, local mirrors)
  unless the caller allows it; ``file://`` only where a caller asks for mirrors;
- which file name a weights URL stands for in the cache: the URL path's last segment, percent-decoded,
  query and fragment stripped, and accepted only when it is a strict slug (no separators, no dot files,
  no ``..``, no control characters), so that a cache path can never leave the cache folder.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = [
    "HUB_FILE",
    "hub_parts",
    "is_loopback_host",
    "redirect_problem",
    "url_problem",
    "weights_filename",
    "filename_problem",
    "redact",
    "is_object_store",
    "Mirror",
]

_LOOPBACK_NAMES = {"localhost", "ip6-localhost", "ip6-loopback"}

# torch.hub's habit: <stem>-<first 8+ hex digits of the file's sha256>.<ext>
HUB_FILE = re.compile(r"^(?P<stem>.+)-(?P<hash>[0-9a-f]{8,64})\.(?P<ext>pth|pt|bin|ckpt|safetensors)\Z")

# a cache file name: starts with a letter or digit, then letters, digits, '.', '_', '-'; at most 200 chars
_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}\Z")
# names tresnet-zoo itself uses beside the weight files: the cache's subfolders and a mirror's manifest
# (compared case-blind: on a case-insensitive file system 'Records' is the records folder)
MIRROR_MANIFEST = "tresnet-zoo-manifest.json"
RESERVED_NAMES = frozenset({"records", "locks", "validated", MIRROR_MANIFEST})


def hub_parts(filename: str) -> tuple[str, str] | None:
    """(stem, hash prefix) of a torch.hub-style file name, or None."""
    match = HUB_FILE.match(filename)
    return (match["stem"], match["hash"]) if match else None


def is_loopback_host(host: str | None) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1, written in ASCII (``127.0.0.¹`` is not an address)."""
    if not host or not host.isascii():
        return False
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# whitespace, C0 and C1 controls, DEL, and the two Unicode line separators
_UNPRINTABLE = re.compile("[\x00-\x20\x7f-\x9f\u2028\u2029]")


def _unprintable(url: str) -> bool:
    """Whitespace or control characters, which ``urlsplit`` would silently drop (WHATWG) or keep."""
    return _UNPRINTABLE.search(url) is not None


def url_problem(url: str, *, allow_http: bool = False, allow_file: bool = False) -> str | None:
    """Why ``url`` may not be fetched, or None when it may."""
    if _unprintable(url):
        return "holds whitespace or control characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port  # ValueError past 65535 or not a number: the download could not even start
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if port == 0:
        return "is not a valid URL (port 0)"
    if host and parts.scheme in ("http", "https"):
        why = _host_problem(host)
        if why is not None:
            return f"is not a valid URL ({why})"
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "file" and allow_file:
        return None
    if parts.scheme == "http" and host and (allow_http or is_loopback_host(host)):
        return None
    return "only https is allowed (http only for loopback hosts)"


def _host_problem(host: str) -> str | None:
    """Why ``host`` (from ``urlsplit``) cannot be connected to by name, or None: an IP address, or a DNS
    name whose labels are 1-63 characters once IDNA-encoded (what the HTTP stack will demand)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return None
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host  # one trailing dot: the root, allowed
    if len(name) > 253:
        return "the host name is longer than 253 characters"
    try:
        name.encode("idna")  # Python's IDNA 2003 codec: empty labels, labels over 63 characters
    except UnicodeError:
        return f"host name {name[:80]!r} has an empty label or one longer than 63 characters"
    return None


def redirect_problem(source: str, target: str, *, allow_http: bool = False) -> str | None:
    """Why a redirect from ``source`` to ``target`` may not be followed, or None. On top of the target's
    own policy (``url_problem``): no step down from https to plain http, and no hop from another host to
    this machine (a remote server must not send us to local services: loopback http is for URLs the user
    or the index chose, not for redirects)."""
    why = url_problem(target, allow_http=allow_http)
    if why is not None:
        return why
    before, after = urlsplit(source), urlsplit(target)
    if before.scheme == "https" and after.scheme == "http" and not allow_http:
        return "a redirect from https to plain http"
    if not is_loopback_host(before.hostname) and is_loopback_host(after.hostname):
        return "a redirect from another host to this machine (loopback)"
    return None


def filename_problem(name: str) -> str | None:
    """Why ``name`` cannot be a cache file name, or None when it can."""
    if not _FILENAME.match(name) or ".." in name:
        return (
            f"file name {name!r} is not usable: it must start with a letter or digit and hold only letters, "
            "digits, '.', '_' and '-' (no '..')"
        )
    if name.lower() in RESERVED_NAMES:
        return (f"file name {name!r} is not usable: tresnet-zoo uses that name itself "
                "(a cache folder or a mirror manifest)")
    return None


def weights_filename(url: str) -> str:
    """The cache file name a weights URL stands for; ValueError with the reason when there is none."""
    if _unprintable(url):
        raise ValueError("the URL holds whitespace or control characters")
    try:
        path = urlsplit(url).path  # query and fragment are not part of the file name
    except ValueError as exc:
        raise ValueError(f"not a valid URL ({exc})") from None
    segment = path.rsplit("/", 1)[-1]
    if not segment:
        raise ValueError("the URL path names no file (it is empty or ends in '/')")
    try:  # percent-encoded separators ('%2F', '%5C') and dots ('%2E%2E') decode before the rules apply
        name = unquote(segment, errors="strict") if "%" in segment else segment
    except UnicodeDecodeError:
        raise ValueError("the URL's file name is not valid percent-encoded UTF-8") from None
    problem = filename_problem(name)
    if problem:
        raise ValueError(problem)
    return name


def redact(url: str) -> str:
    """``url`` without a password (and without a user name): safe to print and to store."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # a port that is not one: dropped with the credentials
        port = None
    netloc = "***@" + host + (f":{port}" if port else "")
    return parts._replace(netloc=netloc).geturl()


# schemes the http and file transports handle; any other scheme is an fsspec protocol (s3, gs, az, ...)
_OWN_SCHEMES = {"http", "https", "file", ""}
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*\Z")


def is_object_store(url: str) -> bool:
    """Whether ``url`` names an object store (an fsspec protocol other than http(s) and file)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    return scheme not in _OWN_SCHEMES and bool(_SCHEME.match(scheme))


@dataclass(frozen=True)
class Mirror:
    """What a mirror string names, parsed once. ``kind``: "folder" (a path, or a ``file://`` URL without a
    host or with ``localhost``: ``folder`` is set), "store" (an object store), "other-host" (a ``file://``
    URL naming another machine, RFC 8089: never read or written as a local folder; ``host`` is set), or
    "web" (anything else: the URL policy judges it when it is read)."""

    text: str
    kind: str
    folder: Path | None = None
    host: str = ""

    @classmethod
    def parse(cls, text: str) -> Mirror:
        if is_object_store(text):
            return cls(text, "store")
        if "://" not in text:
            return cls(text, "folder", Path(text).expanduser())
        try:
            parts = urlsplit(text)
        except ValueError:
            return cls(text, "web")
        if parts.scheme != "file":
            return cls(text, "web")
        if parts.netloc.lower() not in ("", "localhost"):
            return cls(text, "other-host", host=parts.netloc)
        path = unquote(parts.path)
        return cls(text, "folder", Path(path)) if path else cls(text, "web")

    def url_of(self, filename: str) -> str:
        """The URL of ``filename`` in the mirror (a folder path as a ``file://`` URL)."""
        base = self.text if "://" in self.text else self.folder.resolve().as_uri()
        return base.rstrip("/") + "/" + filename
