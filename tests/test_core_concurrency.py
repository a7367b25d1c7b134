"""The adaptive concurrency decisions (foundry_tune/_core/concurrency.py): AIMD between 1 and the
maximum, a shared pause for Retry-After, and the service's remaining-requests headers."""

from __future__ import annotations

import pytest

from foundry_tune._core.concurrency import AdaptiveConcurrency, remaining_from_headers


def _run(limiter: AdaptiveConcurrency, events: str) -> list[int]:
    """Apply ``events`` (``t``: a 429 at a time past any pause; ``s``: a success) and list the
    limit after each."""
    now = 0.0
    seen = []
    for event in events:
        if event == "t":
            now = max(now, limiter.paused_until) + 0.001
            limiter.throttled(now)
        else:
            limiter.succeeded()
        seen.append(limiter.limit)
    return seen


@pytest.mark.parametrize(
    ("maximum", "events", "limits"),
    [
        (8, "t", [4]),  # a 429 halves
        (8, "ttt", [4, 2, 1]),
        (8, "tttt", [4, 2, 1, 1]),  # never below 1
        (1, "t", [1]),
        (8, "s" * 3, [8, 8, 8]),  # at the maximum it stays there
        (8, "t" + "s" * 4, [4, 4, 4, 4, 5]),  # a window (as many as the limit) of successes: +1
        (8, "tt" + "s" * 5, [4, 2, 2, 3, 3, 3, 4]),
        (4, "t" + "s" * 12, [2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4]),  # back up to the maximum, no further
        (8, "t" + "ss" + "t", [4, 4, 4, 2]),  # a 429 restarts the window
    ],
)
def test_aimd_halves_on_a_429_and_adds_one_per_window_of_successes(
        maximum: int, events: str, limits: list[int]) -> None:
    assert _run(AdaptiveConcurrency(maximum), events) == limits


@pytest.mark.parametrize(
    ("throttles", "limit", "paused_until"),
    [
        ([(10.0, 2.0)], 4, 12.0),  # Retry-After 2 s: new requests wait until 12
        ([(10.0, 2.0), (10.5, 2.0)], 4, 12.5),  # the same wall, during the pause: no second halving
        ([(10.0, 2.0), (12.5, 1.0)], 2, 13.5),  # after the pause: a new 429 halves again
        ([(10.0, None), (10.0, None)], 2, 10.0),  # no Retry-After: no pause, each 429 halves
        ([(10.0, 0.0)], 4, 10.0),
    ],
)
def test_a_429_pauses_new_requests_for_its_retry_after_and_halves_once_per_pause(
        throttles: list[tuple[float, float | None]], limit: int, paused_until: float) -> None:
    limiter = AdaptiveConcurrency(8)
    for now, retry_after in throttles:
        limiter.throttled(now, retry_after)
    assert (limiter.limit, limiter.paused_until, limiter.throttles) == (limit, paused_until, len(throttles))


@pytest.mark.parametrize(("now", "delay"), [(9.0, 3.0), (11.5, 0.5), (12.0, 0.0), (20.0, 0.0)])
def test_delay_is_what_is_left_of_the_pause(now: float, delay: float) -> None:
    limiter = AdaptiveConcurrency(8)
    limiter.throttled(10.0, 2.0)
    assert limiter.delay(now) == delay


def test_nothing_waits_before_any_429() -> None:
    assert AdaptiveConcurrency(8).delay(0.0) == 0.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-ratelimit-remaining-requests": "12", "x-ratelimit-remaining-tokens": "900"}, (12, 900)),
        ({"x-ratelimit-remaining-requests": "3"}, (3, None)),
        ({"x-ratelimit-remaining-tokens": "-1"}, (None, None)),  # Azure's "not counted"
        ({"x-ratelimit-remaining-requests": "many"}, (None, None)),
        ({"x-ratelimit-remaining-requests": "7.0"}, (7, None)),
        ({}, (None, None)),
    ],
)
def test_remaining_from_headers(headers: dict[str, str], expected: tuple[int | None, int | None]) -> None:
    assert remaining_from_headers(headers) == expected


@pytest.mark.parametrize(
    ("remaining", "limit_after"),
    [
        ({"x-ratelimit-remaining-requests": "100"}, 5),  # room: the window raises it
        ({"x-ratelimit-remaining-requests": "5"}, 5),  # more left than in flight: room for one more
        ({"x-ratelimit-remaining-requests": "4"}, 4),  # as many as in flight: no room for more
        ({"x-ratelimit-remaining-requests": "2"}, 2),  # fewer than in flight: down to what is left
        ({"x-ratelimit-remaining-tokens": "0"}, 2),
        ({"x-ratelimit-remaining-tokens": "500"}, 5),
        ({}, 5),  # no headers: plain AIMD
    ],
)
def test_the_remaining_headers_hold_or_lower_the_limit(remaining: dict[str, str], limit_after: int) -> None:
    limiter = AdaptiveConcurrency(8)
    limiter.throttled(0.0)  # 8 -> 4
    for _ in range(4):  # a window of answers, each with the headers
        limiter.observe(remaining)
        limiter.succeeded()
    assert limiter.limit == limit_after


def test_no_tokens_left_lowers_the_limit_at_most_once_per_window() -> None:
    limiter = AdaptiveConcurrency(8)
    limits = []
    for _ in range(12):
        limiter.observe({"x-ratelimit-remaining-tokens": "0"})
        limits.append(limiter.limit)
    assert limits == [7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6]
    assert limiter.lowest == 6


@pytest.mark.parametrize(("remaining", "limits"), [
    ([3, 5, 2, 0, 4], [3, 3, 2, 1, 1]),  # never more in flight than the service still takes
    ([9, 8, 20], [8, 8, 8]),  # enough left: unchanged
])
def test_the_remaining_requests_cap_the_limit_at_once(remaining: list[int], limits: list[int]) -> None:
    limiter = AdaptiveConcurrency(8)
    seen = []
    for left in remaining:
        limiter.observe({"x-ratelimit-remaining-requests": str(left)})
        seen.append(limiter.limit)
    assert seen == limits


@pytest.mark.parametrize(("maximum", "minimum", "limit"), [(0, 1, 1), (-3, 1, 1), (4, 9, 4), (8, 2, 8)])
def test_bounds_are_sane(maximum: int, minimum: int, limit: int) -> None:
    limiter = AdaptiveConcurrency(maximum, minimum)
    assert limiter.limit == limit and 1 <= limiter.minimum <= limiter.maximum
