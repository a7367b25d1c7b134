"""An inference rate limit like an Azure OpenAI deployment's: requests (and tokens) per minute.

Switch ``inference_rate_limit`` (``POST /_emulator/switches``, ``Emulator.switches(...)``) turns it
on: a number of requests per minute, or an object::

    {"requests_per_minute": 600, "tokens_per_minute": 100000, "burst_seconds": 1}

(``tokens_per_minute`` defaults to Azure's ratio: 1,000 for every 6 requests per minute.)

Each deployment (each ``model`` a request names) gets token buckets that hold ``burst_seconds``
worth of its rate (Azure evaluates its per-minute limits over short windows of 1 or 10 seconds,
so that a minute's quota cannot be spent in one burst) and refill continuously. A request that
finds its deployment's bucket empty is answered 429 with ``Retry-After`` and ``retry-after-ms``
(whole seconds, as Azure's message says; to the millisecond with ``"exact_retry_after": true``)
and Azure's error body, before any work is done; every answer while the
limit is on carries ``x-ratelimit-remaining-requests`` and ``x-ratelimit-remaining-tokens``
(whole numbers, as Azure sends them). A request's tokens are its prompt's plus its
``max_tokens`` / ``max_completion_tokens`` / ``max_output_tokens`` (Azure's estimate). ``null``
turns the limit off. The 429s show in ``/_emulator/stats`` (``by_status``).
"""

from __future__ import annotations

import dataclasses
import math
import time
import weakref
from typing import Any

from foundry_tune.emulator._control import SWITCH_CHECKS
from foundry_tune.emulator._errors import ApiError
from foundry_tune.emulator._state import Context

SWITCH = "inference_rate_limit"
"""The switch that turns the limit on."""

_KEYS = {"requests_per_minute", "tokens_per_minute", "burst_seconds", "exact_retry_after"}


@dataclasses.dataclass(frozen=True)
class RateLimit:
    """A deployment's limit: requests (and tokens, if limited) per minute, and the seconds of rate
    its buckets hold."""

    requests_per_minute: float
    tokens_per_minute: float
    """Azure's ratio when not given: 6 requests per minute for every 1,000 tokens per minute."""
    burst_seconds: float = 1.0
    exact_retry_after: bool = False
    """``retry-after-ms`` to the millisecond (else whole seconds, as ``Retry-After`` and Azure's
    message say)."""


MAX_PER_MINUTE = 1e12
"""The largest requests or tokens per minute the switch takes (Azure's quotas are millions at
most): beyond it the buckets' whole-number headers would overflow or lose their precision."""


def _positive(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) and 0 < number <= MAX_PER_MINUTE else None


def parse(value: Any) -> RateLimit | None:
    """The limit a switch value asks for (``None`` when off); ``ValueError`` saying why when invalid."""
    if value is None:
        return None
    if not isinstance(value, dict):
        rpm = _positive(value)
        if rpm is None:
            raise ValueError(f"must be a number of requests per minute above 0 and at most "
                             f"{MAX_PER_MINUTE:g}, an object or null")
        return RateLimit(rpm, rpm * 1000 / 6)
    unknown = sorted(set(value) - _KEYS)
    if unknown:
        raise ValueError(f"unknown key '{unknown[0]}' (known: {', '.join(sorted(_KEYS))})")
    rpm = _positive(value.get("requests_per_minute"))
    if rpm is None:
        raise ValueError(f"'requests_per_minute' must be a number above 0 and at most {MAX_PER_MINUTE:g}")
    tpm = value.get("tokens_per_minute")
    if tpm is not None and _positive(tpm) is None:
        raise ValueError(f"'tokens_per_minute' must be a number above 0 and at most {MAX_PER_MINUTE:g}, "
                         "or null")
    burst = value.get("burst_seconds", 1.0)
    if isinstance(burst, bool) or not isinstance(burst, (int, float)) or not 0 < burst <= 60:
        raise ValueError("'burst_seconds' must be a number of seconds above 0, at most 60")
    exact = value.get("exact_retry_after", False)
    if not isinstance(exact, bool):
        raise ValueError("'exact_retry_after' must be true or false")
    return RateLimit(rpm, _positive(tpm) or rpm * 1000 / 6, float(burst), exact)


