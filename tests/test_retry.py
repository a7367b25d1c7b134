"""RetryPolicy against a real HTTP server on loopback, driven by the real openai SDK (max_retries=0)."""

from __future__ import annotations

import email.utils
from collections.abc import Iterator

import httpx
import openai
import pytest
from _client_fakes import FakeClock, Reply, ScriptedServer

from foundry_tune.client import RetryPolicy, remaining_budget
from foundry_tune.errors import (
    InvalidParameterError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    RetryBudgetExceededError,
    ServiceError,
)

MODELS = "/v1/models"
OK = Reply(200, {"object": "list", "data": []})


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    s.default[MODELS] = OK
    yield s
    s.close()


@pytest.fixture
def client(server: ScriptedServer) -> Iterator[openai.OpenAI]:
    c = openai.OpenAI(api_key="sk-test-not-a-secret", base_url=server.url + "/v1", max_retries=0, timeout=5)
    yield c
    c.close()


def policy(clock: FakeClock, **kw: float) -> RetryPolicy:
    return RetryPolicy(sleep=clock.sleep, clock=clock, wall_clock=lambda: 1_700_000_000.0,
                       rng=lambda: 0.5, **kw)  # type: ignore[arg-type]


def error(status: int, code: str = "x", headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"error": {"code": code, "message": f"failure {status}"}}, headers or {})


def test_transient_5xx_then_success_is_retried_with_jittered_backoff(server, client):
    clock = FakeClock()
    server.queue(MODELS, error(503), error(500), error(502))
    result = policy(clock, initial_backoff=1.0, jitter=0.5).call(client.models.list, what="list models")
    assert result.data == []
    assert server.hits(MODELS) == 4
    # rng 0.5 with jitter 0.5 takes a quarter off each exponential step: 1, 2, 4 -> 0.75, 1.5, 3
    assert clock.sleeps == [0.75, 1.5, 3.0]


def test_retry_after_seconds_is_honoured(server, client):
    clock = FakeClock()
    server.queue(MODELS, error(429, "rate_limit", {"retry-after": "7"}))
    policy(clock).call(client.models.list, what="list models")
    assert clock.sleeps == [7.0]


def test_retry_after_ms_takes_precedence(server, client):
    clock = FakeClock()
    server.queue(MODELS, error(429, "rate_limit", {"retry-after-ms": "1500", "retry-after": "9"}))
    policy(clock).call(client.models.list, what="list models")
    assert clock.sleeps == [1.5]


def test_retry_after_http_date(server, client):
    clock = FakeClock()
    when = email.utils.formatdate(1_700_000_000 + 12, usegmt=True)
    server.queue(MODELS, error(503, "busy", {"retry-after": when}))
    policy(clock).call(client.models.list, what="list models")
    assert clock.sleeps == [12.0]


def test_retry_after_beyond_budget_raises_rate_limit_at_once(server, client):
    clock = FakeClock()
    server.queue(MODELS, error(429, "rate_limit", {"retry-after": "600", "x-request-id": "req-42"}))
    with pytest.raises(RateLimitError) as info:
        policy(clock, total_timeout=60).call(client.models.list, what="list models")
    assert clock.sleeps == []  # no hang, no sleep at all
    assert server.hits(MODELS) == 1
    err = info.value
    assert err.retry_after == 600.0
    assert err.status == 429
    assert err.request_id == "req-42"
    assert "600s" in str(err) and "list models" in str(err)


def test_total_time_bound_is_never_outlived(server, client):
    clock = FakeClock()
    server.default[MODELS] = error(500)
    start = clock.now
    with pytest.raises(RetryBudgetExceededError) as info:
        policy(clock, total_timeout=10, initial_backoff=2, max_backoff=100, jitter=0,
               max_attempts=50).call(client.models.list, what="list models")
    assert clock.now - start <= 10
    assert clock.sleeps == [2, 4]  # the next wait (8s) would cross the 10s bound
    assert server.hits(MODELS) == 3
    assert info.value.status == 500
    assert isinstance(info.value.__cause__, openai.InternalServerError)


def test_attempts_exhausted_raises_budget_error_with_last_status(server, client):
    clock = FakeClock()
    server.default[MODELS] = error(503, "overloaded")
    with pytest.raises(RetryBudgetExceededError) as info:
        policy(clock, max_attempts=3).call(client.models.list, what="list models")
    assert server.hits(MODELS) == 3
    assert info.value.code == "overloaded"
    assert "3 attempts" in str(info.value)


def test_throttled_until_attempts_run_out_is_a_rate_limit_error(server, client):
    clock = FakeClock()
    server.default[MODELS] = error(429, "rate_limit", {"retry-after": "1"})
    with pytest.raises(RateLimitError):
        policy(clock, max_attempts=2).call(client.models.list, what="list models")
    assert server.hits(MODELS) == 2


