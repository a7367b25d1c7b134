"""Reading a job's events and checkpoints page by page (the pure decisions are in
``foundry_tune._core.events`` and ``foundry_tune._core.checkpoints``)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from foundry_tune._async._calls import safe_call
from foundry_tune._core.checkpoints import (
    Checkpoint,
    Checkpoints,
    checkpoints_guard,
    checkpoints_list_kwargs,
    in_step_order,
)
from foundry_tune._core.events import EventTail, JobEvent

if TYPE_CHECKING:
    from foundry_tune._async._foundry import AsyncFoundry

__all__ = ["EventFetch", "event_fetcher", "list_all_events", "list_checkpoints", "poll_events"]

EventPage = tuple[list[JobEvent], bool]
EventFetch = Callable[[str | None, int], Awaitable[EventPage]]
"""``fetch(after, limit) -> (events newest first, has_more)``."""


def event_fetcher(ft: AsyncFoundry, job_id: str) -> EventFetch:
    """A page fetcher over ``fine_tuning.jobs.list_events``, each page under the retry policy."""

    async def fetch(after: str | None, limit: int) -> EventPage:
        async def call() -> EventPage:
            kwargs: dict[str, Any] = {"limit": limit}
            if after is not None:
                kwargs["after"] = after
            page = await ft.openai.fine_tuning.jobs.list_events(job_id, **kwargs)
            return [JobEvent.from_wire(e) for e in page.data], bool(page.has_more)

        return await safe_call(ft, call, what=f"list events of {job_id}")

    return fetch


async def poll_events(
    tail: EventTail, fetch: EventFetch, *, job_id: str = "", clock: Callable[[], float] = time.monotonic
) -> list[JobEvent]:
    """The events that appeared since ``tail``'s previous poll, oldest first (only new pages read:
    after the tail's first poll, a small first page, then pages of ``tail.page_size`` while a whole
    page is new)."""
    new: list[JobEvent] = []
    guard = tail.guard(job_id, clock)
    after: str | None = None
    limit = tail.first_limit()
    while True:
        events, has_more = await fetch(after, limit)
        limit = tail.page_size
        cursor = tail.absorb(events, has_more, new, guard)
        if cursor is None:
            return tail.finish(new)
        after = cursor


async def list_all_events(
    fetch: EventFetch, *, job_id: str = "", page_size: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[JobEvent]:
    """Every event of a job, oldest first."""
    tail = EventTail.everything() if page_size is None else EventTail.everything(page_size)
    return await poll_events(tail, fetch, job_id=job_id, clock=clock)


async def list_checkpoints(ft: AsyncFoundry, job_id: str) -> Checkpoints:
    """All checkpoints of ``job_id`` in step order: every page, one at a time under
    [`checkpoints_guard()`][checkpoints_guard] (a fresh one for every attempt of
    the retry policy)."""

    async def fetch() -> list[Checkpoint]:
        bounds = checkpoints_guard(job_id, ft.retry.clock)
        found: list[Checkpoint] = []
        after: str | None = None
        while True:
            page = await ft.openai.fine_tuning.jobs.checkpoints.list(job_id, **checkpoints_list_kwargs(after))
            fresh, after = bounds.take(page.data, page.has_more)
            found.extend(Checkpoint.from_wire(c) for c in fresh)
            if after is None:
                return found

    return in_step_order(await safe_call(ft, fetch, what=f"list checkpoints of {job_id}"))
