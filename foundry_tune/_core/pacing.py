"""The service's pacing, read from its answers: how long a *polling* loop should hold back.

A connection keeps one [`Pacing`][Pacing], fed with the headers of the answers its own HTTP clients
receive (an event hook on them). Loops that look at the service again and again (a job's wait,
watching many jobs, a sweep) sleep ``max(schedule interval, pacing.delay(now))`` before their next
look, within their deadline. Inference answers (chat completions, responses, completions,
embeddings, audio, images, and any call under ``/openai/deployments/``:
[`is_inference_path()`][is_inference_path]) are not read: their rate-limit headers are the
deployment's quota, not the fine-tuning API's. The headers read:

- ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date), on a throttling answer only
  (429 or 503, [`THROTTLING`][THROTTLING]), including one the retry policy already retried: no look
  before that time. On other answers (ARM's long-running operations send it as a polling hint) it
  is not a request to hold back. A value that is no finite number of seconds >= 0 is ignored.
- ``x-ratelimit-remaining-requests`` (Azure OpenAI data plane) when few requests remain (at most
  [`LOW_REMAINING`][LOW_REMAINING], or 5% of ``x-ratelimit-limit-requests`` when that is larger):
  no look before ``x-ratelimit-reset-requests`` (a number of seconds, or a duration such as
  ``12ms``, ``1s``, ``6m0s``), or, without a readable reset,
  [`LOW_REMAINING_PAUSE`][LOW_REMAINING_PAUSE] seconds. ``-1`` (not reported) is ignored.
- ``x-ms-ratelimit-remaining-subscription-reads`` (ARM): with at most
  [`ARM_LOW_READS`][ARM_LOW_READS] reads left, ARM sends no reset time, so the next look waits
  [`ARM_LOW_PAUSE`][ARM_LOW_PAUSE] seconds.

Every hold is at most [`MAX_PACING`][MAX_PACING] seconds (a header asking for an hour is taken as
that maximum; a wait's deadline bounds it further). Pure: the caller passes the clock.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Mapping

from foundry_tune._core.concurrency import header_count
from foundry_tune._core.translate import parse_retry_after

__all__ = [
    "ARM_LOW_PAUSE",
    "ARM_LOW_READS",
    "LOW_REMAINING",
    "LOW_REMAINING_PAUSE",
    "MAX_PACING",
    "THROTTLING",
    "Pacing",
    "is_inference_path",
    "parse_reset",
]

MAX_PACING = 300.0
"""The longest a polling loop holds back for the service's pacing, whatever a header asks."""

LOW_REMAINING = 2
"""At most this many data-plane requests left (or 5% of the limit, when larger): wait for the reset."""

LOW_REMAINING_PAUSE = 10.0
"""Seconds a look waits when few data-plane requests remain and the answer gives no readable reset."""

THROTTLING = frozenset({429, 503})
"""The answers whose ``Retry-After`` / ``retry-after-ms`` hold polling back (throttled, unavailable)."""

ARM_LOW_READS = 25
"""At most this many ARM subscription reads left: the next look waits [`ARM_LOW_PAUSE`][ARM_LOW_PAUSE]."""

ARM_LOW_PAUSE = 30.0
"""Seconds a look waits when ARM reports few reads left (ARM sends no reset time)."""

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
# Path segments of inference calls (``/chat/completions``, ``/responses/{id}``, ``/audio/speech``...).
_INFERENCE_SEGMENTS = frozenset({
    "chat", "completions", "responses", "embeddings", "audio", "images", "moderations", "realtime",
})


def is_inference_path(path: str | None) -> bool:
    """Whether a request path is an inference call (chat completions, responses, completions,
    embeddings, audio, images, moderations, realtime, or any data-plane call under
    ``/openai/deployments/``), whose rate-limit headers are a deployment's quota rather than the
    fine-tuning API's. ARM's ``.../accounts/<name>/deployments/<name>`` is not one."""
    if not path:
        return False
    lowered = path.split("?", 1)[0].lower()
    if "/openai/deployments/" in lowered:
        return True
    return any(segment in _INFERENCE_SEGMENTS for segment in lowered.strip("/").split("/"))