def check_switch(key: str, value: Any) -> str | None:
    """Why ``value`` is not a valid ``inference_rate_limit`` (``None`` when it is, or for other keys)."""
    if key != SWITCH:
        return None
    try:
        parse(value)
    except ValueError as exc:
        return f"switch '{SWITCH}': {exc}"
    return None


SWITCH_CHECKS.append(check_switch)


@dataclasses.dataclass
class TokenBucket:
    """``capacity`` units refilled at ``rate`` per second, starting full."""

    capacity: float
    rate: float
    level: float = math.nan
    updated: float = math.nan

    def refill(self, now: float) -> None:
        """Add what was earned since the last look."""
        if math.isnan(self.level):
            self.level, self.updated = self.capacity, now
        self.level = min(self.capacity, self.level + max(0.0, now - self.updated) * self.rate)
        self.updated = now

    def wait(self, amount: float) -> float:
        """Seconds until ``amount`` can be taken (0 now); a bucket that is full lets any amount through."""
        need = min(amount, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate


class _Deployments:
    """The buckets of every deployment under one limit."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.buckets: dict[str, tuple[TokenBucket, TokenBucket]] = {}

    def _of(self, deployment: str) -> tuple[TokenBucket, TokenBucket]:
        found = self.buckets.get(deployment)
        if found is None:
            limit = self.limit
            found = self.buckets[deployment] = (
                TokenBucket(max(1.0, limit.requests_per_minute / 60 * limit.burst_seconds),
                            limit.requests_per_minute / 60),
                TokenBucket(max(1.0, limit.tokens_per_minute / 60 * limit.burst_seconds),
                            limit.tokens_per_minute / 60))
        return found

    def admit(self, deployment: str, tokens: int, now: float) -> dict[str, str]:
        """Take one request and ``tokens`` from ``deployment``'s buckets and answer the headers, or
        raise the 429 Azure answers when they do not hold enough."""
        requests, token_bucket = self._of(deployment)
        requests.refill(now)
        token_bucket.refill(now)
        wait = max(requests.wait(1), token_bucket.wait(tokens))
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            over = "call" if requests.wait(1) > 0 else "token"
            raise ApiError(
                429,
                f"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
                f"2024-10-21 have exceeded {over} rate limit of your current AIServices S0 pricing tier. "
                f"Please retry after {seconds} second{'s' if seconds != 1 else ''}. Please go here: "
                "https://aka.ms/oai/quotaincrease if you would like to further increase the default "
                "rate limit.",
                code="429",
                headers={"Retry-After": str(seconds),
                         "retry-after-ms": str(math.ceil(wait * 1000) if self.limit.exact_retry_after
                                               else seconds * 1000),
                         **self._remaining(requests, token_bucket)},
            )
        requests.level -= 1
        token_bucket.level = max(0.0, token_bucket.level - tokens)
        return self._remaining(requests, token_bucket)

    @staticmethod
    def _remaining(requests: TokenBucket, tokens: TokenBucket) -> dict[str, str]:
        return {"x-ratelimit-remaining-requests": str(max(0, math.floor(requests.level))),
                "x-ratelimit-remaining-tokens": str(max(0, math.floor(tokens.level)))}


_limits: weakref.WeakKeyDictionary[Context, tuple[Any, _Deployments]] = weakref.WeakKeyDictionary()


def admit(ctx: Context, deployment: str, tokens: int, *, now: float | None = None) -> dict[str, str] | None:
    """Charge one inference request of ``tokens`` to ``deployment`` while the switch is on: the
    rate-limit headers to answer with (``None`` while it is off); a 429 ``ApiError`` when over."""
    value = ctx.switches.get(SWITCH)
    if value is None:
        _limits.pop(ctx, None)
        return None
    known = _limits.get(ctx)
    if known is None or known[0] != value:
        known = (value, _Deployments(parse(value) or RateLimit(1, 1)))
        _limits[ctx] = known
    return known[1].admit(deployment, tokens, time.monotonic() if now is None else now)
