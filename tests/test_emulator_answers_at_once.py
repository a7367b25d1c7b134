"""The emulator answers at once: its served connections set TCP_NODELAY, and completing a multipart
upload (the parts joined and hashed) leaves the event loop free for every other request.

The emulator runs in this process (uvicorn on a thread of its own) so the tests can read the
server's connections and stand in for the slow part of a completion."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn")

import httpx
import uvicorn

from foundry_tune.emulator import _uploads
from foundry_tune.emulator._server import NAGLE_ENV, build_server, listening_socket, nagle_wanted
from foundry_tune.emulator._state import Config, Context

_WAIT = 10.0
_HEADERS = {"api-key": "test"}


class _Served:
    def __init__(self, server: uvicorn.Server, ctx: Context, port: int) -> None:
        self.server = server
        self.ctx = ctx
        self.url = f"http://127.0.0.1:{port}"
        self.port = port

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url + "/openai/v1", headers=_HEADERS, timeout=30)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[_Served]:
    ctx = Context(Config(data_dir=tmp_path / "data"))
    sock = listening_socket("127.0.0.1", 0)
    server = build_server(ctx)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    for _ in range(int(_WAIT / 0.01)):
        if server.started:
            break
        threading.Event().wait(0.01)
    assert server.started, "the in-process emulator did not start"
    try:
        yield _Served(server, ctx, int(sock.getsockname()[1]))
    finally:
        server.should_exit = True
        thread.join(_WAIT)
        ctx.store.close()


def _server_side_nodelay(server: uvicorn.Server) -> list[int]:
    sockets = [conn.transport.get_extra_info("socket") for conn in server.server_state.connections]
    return [s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sockets]


def test_the_connections_the_emulator_serves_have_tcp_nodelay(served: _Served) -> None:
    """Read on the server's own end of a kept-alive connection, after an answer went out: without
    TCP_NODELAY each answer's body waited ~40 ms for the client's delayed ACK."""
    with served.client() as client:
        assert client.get(served.url + "/_emulator/health").status_code == 200
        values = _server_side_nodelay(served.server)
    assert values and all(v != 0 for v in values)


def test_tcp_nodelay_is_set_on_the_listening_socket_itself() -> None:
    """Accepted sockets inherit it from the listener, whatever the server does with them."""
    sock = listening_socket("127.0.0.1", 0)
    with sock, socket.create_connection(sock.getsockname()):
        accepted, _ = sock.accept()
        with accepted:
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_the_benchmark_switch_turns_nagle_back_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """``FOUNDRY_TUNE_EMULATOR_NAGLE=1`` (benchmarks/emulator_latency.py's comparison) leaves it off."""
    assert not nagle_wanted()
    monkeypatch.setenv(NAGLE_ENV, "1")
    assert nagle_wanted()
    sock = listening_socket("127.0.0.1", 0, nodelay=not nagle_wanted())
    with sock, socket.create_connection(sock.getsockname()):
        accepted, _ = sock.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0


def _two_part_upload(client: httpx.Client, first: bytes, second: bytes) -> tuple[str, list[str]]:
    upload = client.post("/uploads", json={
        "filename": "big.jsonl", "purpose": "fine-tune", "bytes": len(first) + len(second),
        "mime_type": "application/jsonl",
    }).json()["id"]
    parts = [
        client.post(f"/uploads/{upload}/parts", files={"data": ("blob", data)}).json()["id"]
        for data in (first, second)
    ]
    return upload, parts


class _HeldAssembly:
    """Stands in for `_uploads._assemble`: it says when it started and joins the parts only once
    released, as a multi-gigabyte assembly would take its time."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        real = _uploads._assemble

        def held(*args: Any) -> Path:
            self.started.set()
            self.release.wait(_WAIT)
            return real(*args)

        monkeypatch.setattr(_uploads, "_assemble", held)


def _in_thread(call: Any) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    return thread, result


def test_other_requests_are_answered_while_an_upload_is_completed(
    served: _Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = b'{"a": 1}\n' * 1000, b'{"b": 2}\n' * 500
    with served.client() as client, served.client() as other:
        upload, parts = _two_part_upload(client, first, second)
        held = _HeldAssembly(monkeypatch)
        md5 = hashlib.md5(first + second, usedforsecurity=False).hexdigest()
        completing, completed = _in_thread(
            lambda: client.post(f"/uploads/{upload}/complete", json={"part_ids": parts, "md5": md5})
        )
        assert held.started.wait(_WAIT)
        listing, listed = _in_thread(lambda: other.get("/files"))
        listing.join(_WAIT / 2)
        answered_meanwhile = not listing.is_alive() and completing.is_alive()
        held.release.set()
        completing.join(_WAIT)
        listing.join(_WAIT)
        assert answered_meanwhile, "GET /files waited for the upload's parts to be joined"
        assert listed[0].status_code == 200
        done = completed[0].json()
        assert completed[0].status_code == 200 and done["status"] == "completed"
        assert other.get(f"/files/{done['file']['id']}/content").content == first + second
    assert not list(served.ctx.store.blob_dir.glob("*.assembled"))


def test_an_upload_cancelled_while_its_parts_are_joined_is_not_completed(
    served: _Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    with served.client() as client, served.client() as other:
        upload, parts = _two_part_upload(client, b"x" * 100, b"y" * 100)
        held = _HeldAssembly(monkeypatch)
        completing, completed = _in_thread(
            lambda: client.post(f"/uploads/{upload}/complete", json={"part_ids": parts})
        )
        assert held.started.wait(_WAIT)
        cancelling, cancelled = _in_thread(lambda: other.post(f"/uploads/{upload}/cancel"))
        cancelling.join(_WAIT / 2)
        held.release.set()
        completing.join(_WAIT)
        cancelling.join(_WAIT)
        assert cancelled[0].status_code == 200 and cancelled[0].json()["status"] == "cancelled"
        assert completed[0].status_code == 400
        assert "cancelled" in completed[0].json()["error"]["message"]
        assert other.get("/files").json()["data"] == []
    assert not list(served.ctx.store.blob_dir.glob("*.assembled"))
