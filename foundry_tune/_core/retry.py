"""The one retry policy every safe call goes through (the SDKs' own retries are switched off).

Retried: HTTP 408, 409, 429 and 5xx answers, dropped connections and timeouts. Honoured: the
service's ``retry-after-ms`` / ``Retry-After`` (seconds or HTTP date). Backoff is exponential with
jitter, and the whole call, sleeps included, stays inside ``total_timeout``: when the next wait
would cross it the policy gives up at once with a typed error instead of hanging.

Only *safe* calls belong here (reads, deletes, idempotent PUTs). Creates that could bill twice
reconcile first (look the object up) and only then retry.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import tenacity

from foundry_tune._core.translate import (
    UNREACHABLE_CODES,
    ServiceFailure,
    is_quota_code,
    parse_retry_after,
    service_failure,
    translate,
    unreachable_error,
)
from foundry_tune.errors import (
    FoundryTuneError,
    RateLimitError,
    RetryBudgetExceededError,
    ServiceError,
)

__all__ = [
    "RETRYABLE_STATUSES",
    "UNREACHABLE_WINDOW",
    "RetryAttempts",
    "RetryNotice",
    "RetryPolicy",
    "check_seconds",
    "clamp_timeouts",
    "observe_retries",
    "remaining_budget",
    "time_bound",
]

T = TypeVar("T")

log = logging.getLogger("foundry_tune.retry")

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
# A 409 that says the name is taken will not change by waiting.
_PERMANENT_CONFLICT_HINTS = ("inuse", "alreadyexists", "exists")

UNREACHABLE_WINDOW = 3.0
"""Seconds a refused connection or an unresolvable host is retried (a service restarting) before
the call gives up with [`ServiceUnreachableError`][ServiceUnreachableError]."""
_UNREACHABLE_BACKOFF = (0.25, 1.0)  # first wait, longest wait: look again soon, it may be back

# The deadlines the running code is bound by, each on its own clock: a retried call's budget and
# the bound of a wait around it (innermost last). The tightest one wins.
_deadlines: contextvars.ContextVar[tuple[tuple[float, Callable[[], float]], ...]] = contextvars.ContextVar(
    "foundry_tune_retry_deadline", default=()
)


def remaining_budget() -> float | None:
    """Seconds left before the tightest time bound of the code running now: the retry budget of the
    [`RetryPolicy.call()`][RetryPolicy.call] and the bound of a wait around it
    ([`time_bound()`][time_bound]); None if none.

    The HTTP transports cap each connect, read and write at it, so that no request outlives the bound.
    """
    bounds = _deadlines.get()
    if not bounds:
        return None
    return max(0.0, min(deadline - clock() for deadline, clock in bounds))


@contextlib.contextmanager
def time_bound(deadline: float | None, clock: Callable[[], float]) -> Iterator[None]:
    """Bound every retried call, request and retry wait in the block by ``deadline`` (on ``clock``,
    monotonic); None adds no bound. A wait with a timeout runs its looks inside one."""
    if deadline is None:
        yield
        return
    token = _deadlines.set((*_deadlines.get(), (deadline, clock)))
    try:
        yield
    finally:
        _deadlines.reset(token)


@dataclasses.dataclass(frozen=True)
class RetryNotice:
    """A failed attempt of a safe call that will be retried after ``delay`` seconds."""

    what: str
    """The operation, e.g. ``get job ftjob-...``."""
    attempt: int
    """The attempt that failed (1-based)."""
    max_attempts: int
    delay: float
    """Seconds until the next attempt."""
    reason: str
    """Why, in a word: the HTTP status (``429``, ``503``) or the failure's code (``timeout``)."""

    def short(self) -> str:
        """``retrying in 2 s (429)``: what a progress line shows."""
        delay = f"{self.delay:.0f}" if self.delay >= 1 else f"{self.delay:.1f}"
        return f"retrying in {delay} s ({self.reason})"


# Who wants to hear about retries in the code running now (a progress display); innermost last.
_retry_observers: contextvars.ContextVar[tuple[Callable[[RetryNotice], None], ...]] = contextvars.ContextVar(
    "foundry_tune_retry_observers", default=()
)


@contextlib.contextmanager
def observe_retries(observer: Callable[[RetryNotice], None]) -> Iterator[None]:
    """Call ``observer`` with a `RetryNotice` before every retry wait of the calls made in the block
    (in this thread or task). An observer that raises is logged at DEBUG and otherwise ignored."""
    token = _retry_observers.set((*_retry_observers.get(), observer))
    try:
        yield
    finally:
        _retry_observers.reset(token)


