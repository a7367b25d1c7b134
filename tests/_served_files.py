"""A local HTTP server of JSONL files that counts the GETs of each path: the stand-in for a blob
the service imports (``http://127.0.0.1`` is the only http:// URL the library takes)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET = "c2lnbmF0dXJlLXRoYXQtbXVzdC1uZXZlci1zaG93"
"""The ``sig`` of the test SAS tokens: must never appear in anything the library shows."""


class ServedFiles:
    """A local HTTP server of JSONL files, counting the GETs of each path."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.gets: dict[str, int] = {}
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                served.gets[path] = served.gets.get(path, 0) + 1
                body = served.files.get(path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read their own logs
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, token: str = "2024-11-04") -> str:
        """A SAS-like URL of ``path`` (``sv`` varies the token, ``sig`` is the secret)."""
        return (f"http://127.0.0.1:{self.server.server_address[1]}{path}"
                f"?sv={token}&sr=b&sp=r&se=2030-01-01T00%3A00%3A00Z&sig={SECRET}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
