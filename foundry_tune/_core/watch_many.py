"""Watching many jobs with one listing per look, without I/O.

Retrieving every watched job on every look costs one request per job per interval. The jobs
listing (``GET /fine_tuning/jobs``, newest first, paged with ``after``) shows every job's state in
one answer instead, so a look reads one page (a second only when the oldest watched job slid
deeper) and retrieves individually only the jobs the listing did not show: correctness never
depends on the listing.

The decisions here, driven by the network layer (``foundry_tune._async._watch_many``):

- [`still_wanted()`][still_wanted]: which jobs a look still needs (the live ones);
- [`ListingDepth`][ListingDepth]: how large the first page is (as deep as the oldest watched job
  was last time, plus a small margin for jobs created since), remembered between looks;
- [`ListingLook`][ListingLook]: one look's pages: which listed jobs are wanted, when to stop
  paging (all found; the listing went past the creation time of the jobs still missing; the
  listing ended; or the [`PageGuard`][PageGuard] cap), and [`missing()`][missing] what to retrieve
  one by one;
- [`FullCount`][FullCount]: when a sweep holding trials back reads the listing deep enough to count
  the resource's live jobs (not every look: after one of its own jobs ended, and every few looks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from foundry_tune._core.job_state import as_dict
from foundry_tune._core.paging import PageGuard
from foundry_tune._core.status import JobStatus

__all__ = [
    "FULL_COUNT_EVERY",
    "FULL_SCAN_JOBS",
    "GONE",
    "MAX_PAGE",
    "MAX_PAGES",
    "PAGE_MARGIN",
    "FullCount",
    "ListingDepth",
    "ListingLook",
    "StatusLines",
    "Watched",
    "newest_first",
    "still_wanted",
    "wanted_from_raw",
    "watch_timeout_message",
]

MAX_PAGE = 100
"""The largest page the jobs listing serves."""

MAX_PAGES = 10
"""A look reads at most this many pages (1,000 jobs deep at 100 a page); watched jobs older than
that are retrieved one by one."""

PAGE_MARGIN = 2
"""Rows read past the oldest watched job's last position, for jobs created since the last look."""

FULL_SCAN_JOBS = 1000
"""How many jobs a full look (one that also counts the resource's live jobs) reads at most."""

FULL_COUNT_EVERY = 10
"""A sweep holding trials back counts the resource's live jobs (a full look) at least every this
many looks, for slots freed by other people's jobs ending; its own jobs ending trigger one at once."""

GONE = "gone"
"""The status shown for a watched job the service no longer knows (404 after it was seen)."""

GONE_WHY = "not found any more: deleted, or no longer visible to this credential"
"""Why a job is shown as [`GONE`][GONE]."""


@dataclass(frozen=True)
class Watched:
    """What a look needs to know of one watched job: its id and creation time (Unix seconds, or
    None when not known yet: the listing is then read until the job shows up or the cap)."""

    id: str
    created_at: float | None = None


def wanted_from_raw(raw: Mapping[str, Any]) -> Watched:
    """A [`Watched`][Watched] from a job body (``id``, ``created_at``)."""
    created = raw.get("created_at")
    if isinstance(created, bool) or not isinstance(created, (int, float)) or not created > 0:
        return Watched(str(raw.get("id")))
    return Watched(str(raw.get("id")), float(created))


def still_wanted(statuses: Iterable[tuple[str, JobStatus]]) -> list[str]:
    """The ids a look still needs, in the given order: those whose last known status is live
    (an unknown status counts as live); an id given twice is kept once."""
    seen: set[str] = set()
    wanted = []
    for job_id, status in statuses:
        if status.is_live and job_id not in seen:
            seen.add(job_id)
            wanted.append(job_id)
    return wanted


@dataclass
class ListingDepth:
    """How deep in the listing each watched job was last seen (1 = the newest job), across looks:
    the first page of the next look is just deep enough for the oldest one still wanted."""

    margin: int = PAGE_MARGIN
    positions: dict[str, int] = field(default_factory=dict)

    def first_page(self, wanted: Sequence[str]) -> int:
        """The size of a look's first page for the ids in ``wanted``: the deepest position seen
        of any of them (a job not seen yet counts as deep as the number wanted), plus the margin;
        from 1 to [`MAX_PAGE`][MAX_PAGE]."""
        deepest = max([len(wanted), *(self.positions.get(i, 0) for i in wanted)], default=0)
        return max(1, min(MAX_PAGE, deepest + self.margin))

    @staticmethod
    def next_page(previous: int) -> int:
        """The size of a following page of the same look: twice the previous, up to
        [`MAX_PAGE`][MAX_PAGE] (the oldest job slid deeper than expected)."""
        return max(1, min(MAX_PAGE, previous * 2))

    def learn(self, found: Mapping[str, int], gone: Iterable[str] = ()) -> None:
        """Remember where a look found jobs (id to position) and forget the ids in ``gone``."""
        self.positions.update(found)
        for job_id in gone:
            self.positions.pop(job_id, None)


