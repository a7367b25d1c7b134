"""The service's pacing headers, read into the least wait before a polling loop's next look (pure)."""

from __future__ import annotations

import threading

import pytest

from foundry_tune._core.pacing import (
    ARM_LOW_PAUSE,
    LOW_REMAINING_PAUSE,
    MAX_PACING,
    Pacing,
    is_inference_path,
    parse_reset,
)

DATE = "Wed, 02 Dec 2026 04:00:00 GMT"
DATE_UNIX = 1_796_184_000.0  # the same moment


@pytest.mark.parametrize(("value", "seconds"), [
    ("7", 7.0), ("0.5", 0.5), ("12ms", 0.012), ("1s", 1.0), ("6m0s", 360.0), ("1h2m3.5s", 3723.5),
    (" 2S ", 2.0), ("", None), (None, None), ("soon", None), ("-1", None), ("1x", None), ("inf", None),
    ("5s later", None),
])
def test_parse_reset(value: str | None, seconds: float | None) -> None:
    assert parse_reset(value) == (pytest.approx(seconds) if seconds is not None else None)


# (headers of one answer received at now=100, expected delay at now=100)
CASES = [
    pytest.param({}, 0.0, id="nothing-said"),
    pytest.param({"Retry-After": "5"}, 5.0, id="retry-after-seconds"),
    pytest.param({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5, id="retry-after-ms-first"),
    pytest.param({"Retry-After": "Wed, 02 Dec 2026 04:00:20 GMT", "Date": DATE}, 20.0,
                 id="retry-after-http-date-against-the-answer-date"),
    pytest.param({"Retry-After": "Wed, 02 Dec 2026 04:00:20 GMT"}, 20.0,
                 id="retry-after-http-date-against-this-clock"),
    pytest.param({"Retry-After": "later"}, 0.0, id="retry-after-unreadable"),
    pytest.param({"x-ratelimit-remaining-requests": "1", "x-ratelimit-reset-requests": "8s"}, 8.0,
                 id="few-requests-left-wait-for-the-reset"),
    pytest.param({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "3"}, 3.0,
                 id="none-left-reset-in-plain-seconds"),
    pytest.param({"x-ratelimit-remaining-requests": "50", "x-ratelimit-reset-requests": "8s"}, 0.0,
                 id="plenty-left"),
    pytest.param({"x-ratelimit-remaining-requests": "40", "x-ratelimit-limit-requests": "1000",
                  "x-ratelimit-reset-requests": "8s"}, 8.0, id="five-percent-of-the-limit-is-few"),
    pytest.param({"x-ratelimit-remaining-requests": "-1", "x-ratelimit-reset-requests": "0"}, 0.0,
                 id="not-reported"),
    pytest.param({"x-ratelimit-remaining-requests": "0"}, LOW_REMAINING_PAUSE, id="no-reset-given"),
    pytest.param({"x-ratelimit-remaining-requests": "1", "x-ratelimit-reset-requests": "soon"},
                 LOW_REMAINING_PAUSE, id="unreadable-reset"),
    pytest.param({"x-ratelimit-remaining-requests": "9"}, 0.0, id="no-reset-given-plenty-left"),
    pytest.param({"x-ratelimit-remaining-requests": "1.0", "x-ratelimit-reset-requests": "4s"}, 4.0,
                 id="a-count-written-as-a-decimal-as-evaluate-reads-it"),
    pytest.param({"x-ratelimit-remaining-requests": "nan", "x-ratelimit-reset-requests": "4s"}, 0.0,
                 id="not-a-count"),
    pytest.param({"X-RateLimit-Remaining-Requests": "0", "X-RateLimit-Reset-Requests": "2s"}, 2.0,
                 id="any-case"),
    pytest.param({"x-ms-ratelimit-remaining-subscription-reads": "3"}, ARM_LOW_PAUSE, id="arm-few-reads"),
    pytest.param({"x-ms-ratelimit-remaining-subscription-reads": "11999"}, 0.0, id="arm-plenty"),
    pytest.param({"Retry-After": "86400"}, MAX_PACING, id="capped"),
]


@pytest.mark.parametrize(("headers", "delay"), CASES)
def test_observe_then_delay(headers: dict[str, str], delay: float) -> None:
    pacing = Pacing(wall_clock=lambda: DATE_UNIX)
    pacing.observe(headers, 100.0)
    assert pacing.delay(100.0) == pytest.approx(delay)


def test_the_hold_runs_out_and_the_longest_wins() -> None:
    pacing = Pacing()
    pacing.observe({"Retry-After": "10"}, 100.0)
    pacing.observe({"Retry-After": "2"}, 101.0)  # a later, shorter hold does not shorten it
    assert pacing.delay(104.0) == pytest.approx(6.0)
    assert pacing.reason == "Retry-After"
    assert pacing.delay(111.0) == 0.0


@pytest.mark.parametrize(("interval", "now", "remaining", "expected"), [
    (5.0, 111.0, None, 5.0),       # the hold is over: the schedule's interval
    (5.0, 95.0, None, 15.0),       # held until 110
    (5.0, 95.0, 4.0, 4.0),         # never past the deadline
    (5.0, 95.0, -1.0, 0.0),        # nor negative
])
def test_sleep_for(interval: float, now: float, remaining: float | None, expected: float) -> None:
    pacing = Pacing()
    pacing.observe({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "10s"}, 100.0)
    assert pacing.sleep_for(interval, now, remaining) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "0", "1e999"])
