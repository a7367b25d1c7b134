"""Test doubles for the client and deployment tests: a scripted HTTP server on loopback (the real
openai SDK talks to it over real HTTP), an in-memory ARM for httpx.MockTransport, and a fake clock."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering
    delay: float = 0.0  # seconds to wait before answering


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    """Answers each path from a queue of scripted replies, then with a default; records requests."""

    def __init__(self) -> None:
        self.script: dict[str, deque[Reply]] = defaultdict(deque)
        self.default: dict[str, Reply] = {}
        self.seen: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                server.seen.append(Seen(self.command, path, {k.lower(): v for k, v in self.headers.items()},
                                        body))
                queue = server.script.get(path)
                reply = queue.popleft() if queue else server.default.get(path, Reply(404, {"error": {
                    "code": "NotFound", "message": f"no route {path}"}}))
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                payload = b"" if reply.body is None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def queue(self, path: str, *replies: Reply) -> None:
        self.script[path].extend(replies)

    def hits(self, path: str) -> int:
        return sum(1 for s in self.seen if s.path == path)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class FakeClock:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def chat_completion(text: str = "hello") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
    }


class FakeArm:
    """An in-memory ARM for one account's deployments, for httpx.MockTransport.

    ``states`` is the provisioningState sequence a new deployment goes through, one per GET.
    ``put_errors`` / ``delete_errors`` are replies returned before the operation is applied.
    """

    def __init__(self, states: tuple[str, ...] = ("Creating", "Succeeded")) -> None:
        self.deployments: dict[str, dict[str, Any]] = {}
        self.progress: dict[str, deque[str]] = {}
        self.states = states
        self.requests: list[httpx.Request] = []
        self.put_errors: deque[httpx.Response] = deque()
        self.fail_provisioning: tuple[str, str] | None = None
        self.deleting_reads = 1
        self._deleting: dict[str, int] = {}

    def add(self, name: str, model: str, *, tags: dict[str, str] | None = None,
            state: str = "Succeeded") -> None:
        self.deployments[name] = {
            "id": f"/deployments/{name}", "name": name,
            "type": "Microsoft.CognitiveServices/accounts/deployments",
            "sku": {"name": "GlobalStandard", "capacity": 50}, "tags": tags or {},
            "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"},
                           "provisioningState": state},
        }

    def puts(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "PUT"]

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        parts = request.url.path.split("/deployments")
        tail = parts[1].strip("/") if len(parts) > 1 else None
        if tail == "":
            return httpx.Response(200, json={"value": [self._view(n) for n in list(self.deployments)]})
        assert tail is not None
        name = tail
        if request.method == "PUT":
            if self.put_errors:
                return self.put_errors.popleft()
            body = json.loads(request.content)
            created = name not in self.deployments
            self.deployments[name] = {"id": f"/deployments/{name}", "name": name, **body}
            self.deployments[name]["properties"]["provisioningState"] = "Accepted"
            self.progress[name] = deque(self.states)
            return httpx.Response(201 if created else 200, json=self.deployments[name])
        if request.method == "GET":
            if name in self._deleting:
                if self._deleting[name] <= 0:
                    del self._deleting[name]
                    del self.deployments[name]
                else:
                    self._deleting[name] -= 1
            if name not in self.deployments:
                return httpx.Response(404, json={"error": {"code": "DeploymentNotFound", "message": "nope"}})
            return httpx.Response(200, json=self._view(name))
        if request.method == "DELETE":
            if name not in self.deployments:
                return httpx.Response(204)
            self._deleting.setdefault(name, self.deleting_reads)
            self.deployments[name]["properties"]["provisioningState"] = "Deleting"
            return httpx.Response(202)
        return httpx.Response(405)

    def _view(self, name: str) -> dict[str, Any]:
        doc = self.deployments[name]
        queue = self.progress.get(name)
        if queue:
            state = queue.popleft()
            doc["properties"]["provisioningState"] = state
            if state == "Failed" and self.fail_provisioning:
                code, message = self.fail_provisioning
                doc["properties"]["error"] = {"code": code, "message": message}
        return doc
