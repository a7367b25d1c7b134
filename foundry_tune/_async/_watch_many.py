"""Watching many jobs at the cost of one listing per look (``ft.jobs.wait_all()`` and the sweep).

A look reads the jobs listing (newest first) only as deep as the oldest watched job needs and
retrieves one by one only the watched jobs the listing did not show (very old ones, or a listing
that misbehaves), so the answer never depends on the listing. The decisions (page sizes, when to
stop paging, what to retrieve) are [`foundry_tune._core.watch_many`][_core.watch_many]'s.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TextIO

from foundry_tune._async import _flavour
from foundry_tune._async._calls import safe_call
from foundry_tune._async._job import AsyncJob
from foundry_tune._core import job_state
from foundry_tune._core.job_state import as_dict
from foundry_tune._core.polling import Deadline, adaptive_or_fixed, sweep_schedule
from foundry_tune._core.progress import progress_mode
from foundry_tune._core.retry import time_bound
from foundry_tune._core.watch_many import (
    GONE,
    GONE_WHY,
    ListingDepth,
    ListingLook,
    StatusLines,
    Watched,
    newest_first,
    wanted_from_raw,
    watch_timeout_message,
)
from foundry_tune.errors import (
    InvalidParameterError,
    JobNotFoundError,
    NotFoundError,
    RateLimitError,
    RetryBudgetExceededError,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    from foundry_tune._async._flavour import MaybeAwaitable
    from foundry_tune._async._foundry import AsyncFoundry

__all__ = ["look", "refresh_jobs", "wait_all"]


async def look(ft: AsyncFoundry, wanted: Sequence[Watched], depth: ListingDepth, *,
               full: bool = False, gone_ok: bool = False) -> ListingLook:
    """One look at the ``wanted`` jobs: the listing, paged as deep as they need (to its end, up to
    1,000 jobs, when ``full``), then a retrieve for each one it did not show, newest first. The
    answer's ``found`` holds every wanted job's body; call its ``finish()`` to remember the depth.
    A retrieve answered 404 raises [`NotFoundError`][NotFoundError], or with ``gone_ok`` puts the
    id in the answer's ``gone`` (a job seen before that the service no longer knows)."""
    jobs = ft.openai.fine_tuning.jobs

    async def scan() -> ListingLook:
        current = ListingLook(wanted, depth, full=full)
        if not current.needed:
            return current
        guard = current.guard(ft.retry.clock)
        after: str | None = None
        while True:
            page = await jobs.list(**current.list_kwargs(after))
            after = current.offer_page(page.data, page.has_more, guard)
            if after is None:
                return current

    result = await safe_call(ft, scan, what="list fine-tuning jobs")
    for job_id in newest_first(result.missing(), result.wanted):
        try:
            raw = await safe_call(ft, _retrieve(jobs, job_id), what=f"get job {job_id}")
        except NotFoundError:
            if not gone_ok:
                raise
            result.gone.append(job_id)
            continue
        result.found[job_id] = as_dict(raw)
    return result


def _retrieve(jobs: Any, job_id: str) -> Callable[[], Any]:
    return lambda: jobs.retrieve(job_id)


async def refresh_jobs(ft: AsyncFoundry, jobs: Iterable[AsyncJob], depth: ListingDepth, *,
                       full: bool = False) -> ListingLook:
    """Bring the live ones among ``jobs`` (jobs seen before) up to date with one [`look()`][look];
    a job that ended is not asked for again. A job the service answers 404 for is gone: it keeps
    its last known state and its id is in the answer's ``gone``."""
    live: dict[str, AsyncJob] = {}
    for job in jobs:
        if not job.status.is_terminal:
            live.setdefault(job.id, job)
    result = await look(ft, [wanted_from_raw(job.raw) for job in live.values()], depth, full=full,
                        gone_ok=True)
    for job_id, job in live.items():
        raw = result.found.get(job_id)
        if raw is not None:
            job._raw = raw
    result.finish(ended=[*(i for i, job in live.items() if job.status.is_terminal), *result.gone])
    return result


def _check_items(jobs_or_ids: Iterable[AsyncJob | str]) -> list[AsyncJob | str]:
    if isinstance(jobs_or_ids, (str, AsyncJob)):
        raise InvalidParameterError("wait_all() takes a list of jobs or job ids, got a single one: "
                                    "wrap it in a list, or call wait() on the job")
    if isinstance(jobs_or_ids, (bytes, dict)) or not isinstance(jobs_or_ids, Iterable):
        raise InvalidParameterError("wait_all(jobs=...) must be a list of jobs or job ids, got "
                                    f"{type(jobs_or_ids).__name__}")
    items: list[AsyncJob | str] = []
    for item in jobs_or_ids:
        items.append(item if isinstance(item, AsyncJob) else job_state.check_job_id(item))
    return items