def test_a_retry_after_that_asks_for_no_finite_wait_holds_nothing(value: str) -> None:
    for header in ("Retry-After", "retry-after-ms"):
        pacing = Pacing()
        pacing.observe({header: value}, 100.0, status=429)
        assert (pacing.delay(100.0), pacing.reason, pacing.until) == (0.0, "", 0.0)


@pytest.mark.parametrize(("status", "delay"), [
    (429, 7.0), (503, 7.0), (None, 7.0),  # throttled, unavailable, or a caller that reads only those
    (200, 0.0), (201, 0.0), (202, 0.0), (500, 0.0),  # e.g. ARM's long-running operations: a polling hint
])
def test_retry_after_holds_only_on_a_throttling_answer(status: int | None, delay: float) -> None:
    pacing = Pacing()
    pacing.observe({"Retry-After": "7", "retry-after-ms": "7000"}, 100.0, status=status)
    assert pacing.delay(100.0) == pytest.approx(delay)


def test_few_remaining_requests_hold_on_any_answer() -> None:
    pacing = Pacing()
    pacing.observe({"Retry-After": "60", "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": "4s"}, 100.0, status=200)
    assert (pacing.delay(100.0), pacing.reason) == (pytest.approx(4.0), "x-ratelimit-remaining-requests")


INFERENCE = [
    "/openai/v1/chat/completions", "/openai/v1/responses", "/openai/v1/responses/resp_1",
    "/openai/v1/completions", "/openai/v1/embeddings", "/openai/v1/audio/transcriptions",
    "/openai/v1/images/generations", "/openai/deployments/my-ft/chat/completions",
    "/openai/deployments/my-ft/extensions/chat", "/api/projects/p/openai/v1/chat/completions",
]
SERVICE = [
    "/openai/v1/fine_tuning/jobs/ftjob-1", "/openai/v1/fine_tuning/jobs/ftjob-1/events",
    "/openai/v1/files/file-1/content", "/openai/v1/models", "/api/projects/p/openai/v1/fine_tuning/jobs",
    "/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/a/deployments/my-ft",
    "", None,
]


@pytest.mark.parametrize("path", INFERENCE)
def test_inference_answers_do_not_pace_polling(path: str) -> None:
    assert is_inference_path(path)
    pacing = Pacing()
    pacing.observe({"Retry-After": "5", "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": "8s"}, 100.0, status=429, path=path)
    assert (pacing.delay(100.0), pacing.reason) == (0.0, "")


@pytest.mark.parametrize("path", SERVICE)
def test_fine_tuning_and_arm_answers_pace_polling(path: str | None) -> None:
    assert not is_inference_path(path)
    pacing = Pacing()
    pacing.observe({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "8s"}, 100.0,
                   status=200, path=path)
    assert pacing.delay(100.0) == pytest.approx(8.0)


def test_a_hold_is_taken_under_the_lock() -> None:
    """The response hooks of the sync flavour run on many threads: a hold is read and written under
    one lock, so that a longer hold seen at the same moment is never overwritten by a shorter one."""
    pacing = Pacing()
    observer = threading.Thread(target=pacing.observe, args=({"Retry-After": "5"}, 100.0))
    with pacing._lock:
        observer.start()
        observer.join(0.2)
        assert observer.is_alive() and pacing.until == 0.0  # it waits for the lock
    observer.join()
    assert pacing.delay(100.0) == pytest.approx(5.0)


def test_sleep_for_never_past_the_longest_interval() -> None:
    pacing = Pacing()
    pacing.observe({"Retry-After": "300"}, 100.0, status=429)
    assert pacing.sleep_for(5.0, 100.0, None, longest=30.0) == pytest.approx(30.0)
    assert pacing.sleep_for(5.0, 100.0, 12.0, longest=30.0) == pytest.approx(12.0)
    assert pacing.sleep_for(5.0, 100.0) == pytest.approx(300.0)
