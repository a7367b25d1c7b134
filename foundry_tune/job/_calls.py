"""How the job package talks to the service: safe calls go through the connection's retry policy;
creates go through :func:`reconciled_create`, which never repeats a create blindly."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import openai

from foundry_tune.errors import FoundryTuneError

if TYPE_CHECKING:
    from foundry_tune.deployment import DeploymentsAPI

__all__ = ["Connection", "reconciled_create", "safe_call", "translate_error"]

T = TypeVar("T")


class _RetryPolicy(Protocol):
    def call(self, fn: Callable[[], T], *, what: str) -> T: ...


class Connection(Protocol):
    """The part of :class:`foundry_tune.Foundry` the job package uses."""

    @property
    def openai(self) -> openai.OpenAI: ...

    @property
    def retry(self) -> _RetryPolicy: ...

    @property
    def deployments(self) -> DeploymentsAPI: ...


def translate_error(exc: BaseException) -> FoundryTuneError:
    """Map an openai/httpx exception to foundry-tune's hierarchy (never with headers or tokens)."""
    if isinstance(exc, FoundryTuneError):
        return exc
    from foundry_tune.client._errors import translate

    return translate(exc)


def safe_call(conn: Connection, fn: Callable[[], T], *, what: str) -> T:
    """Run a read or other call that is safe to repeat, under the connection's retry policy."""
    try:
        return conn.retry.call(fn, what=what)
    except FoundryTuneError:
        raise
    except (openai.APIError, OSError) as exc:
        raise translate_error(exc) from exc


def reconciled_create(
    conn: Connection,
    create: Callable[[], T],
    lookup: Callable[[], T | None],
    *,
    what: str,
) -> T:
    """Create something at most once.

    The first attempt calls ``create``. When it fails in a way that leaves the outcome unknown
    (timeout, dropped connection, 5xx, 429), the retry policy runs the attempt again, and every
    later attempt first calls ``lookup`` (e.g. "is there a job with my fingerprint?") and only
    creates when nothing is found. A create is therefore never repeated after it took effect.
    """
    attempts = 0

    def attempt() -> T:
        nonlocal attempts
        attempts += 1
        if attempts > 1:
            found = lookup()
            if found is not None:
                return found
        return create()

    return safe_call(conn, attempt, what=what)


def omit_none(**kwargs: Any) -> dict[str, Any]:
    """Keyword arguments without the ``None`` values (the openai SDK's "not given")."""
    return {k: v for k, v in kwargs.items() if v is not None}
