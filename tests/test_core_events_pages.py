"""After its first poll, an event tail starts every poll with a small page sized from the last
poll's new events, and reads on in full pages only while a whole page is new (pure, no emulator)."""

from __future__ import annotations

import pytest

from foundry_tune._core.events import EVENTS_PAGE_SIZE, SMALL_PAGE_MIN, EventTail, JobEvent
from foundry_tune._core.paging import PageGuard


def _event(i: int) -> JobEvent:
    return JobEvent(id=f"ev-{i}", created_at=1000 + i, level="info", message=f"m{i}", type="message",
                    data=None)


class Events:
    """Newest first; ``after`` continues with older events. Records every (after, limit)."""

    def __init__(self) -> None:
        self.events: list[JobEvent] = []
        self.calls: list[tuple[str | None, int]] = []

    def add(self, n: int) -> None:
        start = len(self.events)
        self.events.extend([_event(start + i) for i in range(n)])

    def poll(self, tail: EventTail) -> list[JobEvent]:
        new: list[JobEvent] = []
        guard = PageGuard("test")
        after: str | None = None
        limit = tail.first_limit()
        while True:
            self.calls.append((after, limit))
            newest = list(reversed(self.events))
            if after is not None:
                newest = newest[[e.id for e in newest].index(after) + 1:]
            cursor = tail.absorb(newest[:limit], len(newest) > limit, new, guard)
            if cursor is None:
                return tail.finish(new)
            after, limit = cursor, tail.page_size


# (new events before each poll after the history, expected limit of that poll's first page)
CASES = [
    pytest.param([0, 0, 0], [SMALL_PAGE_MIN] * 3, id="quiet-job-smallest-page"),
    pytest.param([2, 3, 4], [SMALL_PAGE_MIN, SMALL_PAGE_MIN, 7], id="sized-from-the-last-poll"),
    pytest.param([10, 40, 1], [SMALL_PAGE_MIN, 21, EVENTS_PAGE_SIZE], id="never-above-the-page-size"),
]


@pytest.mark.parametrize(("arrivals", "limits"), CASES)
def test_first_page_of_each_later_poll_is_small(arrivals: list[int], limits: list[int]) -> None:
    server, tail = Events(), EventTail()
    server.add(2)
    server.poll(tail)  # the history, as before: a full page
    assert server.calls == [(None, EVENTS_PAGE_SIZE)]
    got = []
    for n in arrivals:
        server.calls.clear()
        server.add(n)
        assert [e.id for e in server.poll(tail)] == [e.id for e in server.events[len(server.events) - n:]]
        got.append(server.calls[0][1])
    assert got == limits


def test_a_whole_new_small_page_reads_on_in_full_pages_and_never_rereads_old_events() -> None:
    server, tail = Events(), EventTail()
    server.add(2)
    server.poll(tail)
    server.calls.clear()
    server.add(60)
    new = server.poll(tail)
    assert [e.id for e in new] == [f"ev-{i}" for i in range(2, 62)]  # each once, oldest first
    assert server.calls == [(None, SMALL_PAGE_MIN), ("ev-57", EVENTS_PAGE_SIZE), ("ev-7", EVENTS_PAGE_SIZE)]


def test_small_pages_can_be_turned_off() -> None:
    server, tail = Events(), EventTail(small_pages=False)
    server.add(3)
    server.poll(tail)
    server.add(1)
    server.poll(tail)
    assert [limit for _, limit in server.calls] == [EVENTS_PAGE_SIZE, EVENTS_PAGE_SIZE]
