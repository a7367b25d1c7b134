"""Errors that follow faults say what happened: a throttle is not reported as an exhausted quota."""

from __future__ import annotations

from foundry_tune._core.hints import failure_hint


def test_a_throttle_is_not_called_a_quota() -> None:
    message = "Requests to this resource have exceeded the rate limit. Retry after 1 second(s)."
    hint = failure_hint("429", message)
    assert hint is not None and "throttling" in hint and "quota" not in hint


def test_a_real_quota_still_gets_the_quota_hint() -> None:
    hint = failure_hint("quotaExceeded", "The job quota of this resource was exceeded: 20 queued jobs.")
    assert hint is not None and "quota" in hint
