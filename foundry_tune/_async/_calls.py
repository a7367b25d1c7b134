"""How the network layer talks to the service: safe calls go through the connection's retry policy;
creates go through :func:`reconciled_create`, which never repeats a create blindly."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import openai

from foundry_tune._core.once import CreateOnce
from foundry_tune._core.translate import translate
from foundry_tune.errors import FoundryTuneError

if TYPE_CHECKING:
    from foundry_tune._async._foundry import AsyncFoundry

__all__ = ["omit_none", "reconciled_create", "safe_call"]

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
    """Create something at most once (see :class:`foundry_tune._core.once.CreateOnce`): every attempt
    after the first looks it up (e.g. "is there a job with my fingerprint?") before creating."""
    once = CreateOnce()

    async def attempt() -> T:
        if once.next_step() == "lookup":
            found = await lookup()
            if once.after_lookup(found is not None) == "return":
                assert found is not None
                return found
        return await create()

    return await safe_call(ft, attempt, what=what)


def omit_none(**kwargs: Any) -> dict[str, Any]:
    """Keyword arguments without the ``None`` values (the openai SDK's "not given")."""
    return {k: v for k, v in kwargs.items() if v is not None}
