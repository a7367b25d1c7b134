"""The emulator answers client mistakes with a 4xx in Azure's error envelope, never a 500: deep JSON,
numbers no 64-bit integer or float holds, deep grader formulas and python source, out-of-range
fields, and multipart bodies with too many or repeated parts. A refused multipart request leaves no
blob behind, and the emulator keeps answering on the same connection."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from foundry_tune.emulator import Emulator
from tests._emulator_helpers import ARM_API_VERSION, deployment_path, sft_rows, wait_until

# Its own emulator: the multipart tests list every blob in its data folder.
pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator(data_dir=True)]

BIG = "9" * 400
DEEP = "[" * 100_000 + "]" * 100_000
STRING_CHECK = {
    "type": "string_check",
    "name": "a",
    "input": "{{sample.output_text}}",
    "reference": "x",
    "operation": "eq",
}


def _multi(formula: str) -> dict[str, Any]:
    return {"type": "multi", "name": "m", "calculate_output": formula, "graders": {"a": STRING_CHECK}}


def _score_model(range_: str) -> str:
    return (
        '{"type": "score_model", "name": "s", "model": "gpt-4.1", '
        f'"input": [{{"role": "user", "content": "x"}}], "range": {range_}}}'
    )


def _nested_multi(levels: int) -> str:
    head = '{"type": "multi", "name": "m", "calculate_output": "a", "graders": {"a": '
    return head * levels + json.dumps(STRING_CHECK) + "}}" * levels


DEEP_PYTHON = {
    "type": "python",
    "name": "p",
    "source": "def grade(sample, item):\n    return " + "-" * 100_000 + "1\n",
}


@pytest.fixture(scope="module")
def client(emulator: Emulator) -> Iterator[httpx.Client]:
    """One keep-alive connection for the whole module: every refusal must leave it usable."""
    with httpx.Client(base_url=emulator.info.openai_base_url, headers={"api-key": "k"}, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def arm(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=emulator.info.arm_endpoint, headers={"Authorization": "Bearer t"}, timeout=30
    ) as c:
        yield c


@pytest.fixture(scope="module")
def training_file(client: httpx.Client) -> str:
    content = "".join(json.dumps(row) + "\n" for row in sft_rows(12)).encode()
    answer = client.post(
        "/files", files={"file": ("bad-input.jsonl", content)}, data={"purpose": "fine-tune"}
    )
    assert answer.status_code == 201
    return str(answer.json()["id"])


@pytest.fixture(scope="module")
def upload_id(client: httpx.Client) -> str:
    body = {"filename": "u.jsonl", "purpose": "fine-tune", "bytes": 10, "mime_type": "text/jsonl"}
    answer = client.post("/uploads", json=body)
    assert answer.status_code == 200
    return str(answer.json()["id"])


def _post(client: httpx.Client, path: str, raw: str | bytes, method: str = "POST") -> httpx.Response:
    return client.request(method, path, content=raw, headers={"content-type": "application/json"})


def _assert_refused(answer: httpx.Response, status: int, code: str, client: httpx.Client) -> dict[str, Any]:
    """``answer`` is ``status`` with the data plane's error envelope; the connection still works."""
    assert answer.status_code == status, answer.text[:300]
    error = answer.json()["error"]
    assert set(error) == {"code", "message", "param", "type"}
    assert error["code"] == code
    assert error["type"] == "invalid_request_error"
    assert isinstance(error["message"], str) and len(error["message"]) < 1000
    assert client.get("/files").status_code == 200  # the next request, on the same connection
    return dict(error)


def _job(training_file: str, **fields: str) -> str:
    """A job body with raw JSON text for some fields (numbers json.dumps could not write)."""
    extra = "".join(f', "{key}": {value}' for key, value in fields.items())
    return f'{{"model": "gpt-4.1-mini", "training_file": "{training_file}"{extra}}}'


def _sft(hyperparameters: str) -> str:
    return f'{{"type": "supervised", "supervised": {{"hyperparameters": {hyperparameters}}}}}'


def _surrogate(text: str) -> str:
    return json.dumps(text)[1:-1].replace("\\u2603", "\\ud800")  # a lone surrogate, escaped


