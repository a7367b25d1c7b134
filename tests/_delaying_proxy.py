"""A delaying HTTP proxy for tests: it forwards every request to an upstream server, but holds
the matching ones (by default job creates, ``POST .../fine_tuning/jobs``) for ``delay`` seconds
first, and then forwards them even when the client gave up and disconnected in the meantime, as a
gateway in front of the service may. The emulator alone cannot show that: it drops a request whose
client disconnected.

>>> with DelayingProxy("http://127.0.0.1:8000", delay=4.0) as proxy:
...     base_url = proxy.url + "/openai/v1"
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable
from types import TracebackType

import httpx

__all__ = ["HOP_BY_HOP", "DelayingProxy", "is_job_create"]

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding",
               "proxy-connection", "te", "trailer", "upgrade"}
"""Headers that belong to one connection: a proxy does not pass them on."""


def is_job_create(method: str, path: str) -> bool:
    """A fine-tuning job create (the path without its query)."""
    return method == "POST" and path.split("?", 1)[0].rstrip("/").endswith("/fine_tuning/jobs")


class DelayingProxy:
    """A threaded HTTP/1.1 proxy on a free loopback port in front of ``upstream`` (an
    ``http://host:port`` origin). ``held(method, path)`` picks the requests held ``delay`` seconds
    (job creates by default). ``forwarded_late`` counts held requests forwarded after their client
    had disconnected; :meth:`settle` waits until no held request is pending."""

    def __init__(self, upstream: str, *, delay: float,
                 held: Callable[[str, str], bool] = is_job_create) -> None:
        self.upstream = upstream.rstrip("/")
        self.delay = delay
        self.held = held
        self.forwarded_late = 0
        self.held_count = 0
        self._pending = 0
        self._lock = threading.Condition()
        self._client = httpx.Client(timeout=60.0)
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="delaying-proxy", daemon=True)

    @property
    def url(self) -> str:
        """Where the proxy listens (``http://127.0.0.1:port``)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> DelayingProxy:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving (held requests still pending are forwarded by their own threads)."""
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until every held request has been forwarded and answered upstream."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self._pending} held requests still pending")
                self._lock.wait(left)

    def __enter__(self) -> DelayingProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> httpx.Response:
        return self._client.request(method, self.upstream + path, headers=headers, content=body)

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("content-length") or 0))

            def _serve(self) -> None:
                body = self._body()
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
                held = proxy.held(self.command, self.path)
                if held:
                    with proxy._lock:
                        proxy._pending += 1
                        proxy.held_count += 1
                    time.sleep(proxy.delay)
                try:
                    if held and _disconnected(self):
                        with proxy._lock:
                            proxy.forwarded_late += 1
                    response = proxy._forward(self.command, self.path, headers, body)
                finally:
                    if held:
                        with proxy._lock:
                            proxy._pending -= 1
                            proxy._lock.notify_all()
                try:
                    self.send_response(response.status_code)
                    for key, value in response.headers.items():
                        if key.lower() not in HOP_BY_HOP:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(response.content)))
                    self.end_headers()
                    self.wfile.write(response.content)
                except OSError:  # the client gave up: the service got the request anyway
                    self.close_connection = True

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

        return Handler


def _disconnected(handler: http.server.BaseHTTPRequestHandler) -> bool:
    """Whether the client closed its side of the connection (a readable socket with nothing to read)."""
    import select
    import socket

    conn = handler.connection
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        if not readable:
            return False
        return conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True