def parse_reset(value: str | None) -> float | None:
    """Seconds until a rate limit resets, from ``x-ratelimit-reset-requests``: a plain number of
    seconds (``"7"``, ``"0.5"``) or a duration (``"12ms"``, ``"1s"``, ``"6m0s"``, ``"1h2m3.5s"``).
    None for anything else (missing, empty, negative, not finite)."""
    if value is None:
        return None
    text = value.strip().lower()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            return None
        seconds = sum(float(number) * _UNIT[unit] for number, unit in parts)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class Pacing:
    """What the service said about pacing, on one connection's clock (see the module docs).

    Written by the response hooks (in the sync flavour from several threads at once, e.g. the
    workers of ``evaluate()``), read by polling loops: a hold is taken under a lock, so that a
    longer hold is never overwritten by a shorter one observed at the same moment.

    :param wall_clock: Unix time, to read a ``Retry-After`` HTTP date when the answer has no
        ``Date`` header.
    """

    def __init__(self, wall_clock: Callable[[], float] = time.time) -> None:
        self._wall_clock = wall_clock
        self.until = 0.0
        """The clock time before which a polling loop should not look again (0: no hold)."""
        self.reason = ""
        """Which header set ``until`` (for messages and tests)."""
        self._lock = threading.Lock()

    def observe(self, headers: Mapping[str, str], now: float, *, status: int | None = None,
                path: str | None = None) -> None:
        """Read one answer's headers, received at ``now`` (the clock ``delay`` is asked with).

        :param status: The answer's HTTP status: its ``Retry-After`` is read only when it is a
            throttling one ([`THROTTLING`][THROTTLING]) or not given (None: a caller that passes
            only throttled answers).
        :param path: The request's path: an inference call's answer
            ([`is_inference_path()`][is_inference_path]) is not read at all.
        """
        if is_inference_path(path):
            return
        header = _lower(headers)
        if status is None or status in THROTTLING:
            retry_after = parse_retry_after(header, now=self._date(header))
            if retry_after is not None:
                self._hold(now, retry_after, "Retry-After")
        remaining = header_count(header, "x-ratelimit-remaining-requests")
        if remaining is not None:
            limit = header_count(header, "x-ratelimit-limit-requests") or 0
            if remaining <= max(LOW_REMAINING, limit // 20):
                reset = parse_reset(header.get("x-ratelimit-reset-requests"))
                hold = LOW_REMAINING_PAUSE if reset is None else reset
                self._hold(now, hold, "x-ratelimit-remaining-requests")
        reads = header_count(header, "x-ms-ratelimit-remaining-subscription-reads")
        if reads is not None and reads <= ARM_LOW_READS:
            self._hold(now, ARM_LOW_PAUSE, "x-ms-ratelimit-remaining-subscription-reads")

    def delay(self, now: float) -> float:
        """The least seconds a polling loop should wait before its next look (0: no hold)."""
        return max(0.0, self.until - now)

    def sleep_for(self, interval: float, now: float, remaining: float | None = None, *,
                  longest: float | None = None) -> float:
        """Seconds a polling loop sleeps before its next look: its schedule's ``interval``, or
        longer while the service asks to hold back, never past ``remaining`` (the seconds left
        before the loop's deadline, None: none) nor ``longest`` (a loop that must look at least
        that often, e.g. one metering spend: None, no bound), and never negative."""
        seconds = max(interval, self.delay(now))
        for bound in (remaining, longest):
            if bound is not None:
                seconds = min(seconds, bound)
        return max(0.0, seconds)

    def _hold(self, now: float, seconds: float, reason: str) -> None:
        if not (math.isfinite(seconds) and seconds > 0):  # nan, inf, 0 or negative: no hold
            return
        until = now + min(MAX_PACING, seconds)
        with self._lock:
            if until > self.until:
                self.until = until
                self.reason = reason

    def _date(self, header: Mapping[str, str]) -> float:
        """The answer's ``Date`` as Unix time (the service's clock, for an HTTP-date ``Retry-After``),
        else this machine's."""
        value = header.get("date")
        if value:
            from email.utils import parsedate_to_datetime

            try:
                return parsedate_to_datetime(value).timestamp()
            except (TypeError, ValueError, IndexError):
                pass
        return self._wall_clock()


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(key).lower(): str(value) for key, value in headers.items()}