def _notify(notice: RetryNotice) -> None:
    for observer in _retry_observers.get():
        try:
            observer(notice)
        except Exception:  # a display must never break the call it shows
            log.debug("a retry observer failed", exc_info=True)


_MIN_TIMEOUT = 0.001


def clamp_timeouts(extensions: dict[str, Any]) -> None:
    """Cap the ``timeout`` extension of an httpx/httpx2 request at the remaining retry budget, if
    a [`RetryPolicy.call()`][RetryPolicy.call] is running."""
    budget = remaining_budget()
    if budget is None:
        return
    budget = max(budget, _MIN_TIMEOUT)
    current = dict(extensions.get("timeout") or {})
    for key in ("connect", "read", "write", "pool"):
        value = current.get(key)
        current[key] = budget if value is None else min(float(value), budget)
    extensions["timeout"] = current


_MAX_ATTEMPTS = 10_000  # far beyond any useful retry count; total_timeout bounds the call anyway


def check_seconds(value: object, name: str, *, zero: bool = True) -> float:
    """``value`` as seconds if it is a finite number (``> 0``, or ``>= 0`` with ``zero``); anything
    else (a bool, a string, ``nan``, ``inf``, a negative number) is an
    [`InvalidParameterError`][InvalidParameterError] that names ``name``."""
    from foundry_tune.errors import InvalidParameterError

    number = math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int beyond any float
            number = math.inf
    if not (math.isfinite(number) and (number >= 0 if zero else number > 0)):
        bound = ">= 0" if zero else "> 0"
        raise InvalidParameterError(f"{name} must be a finite number of seconds {bound}, got {value!r}")
    return number


