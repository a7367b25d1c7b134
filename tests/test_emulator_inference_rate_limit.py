"""The emulator's inference rate limit (switch ``inference_rate_limit``,
foundry_tune/emulator/_rate_limit.py): per-deployment token buckets, Azure's 429 (Retry-After,
retry-after-ms, its error body) and the remaining-requests / remaining-tokens headers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from foundry_tune.emulator import Emulator
from foundry_tune.emulator._rate_limit import RateLimit, TokenBucket, _Deployments, parse
from foundry_tune.errors import InvalidParameterError

pytestmark = [pytest.mark.emulator, pytest.mark.own_emulator()]
MESSAGES = [{"role": "user", "content": "Where is my parcel?"}]


@pytest.fixture(autouse=True)
def _limit_off(emulator: Emulator) -> Iterator[None]:
    yield
    emulator.switches(inference_rate_limit=None)


def _chat(emulator: Emulator, model: str = "gpt-4.1-mini", **extra: object) -> httpx.Response:
    info = emulator.info
    return httpx.post(f"{info.openai_base_url}/chat/completions", headers={"api-key": "k"},
                      json={"model": model, "messages": MESSAGES, **extra}, timeout=30)


def test_over_the_limit_a_deployment_answers_azures_429(emulator: Emulator) -> None:
    # 6 requests a minute, a burst of 10 s: one request, then 429 for ~10 s.
    emulator.switches(inference_rate_limit={"requests_per_minute": 6, "burst_seconds": 10})
    before = emulator.stats()["responses_by_status"].get("429", 0)
    first = _chat(emulator)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-remaining-requests"] == "0"
    assert int(first.headers["x-ratelimit-remaining-tokens"]) > 0
    refused = _chat(emulator)
    assert refused.status_code == 429
    seconds = int(refused.headers["Retry-After"])
    assert 1 <= seconds <= 10 and refused.headers["retry-after-ms"] == str(seconds * 1000)
    error = refused.json()["error"]
    assert error["code"] == "429"
    assert "exceeded call rate limit" in error["message"]
    assert f"Please retry after {seconds} second" in error["message"]
    assert emulator.stats()["responses_by_status"]["429"] == before + 1
    # Each deployment (model) has its buckets of its own.
    assert _chat(emulator, "gpt-4.1-nano").status_code == 200


def test_the_remaining_headers_count_down_and_the_limit_turns_off(emulator: Emulator) -> None:
    emulator.switches(inference_rate_limit={"requests_per_minute": 60, "tokens_per_minute": 6000,
                                            "burst_seconds": 5})
    answers = [_chat(emulator, max_tokens=10) for _ in range(3)]
    remaining = [int(a.headers["x-ratelimit-remaining-requests"]) for a in answers]
    tokens = [int(a.headers["x-ratelimit-remaining-tokens"]) for a in answers]
    assert remaining == sorted(remaining, reverse=True) and remaining[0] <= 4
    assert tokens[0] < 500 and tokens[-1] < tokens[0]  # prompt + max_tokens charged
    emulator.switches(inference_rate_limit=None)
    plain = _chat(emulator)
    assert plain.status_code == 200 and "x-ratelimit-remaining-requests" not in plain.headers


def test_exact_retry_after_is_to_the_millisecond(emulator: Emulator) -> None:
    emulator.switches(inference_rate_limit={"requests_per_minute": 120, "exact_retry_after": True})
    codes = [_chat(emulator).status_code for _ in range(4)]
    assert 429 in codes
    refused = _chat(emulator)
    if refused.status_code == 429:  # unless the bucket refilled meanwhile (500 ms per request)
        assert int(refused.headers["retry-after-ms"]) <= 500


@pytest.mark.parametrize(
    "value",
    [0, -5, "fast", True, {"requests_per_minute": 0}, {"tokens_per_minute": 5},
     {"requests_per_minute": 6, "burst_seconds": 61}, {"requests_per_minute": 6, "exact_retry_after": 1},
     {"requests_per_minute": 6, "per": "hour"},
     # finite, but the buckets' whole-number headers would overflow (every answer was a 500)
     1e308, 10**400, {"requests_per_minute": 1e300}, {"requests_per_minute": 6, "tokens_per_minute": 1e308}],
)
def test_invalid_values_of_the_switch_are_refused(emulator: Emulator, value: object) -> None:
    with pytest.raises(InvalidParameterError, match="inference_rate_limit"):
        emulator.switches(inference_rate_limit=value)


@pytest.mark.parametrize(
    ("value", "limit"),
    [
        (600, RateLimit(600, 100_000)),  # tokens: Azure's 6 requests per 1,000 tokens
        ({"requests_per_minute": 60, "tokens_per_minute": 1000}, RateLimit(60, 1000)),
        ({"requests_per_minute": 60, "burst_seconds": 10, "exact_retry_after": True},
         RateLimit(60, 10_000, 10, True)),
        (None, None),
    ],
)
def test_parse(value: object, limit: RateLimit | None) -> None:
    assert parse(value) == limit


@pytest.mark.parametrize("value", [float("inf"), float("nan"), {"requests_per_minute": 1.5e12},
                                   {"requests_per_minute": 6, "burst_seconds": float("nan")}])
def test_parse_refuses_what_json_cannot_carry_or_the_buckets_cannot_count(value: object) -> None:
    with pytest.raises(ValueError, match="must be"):
        parse(value)


def test_a_bucket_refills_at_its_rate_up_to_its_capacity() -> None:
    limits = _Deployments(RateLimit(60, 60_000, burst_seconds=2))  # 1 a second, 2 at most
    assert limits.admit("d", 1, now=0.0)["x-ratelimit-remaining-requests"] == "1"
    assert limits.admit("d", 1, now=0.0)["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(Exception) as refused:
        limits.admit("d", 1, now=0.5)
    assert refused.value.headers["retry-after-ms"] == "1000"  # type: ignore[attr-defined]
    assert limits.admit("d", 1, now=1.0)["x-ratelimit-remaining-requests"] == "0"
    assert limits.admit("d", 1, now=100.0)["x-ratelimit-remaining-requests"] == "1"  # capped at 2
    bucket = TokenBucket(5, 1)
    bucket.refill(0.0)
    assert bucket.wait(50) == 0.0  # a full bucket lets a request larger than it through
