"""How the async API talks to the service: safe calls under the async retry policy, creates that
never repeat blindly (the async twin of :mod:`foundry_tune.job._calls`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import openai

from foundry_tune.errors import FoundryTuneError
from foundry_tune.job._calls import translate_error

if TYPE_CHECKING:
    from foundry_tune.aio._foundry import AsyncFoundry

__all__ = ["reconciled_create", "safe_call"]

T = TypeVar("T")


async def safe_call(ft: AsyncFoundry, fn: Callable[[], Awaitable[T]], *, what: str) -> T:
    """Await a read or other call that is safe to repeat, under the connection's retry policy."""
    try:
        return await ft.retry.call(fn, what=what)
    except FoundryTuneError:
        raise
    except (openai.APIError, OSError) as exc:
        raise translate_error(exc) from exc


async def reconciled_create(
    ft: AsyncFoundry,
    create: Callable[[], Awaitable[T]],
    lookup: Callable[[], Awaitable[T | None]],
    *,
    what: str,
) -> T:
    """Create something at most once: every attempt after the first looks it up before creating
    (see :func:`foundry_tune.job._calls.reconciled_create`)."""
    attempts = 0

    async def attempt() -> T:
        nonlocal attempts
        attempts += 1
        if attempts > 1:
            found = await lookup()
            if found is not None:
                return found
        return await create()

    return await safe_call(ft, attempt, what=what)
