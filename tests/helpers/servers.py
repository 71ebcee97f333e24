"""Real HTTP servers on 127.0.0.1 for the download and link tests, with faults injected per request: the one
loopback-server helper of the tests (no test mocks the network).

``FaultServer`` serves files (GET, with Range) for fetch, mirrors and sources; ``LinkServer`` answers HEAD and
ranged GETs per route for `check --links`. Both run on ``_Loopback``: a threaded server on a free port whose
handler errors (a client hanging up) are part of the tests, stopped by ``close()``.

FaultServer:

Each path serves bytes with Range support. ``server.fault(path, kind, **args)`` queues a fault for the
next request of that path; queued faults are used up one per request, then the path behaves again.
``server.hits(path)`` lists GET requests: their headers, and ``at`` (when the server saw it, monotonic).

Faults: ``status`` (code, headers, body), ``redirect`` (to: a Location, relative or absolute; chains are
built from several paths), ``wrong_bytes``, ``extra_bytes``, ``ignore_range``, ``no_length``,
``raw_length`` (text: the Content-Length header as given), ``reset``/``short``/``stall`` after N bytes,
``cut`` (every=N: each response ends cleanly after N bytes, a link that drops every N bytes),
``drip`` (one byte every ``interval`` seconds), ``slow`` (rate).

``FaultServer(tls=(cert, key))`` serves https.

LinkServer: ``LinkServer({"/ok": Route(size=100)})``: a route gives HEAD's status (or ``head=None`` to answer as
GET), the size it announces, whether it redirects, or that it never answers (``hang=True``); hostile
answers: header texts sent as given (``raw_length``, ``raw_range``), headers dripped a byte at a time.

``ConnectProxy`` is a small threaded CONNECT tunnel (the kind ``HTTPS_PROXY`` names) that records where it was
asked to connect. ``self_signed_cert`` makes a certificate for localhost and 127.0.0.1 with the ``cryptography``
package.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Loopback:
    """A threaded HTTP/1.1 server on a free 127.0.0.1 port; ``answer(handler, method)`` answers each request."""

    def __init__(self, tls=None, backlog: int = 64) -> None:
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_HEAD(self):  # noqa: N802
                server.answer(self, "HEAD")

            def do_GET(self):  # noqa: N802
                server.answer(self, "GET")

        class Server(ThreadingHTTPServer):
            request_queue_size = backlog  # probes connect at once: never let the backlog drop a SYN
            daemon_threads = True

            def handle_error(self, request, client_address):  # a client hanging up is part of the tests
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.scheme = "http"
        if tls is not None:
            import ssl

            context = tls  # an ssl.SSLContext (server side), or (certificate, key) files
            if not isinstance(tls, ssl.SSLContext):
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, h: BaseHTTPRequestHandler, method: str) -> None:
        raise NotImplementedError

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}/{path.lstrip('/')}"

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Fault:
    kind: str
    args: dict = field(default_factory=dict)


class FaultServer(_Loopback):
    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, deque[Fault]] = defaultdict(deque)
        self.sticky: dict[str, Fault] = {}  # a fault for every request until cleared
        self.requests: dict[str, list[dict]] = defaultdict(list)
        self.lock = threading.Lock()
        super().__init__(tls, backlog=16)

    def answer(self, h: BaseHTTPRequestHandler, method: str) -> None:
        if method != "GET":  # as http.server answers a method its handler lacks
            h.send_error(501, f"Unsupported method ({method!r})")
            return
        self._handle(h)

    # --- test API -------------------------------------------------------------------------------------
    def add(self, path: str, data: bytes) -> str:
        self.files["/" + path.lstrip("/")] = data
        return self.url(path)

    def fault(self, path: str, kind: str, *, times: int = 1, **args) -> None:
        for _ in range(times):
            self.faults["/" + path.lstrip("/")].append(Fault(kind, args))

    def always(self, path: str, kind: str | None, **args) -> None:
        key = "/" + path.lstrip("/")
        if kind is None:
            self.sticky.pop(key, None)
        else:
            self.sticky[key] = Fault(kind, args)

    def hits(self, path: str) -> list[dict]:
        return self.requests["/" + path.lstrip("/")]

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.sticky.clear()
            self.requests.clear()

    # --- serving ----------------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        with self.lock:
            self.requests[path].append({**h.headers, "at": time.monotonic()})
            queue = self.faults.get(path)
            fault = queue.popleft() if queue else self.sticky.get(path)
        data = self.files.get(path)
        kind = fault.kind if fault else None
        args = fault.args if fault else {}

        if kind == "status":
            body = args.get("body", b"failure\n")
            h.send_response(args["code"], args.get("reason"))  # a reason phrase is the server's text: hostile
            for key, value in args.get("headers", {}).items():
                h.send_header(key, value)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        if kind == "redirect":
            h.send_response(302)
            h.send_header("Location", args.get("to", path))
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if data is None:
            h.send_response(404)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if kind == "cut":  # a link that drops every N bytes: each response ends (cleanly) after N bytes
            kind, args = "short", {"after": args["every"]}
        if kind == "wrong_bytes":
            data = bytes(b ^ 0xFF for b in data[:4096]) + data[4096:]
        if kind == "extra_bytes":
            data = data + b"\0" * args.get("extra", 1 << 20)

        start = 0
        range_header = h.headers.get("Range")
        if range_header and kind != "ignore_range" and range_header.startswith("bytes="):
            start = int(range_header[6:].split("-", 1)[0])
        if start >= len(data) and start > 0:
            h.send_response(416)
            h.send_header("Content-Range", f"bytes */{len(data)}")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        body = data[start:]
        h.send_response(206 if start else 200)
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        if kind == "raw_length":  # a Content-Length text as given (hostile: '²', 5000 digits); the body, then close
            h.send_header("Content-Length", args["text"])
            h.send_header("Connection", "close")
            h.close_connection = True
        elif kind == "no_length" or args.get("no_length"):
            h.send_header("Connection", "close")
            h.close_connection = True
        else:
            h.send_header("Content-Length", str(len(body)))
        h.send_header("Accept-Ranges", "bytes")
        h.end_headers()

        limit = args.get("after")
        if kind in ("reset", "short", "stall") and limit is not None:
            h.wfile.write(body[:limit])
            h.wfile.flush()
            if kind == "reset":
                h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                h.connection.close()
            elif kind == "short":
                h.connection.shutdown(socket.SHUT_RDWR)
            else:  # stall: keep the connection open, send nothing
                self.stop.wait(args.get("seconds", 30))
            h.close_connection = True
            return
        if kind == "drip":  # one byte every `interval` seconds, for as long as the client listens
            interval = args.get("interval", 0.5)
            for i in range(len(body)):
                try:
                    h.wfile.write(body[i : i + 1])
                    h.wfile.flush()
                except (BrokenPipeError, ConnectionResetError, OSError):
                    return
                if self.stop.wait(interval):
                    return
            return
        rate = args.get("rate") if kind == "slow" else None  # bytes per second
        chunk = 1 << 16
        for i in range(0, len(body), chunk):
            try:
                h.wfile.write(body[i : i + chunk])
            except (BrokenPipeError, ConnectionResetError):
                return
            if rate:
                time.sleep(chunk / rate)
            if self.stop.is_set():
                return


@dataclass
class Route:
    status: int = 200  # the answer to GET (and to HEAD unless ``head`` says otherwise)
    size: int = 0  # the file's size: Content-Length of 200, the total in Content-Range of 206
    head: int | None = None  # HEAD's own status (405/501: HEAD refused)
    length: int | None = None  # a Content-Length other than ``size`` (a server announcing the wrong size)
    location: str | None = None  # redirect target (with status 30x)
    hang: bool = False  # accept the connection, never answer
    raw_length: str | None = None  # the Content-Length header's text as sent, whatever it says
    raw_range: str | None = None  # the Content-Range header's text (of a 206) as sent
    drip: float | None = None  # send the status line, then one header byte every ``drip`` seconds, for ever
    reason: str | None = None  # the status line's reason phrase, as sent (a server's text: hostile)


class LinkServer(_Loopback):
    def __init__(self, routes: dict[str, Route], *, tls=None) -> None:
        """``tls``: an ``ssl.SSLContext`` (server side) or (certificate, key) files, to serve https."""
        self.routes = routes
        self.seen: list[tuple[str, str]] = []  # (method, path)
        super().__init__(tls=tls, backlog=64)

    def answer(self, h: BaseHTTPRequestHandler, method: str) -> None:
        self.seen.append((method, h.path))
        route = self.routes.get(h.path, Route(status=404))
        if route.hang:
            self.stop.wait(60)
            h.close_connection = True
            return
        if route.drip is not None:
            try:
                h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
                while not self.stop.wait(route.drip):
                    h.wfile.write(b"a")
                    h.wfile.flush()
            except OSError:
                pass
            h.close_connection = True
            return
        status = route.head if method == "HEAD" and route.head is not None else route.status
        ranged = (
            method == "GET" and h.headers.get("Range") == "bytes=0-0" and status == 200 and route.head in (405, 501)
        )
        if ranged:
            status = 206
        h.send_response(status, route.reason)
        if route.location:
            h.send_header("Location", route.location)
        body = b""
        if status == 206:
            h.send_header("Content-Range", route.raw_range or f"bytes 0-0/{route.size}")
            body = b"\0"
        elif status == 200:
            body = b"\0" * (route.size if method == "GET" else 0)
        length = (
            route.length if route.length is not None and status == 200 else (route.size if status == 200 else len(body))
        )
        h.send_header("Content-Length", route.raw_length if route.raw_length is not None else str(length))
        h.end_headers()
        if route.raw_length is not None:
            h.close_connection = True
            return
        if method == "GET" and body:
            try:
                h.wfile.write(body[:length])
            except (BrokenPipeError, ConnectionResetError):
                pass


class ConnectProxy:
    """An HTTP CONNECT tunnel on 127.0.0.1 (what ``HTTPS_PROXY=http://127.0.0.1:PORT`` names): it connects
    only to loopback targets, records each ``host:port`` asked for, and pipes bytes both ways."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            if len(line) != 3 or line[0] != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            host, _, port = line[1].rpartition(":")
            self.targets.append(line[1])
            if host.strip("[]") not in ("127.0.0.1", "localhost", "::1"):
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
            except OSError:
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            with upstream:
                upstream.settimeout(None)
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                rest = head.split(b"\r\n\r\n", 1)[1]
                if rest:
                    upstream.sendall(rest)
                back = threading.Thread(target=self._pipe, args=(upstream, client), daemon=True)
                back.start()
                self._pipe(client, upstream)
                back.join(timeout=30)

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(1 << 16):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self) -> None:
        self.closed.set()
        self.listener.close()


def self_signed_cert(folder) -> tuple[str, str]:
    """(cert.pem, key.pem) for ``localhost`` and 127.0.0.1, self-signed and usable as its own CA bundle."""
    import datetime
    import ipaddress
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tresnet-zoo test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = Path(folder)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)