@dataclasses.dataclass(frozen=True)
class _Verdict:
    retryable: bool
    failure: ServiceFailure | None
    retry_after: float | None
    unreachable: bool = False  # connection refused, or the host name does not resolve


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How foundry-tune retries safe calls: attempts, a total time bound, backoff and jitter.

    ``sleep``, ``clock`` (monotonic), ``wall_clock`` (Unix time, for HTTP-date ``Retry-After``)
    and ``rng`` can be injected, e.g. to make tests fast and deterministic.
    """

    max_attempts: int = 8
    """Attempts in total, the first one included (1 disables retries)."""
    total_timeout: float = 300.0
    """Seconds the whole call may take, waits included. It is never outlived."""
    initial_backoff: float = 1.0
    """Wait before the second attempt when the service gives no Retry-After."""
    max_backoff: float = 30.0
    """Longest computed backoff (a service's Retry-After may ask for more, within the bound)."""
    jitter: float = 0.5
    """Fraction of each computed backoff drawn at random (0 = none, 1 = full jitter)."""
    sleep: Callable[[float], None] = dataclasses.field(default=time.sleep, repr=False, compare=False)
    clock: Callable[[], float] = dataclasses.field(default=time.monotonic, repr=False, compare=False)
    wall_clock: Callable[[], float] = dataclasses.field(default=time.time, repr=False, compare=False)
    rng: Callable[[], float] = dataclasses.field(default=random.random, repr=False, compare=False)
    create_settle: float = dataclasses.field(default=30.0, kw_only=True)
    """Seconds a create that got no answer (timeout, dropped connection, gateway 502/504) is looked
    up, without creating again, before it is sent again: a gateway may still forward it late."""

    def __post_init__(self) -> None:
        from foundry_tune.errors import InvalidParameterError

        attempts = self.max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= _MAX_ATTEMPTS:
            huge = isinstance(attempts, int) and attempts.bit_length() > 64
            shown = "a huge integer" if huge else repr(attempts)
            raise InvalidParameterError(
                f"RetryPolicy: max_attempts must be an integer from 1 to {_MAX_ATTEMPTS:,}, got {shown}")
        check_seconds(self.total_timeout, "RetryPolicy: total_timeout", zero=False)
        check_seconds(self.initial_backoff, "RetryPolicy: initial_backoff")
        check_seconds(self.max_backoff, "RetryPolicy: max_backoff")
        if self.max_backoff < self.initial_backoff:
            raise InvalidParameterError(
                "RetryPolicy: backoff must satisfy 0 <= initial_backoff <= max_backoff")
        jitter = self.jitter
        if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) or not 0.0 <= jitter <= 1.0:
            raise InvalidParameterError(f"RetryPolicy: jitter must be a number within [0, 1], got {jitter!r}")
        check_seconds(self.create_settle, "RetryPolicy: create_settle")

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries (errors are still translated)."""
        return cls(max_attempts=1)

    def replace(self, **changes: object) -> RetryPolicy:
        """A copy with some fields changed, e.g. ``policy.replace(total_timeout=30)``."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def backoff(self, attempt: int) -> float:
        """The jittered wait after failed attempt number ``attempt`` (1-based), without Retry-After."""
        base = min(self.max_backoff, self.initial_backoff * (2 ** (attempt - 1)))
        return float(base * (1.0 - self.jitter * self.rng()))

    def classify(self, exc: BaseException) -> _Verdict:
        """Whether ``exc`` is worth another attempt, and how long the service asked us to wait."""
        if isinstance(exc, ServiceError) and not isinstance(exc, RetryBudgetExceededError):
            retryable = exc.status in RETRYABLE_STATUSES and not _permanent(exc.status, exc.code)
            retry_after = exc.retry_after if isinstance(exc, RateLimitError) else None
            return _Verdict(retryable, None, retry_after)
        failure = service_failure(exc)
        if failure is None:
            return _Verdict(False, None, None)
        if failure.status is None:  # connection dropped, refused or timed out
            return _Verdict(True, failure, None, unreachable=failure.code in UNREACHABLE_CODES)
        retryable = failure.status in RETRYABLE_STATUSES and not _permanent(failure.status, failure.code)
        return _Verdict(retryable, failure, parse_retry_after(failure.headers, now=self.wall_clock()))

    def call(self, fn: Callable[[], T], *, what: str) -> T:
        """Run ``fn`` under this policy; ``what`` names the operation in logs and errors.

        Raises the translated error for a failure that is not retryable, [`RateLimitError`][RateLimitError]
        when the service asks for a wait beyond the remaining budget (or throttles to the last
        attempt), and [`RetryBudgetExceededError`][RetryBudgetExceededError] when attempts or time run out.
        The last
        underlying error is attached as ``__cause__``.
        """
        attempts = RetryAttempts(self, what)
        retrying = tenacity.Retrying(sleep=self.sleep, **attempts.tenacity_options())
        with attempts.budget(), attempts.typed_errors():
            return retrying(fn)

    def _gave_up(self, cause: BaseException, what: str, reason: str, attempts: int,
                 verdict: _Verdict, remaining: float, bound: str | None = None) -> FoundryTuneError:
        if verdict.unreachable and verdict.failure is not None:
            return unreachable_error(verdict.failure, what=what, attempts=attempts)
        last = translate(cause)
        status = last.status if isinstance(last, ServiceError) else None
        code = last.code if isinstance(last, ServiceError) else None
        request_id = last.request_id if isinstance(last, ServiceError) else None
        detail = last.message if isinstance(last, ServiceError) else str(last)
        if reason == "retry_after" and status == 429:
            return RateLimitError(
                f"{what}: the service is throttling and asks to wait {verdict.retry_after:.0f}s, more than "
                f"the {max(remaining, 0.0):.0f}s left in the retry budget ({detail})",
                retry_after=verdict.retry_after, status=status, code=code, request_id=request_id,
            )
        if status == 429:
            return RateLimitError(
                f"{what}: still throttled after {attempts} attempts ({detail})",
                retry_after=verdict.retry_after, status=status, code=code, request_id=request_id,
            )
        why = f"after {attempts} attempts" if reason == "attempts" else (
            f"after {attempts} attempts: {bound or f'the retry budget of {self.total_timeout:g}s'} ran out")
        return RetryBudgetExceededError(f"{what}: gave up {why} ({detail})", status=status, code=code,
                                        request_id=request_id)

    def __repr__(self) -> str:
        return (f"RetryPolicy(max_attempts={self.max_attempts}, total_timeout={self.total_timeout:g}, "
                f"initial_backoff={self.initial_backoff:g}, max_backoff={self.max_backoff:g}, "
                f"jitter={self.jitter:g})")


def _permanent(status: int | None, code: str | None) -> bool:
    if is_quota_code(code):
        return True
    if status == 409 and code:
        lowered = code.lower()
        return any(hint in lowered for hint in _PERMANENT_CONFLICT_HINTS)
    return False


def _is_auth_error(exc: BaseException) -> bool:
    from azure.core.exceptions import ClientAuthenticationError

    return isinstance(exc, ClientAuthenticationError)



