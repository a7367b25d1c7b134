"""How many requests to keep in flight against a rate-limited service: pure decisions, no I/O.

[`AdaptiveConcurrency`][AdaptiveConcurrency] is additive increase, multiplicative decrease (AIMD)
between 1 and a maximum, plus a shared pause:

- a 429 halves the limit (at most once per pause: the other requests of the same burst that hit
  the wall too do not halve it again) and pauses every new request until the service's
  ``Retry-After`` has passed, so that the workers still idle do not all hit the wall as well;
- each window of successes (as many as the limit) raises it by one, up to the maximum, unless the
  service's ``x-ratelimit-remaining-requests`` / ``x-ratelimit-remaining-tokens`` headers say
  there is no room for more (then it holds);
- an answer whose ``x-ratelimit-remaining-requests`` is below the limit lowers the limit to it at
  once (never more in flight than the service says it still takes: those would come back 429),
  and ``x-ratelimit-remaining-tokens: 0`` lowers it by one per window.

The flavours' ``AdaptiveGate`` holds requests back by it; ``evaluate()`` feeds it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

__all__ = ["AdaptiveConcurrency", "header_count", "remaining_from_headers"]


def header_count(headers: Mapping[str, str], name: str) -> int | None:
    """A rate-limit header's count (``x-ratelimit-remaining-requests`` and the like): ``None`` when
    it is absent, unparseable or negative. ``headers`` must look names up case-insensitively (httpx
    headers do) or use lower-case names."""
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    # Azure answers -1 where it does not count (e.g. tokens on some APIs): as good as unknown.
    return int(number) if math.isfinite(number) and number >= 0 else None


def remaining_from_headers(headers: Mapping[str, str]) -> tuple[int | None, int | None]:
    """``(requests, tokens)`` still allowed, from Azure OpenAI's ``x-ratelimit-remaining-requests``
    and ``x-ratelimit-remaining-tokens`` (``None`` for a header absent, unparseable or negative).
    ``headers`` must look names up case-insensitively (httpx headers do) or use lower-case names."""
    return (header_count(headers, "x-ratelimit-remaining-requests"),
            header_count(headers, "x-ratelimit-remaining-tokens"))


@dataclasses.dataclass
class AdaptiveConcurrency:
    """The number of requests allowed in flight (``limit``, from ``maximum`` down to ``minimum``)
    and until when new ones wait (``paused_until``, on the caller's monotonic clock)."""

    maximum: int
    minimum: int = 1
    limit: int = 0
    """Requests allowed in flight now (starts at ``maximum``)."""
    paused_until: float = -math.inf
    """No new request before this time (a 429's ``Retry-After``)."""
    successes: int = 0
    """Successes since the limit last changed."""
    throttles: int = 0
    """429s seen in all."""
    decreases: int = 0
    """Times the limit was halved."""
    lowest: int = 0
    """The lowest limit so far."""
    remaining_requests: int | None = None
    """What the service's last ``x-ratelimit-remaining-requests`` said (``None``: nothing)."""
    remaining_tokens: int | None = None
    """What the service's last ``x-ratelimit-remaining-tokens`` said (``None``: nothing)."""
    answers_since_cut: int = 0
    """Answers observed since the headers last lowered the limit."""

    def __post_init__(self) -> None:
        self.maximum = max(1, int(self.maximum))
        self.minimum = min(max(1, int(self.minimum)), self.maximum)
        if not self.limit:
            self.limit = self.maximum
        self.limit = min(max(self.limit, self.minimum), self.maximum)
        self.lowest = self.lowest or self.limit
        self.answers_since_cut = self.answers_since_cut or self.limit

    def throttled(self, now: float, retry_after: float | None = None) -> None:
        """A request was answered 429 (it will be retried after ``retry_after`` seconds, the
        service's ``Retry-After`` when it sent one): halve the limit unless a pause from an earlier
        429 is still running, and pause new requests until ``now + retry_after``."""
        self.throttles += 1
        if now >= self.paused_until:
            self.limit = max(self.minimum, self.limit // 2)
            self.lowest = min(self.lowest, self.limit)
            self.decreases += 1
            self.successes = 0
        if retry_after is not None and retry_after > 0:
            self.paused_until = max(self.paused_until, now + retry_after)
        elif now >= self.paused_until:
            self.paused_until = now  # a 429 without Retry-After: the next one halves again

    def succeeded(self) -> bool:
        """A request was answered: after a window of ``limit`` successes the limit rises by one
        (not beyond ``maximum``, nor while the service's headers report no room left). Whether
        it rose."""
        self.successes += 1
        if self.successes < self.limit or self.limit >= self.maximum:
            return False
        self.successes = 0
        if self._no_room():
            return False
        self.limit += 1
        return True

    def observe(self, headers: Mapping[str, str]) -> None:
        """Note the service's remaining-requests / remaining-tokens headers of an answer."""
        requests, tokens = remaining_from_headers(headers)
        if requests is not None:
            self.remaining_requests = requests
        if tokens is not None:
            self.remaining_tokens = tokens
        self.answers_since_cut += 1
        if requests is not None and requests < self.limit and self.limit > self.minimum:
            # Fewer requests left than in flight: the ones over would be answered 429.
            self.limit = max(self.minimum, requests)
            self.lowest = min(self.lowest, self.limit)
            self.successes = 0
            self.answers_since_cut = 0
        elif self.remaining_tokens == 0 and self.minimum < self.limit <= self.answers_since_cut:
            # No tokens left: one fewer, before a 429 says so (once per window: the answers of
            # one window all report about the same).
            self.limit -= 1
            self.lowest = min(self.lowest, self.limit)
            self.successes = 0
            self.answers_since_cut = 0

    def _no_room(self) -> bool:
        # One more request in flight needs more requests left than are in flight (and some tokens).
        return (self.remaining_requests is not None and self.remaining_requests <= self.limit) or (
            self.remaining_tokens == 0)

    def delay(self, now: float) -> float:
        """Seconds a new request waits before it may start (0 when it need not)."""
        return max(0.0, self.paused_until - now)
