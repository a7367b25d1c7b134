"""The async twin of :class:`foundry_tune.RetryPolicy`: same configuration, same classification of
failures, same give-up errors; it only awaits its attempts and sleeps with ``asyncio.sleep``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import tenacity

from foundry_tune.client._retry import RetryAttempts, RetryPolicy

__all__ = ["AsyncRetryPolicy"]

T = TypeVar("T")


class AsyncRetryPolicy:
    """Runs async safe calls under a :class:`RetryPolicy` (``policy``, default ``RetryPolicy()``).

    ``sleep`` is the coroutine used between attempts (``asyncio.sleep`` unless a test injects one).
    """

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.sleep = sleep

    @property
    def clock(self) -> Callable[[], float]:
        """The policy's monotonic clock."""
        return self.policy.clock

    async def call(self, fn: Callable[[], Awaitable[T]], *, what: str) -> T:
        """Await ``fn()`` under the policy: same retries, bound and errors as ``RetryPolicy.call``."""
        attempts = RetryAttempts(self.policy, what)
        retrying = tenacity.AsyncRetrying(sleep=self.sleep, **attempts.tenacity_options())

        async def attempt() -> T:  # a coroutine function: tenacity awaits only those
            return await fn()

        with attempts.budget(), attempts.typed_errors():
            return await retrying(attempt)

    def __repr__(self) -> str:
        return f"AsyncRetryPolicy({self.policy!r})"
