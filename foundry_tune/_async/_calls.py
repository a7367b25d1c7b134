"""How the network layer talks to the service: safe calls go through the connection's retry policy;
creates go through [`reconciled_create()`][reconciled_create], which never repeats a create blindly."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import openai

from foundry_tune._core.once import CreateOnce
from foundry_tune._core.retry import RetryPolicy, remaining_budget
from foundry_tune._core.translate import service_failure, translate
from foundry_tune.errors import FoundryTuneError, ServiceError

if TYPE_CHECKING:
    from foundry_tune._async._foundry import AsyncFoundry

__all__ = ["answer_status", "create_settle", "omit_none", "reconciled_create", "safe_call"]

T = TypeVar("T")


async def safe_call(ft: AsyncFoundry, fn: Callable[[], Awaitable[T]], *, what: str) -> T:
    """Run a read or other call that is safe to repeat, under the connection's retry policy."""
    try:
        return await ft.retry.call(fn, what=what)
    except FoundryTuneError:
        raise
    except (openai.APIError, OSError) as exc:
        raise translate(exc) from exc


async def reconciled_create(
    ft: AsyncFoundry,
    create: Callable[[], Awaitable[T]],
    lookup: Callable[[], Awaitable[T | None]],
    *,
    what: str,
) -> T:
    """Create something at most once (see [`foundry_tune._core.once.CreateOnce`][CreateOnce]): every attempt
    after the first looks it up (e.g. "is there a job with my fingerprint?") before creating, and
    after a create that got no answer it keeps looking up, without creating, for the policy's
    ``create_settle`` seconds (a gateway may still forward that create)."""
    clock = ft.retry.clock
    once = CreateOnce(settle=create_settle(ft.retry))

    async def attempt() -> T:
        if once.next_step() == "lookup":
            while True:
                found = await lookup()
                decision = once.after_lookup(found is not None, clock())
                if decision == "return":
                    assert found is not None
                    return found
                if decision == "create":
                    break
                await ft.retry.sleep(once.settle_wait(clock()))
        try:
            return await create()
        except Exception as exc:
            once.create_failed(clock(), status=answer_status(exc), budget=remaining_budget())
            raise

    return await safe_call(ft, attempt, what=what)


def create_settle(runner: object) -> float:
    """The ``create_settle`` of the connection's retry runner (a policy, or a runner holding one as
    ``policy``); 0 (no settle window) for a runner without one."""
    policy = getattr(runner, "policy", runner)
    return float(policy.create_settle) if isinstance(policy, RetryPolicy) else 0.0


def answer_status(exc: BaseException) -> int | None:
    """The HTTP status a failed call was answered with; None when no answer came (a timeout or a
    dropped connection); 0 for a failure that is not about the exchange at all."""
    if isinstance(exc, ServiceError):
        return exc.status
    failure = service_failure(exc)
    if failure is None:
        return None if isinstance(exc, OSError) else 0
    return failure.status


def omit_none(**kwargs: Any) -> dict[str, Any]:
    """Keyword arguments without the ``None`` values (the openai SDK's "not given")."""
    return {k: v for k, v in kwargs.items() if v is not None}
