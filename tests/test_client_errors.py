"""Error translation: status, code, message and request id cross over; headers and secrets never do."""

from __future__ import annotations

import pickle
from collections.abc import Iterator

import httpx
import openai
import pytest
from _client_fakes import Reply, ScriptedServer
from azure.core.exceptions import ClientAuthenticationError

from foundry_tune._core.translate import parse_retry_after, scrub
from foundry_tune.client import translate
from foundry_tune.errors import (
    AuthenticationError,
    FoundryTuneError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    ServiceError,
)

API_KEY = "sk-live-1234567890abcdef-SECRET"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    yield s
    s.close()


def call_failing(server: ScriptedServer, reply: Reply) -> openai.APIError:
    server.queue("/v1/models", reply)
    client = openai.OpenAI(api_key=API_KEY, base_url=server.url + "/v1", max_retries=0)
    try:
        client.models.list()
    except openai.APIError as exc:
        return exc
    finally:
        client.close()
    raise AssertionError("the call should have failed")


@pytest.mark.parametrize(("status", "code", "cls"), [
    (401, "invalid_token", AuthenticationError),
    (403, "PermissionDenied", PermissionDeniedError),
    (404, "NotFound", NotFoundError),
    (429, "rate_limit_exceeded", RateLimitError),
    (429, "insufficient_quota", QuotaExceededError),
    (500, "server_error", ServiceError),
    (400, "invalid_request_error", ServiceError),
])
def test_openai_status_errors_map_to_typed_errors(server, status, code, cls):
    body = {"error": {"code": code, "message": "it broke", "param": "model"}}
    exc = call_failing(server, Reply(status, body, {"apim-request-id": "apim-7"}))
    err = translate(exc, what="list models")
    assert type(err) is cls
    assert isinstance(err, ServiceError)
    assert (err.status, err.code, err.param, err.request_id) == (status, code, "model", "apim-7")
    assert err.message == "list models failed: it broke"
    assert API_KEY not in str(err) and API_KEY not in repr(err)


def test_rate_limit_carries_retry_after(server):
    exc = call_failing(server, Reply(429, {"error": {"code": "rate_limit", "message": "slow down"}},
                                     {"retry-after": "17", "x-request-id": "req-1"}))
    err = translate(exc)
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 17.0 and err.request_id == "req-1"


def test_secrets_echoed_by_a_service_are_scrubbed(server):
    message = f"bad header Authorization: Bearer {JWT} and api-key: {API_KEY}"
    exc = call_failing(server, Reply(400, {"error": {"code": "bad", "message": message}}))
    err = translate(exc)
    for secret in (JWT, API_KEY):
        assert secret not in str(err)
        assert secret not in repr(err)
        assert secret not in str(pickle.loads(pickle.dumps(err)))
    assert "<redacted>" in str(err)


def test_connection_failure_is_a_service_error():
    client = openai.OpenAI(api_key=API_KEY, base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2)
    with pytest.raises(openai.APIConnectionError) as info:
        client.models.list()
    err = translate(info.value)
    assert isinstance(err, ServiceError)
    assert err.code == "connection_refused" and err.status is None  # port 9: nothing listens
    assert API_KEY not in str(err)


def test_httpx_arm_error_body_is_parsed():
    request = httpx.Request("PUT", "https://management.azure.com/x",
                            headers={"Authorization": "Bearer " + JWT})
    response = httpx.Response(
        400, request=request, headers={"x-ms-request-id": "arm-9"},
        json={"error": {"code": "InsufficientQuota", "message": "This operation require 50 new capacity"}},
    )
    err = translate(httpx.HTTPStatusError("boom", request=request, response=response))
    assert isinstance(err, QuotaExceededError)
    assert err.code == "InsufficientQuota" and err.request_id == "arm-9" and err.status == 400
    assert JWT not in str(err)


def test_httpx_timeout_and_transport_errors():
    request = httpx.Request("GET", "https://management.azure.com/x")
    timeout = translate(httpx.ReadTimeout("slow", request=request))
    dropped = translate(httpx.RemoteProtocolError("closed", request=request))
    assert isinstance(timeout, ServiceError) and timeout.code == "timeout"
    assert isinstance(dropped, ServiceError) and dropped.code == "connection_error"


def test_credential_failure_is_an_authentication_error():
    err = translate(ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token"))
    assert isinstance(err, AuthenticationError)
    assert "could not get a token" in str(err)


def test_our_errors_pass_through_and_unknown_ones_are_named():
    ours = ServiceError("x", status=500)
    assert translate(ours) is ours
    other = translate(ValueError(f"api_key={API_KEY}"))
    assert type(other) is FoundryTuneError
    assert "ValueError" in str(other) and API_KEY not in str(other)


def test_scrub_bounds_length():
    assert len(scrub("x" * 5000)) == 1000


def test_parse_retry_after_variants():
    now = 1_700_000_000.0
    assert parse_retry_after({"retry-after-ms": "250"}, now=now) == 0.25
    assert parse_retry_after({"retry-after": "3"}, now=now) == 3.0
    assert parse_retry_after({"retry-after": "Tue, 14 Nov 2023 22:13:30 GMT"}, now=now) == 10.0
    assert parse_retry_after({"retry-after": "soon"}, now=now) is None
    assert parse_retry_after({}, now=now) is None
    assert parse_retry_after({"retry-after": "-5"}, now=now) == 0.0