class ListingLook:
    """One look at many jobs through the listing. Ask [`list_kwargs()`][list_kwargs] for each page's
    arguments, feed each page to [`offer_page()`][offer_page] until it returns None, then read
    [`found`][found] and retrieve [`missing()`][missing] one by one.

    :param wanted: the jobs to find (live watched jobs), newest or oldest first: any order.
    :param depth: the positions of earlier looks (updated by [`finish()`][finish]).
    :param full: read the listing to its end or [`FULL_SCAN_JOBS`][FULL_SCAN_JOBS] jobs, keeping
        every listed job in [`listed`][listed] (a sweep that must count the resource's live jobs
        before it submits more), in pages of [`MAX_PAGE`][MAX_PAGE].
    """

    def __init__(self, wanted: Sequence[Watched], depth: ListingDepth | None = None, *,
                 full: bool = False, max_pages: int = MAX_PAGES) -> None:
        self.wanted = {w.id: w for w in wanted}
        self.depth = depth if depth is not None else ListingDepth()
        self.full = full
        self.max_pages = max_pages
        self.found: dict[str, dict[str, Any]] = {}
        """The bodies of the wanted jobs the listing showed, by id."""
        self.listed: list[dict[str, Any]] = []
        """Every listed job, newest first (only for a ``full`` look)."""
        self.scanned = 0
        self.reason: str | None = None
        """Why the paging stopped (None while it goes on)."""
        self.gone: list[str] = []
        """Wanted ids the service answered 404 for on their own retrieve (filled by the caller)."""
        self._positions: dict[str, int] = {}
        self._page = 0

    def guard(self, clock: Callable[[], float] = time.monotonic) -> PageGuard:
        """The bounds of the look's paging (a page cap; a cursor that does not advance ends it)."""
        pages = max(self.max_pages, -(-FULL_SCAN_JOBS // MAX_PAGE)) if self.full else self.max_pages
        return PageGuard(f"list fine-tuning jobs (watching {len(self.wanted)})", max_pages=pages,
                         missing_has_more="more", clock=clock)

    @property
    def needed(self) -> bool:
        """Whether the look needs the listing at all (something wanted, or a full look)."""
        return self.full or bool(self.wanted)

    def list_kwargs(self, after: str | None = None) -> dict[str, Any]:
        """Arguments of one ``fine_tuning.jobs.list`` page (``after``: the cursor the last
        [`offer_page()`][offer_page] returned; None for the first page)."""
        if self.full:
            size = MAX_PAGE
        elif after is None or self._page == 0:
            size = self.depth.first_page(list(self.wanted))
        else:
            size = self.depth.next_page(self._page)
        self._page = size
        kwargs: dict[str, Any] = {"limit": size}
        if after is not None:
            kwargs["after"] = after
        return kwargs

    def offer_page(self, items: Sequence[Any], has_more: bool | None, guard: PageGuard) -> str | None:
        """Consider one listed page (its items, SDK objects or dicts, and ``has_more``): the cursor
        of the next page to read, or None when the look has what it needs."""
        fresh, after = guard.take(items, has_more)
        for item in fresh:
            raw = as_dict(item)
            self.scanned += 1
            job_id = str(raw.get("id"))
            if self.full:
                self.listed.append(raw)
            if job_id in self.wanted and job_id not in self.found:
                self.found[job_id] = raw
                self._positions[job_id] = self.scanned
        if not self.full and len(self.found) == len(self.wanted):
            self.reason = "every watched job found"
            return None
        if after is None:
            self.reason = guard.reason
            return None
        if self.full:
            if self.scanned >= FULL_SCAN_JOBS:
                self.reason = f"{FULL_SCAN_JOBS} jobs read"
                return None
            return after
        if self._past_missing(fresh):
            self.reason = "the listing went past the creation time of the jobs still missing"
            return None
        return after

    def _past_missing(self, page: Sequence[Any]) -> bool:
        """Whether the page reached jobs older than every missing one (listed newest first, a
        missing job cannot come later). A missing job of unknown age keeps the look paging."""
        missing = [self.wanted[i].created_at for i in self.missing()]
        if not missing or any(c is None for c in missing):
            return False
        oldest_missing = min(c for c in missing if c is not None)
        ages = [wanted_from_raw(as_dict(item)).created_at for item in page]
        known = [a for a in ages if a is not None]
        return bool(known) and min(known) < oldest_missing

    def missing(self) -> list[str]:
        """The wanted ids the listing did not show (to retrieve one by one), in the order given."""
        return [i for i in self.wanted if i not in self.found]

    def finish(self, ended: Iterable[str] = ()) -> None:
        """Record where the jobs were found for the next look; ``ended``: ids no longer watched."""
        self.depth.learn(self._positions, ended)


def newest_first(ids: Iterable[str], known: Mapping[str, Watched]) -> list[str]:
    """``ids`` newest first by their known creation time (unknown ones first, then the given
    order): the order to retrieve them one by one, as the service starts queued jobs oldest first,
    so a job that ends between two reads is read after its successor started."""
    listed = list(ids)

    def key(pair: tuple[int, str]) -> tuple[float, int]:
        created = known[pair[1]].created_at if pair[1] in known else None
        return (-(created if created is not None else float("inf")), pair[0])

    return [job_id for _, job_id in sorted(enumerate(listed), key=key)]


class StatusLines:
    """Progress lines of a wait for many jobs: one per job each time its status changes,
    ``[2/5] ftjob-abc: running`` (a failed job's error code in brackets, a job the service no
    longer knows as ``gone`` with why)."""

    def __init__(self) -> None:
        self._reported: dict[str, str] = {}

    def changes(self, jobs: Sequence[tuple[str, str, str | None]]) -> list[str]:
        """The lines for the jobs (``(id, status, error code)``, in the order watched) whose status
        differs from the one last reported; a job given twice is reported once, numbered among the
        distinct jobs (``[1/3]`` to ``[3/3]`` for three jobs, however often one was given)."""
        unique: dict[str, tuple[str, str | None]] = {}
        for job_id, status, code in jobs:
            unique.setdefault(job_id, (status, code))
        lines = []
        for index, (job_id, (status, code)) in enumerate(unique.items(), start=1):
            if self._reported.get(job_id) == status:
                continue
            self._reported[job_id] = status
            if status == GONE:
                why = f" ({GONE_WHY})"
            else:
                why = f" ({code})" if code and status == JobStatus.FAILED.value else ""
            lines.append(f"[{index}/{len(unique)}] {job_id}: {status}{why}")
        return lines


def watch_timeout_message(jobs: Sequence[tuple[str, str]], timeout: float | None) -> str:
    """The message of the WaitTimeoutError a wait for many jobs raises: the counts by status and
    the ids still live."""
    unique = dict(jobs)
    counts: dict[str, int] = {}
    for status in unique.values():
        counts[status] = counts.get(status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    live = [job_id for job_id, status in unique.items() if status != GONE and JobStatus(status).is_live]
    return (f"{len(unique)} fine-tuning job(s): {summary} after {timeout or 0:g} s; "
            f"{', '.join(live) or 'none'} still live, and they keep running: wait again with the same ids")


class FullCount:
    """When a sweep holding trials back makes its look a full one (reading the listing deep enough
    to count the resource's live jobs, up to [`FULL_SCAN_JOBS`][FULL_SCAN_JOBS]: ten pages on a
    resource with a long history) rather than one as deep as its own live jobs (usually one page).

    A slot frees only when a job ends: the look right after one of the sweep's own jobs ended is
    full, and so is at least every ``every``-th look (other people's jobs ending free slots too,
    which the sweep's own looks do not see). The first look is full.
    """

    def __init__(self, every: int = FULL_COUNT_EVERY) -> None:
        self.every = max(1, every)
        self._since: int | None = None  # looks since the last full one (None: none yet)
        self._ended = False

    def due(self) -> bool:
        """Whether the next look should be full."""
        return self._ended or self._since is None or self._since >= self.every - 1

    def looked(self, *, full: bool, ended_mine: bool) -> None:
        """Record a look: whether it was full, and whether it saw one of the sweep's own jobs end
        (after a look that was not full, the next one is)."""
        if full:
            self._since, self._ended = 0, False
        else:
            self._since = (self._since or 0) + 1
            self._ended = self._ended or ended_mine