@pytest.mark.parametrize(
    ("body", "param"),
    [
        pytest.param(lambda f: DEEP, None, id="deep-json"),
        pytest.param(
            lambda f: _job(f, metadata='{"a": ' * 70 + '"x"' + "}" * 70), "metadata.a", id="deep-field"
        ),
        pytest.param(
            lambda f: _job(f, method=_sft(f'{{"n_epochs": {BIG}}}')),
            "method.supervised.hyperparameters.n_epochs",
            id="n_epochs-400-digits",
        ),
        pytest.param(
            lambda f: _job(f, hyperparameters=f'{{"batch_size": {BIG}}}'),
            "hyperparameters.batch_size",
            id="batch_size-400-digits",
        ),
        pytest.param(
            lambda f: _job(f, method=_sft('{"learning_rate_multiplier": 1e999}')),
            "method.supervised.hyperparameters.learning_rate_multiplier",
            id="lr-1e999",
        ),
        pytest.param(lambda f: _job(f, seed=BIG), "seed", id="seed-400-digits"),
        pytest.param(lambda f: _job(f, seed="NaN"), None, id="seed-NaN"),
        pytest.param(lambda f: _job(f, suffix='"nightly\\n"'), "suffix", id="suffix-trailing-newline"),
        pytest.param(lambda f: _job(f, suffix=f'"{_surrogate("a☃")}"'), "suffix", id="lone-surrogate"),
    ],
)
def test_job_create_refuses_bad_bodies(
    client: httpx.Client, training_file: str, body: Any, param: str | None
) -> None:
    before = client.get("/fine_tuning/jobs").json()["data"]
    error = _assert_refused(
        _post(client, "/fine_tuning/jobs", body(training_file)), 400, "invalidPayload", client
    )
    if param is not None:  # the place in the body, cut short for a deep one
        assert error["param"] == param or error["param"].startswith(param + ".a.a.a")
    assert client.get("/fine_tuning/jobs").json()["data"] == before  # nothing was created


def test_a_reinforcement_job_with_a_deep_formula_is_refused(client: httpx.Client, training_file: str) -> None:
    method = {"type": "reinforcement", "reinforcement": {"grader": _multi("-" * 1990 + "a")}}
    body = {
        "model": "o4-mini",
        "training_file": training_file,
        "validation_file": training_file,
        "method": method,
    }
    error = _assert_refused(client.post("/fine_tuning/jobs", json=body), 400, "invalid_grader", client)
    assert error["param"] == "method.reinforcement.grader"


@pytest.mark.parametrize("route", ["validate", "run"])
@pytest.mark.parametrize(
    ("grader", "code"),
    [
        pytest.param(json.dumps(_multi("-" * 100_000 + "1")), "invalid_grader", id="formula-100000-unary"),
        pytest.param(json.dumps(_multi("-" * 1990 + "a")), "invalid_grader", id="formula-1990-unary"),
        pytest.param(_nested_multi(60), "invalidPayload", id="multi-in-multi-60-deep"),
        pytest.param(json.dumps(DEEP_PYTHON), "invalid_grader", id="python-deep-unary"),
        pytest.param(_score_model(f"[0, {BIG}]"), "invalidPayload", id="range-400-digits"),
    ],
)
def test_graders_refuse_deep_or_huge_graders(
    client: httpx.Client, route: str, grader: str, code: str
) -> None:
    body = f'{{"grader": {grader}, "model_sample": "x", "item": {{}}}}'
    _assert_refused(_post(client, f"/fine_tuning/alpha/graders/{route}", body), 400, code, client)


