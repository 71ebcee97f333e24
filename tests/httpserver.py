"""A real HTTP server on 127.0.0.1 for download tests, with faults injected per request.

Each path serves bytes with Range support. ``server.fault(path, kind, **args)`` queues a fault for the
next request of that path; queued faults are used up one per request, then the path behaves again.
``server.hits(path)`` counts GET requests and keeps their headers.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Fault:
    kind: str
    args: dict = field(default_factory=dict)


class FaultServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, deque[Fault]] = defaultdict(deque)
        self.sticky: dict[str, Fault] = {}  # a fault for every request until cleared
        self.requests: dict[str, list[dict]] = defaultdict(list)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):  # noqa: N802
                server._handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    # --- test API -------------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

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

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- serving ----------------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        with self.lock:
            self.requests[path].append(dict(h.headers))
            queue = self.faults.get(path)
            fault = queue.popleft() if queue else self.sticky.get(path)
        data = self.files.get(path)
        kind = fault.kind if fault else None
        args = fault.args if fault else {}

        if kind == "status":
            body = args.get("body", b"failure\n")
            h.send_response(args["code"])
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
        if kind == "no_length":
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
