"""The pure side of the time bounds (issue 12): checking seconds, nesting bounds, and the short
retry of a connection that cannot be opened. The end-to-end side, against misbehaving servers, is
``tests/_async/test_time_bounds.py`` (and its sync twin)."""

from __future__ import annotations

import math
import pickle
import socket
import time
from typing import Any

import httpx
import pytest
from _client_fakes import FakeClock

from foundry_tune._core.polling import Deadline, PollSchedule, adaptive_or_fixed, job_schedule
from foundry_tune._core.retry import UNREACHABLE_WINDOW, check_seconds, remaining_budget, time_bound
from foundry_tune._core.translate import service_failure, translate, unreachable_error
from foundry_tune.client import RetryPolicy
from foundry_tune.errors import InvalidParameterError, RetryBudgetExceededError, ServiceUnreachableError

BAD_SECONDS = [math.nan, math.inf, -math.inf, -1, -0.5, True, False, "3", None, 10**400, [1]]


@pytest.mark.parametrize("bad", BAD_SECONDS)
def test_check_seconds_refuses_what_is_no_finite_number_and_names_it(bad: Any) -> None:
    with pytest.raises(InvalidParameterError, match="my_param"):
        check_seconds(bad, "my_param")


@pytest.mark.parametrize(("value", "zero", "expected"), [(0, True, 0.0), (2, False, 2.0), (0.25, True, 0.25)])
def test_check_seconds_accepts_finite_numbers(value: float, zero: bool, expected: float) -> None:
    assert check_seconds(value, "x", zero=zero) == expected
    if not zero:
        with pytest.raises(InvalidParameterError):
            check_seconds(0, "x", zero=False)


@pytest.mark.parametrize("field", ["total_timeout", "initial_backoff", "max_backoff", "jitter"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, True, "1"])
def test_retry_policy_refuses_bad_numbers_naming_the_field(field: str, bad: Any) -> None:
    with pytest.raises(InvalidParameterError, match=field):
        RetryPolicy(**{field: bad})


@pytest.mark.parametrize("bad", [0, True, "3", 2.5, math.nan])
def test_retry_policy_max_attempts_is_a_positive_integer(bad: Any) -> None:
    with pytest.raises(InvalidParameterError, match="max_attempts"):
        RetryPolicy(max_attempts=bad)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1, 0, True, "2", 10**400])
def test_poll_intervals_and_deadlines_refuse_bad_numbers(bad: Any) -> None:
    with pytest.raises(InvalidParameterError, match="poll"):
        adaptive_or_fixed(bad, job_schedule)
    with pytest.raises(InvalidParameterError):
        PollSchedule(floor=1.0, cap=bad)
    if bad != 0:
        with pytest.raises(InvalidParameterError, match="timeout"):
            Deadline.after(bad, 0.0)
    assert Deadline.after(0, 5.0).at == 5.0


def test_time_bounds_nest_and_the_tightest_wins() -> None:
    assert remaining_budget() is None
    now = time.monotonic()
    with time_bound(now + 100, time.monotonic):
        outer = remaining_budget()
        assert outer is not None and 99 < outer <= 100
        with time_bound(now + 5, time.monotonic):
            inner = remaining_budget()
            assert inner is not None and 4 < inner <= 5
            with time_bound(None, time.monotonic):
                assert remaining_budget() == inner or abs((remaining_budget() or 0) - inner) < 0.5
        assert abs((remaining_budget() or 0) - outer) < 0.5
    assert remaining_budget() is None


def test_a_retried_call_inside_a_time_bound_stops_at_that_bound() -> None:
    calls = 0

    def times_out() -> None:
        nonlocal calls
        calls += 1
        raise httpx.ReadTimeout("slow")

    policy = RetryPolicy(total_timeout=300, initial_backoff=0.2, max_backoff=0.2, jitter=0)
    start = time.monotonic()
    with time_bound(start + 1.0, time.monotonic), pytest.raises(RetryBudgetExceededError) as info:
        policy.call(times_out, what="look")
    took = time.monotonic() - start
    assert took < 1.5 and calls >= 2
    assert "time bound" in str(info.value) and "300s" not in str(info.value)


def _refused() -> httpx.ConnectError:
    request = httpx.Request("GET", "http://user:pw@127.0.0.1:5999/v1/jobs?sig=abc")
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as cause:
            raise httpx.ConnectError("All connection attempts failed", request=request) from cause
    except httpx.ConnectError as exc:
        return exc


def _unresolved() -> httpx.ConnectError:
    request = httpx.Request("GET", "https://nowhere.example:8443/api")
    try:
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except socket.gaierror as cause:
            raise httpx.ConnectError("Name or service not known", request=request) from cause
    except httpx.ConnectError as exc:
        return exc


def test_refusals_are_retried_briefly_then_named() -> None:
    clock = FakeClock(start=0.0)
    policy = RetryPolicy(max_attempts=50, total_timeout=300, sleep=clock.sleep, clock=clock)
    error = _refused()

    def refuse() -> None:
        raise error

    with pytest.raises(ServiceUnreachableError) as info:
        policy.call(refuse, what="list jobs")
    assert clock.sleeps and sum(clock.sleeps) <= UNREACHABLE_WINDOW
    assert len(clock.sleeps) >= 3  # a restarting service gets a few quick looks
    text = str(info.value)
    assert "127.0.0.1:5999" in text and "nothing is listening" in text and "endpoint" in text
    assert "pw" not in text and "sig=" not in text and "/v1/jobs" not in text
    again = pickle.loads(pickle.dumps(info.value))
    assert isinstance(again, ServiceUnreachableError) and again.target == "127.0.0.1:5999"


def test_a_service_back_after_a_refusal_answers_the_call() -> None:
    clock = FakeClock(start=0.0)
    policy = RetryPolicy(sleep=clock.sleep, clock=clock)
    error, answers = _refused(), iter([None, None, "ok"])

    def restarting() -> str:
        answer = next(answers)
        if answer is None:
            raise error
        return answer

    assert policy.call(restarting, what="get job") == "ok"
    assert clock.sleeps == [0.25, 0.5]


def test_a_host_that_does_not_resolve_says_so() -> None:
    failure = service_failure(_unresolved())
    assert failure is not None and failure.code == "name_not_resolved"
    assert failure.target == "nowhere.example:8443"
    text = str(unreachable_error(failure, what="get job", attempts=4))
    assert "nowhere.example" in text and "DNS" in text and "endpoint" in text
    assert translate(_refused()).code == "connection_refused"