@pytest.mark.parametrize(("status", "expected"), [(400, ServiceError), (404, NotFoundError)])
def test_client_errors_are_not_retried(server, client, status, expected):
    clock = FakeClock()
    server.queue(MODELS, error(status, "bad"))
    with pytest.raises(expected) as info:
        policy(clock).call(client.models.list, what="list models")
    assert server.hits(MODELS) == 1
    assert info.value.status == status and info.value.code == "bad"
    assert not isinstance(info.value, RetryBudgetExceededError)


def test_quota_429_is_not_retried(server, client):
    clock = FakeClock()
    server.queue(MODELS, error(429, "insufficient_quota", {"retry-after": "1"}))
    with pytest.raises(QuotaExceededError):
        policy(clock).call(client.models.list, what="list models")
    assert server.hits(MODELS) == 1


def test_408_and_409_are_retried_but_not_a_name_conflict(server, client):
    clock = FakeClock()
    server.queue(MODELS, error(408), error(409, "Conflict"))
    policy(clock).call(client.models.list, what="list models")
    assert server.hits(MODELS) == 3
    server.queue(MODELS, error(409, "DeploymentNameAlreadyExists"))
    with pytest.raises(ServiceError):
        policy(clock).call(client.models.list, what="list models")
    assert server.hits(MODELS) == 4


def test_dropped_connection_is_retried(server, client):
    clock = FakeClock()
    server.queue(MODELS, Reply(drop=True))
    assert policy(clock).call(client.models.list, what="list models").data == []
    assert server.hits(MODELS) == 2
    assert len(clock.sleeps) == 1


def test_httpx_errors_are_retried_too():
    clock = FakeClock()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        if len(calls) == 2:
            return httpx.Response(503, headers={"retry-after": "2"}, request=request)
        return httpx.Response(200, json={"ok": True}, request=request)

    http = httpx.Client(transport=httpx.MockTransport(handler))

    def fetch() -> object:
        r = http.get("https://management.azure.com/x")
        r.raise_for_status()
        return r.json()

    assert policy(clock).call(fetch, what="fetch") == {"ok": True}
    assert len(calls) == 3
    assert clock.sleeps[1] == 2.0


def test_other_exceptions_pass_through_untouched():
    def boom() -> None:
        raise KeyError("mine")

    with pytest.raises(KeyError):
        RetryPolicy().call(boom, what="boom")


def test_remaining_budget_is_visible_inside_a_call():
    clock = FakeClock()
    seen = []

    def fn() -> int:
        seen.append(remaining_budget())
        return 1

    assert remaining_budget() is None
    policy(clock, total_timeout=42).call(fn, what="x")
    assert seen == [42.0]
    assert remaining_budget() is None


def test_policy_rejects_nonsense():
    with pytest.raises(InvalidParameterError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(InvalidParameterError):
        RetryPolicy(jitter=2)
    with pytest.raises(InvalidParameterError):
        RetryPolicy(initial_backoff=10, max_backoff=1)
    assert RetryPolicy.none().max_attempts == 1
    assert RetryPolicy().replace(total_timeout=5).total_timeout == 5
    assert "total_timeout=300" in repr(RetryPolicy())


def test_a_slow_answer_cannot_carry_a_call_past_its_bound(server):
    import time

    from foundry_tune import Foundry
    from foundry_tune.client import StaticTokenCredential

    path = "/api/projects/p/openai/v1/models"
    server.default[path] = Reply(200, {"object": "list", "data": []}, delay=5.0)
    retry = RetryPolicy(total_timeout=0.8, initial_backoff=0.05)
    with Foundry(server.url + "/api/projects/p", StaticTokenCredential("t"), retry=retry, timeout=60) as ft:
        started = time.monotonic()
        with pytest.raises(RetryBudgetExceededError) as info:
            ft.retry.call(ft.openai.models.list, what="list models")
        elapsed = time.monotonic() - started
    assert elapsed < 2.0  # the 60s request timeout was clamped to what was left of the 0.8s budget
    assert info.value.code == "timeout"


def test_a_slow_arm_answer_cannot_carry_a_call_past_its_bound(server):
    import time

    from foundry_tune.client import ArmClient, ArmSettings, StaticTokenCredential

    server.default["/subscriptions/s/resourceGroups/r/providers/Microsoft.CognitiveServices/accounts/a/x"] = (
        Reply(200, {}, delay=5.0))
    arm = ArmClient(ArmSettings("s", "r", "a", server.url), StaticTokenCredential("t"),
                    retry=RetryPolicy(total_timeout=0.8, initial_backoff=0.05), timeout=60)
    started = time.monotonic()
    with pytest.raises(RetryBudgetExceededError):
        arm.request("GET", "/x", what="get x")
    assert time.monotonic() - started < 2.0
    arm.close()