def test_a_grader_whose_score_overflows_is_refused(client: httpx.Client) -> None:
    body = f'{{"grader": {_score_model("[-1e308, 1e308]")}, "model_sample": "x"}}'
    error = _assert_refused(
        _post(client, "/fine_tuning/alpha/graders/run", body), 400, "invalid_grader", client
    )
    assert "finite" in error["message"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("/uploads", DEEP, id="create-deep"),
        pytest.param(
            "/uploads",
            f'{{"filename": "a.jsonl", "purpose": "fine-tune", "bytes": {BIG}, "mime_type": "text/jsonl"}}',
            id="create-400-digits",
        ),
        pytest.param(
            "/uploads",
            '{"filename": "a.jsonl", "purpose": ["fine-tune"], "bytes": 5, "mime_type": "text/jsonl"}',
            id="create-purpose-list",
        ),
        pytest.param(
            "/chat/completions",
            '{"model": "gpt-4.1-mini", "messages": '
            f'[{{"role": "user", "content": "hi"}}], "max_tokens": {BIG}}}',
            id="chat-max_tokens-400-digits",
        ),
        pytest.param(
            "/chat/completions",
            '{"model": "gpt-4.1-mini", "messages": '
            '[{"role": "user", "content": "hi"}], "max_tokens": 1099511627776}',
            id="chat-max_tokens-2**40",
        ),
        pytest.param(
            "/chat/completions",
            '{"model": "gpt-4.1-mini", "messages": '
            '[{"role": "user", "content": "hi"}], "temperature": 1e999}',
            id="chat-temperature-inf",
        ),
        pytest.param(
            "/chat/completions",
            f'{{"model": "gpt-4.1-mini", "messages": [{{"role": "user", "content": "{_surrogate("☃")}"}}]}}',
            id="chat-lone-surrogate",
        ),
        pytest.param("/responses", DEEP, id="responses-deep"),
        pytest.param(
            "/responses",
            f'{{"model": "gpt-4.1-mini", "input": "hi", "max_output_tokens": {BIG}}}',
            id="responses-400-digits",
        ),
    ],
)
def test_other_json_routes_refuse_bad_bodies(client: httpx.Client, path: str, body: str) -> None:
    _assert_refused(_post(client, path, body), 400, "invalidPayload", client)


