"""The emulator is safe to run: it requires credentials on every route but health and stats, never
executes user-supplied grader code, refuses file names that name paths, and caps request sizes."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from starlette.routing import Mount, Route

from foundry_tune import graders
from foundry_tune.emulator import Emulator
from foundry_tune.emulator._app import build_app
from foundry_tune.emulator._errors import ApiError
from foundry_tune.emulator._multipart import read_form
from foundry_tune.emulator._state import Config, Context

TOKEN = "emulator-security-token-7f3a"

# An emulator of this module's own: it needs a token, and its state folder (listed by a test) lives
# under pytest's tmp.
pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator(token=TOKEN, data_dir=True)]


def authed(emu: Emulator) -> httpx.Client:
    return httpx.Client(base_url=emu.info.arm_endpoint, headers={"api-key": TOKEN}, timeout=30)


def every_route(tmp_path: Path) -> list[tuple[str, str]]:
    """(method, path) of every route the emulator serves, with path parameters filled in."""
    app = build_app(Context(Config(data_dir=tmp_path)))
    found: list[tuple[str, str]] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                walk(route.routes, prefix + route.path)
            elif isinstance(route, Route):
                for method in sorted((route.methods or set()) - {"HEAD"}):
                    found.append((method, prefix + route.path))

    walk(app.app.routes, "")
    return [(m, re.sub(r"\{[^}]+\}", "x1", p)) for m, p in found]


def test_every_route_but_health_and_stats_requires_credentials(emulator: Emulator, tmp_path: Path) -> None:
    routes = every_route(tmp_path)
    assert len(routes) >= 25  # files, uploads, jobs, graders, inference, ARM, project deployments
    open_routes = []
    with httpx.Client(base_url=emulator.info.arm_endpoint, timeout=30) as client:
        for method, path in routes:
            anonymous = client.request(method, path, params={"api-version": "2024-10-01"})
            wrong = client.request(method, path, headers={"Authorization": "Bearer not-the-token"},
                                   params={"api-version": "2024-10-01"})
            if path in {"/_emulator/health", "/_emulator/stats"}:  # not clock, switches
                open_routes.append(path)
                assert anonymous.status_code == 200
                continue
            for answer in (anonymous, wrong):
                assert answer.status_code == 401, (method, path, answer.status_code)
                # ARM paths answer in ARM's envelope and codes, the data plane in its own
                arm = path.startswith("/subscriptions/")
                expected = {"AuthenticationFailed", "InvalidAuthenticationToken"} if arm else {"401"}
                assert answer.json()["error"]["code"] in expected
                assert "not-the-token" not in answer.text
    assert sorted(open_routes) == ["/_emulator/health", "/_emulator/stats"]


def test_python_grader_code_is_never_executed(emulator: Emulator, tmp_path: Path) -> None:
    marker = tmp_path / "grader-ran"
    source = (
        "import pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text('imported')\n"
        "def grade(sample, item):\n"
        f"    pathlib.Path({str(marker)!r}).write_text('graded')\n"
        "    return 1.0\n"
    )
    grader = {"type": "python", "name": "py", "source": source}
    with authed(emulator) as client:
        checked = client.post("/openai/v1/fine_tuning/alpha/graders/validate", json={"grader": grader})
        assert checked.status_code == 200, checked.text
        ran = client.post("/openai/v1/fine_tuning/alpha/graders/run",
                          json={"grader": grader, "model_sample": "42", "item": {"answer": "42"}})
        assert ran.status_code == 200, ran.text
    graders.run_locally(graders.load(grader), {"output_text": "42"}, {"answer": "42"})
    assert not marker.exists()


@pytest.mark.parametrize("name", ["../../escape.jsonl", "..\\escape.jsonl", "/etc/passwd", "a/b.jsonl", ".."])
def test_file_names_that_name_paths_are_refused(emulator: Emulator, name: str) -> None:
    data_dir = Path(emulator.info.data_dir)
    before = sorted(p.name for p in data_dir.parent.rglob("*"))
    with authed(emulator) as client:
        answer = client.post("/openai/v1/files", data={"purpose": "fine-tune"},
                             files={"file": (name, b'{"messages": []}\n', "application/jsonl")})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["param"] == "file"
        upload = client.post("/openai/v1/uploads", json={"filename": name, "purpose": "fine-tune",
                                                         "bytes": 10, "mime_type": "text/jsonl"})
        assert upload.status_code == 400, upload.text
    assert sorted(p.name for p in data_dir.parent.rglob("*")) == before


def test_ids_cannot_reach_outside_the_store(emulator: Emulator) -> None:
    with authed(emulator) as client:
        for file_id in ("..", "..%2Femulator.sqlite3", "%2e%2e%2f%2e%2e%2fetc%2fpasswd"):
            answer = client.get(f"/openai/v1/files/{file_id}/content")
            assert answer.status_code == 404, (file_id, answer.status_code)
            assert answer.json()["error"]["code"] == "notFound"  # JSON error, never file bytes


def test_json_bodies_are_capped(emulator: Emulator) -> None:
    padding = "x" * (17 * 1024 * 1024)
    big = json.dumps({"model": "gpt-4.1-mini", "training_file": "file-x", "padding": padding})
    with authed(emulator) as client:
        answer = client.post("/openai/v1/fine_tuning/jobs", content=big,
                             headers={"content-type": "application/json"})
        assert answer.status_code == 413
        assert answer.json()["error"]["code"] == "request_too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: the cap holds while streaming too
            yield b'{"grader": {"type": "string_check", "name": "'
            for _ in range(17):
                yield b"y" * (1024 * 1024)
            yield b'"}}'

        streamed = client.post("/openai/v1/fine_tuning/alpha/graders/validate", content=chunks(),
                               headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert client.get("/openai/v1/files").status_code == 200  # and it keeps serving


def test_multipart_file_parts_are_capped_while_streaming(tmp_path: Path) -> None:
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.jsonl\"\r\n\r\n"
            .encode() + b"z" * 5000 + f"\r\n--{boundary}--\r\n".encode())

    async def stream() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 512):
            yield body[i : i + 512]

    with pytest.raises(ApiError) as info:
        asyncio.run(read_form(f"multipart/form-data; boundary={boundary}", stream(), tmp_path, 1000))
    assert info.value.status == 413
    assert list(tmp_path.iterdir()) == []  # the partial part was removed
