"""A small loopback HTTP server for `check --links`: per path, the answer to HEAD and to a ranged GET.

``LinkServer({"/ok": Route(size=100)})``: a route gives HEAD's status (or ``head=None`` to answer as
GET), the size it announces, whether it redirects, or that it never answers (``hang=True``); hostile
answers: header texts sent as given (``raw_length``, ``raw_range``), headers dripped a byte at a time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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


class LinkServer:
    def __init__(self, routes: dict[str, Route], *, tls=None) -> None:
        """``tls``: an ``ssl.SSLContext`` (server side) to serve https instead of http."""
        self.routes = routes
        self.scheme = "https" if tls is not None else "http"
        self.stop = threading.Event()
        self.seen: list[tuple[str, str]] = []  # (method, path)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                server._answer(self, "HEAD")

            def do_GET(self):
                server._answer(self, "GET")

        class Server(ThreadingHTTPServer):
            request_queue_size = 64  # eight probes connect at once: never let the backlog drop a SYN

            def handle_error(self, request, client_address):  # a client closing early is not a test failure
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _answer(self, h: BaseHTTPRequestHandler, method: str) -> None:
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