def test_upload_complete_refuses_a_deep_body(client: httpx.Client, upload_id: str) -> None:
    _assert_refused(_post(client, f"/uploads/{upload_id}/complete", DEEP), 400, "invalidPayload", client)
    assert client.get("/files").status_code == 200


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(DEEP, id="deep"),
        pytest.param(
            f'{{"sku": {{"name": "GlobalStandard", "capacity": {BIG}}}, "properties": '
            '{"model": {"format": "OpenAI", "name": "gpt-4.1-mini", "version": "1"}}}',
            id="capacity-400-digits",
        ),
        pytest.param(
            '{"sku": {"name": "GlobalStandard", "capacity": 1}, "tags": {"a": 1}, "properties": '
            '{"model": {"format": "OpenAI", "name": "gpt-4.1-mini", "version": "1"}}}',
            id="tags-not-strings",
        ),
    ],
)
def test_arm_refuses_bad_bodies_in_arm_envelope(
    emulator: Emulator, arm: httpx.Client, client: httpx.Client, method: str, body: str
) -> None:
    path = deployment_path(emulator.info, f"bad-input-{method.lower()}")
    if method == "PATCH":  # a PATCH needs a deployment to change
        good = {
            "sku": {"name": "GlobalStandard", "capacity": 1},
            "properties": {"model": {"format": "OpenAI", "name": "gpt-4.1-mini", "version": "1"}},
        }
        assert arm.put(path, params={"api-version": ARM_API_VERSION}, json=good).status_code in {200, 201}
    answer = arm.request(
        method,
        path,
        params={"api-version": ARM_API_VERSION},
        content=body,
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 400, answer.text[:300]
    assert set(answer.json()["error"]) == {"code", "message"}
    assert answer.json()["error"]["code"] == "InvalidRequestContent"
    after = arm.get(path, params={"api-version": ARM_API_VERSION})  # ARM still answers
    if method == "PUT":
        assert after.status_code == 404  # nothing was made
    else:
        assert after.json()["sku"]["capacity"] == 1  # nothing was changed


# --- multipart -------------------------------------------------------------------------------

BOUNDARY = "bad-input-boundary"


def _form(*parts: tuple[str, str | None, bytes], end: bool = True) -> bytes:
    """A multipart body of ``(name, filename or None, content)`` parts, written by hand so that a
    name can repeat."""
    out = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    return out + (f"--{BOUNDARY}--\r\n".encode() if end else b"")


def _send_form(client: httpx.Client, path: str, body: bytes) -> httpx.Response:
    return client.post(
        path, content=body, headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    )


def _blobs(emulator: Emulator) -> set[str]:
    return {p.name for p in (Path(emulator.info.data_dir) / "blobs").iterdir()}


JSONL = b'{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n' * 10


@pytest.mark.parametrize(
    ("parts", "status", "code", "end"),
    [
        pytest.param(
            [("purpose", None, b"fine-tune"), ("file", "a.jsonl", JSONL), ("file", "b.jsonl", JSONL)],
            400,
            "invalidPayload",
            True,
            id="file-part-twice",
        ),
        pytest.param(
            [("file", "a.jsonl", JSONL), ("purpose", None, b"fine-tune"), ("purpose", None, b"fine-tune")],
            400,
            "invalidPayload",
            True,
            id="text-field-twice-after-a-file",
        ),
        pytest.param(
            [("file", "a.jsonl", JSONL)] + [(f"f{i}", None, b"x") for i in range(16)],
            400,
            "too_many_parts",
            True,
            id="17-parts",
        ),
        pytest.param(
            [("file", "a.jsonl", JSONL)] + [(f"f{i}", None, b"x" * 60_000) for i in range(5)],
            413,
            "request_too_large",
            True,
            id="text-fields-over-256KiB",
        ),
        pytest.param(
            [("file", "a.jsonl", JSONL), ("purpose", None, b"x" * 70_000)],
            400,
            "invalidPayload",
            True,
            id="one-field-over-64KiB",
        ),
        pytest.param(
            [("purpose", None, b"fine-tune"), ("file", "a.jsonl", JSONL)],
            400,
            "invalidPayload",
            False,
            id="body-ends-early",
        ),
        pytest.param([("file", "a.jsonl", JSONL)], 400, "invalidPayload", True, id="no-purpose"),
    ],
)
def test_refused_file_uploads_leave_no_blob(
    emulator: Emulator,
    client: httpx.Client,
    parts: list[tuple[str, str | None, bytes]],
    status: int,
    code: str,
    end: bool,
) -> None:
    blobs, files = _blobs(emulator), emulator.stats()["files"]
    answer = _send_form(client, "/files", _form(*parts, end=end))
    _assert_refused(answer, status, code, client)
    assert _blobs(emulator) == blobs
    assert emulator.stats()["files"] == files


def test_a_part_sent_with_two_data_parts_is_refused_and_leaves_no_blob(
    emulator: Emulator, client: httpx.Client, upload_id: str
) -> None:
    blobs = _blobs(emulator)
    answer = _send_form(
        client, f"/uploads/{upload_id}/parts", _form(("data", "d", b"01234"), ("data", "d", b"56789"))
    )
    error = _assert_refused(answer, 400, "invalidPayload", client)
    assert error["param"] == "data"
    assert _blobs(emulator) == blobs
    # the upload still takes a well-formed part
    ok = _send_form(client, f"/uploads/{upload_id}/parts", _form(("data", "d", b"0123456789")))
    assert ok.status_code == 200
    assert _blobs(emulator) == blobs | {f"{upload_id}.{ok.json()['id']}"}


def test_a_client_that_disconnects_mid_upload_leaves_no_blob(
    emulator: Emulator, client: httpx.Client
) -> None:
    blobs = _blobs(emulator)
    host, port = emulator.info.openai_base_url.split("//")[1].split("/")[0].rsplit(":", 1)
    body = _form(("purpose", None, b"fine-tune"), ("file", "a.jsonl", JSONL * 100), end=False)
    head = (
        f"POST /openai/v1/files HTTP/1.1\r\nHost: {host}\r\napi-key: k\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {len(body) + 10_000}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(head.encode() + body)  # the file part is streaming to disk when the client goes
        wait_until(lambda: _blobs(emulator) != blobs, timeout=5, interval=0.02)
    wait_until(lambda: _blobs(emulator) == blobs, timeout=5, interval=0.05)
    assert client.get("/files").status_code == 200
