"""HTTP(S): the one session factory and the one redirect follower, used by downloads, ``check --links``
and the Hugging Face source.

urllib3's ``Retry`` retries what happens before a response (refused or reset connections, timeouts,
429/5xx, honouring a capped ``Retry-After``) but not a name that does not resolve. Redirects are followed
here, not by requests: each hop is checked against the URL policy before it is requested, and their
number is bounded. Proxies come from the environment (``HTTPS_PROXY``, ``NO_PROXY``); the CA bundle from
``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE`` or ``SSL_CERT_FILE``. URLs are printed redacted.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urljoin

from ..._urls import redact, redirect_problem
from ..._version import __version__
from ...errors import DeadSourceError, NetworkError, UrlPolicyError
from .base import DownloadConfig, RestartFromZero, TransientError

_REDIRECTS = (301, 302, 303, 307, 308)


class HttpSource:
    """An HTTP(S) URL: Range requests, redirects checked hop by hop, errors named by their root cause."""

    def __init__(self, url: str, config: DownloadConfig, filename: str = "") -> None:
        self.url = url
        self.config = config
        self.display = redact(url)
        self.prefix = f"{filename}: " if filename else ""
        self._session = None

    def _get_session(self):
        if self._session is None:
            self._session = session(self.config)
        return self._session

    def open(self, start: int) -> _HttpStream:
        import requests  # noqa: PLC0415 (network stack: only downloads)

        http = self._get_session()
        headers = {"Range": f"bytes={start}-"} if start else {}
        timeout = (self.config.connect_timeout, self.config.read_timeout)
        try:
            response, url = follow(http, "GET", self.url, headers=headers, timeout=timeout,
                                   max_redirects=self.config.max_redirects, allow_http=self.config.allow_http)
        except RequestFailed as failed:
            exc = failed.cause
            if not isinstance(exc, requests.exceptions.RequestException):  # urllib3's LocationParseError
                raise UrlPolicyError(f"{self.prefix}cannot download {redact(failed.url)}: not a usable URL "
                                     f"({_reason(exc)})", hint="fix the URL in the index or the mirror",
                                     url=redact(failed.url)) from None
            # before a response: urllib3 has already retried what is worth retrying
            kind = DeadSourceError if _unresolved(exc) else NetworkError
            raise kind(f"{self.prefix}cannot download {redact(failed.url)}: "
                       f"{_reason(exc)}{_after(self.config.retries, exc)}", hint=_OFFLINE_HINT,
                       url=redact(failed.url)) from None
        except RedirectError as exc:
            if exc.loop:
                raise NetworkError(f"{self.prefix}more than {self.config.max_redirects} redirects from "
                                   f"{self.display} (a redirect loop?)",
                                   hint="the server is misconfigured; try a mirror", url=self.display) from None
            raise UrlPolicyError(f"{self.prefix}{self.display} redirects to {exc.target}, which is refused: {exc.why}",
                                 hint="the server sends downloads somewhere insecure; use an https mirror",
                                 url=self.display) from None
        status = response.status_code
        try:
            if status == 416 and start:
                raise RestartFromZero()
            if status == 206:
                first = _content_range_start(response.headers.get("Content-Range"))
                if first != start:
                    raise RestartFromZero()
            elif status == 200:
                first = 0
            else:
                shown = self.display if url == self.url else redact(url)
                kind = DeadSourceError if status in (403, 404, 410) else NetworkError
                raise kind(self.prefix + _status_message(shown, status, response.reason), hint=_status_hint(status),
                           url=shown, status=status)
            length = response.headers.get("Content-Length")
            return _HttpStream(response, first, header_int(length))
        except BaseException:
            response.close()
            raise

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class _HttpStream:
    def __init__(self, response, start: int, length: int | None) -> None:
        import requests  # noqa: PLC0415 (network stack: only downloads)
        from urllib3.exceptions import HTTPError as Urllib3Error  # noqa: PLC0415 (network stack: only downloads)

        self.response = response
        self.start = start
        self.length = length
        self._read1 = response.raw.read1
        self._broken = (Urllib3Error, requests.exceptions.RequestException, OSError)  # looked up once, not per read

    def read(self, n: int) -> bytes:
        try:
            return self._read1(n, decode_content=True) or b""
        except self._broken as exc:
            raise TransientError(_reason(exc)) from None

    def close(self) -> None:
        self.response.close()


class RequestFailed(Exception):
    """A hop's request raised before any response: ``cause`` is requests' exception (or urllib3's
    LocationParseError, a ValueError, for a URL the policy let through), ``url`` the hop asked."""

    def __init__(self, url: str, cause: Exception) -> None:
        super().__init__(str(cause))
        self.url, self.cause = url, cause


class RedirectError(Exception):
    """A redirect that is not followed: more than the allowed hops (``loop``), or a hop the URL policy
    refuses (``why``); ``target`` is the refused hop as it may be printed (redacted, or the raw header)."""

    def __init__(self, *, loop: bool = False, target: str = "", why: str = "") -> None:
        super().__init__(why or "redirect loop")
        self.loop, self.target, self.why = loop, target, why


def follow(session, method: str, url: str, *, headers: dict, timeout: tuple[float, float], max_redirects: int,
           allow_http: bool):
    """(response, final URL): ``url`` requested with redirects followed hop by hop, each hop checked against
    the URL policy before it is requested; RedirectError for a loop or a refused hop, RequestFailed when a
    request raises before a response."""
    import requests  # noqa: PLC0415 (network stack: only downloads)

    hops = 0
    while True:
        try:
            response = session.request(method, url, headers=headers, timeout=timeout, allow_redirects=False,
                                        stream=True)
        except (requests.exceptions.RequestException, ValueError) as exc:
            raise RequestFailed(url, exc) from None
        location = response.headers.get("Location")
        if response.status_code not in _REDIRECTS or not location:
            return response, url
        response.close()
        hops += 1
        if hops > max_redirects:
            raise RedirectError(loop=True)
        target = redirect_target(url, location)
        if target is None:
            raise RedirectError(target=repr(location[:200]), why="not a URL that can be parsed")
        why = redirect_problem(url, target, allow_http=allow_http)
        if why is not None:
            raise RedirectError(target=redact(target), why=why)
        url = target


def ca_bundle() -> str | bool:
    """The CA bundle the environment names (requests' REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE, then OpenSSL's
    SSL_CERT_FILE, which requests alone would ignore), or True for the default one."""
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        if os.environ.get(variable):
            return os.environ[variable]
    return True


def session(config: DownloadConfig | None = None):
    """The one HTTP session: proxies and .netrc from the environment, the CA bundle of ``ca_bundle``,
    identity encoding (sizes and hashes are of the file, not a gzip of it), no redirects of its own (with
    ``allow_redirects=False`` requests still parses a Location to offer the next request, and a hostile one
    raised from inside ``get``; ``follow`` reads it instead), and ``config``'s retries where one is given."""
    import requests  # noqa: PLC0415 (network stack: only downloads)
    from requests.adapters import HTTPAdapter  # noqa: PLC0415 (network stack: only downloads)

    class OwnRedirects(requests.Session):
        def resolve_redirects(self, *args, **kwargs):  # noqa: ARG002 - requests' signature
            return iter(())

    http = OwnRedirects()
    http.trust_env = True
    http.verify = ca_bundle()
    http.headers["User-Agent"] = f"tresnet-zoo/{__version__}"
    http.headers["Accept-Encoding"] = "identity"
    if config is not None:
        adapter = HTTPAdapter(max_retries=_retry(config))
        http.mount("http://", adapter)
        http.mount("https://", adapter)
    return http


