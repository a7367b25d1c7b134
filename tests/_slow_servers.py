"""Misbehaving HTTP servers for the time-bound tests: each answers on a loopback port from a thread,
so that both flavours (an event loop or plain threads) can talk to it.

- ``trickle``: headers at once, then a JSON body one byte every ``pace`` seconds;
- ``stall``: accepts the connection and never sends anything (no headers);
- ``hang``: sends the headers, then nothing (the body never comes);
- :func:`closed_port`: a port nothing listens on (connection refused).

The first ``served`` requests get ``body`` at once (e.g. a job's JSON, to attach to it), the later
ones misbehave.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any, Literal

Mode = Literal["trickle", "stall", "hang"]

JOB = {
    "id": "ftjob-slow",
    "object": "fine_tuning.job",
    "model": "gpt-4.1-mini",
    "status": "running",
    "created_at": 1_700_000_000,
    "training_file": "file-x",
    "hyperparameters": {},
    "result_files": [],
    "seed": 1,
}
"""A running job, the answer that lets a test attach before the server starts misbehaving."""


class SlowServer:
    """A loopback HTTP/1.1 server that misbehaves in one ``mode`` (see the module docs)."""

    def __init__(self, mode: Mode, *, pace: float = 0.2, served: int = 0, body: Any = None) -> None:
        self.mode = mode
        self.pace = pace
        self.served = served
        self.body = json.dumps(JOB if body is None else body).encode()
        self.requests = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    @property
    def endpoint(self) -> str:
        """A project endpoint on this server."""
        return f"http://127.0.0.1:{self.port}/api/projects/slow"

    def __enter__(self) -> SlowServer:
        self._accepting.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._accepting.join(5)
        for thread in self._threads:
            thread.join(5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.1)
        with conn:
            while not self._stop.is_set():
                if not self._read_request(conn):
                    return
                with self._lock:
                    self.requests += 1
                    fast = self.requests <= self.served
                head = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        b"content-length: %d\r\n\r\n" % len(self.body))
                if fast:
                    conn.sendall(head + self.body)
                    continue
                if self.mode == "stall":
                    self._idle()
                    return
                conn.sendall(head)
                if self.mode == "hang":
                    self._idle()
                    return
                for byte in self.body:
                    if self._stop.wait(self.pace):
                        return
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:
                        return

    def _read_request(self, conn: socket.socket) -> bool:
        """Read one request (headers and a content-length body); False when the peer went away."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self._recv(conn)
            if not chunk:
                return False
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            chunk = self._recv(conn)
            if not chunk:
                return False
            rest += chunk
        return True

    def _recv(self, conn: socket.socket) -> bytes:
        while not self._stop.is_set():
            try:
                return conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return b""
        return b""

    def _idle(self) -> None:
        self._stop.wait()


@contextlib.contextmanager
def slow_server(mode: Mode, **options: Any) -> Iterator[SlowServer]:
    """A running :class:`SlowServer`, stopped on exit."""
    with SlowServer(mode, **options) as server:
        yield server


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed: connecting is refused)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port: int = sock.getsockname()[1]
    return port
