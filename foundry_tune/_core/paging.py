"""Bounds for every paged scan: a page cap, a time bound and a cursor that must advance.

A cursor-paged list (``after=<last id>``) loops forever when a service ignores ``after`` or keeps
answering ``has_more: true`` with the same page, and Azure's own ``GET /files`` example carries no
``has_more`` at all (the openai SDK's auto-pagination then keeps asking). Every scan in
foundry-tune therefore fetches one page at a time and asks a [`PageGuard`][PageGuard] for the next
cursor. The guard ends the scan (with a DEBUG log line) when:

- the page says ``has_more: false``, is empty, or (where the endpoint is declared to do so) has
  no ``has_more`` key;
- the next cursor would not advance: the page ends on an id that was already used as a cursor,
  or holds only ids this scan has already seen (the same page again);
- ``max_pages`` pages were read (default [`DEFAULT_MAX_PAGES`][DEFAULT_MAX_PAGES]);
- ``max_seconds`` passed since the scan began (default [`DEFAULT_MAX_SECONDS`][DEFAULT_MAX_SECONDS],
monotonic).

The last two leave the answer possibly incomplete: a guard built with ``strict=True`` raises
[`ScanIncompleteError`][ScanIncompleteError] then, for listings whose caller needs the
whole answer. The first two are how a service says "that is all": never an error.

This module is pure (no network): the sync and async scans share it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, TypeVar

from foundry_tune.errors import InvalidParameterError, ScanIncompleteError

__all__ = [
    "DEFAULT_MAX_PAGES",
    "DEFAULT_MAX_SECONDS",
    "MissingHasMore",
    "PageGuard",
]

log = logging.getLogger("foundry_tune.paging")

T = TypeVar("T")

DEFAULT_MAX_PAGES = 1000
"""At most this many pages per scan (100 000 items at 100 per page)."""

DEFAULT_MAX_SECONDS = 300.0
"""A scan stops reading pages this many seconds (monotonic clock) after its first page began."""

MissingHasMore = Literal["end", "more"]
"""What a page without a ``has_more`` key means: ``"end"`` (Azure's ``GET /files`` shape: the
whole list in one answer) or ``"more"`` (keep paging with ``after``, still under the guard)."""


class PageGuard:
    """The bounds of one paged scan. Feed every fetched page to [`take()`][take] (or
    [`next_after()`][next_after]); it returns the ``after`` cursor of the next page, or None when the scan
    should end (``reason`` says why). A guard serves one scan: make a new one for every attempt.

    ```python
    guard = PageGuard("list uploaded files", missing_has_more="end")
    after = None
    while True:
        page = client.files.list(purpose="fine-tune", after=after)  # one page, no auto-pagination
        items, after = guard.take(page.data, page.has_more)
        ...  # use items
        if after is None:
            break
    ```
    """

    def __init__(
        self,
        what: str,
        *,
        max_pages: int = DEFAULT_MAX_PAGES,
        max_seconds: float | None = DEFAULT_MAX_SECONDS,
        missing_has_more: MissingHasMore = "more",
        strict: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1:
            raise InvalidParameterError(f"max_pages must be a positive integer: {max_pages!r}")
        if max_seconds is not None and not max_seconds > 0:
            raise InvalidParameterError(f"max_seconds must be positive seconds or None: {max_seconds!r}")
        if missing_has_more not in ("end", "more"):
            raise InvalidParameterError(f"missing_has_more must be 'end' or 'more': {missing_has_more!r}")
        self.what = what
        self.max_pages = max_pages
        self.max_seconds = max_seconds
        self.missing_has_more: MissingHasMore = missing_has_more
        self.strict = strict
        self._clock = clock
        self._deadline = None if max_seconds is None else clock() + max_seconds
        self._cursors: set[str] = set()
        self._seen: set[str] = set()
        self.pages = 0
        """Pages fed to [`next_after()`][next_after] so far."""
        self.reason: str | None = None
        """Why the scan ended (None while it goes on)."""
        self._cut_short = False

    @property
    def complete(self) -> bool:
        """False when a page cap or the time bound cut the scan short."""
        return not self._cut_short

    def seen(self, item_id: str) -> bool:
        """Whether an earlier page of this scan held ``item_id`` (to drop repeated items)."""
        return item_id in self._seen

    def take(self, items: Sequence[T], has_more: bool | None,
             id_of: Callable[[T], str | None] | None = None) -> tuple[list[T], str | None]:
        """Account for one fetched page of ``items`` (``id_of`` reads an item's id; by default its
        ``id`` attribute or key). Returns the items no earlier page of this scan held (a repeated
        page yields none; repeats inside one page are kept) and the next cursor, as
        [`next_after()`][next_after] does."""
        read = id_of or _item_id
        ids = [read(item) for item in items]
        fresh = [item for item, i in zip(items, ids, strict=True) if not (i and i in self._seen)]
        return fresh, self.next_after(ids, has_more)

    def next_after(self, ids: Iterable[str | None], has_more: bool | None) -> str | None:
        """Account for one fetched page: its item ids in order and its ``has_more`` (None when the
        key is absent). Returns the cursor for the next page, or None to end the scan (raises
        [`ScanIncompleteError`][ScanIncompleteError] instead when ``strict`` and a bound cut
        the scan short)."""
        self.pages += 1
        page_ids = [i for i in ids if i]
        repeated = bool(page_ids) and all(i in self._seen for i in page_ids)
        self._seen.update(page_ids)
        reason: str | None = None
        cut = False
        if has_more is False:
            reason = "the page says has_more: false"
        elif has_more is None and self.missing_has_more == "end":
            reason = "the page has no has_more (the whole list in one answer)"
        elif not page_ids:
            reason = "an empty page"
        elif repeated:
            reason = "the same page again (every id already seen): the cursor did not advance"
        elif page_ids[-1] in self._cursors:
            reason = f"the cursor {page_ids[-1]!r} did not advance"
        elif self.pages >= self.max_pages:
            reason, cut = f"page cap ({self.max_pages} pages) reached", True
        elif self._deadline is not None and self._clock() >= self._deadline:
            reason, cut = f"time bound ({self.max_seconds:g} s) reached", True
        if reason is None:
            self._cursors.add(page_ids[-1])
            return page_ids[-1]
        self.reason = reason
        self._cut_short = cut
        log.debug("%s: scan ended after %d page(s): %s", self.what, self.pages, reason)
        if cut and self.strict:
            raise ScanIncompleteError(
                f"{self.what}: stopped after {self.pages} page(s): {reason}; the answer would be incomplete",
                pages=self.pages,
            )
        return None


def _item_id(item: Any) -> str | None:
    value = item.get("id") if isinstance(item, dict) else getattr(item, "id", None)
    return None if value is None else str(value)