class RetryAttempts:
    """The bookkeeping of one [`RetryPolicy.call()`][RetryPolicy.call]: which failures to retry, how long to
    wait,
    when to stop, and the error to raise when giving up. Shared by the sync policy and
    [`foundry_tune.aio.AsyncRetryPolicy`][aio.AsyncRetryPolicy] so that both classify and give up
    identically."""

    def __init__(self, policy: RetryPolicy, what: str) -> None:
        self.policy = policy
        self.what = what
        now = policy.clock()
        self.deadline = now + policy.total_timeout
        outer = remaining_budget()
        self.bound: str | None = None
        """Names the caller's bound when it is tighter than the policy's budget."""
        if outer is not None and outer < policy.total_timeout:
            self.deadline = now + outer
            self.bound = f"the caller's time bound ({outer:.3g}s left when the call started)"
        self.unreachable_since: float | None = None
        self.give_up: list[str] = []
        self.verdicts: dict[int, _Verdict] = {}

    @contextlib.contextmanager
    def budget(self) -> Iterator[None]:
        """Make [`remaining_budget()`][remaining_budget] report this call's budget while the block runs."""
        with time_bound(self.deadline, self.policy.clock):
            yield

    @contextlib.contextmanager
    def typed_errors(self) -> Iterator[None]:
        """Raise what leaves the retrying block as foundry-tune's errors: the give-up error when
        attempts or time ran out, the translated service error otherwise."""
        try:
            yield
        except tenacity.RetryError as exc:
            raise self.gave_up(exc) from exc.last_attempt.exception()
        except FoundryTuneError:
            raise
        except Exception as exc:
            translated = self.translated(exc)
            if translated is exc:
                raise
            raise translated from exc

    def tenacity_options(self) -> dict[str, Any]:
        """``retry``, ``wait``, ``stop`` and ``before_sleep`` for ``tenacity.(Async)Retrying``."""
        return {"retry": self.retry_if, "wait": self.wait, "stop": self.stop,
                "before_sleep": self.before_sleep, "reraise": False}

    def retry_if(self, state: tenacity.RetryCallState) -> bool:
        assert state.outcome is not None
        exc = state.outcome.exception()
        if exc is None:
            return False
        verdict = self.policy.classify(exc)
        self.verdicts[state.attempt_number] = verdict
        if not verdict.unreachable:
            self.unreachable_since = None
        elif self.unreachable_since is None:
            self.unreachable_since = self.policy.clock()
        return verdict.retryable

    def wait(self, state: tenacity.RetryCallState) -> float:
        verdict = self.verdicts[state.attempt_number]
        if verdict.retry_after is not None:
            return verdict.retry_after
        if verdict.unreachable:
            first, longest = _UNREACHABLE_BACKOFF
            return float(min(longest, first * 2 ** (state.attempt_number - 1)))
        return self.policy.backoff(state.attempt_number)

    def stop(self, state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= self.policy.max_attempts:
            self.give_up.append("attempts")
            return True
        now = self.policy.clock()
        verdict = self.verdicts[state.attempt_number]
        if self.unreachable_since is not None and (
                now + state.upcoming_sleep - self.unreachable_since > UNREACHABLE_WINDOW):
            self.give_up.append("unreachable")
            return True
        if state.upcoming_sleep > self.deadline - now:
            self.give_up.append("retry_after" if verdict.retry_after is not None else "time")
            return True
        return False

    def before_sleep(self, state: tenacity.RetryCallState) -> None:
        assert state.outcome is not None
        error = translate(state.outcome.exception() or RuntimeError("unknown"))
        # INFO, as the openai SDK logs its retries: a retry that works is no news, and a WARNING
        # would print between the redraws of a progress line (which shows the retry instead).
        log.info("Retrying %s in %.2f seconds (attempt %d/%d failed: %s)", self.what, state.upcoming_sleep,
                 state.attempt_number, self.policy.max_attempts, error)
        status = error.status if isinstance(error, ServiceError) else None
        code = error.code if isinstance(error, ServiceError) else None
        reason = str(status) if status is not None else code or type(error).__name__
        _notify(RetryNotice(self.what, state.attempt_number, self.policy.max_attempts,
                            float(state.upcoming_sleep), reason))

    def gave_up(self, exc: tenacity.RetryError) -> FoundryTuneError:
        """The typed error for a call whose attempts or time ran out."""
        last = exc.last_attempt
        cause = last.exception()
        assert cause is not None
        return self.policy._gave_up(cause, self.what, self.give_up[-1] if self.give_up else "attempts",
                                    last.attempt_number, self.verdicts[last.attempt_number],
                                    self.deadline - self.policy.clock(), self.bound)

    def translated(self, exc: Exception) -> Exception:
        """A non-retryable failure as foundry-tune's error (other exceptions pass through as they are)."""
        if service_failure(exc) is None and not _is_auth_error(exc):
            return exc
        return translate(exc, what=self.what)
