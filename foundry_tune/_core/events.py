"""Job events and the pure half of reading them incrementally.

The events endpoint lists newest first; ``after=<event id>`` continues with the events older than
that one. To fetch only what is new since the last poll, a poll reads from the top and stops at the
first event already seen, paging further down only while a whole page is new. [`EventTail`][EventTail]
makes those decisions; the network layer (``foundry_tune._async._listings``) fetches the pages.

The first poll of a tail reads the history in pages of [`EVENTS_PAGE_SIZE`][EVENTS_PAGE_SIZE]. Every
later poll starts with a small page sized from how many events were new the poll before
(``2 * new + 1``, within [`SMALL_PAGE_MIN`][SMALL_PAGE_MIN] and ``EVENTS_PAGE_SIZE``): one event
already seen closes the poll, so a look at a job that said three things since costs one request
of a handful of events. Only when that whole page is new does the poll read on, in pages of
``EVENTS_PAGE_SIZE``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from foundry_tune._core.event_messages import parse_step_message
from foundry_tune._core.paging import PageGuard

__all__ = ["ALL_EVENTS_PAGE_SIZE", "EVENTS_PAGE_SIZE", "SMALL_PAGE_MIN", "EventTail", "JobEvent"]

EVENTS_PAGE_SIZE = 50
"""Events asked for per page while a wait reads the history, and the largest page of a later poll."""

SMALL_PAGE_MIN = 5
"""The smallest first page of a poll after the first (see the module docs)."""

ALL_EVENTS_PAGE_SIZE = 100
"""Events asked for per page when reading a job's whole history."""


@dataclasses.dataclass(frozen=True)
class JobEvent:
    """One job event: a message (``type == "message"``) or a metrics row (``type == "metrics"``).

    Azure reports training steps as messages (``Step 10: training loss=0.53``); [`metrics`][metrics]
    reads both forms."""

    id: str
    created_at: int
    level: str
    message: str
    type: str
    data: dict[str, Any] | None

    @property
    def time(self) -> dt.datetime:
        """``created_at`` as an aware UTC datetime."""
        return dt.datetime.fromtimestamp(self.created_at, tz=dt.timezone.utc)

    @property
    def metrics(self) -> dict[str, Any] | None:
        """The metrics row this event carries, or ``None``.

        A ``metrics`` event's structured ``data`` (OpenAI) when it has one; otherwise the row read
        from a step line in ``message`` (``Step 8250: training loss=3.81E-06``, how Azure reports
        training progress, as ``message`` events without ``data``). Keys are those of
        [`MetricRow`][job.MetricRow] (``step``, ``total_steps``, ``train_loss``, ...).
        """
        data = self.data
        if self.type == "metrics" and isinstance(data, dict) and data:
            if "step" in data:
                return dict(data)
            parsed = parse_step_message(self.message)
            return {**parsed, **data} if parsed else dict(data)
        parsed = parse_step_message(self.message)
        return dict(parsed) if parsed is not None else None

    @property
    def is_structured_metrics(self) -> bool:
        """Whether the metrics row comes from structured ``data`` rather than the message text."""
        return self.type == "metrics" and isinstance(self.data, dict) and bool(self.data)

    @property
    def is_metrics(self) -> bool:
        """Whether this event carries a metrics row (structured ``data`` or a step message)."""
        return self.metrics is not None

    @classmethod
    def from_wire(cls, obj: Any) -> JobEvent:
        """Build from an openai ``FineTuningJobEvent`` or a plain dict, tolerating missing keys."""
        raw = _wire_dict(obj)
        data = raw.get("data")
        return cls(
            id=str(raw.get("id", "")),
            created_at=_seconds(raw.get("created_at")),
            level=str(raw.get("level") or "info"),
            message=str(raw.get("message") or ""),
            type=str(raw.get("type") or "message"),
            data=data if isinstance(data, dict) else None,
        )


def _wire_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        try:
            dumped = dump()
        except Exception:  # a half-valid SDK object: fall back to its attributes
            dumped = None
        if isinstance(dumped, dict):
            return dumped
    keys = ("id", "created_at", "level", "message", "type", "data")
    return {key: getattr(obj, key) for key in keys if hasattr(obj, key)}


def _seconds(value: Any) -> int:
    try:
        number = float(value or 0)
    except (TypeError, ValueError):
        return 0
    return int(number) if math.isfinite(number) and 0 <= number < 253_402_300_800 else 0  # < year 10000


class EventTail:
    """Yields each event of a job once, oldest first, reading only new pages on every poll.

    :param page_size: the page size of the first poll and of every page after a poll's first.
    :param remember: how many event ids to remember (the oldest are forgotten).
    :param small_pages: start every poll after the first with a small page (see the module docs).
    """

    def __init__(self, *, page_size: int = EVENTS_PAGE_SIZE, remember: int = 10_000,
                 small_pages: bool = True) -> None:
        self.page_size = page_size
        self.small_pages = small_pages
        self._seen: set[str] = set()
        self._order: deque[str] = deque()
        self._remember = remember
        self.requests = 0
        """How many pages were fetched so far (tests and benchmarks read it)."""
        self.polls = 0
        """How many polls were completed so far."""
        self.last_new = 0
        """How many events the last completed poll found new."""

    def first_limit(self) -> int:
        """The ``limit`` of a poll's first page: ``page_size`` on the first poll, then a small page
        sized from the last poll's new events (see the module docs)."""
        if self.polls == 0 or not self.small_pages:
            return self.page_size
        return min(self.page_size, max(SMALL_PAGE_MIN, 2 * self.last_new + 1))

    def guard(self, job_id: str, clock: Callable[[], float] = time.monotonic) -> PageGuard:
        """The bounds of one poll (a fresh guard for each): a page seen again or a cursor that
        does not advance ends it, and so do the page cap and the time bound."""
        return PageGuard(f"list events of {job_id}", clock=clock)

    def absorb(self, events: list[JobEvent], has_more: bool | None, new: list[JobEvent],
               guard: PageGuard) -> str | None:
        """Add one fetched page's unseen events (newest first) to ``new``; return the ``after``
        cursor of the next page to fetch, or None when the poll is complete.

        ``guard`` (one per poll) bounds the poll: a page seen again or a cursor that does not
        advance ends it, and so do its page cap and time bound."""
        self.requests += 1
        fresh, cursor = guard.take(events, has_more)
        for event in fresh:
            if event.id in self._seen:
                return None
            new.append(event)
        return cursor

    def finish(self, new: list[JobEvent]) -> list[JobEvent]:
        """End a poll: remember ``new`` and return it oldest first."""
        new.reverse()
        for event in new:
            self._remember_id(event.id)
        self.polls += 1
        self.last_new = len(new)
        return new

    def _remember_id(self, event_id: str) -> None:
        self._seen.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self._remember:
            self._seen.discard(self._order.popleft())

    @classmethod
    def everything(cls, page_size: int = ALL_EVENTS_PAGE_SIZE) -> EventTail:
        """A tail that remembers every id: one poll of it reads the whole history."""
        return cls(page_size=page_size, remember=10**9)