def redirect_target(url: str, location: str) -> str | None:
    """The URL a Location header names, relative to ``url``; None when it cannot be parsed at all."""
    try:
        return urljoin(url, location)
    except ValueError:
        return None


def _retry(config: DownloadConfig):
    """urllib3's Retry with Retry-After capped (a server must not park us for an hour), and a host name
    that does not resolve failing at once (DNS answers the same on the fifth try)."""
    from urllib3.exceptions import MaxRetryError, NameResolutionError  # noqa: PLC0415 (network stack: only downloads)
    from urllib3.util.retry import Retry  # noqa: PLC0415 (network stack: only downloads)

    class ZooRetry(Retry):
        def get_retry_after(self, response):  # type: ignore[override]
            value = super().get_retry_after(response)
            return None if value is None else min(value, config.max_retry_after)

        def increment(self, method=None, url=None, response=None, error=None, _pool=None,  # type: ignore[override]
                      _stacktrace=None):
            if error is not None and any(isinstance(c, NameResolutionError) for c in _chain(error)):
                raise MaxRetryError(_pool, url, error)
            return super().increment(method, url, response, error, _pool, _stacktrace)

    return ZooRetry(
        total=config.retries,
        connect=config.retries,
        read=config.retries,
        status=config.retries,
        other=0,
        redirect=False,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=(429, 500, 502, 503, 504),
        backoff_factor=config.backoff,
        backoff_max=config.max_backoff,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


# --- messages ---------------------------------------------------------------------------------------------


def header_int(text: str | None) -> int | None:
    """A byte count from a server's header, or None: plain ASCII digits only, at most 20 of them. Header
    text is hostile: '²' passes ``str.isdigit`` and fails ``int``, 5000 digits exceed ``int``'s limit."""
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 20 else None


def _content_range_start(value: str | None) -> int | None:
    # "bytes 100-199/200"
    if not value or not value.startswith("bytes "):
        return None
    return header_int(value[6:].split("-", 1)[0])


def _after(retries: int, exc: BaseException) -> str:
    if retries == 0 or _unresolved(exc):
        return ""  # a name that does not resolve is not retried
    return f" (after {retries} {'retry' if retries == 1 else 'retries'})"


_OFFLINE_HINT = ("check the network or the URL and run the same command again; where the host cannot be reached, "
                 "copy the files into a folder and use it as a mirror")


def _chain(exc: BaseException):
    """requests wraps urllib3 wraps socket errors: walk from the outer exception to the root cause."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        inner = getattr(exc, "reason", None)  # urllib3's MaxRetryError
        if not isinstance(inner, BaseException):
            inner = (exc.args[0] if exc.args and isinstance(exc.args[0], BaseException)
                     else exc.__cause__ or exc.__context__)
        exc = inner


def _unresolved(exc: BaseException) -> bool:
    """Whether the host name did not resolve (the root of ``exc``'s chain)."""
    from urllib3.exceptions import NameResolutionError  # noqa: PLC0415 (network stack: only downloads)

    return any(isinstance(c, (NameResolutionError, socket.gaierror)) for c in _chain(exc))


def _reason(exc: Exception) -> str:
    """What went wrong, in a few words a user can act on."""
    import http.client  # noqa: PLC0415 (network stack: only downloads)
    import ssl  # noqa: PLC0415 (network stack: only downloads)

    from urllib3.exceptions import (  # noqa: PLC0415 (network stack: only downloads)
        ConnectTimeoutError,
        IncompleteRead,
        NewConnectionError,
        ReadTimeoutError,
    )

    causes = list(_chain(exc))

    def found(kind):
        return next((c for c in causes if isinstance(c, kind)), None)

    if _unresolved(exc):
        return "cannot resolve the host name (no network, or DNS blocked)"
    if found(ConnectionRefusedError):
        return "connection refused"
    if found(ConnectionResetError):
        return "connection reset"
    if cert := found(ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({getattr(cert, 'verify_message', None) or cert})"
    if tls := found(ssl.SSLError):
        return f"TLS error ({getattr(tls, 'reason', None) or tls})"
    # urllib3 makes NewConnectionError a ConnectTimeoutError (for old callers): only a real one counts
    if any(isinstance(c, ConnectTimeoutError) and not isinstance(c, NewConnectionError) for c in causes):
        return "connect timed out"
    if found((ReadTimeoutError, TimeoutError)):
        return "read timed out"
    text = " ".join(str(cause) for cause in causes)
    if any(isinstance(a, (IncompleteRead, http.client.IncompleteRead)) for c in causes for a in (c, *c.args)):
        return "body shorter than its Content-Length (connection closed early)"
    for marker in ("Connection reset", "Connection aborted", "Read timed out", "timed out"):
        if marker in text:
            return marker.lower()
    root = causes[-1]
    return (str(root).splitlines() or [type(root).__name__])[0][:160] or type(root).__name__


def _status_message(url: str, status: int, reason: str | None) -> str:
    what = {404: "not found", 403: "forbidden", 401: "needs authentication", 410: "gone"}.get(status, reason or "error")
    retried = " (after retries)" if status in (429, 500, 502, 503, 504) else ""
    return f"{url} answered HTTP {status} {what}{retried}"


def _status_hint(status: int) -> str:
    if status in (404, 410):
        return "the weights URL in the index is wrong or the file was removed; try a mirror"
    if status in (429, 500, 502, 503, 504):
        return "the server is failing or rate-limiting; run the same command again later"
    return "check the URL and your access to it"