def _display(progress: bool | str | Callable[[list[AsyncJob]], MaybeAwaitable[None]] | None,
             stream: TextIO | None, gone: set[str]) -> Callable[[list[AsyncJob]], MaybeAwaitable[None]]:
    if callable(progress):
        return progress
    if progress_mode(progress) == "off":
        return lambda _: None
    lines = StatusLines()

    def show(jobs: list[AsyncJob]) -> None:
        out = stream if stream is not None else sys.stderr
        shown = [(job.id, GONE if job.id in gone else str(job.status), job.error[0]) for job in jobs]
        for line in lines.changes(shown):
            out.write(line + "\n")
        out.flush()

    return show


def _share(found: dict[str, dict[str, Any]], jobs: Iterable[AsyncJob]) -> None:
    """Give every job object the state a look found for its id (two objects given for one job
    both end up current)."""
    for job in jobs:
        raw = found.get(job.id)
        if raw is not None:
            job._raw = raw


async def wait_all(
    ft: AsyncFoundry,
    jobs_or_ids: Iterable[AsyncJob | str],
    timeout: float | None = None,
    *,
    poll: float | Literal["adaptive"] = "adaptive",
    progress: bool | str | Callable[[list[AsyncJob]], MaybeAwaitable[None]] | None = "auto",
    stream: TextIO | None = None,
    raise_on_failure: bool = False,
) -> list[AsyncJob]:
    """The loop behind ``ft.jobs.wait_all()`` (see its docstring)."""
    items = _check_items(jobs_or_ids)
    if not isinstance(raise_on_failure, bool):
        raise InvalidParameterError(f"raise_on_failure must be True or False, got {raise_on_failure!r}")
    schedule = adaptive_or_fixed(poll, sweep_schedule)
    gone: set[str] = set()  # jobs the service stopped knowing after the first look
    show = _display(progress, stream, gone)
    clock = ft.retry.clock
    deadline = Deadline.after(timeout, clock())
    depth = ListingDepth()
    # The first look also resolves the ids (a listing instead of one retrieve each); an id that is
    # no job raises NotFoundError from its retrieve, as ft.jobs.get() does.
    given: dict[str, AsyncJob] = {}
    for item in items:
        if isinstance(item, AsyncJob):
            given.setdefault(item.id, item)  # the first object given for an id stands for it
    ids = list(dict.fromkeys(item for item in items if isinstance(item, str) and item not in given))
    watched = [*(Watched(i) for i in ids),
               *(wanted_from_raw(job.raw) for job in given.values() if not job.status.is_terminal)]
    with time_bound(deadline.at, clock):
        first = await look(ft, watched, depth)
    chosen = given | {i: AsyncJob(ft, first.found[i]) for i in ids}
    jobs = [chosen[item] if isinstance(item, str) else item for item in items]
    unique = list(chosen.values())
    _share(first.found, jobs)
    first.finish(ended=[job.id for job in unique if job.status.is_terminal])
    changed = True
    try:
        while True:
            await _flavour.call(show, jobs)
            if all(job.id in gone or job_state.wait_is_over(job.status) for job in unique):
                break
            now = clock()
            if deadline.passed(now):
                raise WaitTimeoutError(watch_timeout_message(
                    [(job.id, GONE if job.id in gone else str(job.status)) for job in jobs], timeout))
            interval = schedule.next(changed, remaining=deadline.remaining(now))
            await _flavour.sleep(ft.pacing.sleep_for(interval, now, deadline.remaining(now)))
            before = [job.status for job in unique]
            vanished = len(gone)
            try:
                with time_bound(deadline.at, clock):
                    seen = await refresh_jobs(ft, [job for job in unique if job.id not in gone], depth)
                _share(seen.found, jobs)
                gone.update(seen.gone)
            except (RetryBudgetExceededError, RateLimitError):
                # the service or the network is down for longer than one call's retry budget: the
                # jobs are unaffected, so keep waiting (the timeout, if any, says when to stop)
                schedule.back_off()
            changed = before != [job.status for job in unique] or len(gone) != vanished
    except _flavour.INTERRUPTS:
        out = stream if stream is not None else sys.stderr
        out.write(f"\nStopped watching {len(unique)} job(s); they keep running: "
                  "call wait_all() again with the same ids.\n")
        raise
    if gone:
        lost = [job.id for job in unique if job.id in gone]
        ended = ", ".join(f"{job.id} {job.status}" for job in unique if job.id not in gone) or "none"
        raise JobNotFoundError(
            f"fine-tuning job(s) {', '.join(lost)} gone while watched ({GONE_WHY}); "
            f"the others ended: {ended}", job_ids=lost, jobs=jobs, status=404)
    if raise_on_failure:
        for job in jobs:
            job.raise_for_status()
    return jobs

