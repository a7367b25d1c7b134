"""``ft.jobs``: list, get, attach and find jobs (by fingerprint, suffix or metadata), and the job
scan the builder uses to find a job it started before."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TextIO

from foundry_tune._async._calls import safe_call
from foundry_tune._async._job import AsyncJob
from foundry_tune._async._watch_many import wait_all
from foundry_tune._core.paging import PageGuard
from foundry_tune._core.scan import SCAN_LIMIT, JobScan, Keep, job_filter, wanted_metadata
from foundry_tune._core.status import JobStatus
from foundry_tune.errors import InvalidParameterError

if TYPE_CHECKING:
    from foundry_tune._async._flavour import MaybeAwaitable
    from foundry_tune._async._foundry import AsyncFoundry

__all__ = ["AsyncJobsAPI", "scan_jobs"]


async def scan_jobs(
    ft: AsyncFoundry,
    metadata: Mapping[str, str],
    *,
    keep: Keep | None = None,
    want: int | None = None,
    limit: int = SCAN_LIMIT,
    guard: PageGuard | None = None,
) -> list[dict[str, Any]]:
    """Jobs whose metadata contains every pair in ``metadata`` (and that ``keep`` accepts), newest
    first, without retries. Stops after ``want`` matches or ``limit`` jobs scanned.

    The service's ``metadata[k]=v`` filter narrows the listing; the match is checked again here
    because not every service honours the filter. Pages are read one at a time under ``guard``
    (default `JobScan.guard <foundry_tune._core.scan.JobScan.guard>()`): a cursor that does
    not advance, the page cap or the time bound ends the scan with what was found.
    """
    scan = JobScan(metadata, keep=keep, want=want, limit=limit)
    guard = guard or scan.guard(ft.retry.clock)
    jobs = ft.openai.fine_tuning.jobs
    after: str | None = None
    while True:
        after = scan.offer_page(await jobs.list(**scan.list_kwargs(after)), guard)
        if after is None:
            return scan.found()


class AsyncJobsAPI:
    """Fine-tuning jobs of the connected project (``ft.jobs``)."""

    def __init__(self, ft: AsyncFoundry) -> None:
        self._ft = ft

    async def get(self, job_id: str) -> AsyncJob:
        """The job with this id (raises [`NotFoundError`][NotFoundError] if there is none)."""
        return await AsyncJob.attach(self._ft, job_id)

    async def attach(self, job_id: str) -> AsyncJob:
        """Same as [`get()`][get]: pick up a job started elsewhere."""
        return await AsyncJob.attach(self._ft, job_id)

    async def list(
        self,
        *,
        limit: int = 20,
        status: JobStatus | str | Iterable[JobStatus | str] | None = None,
        fingerprint: str | None = None,
        suffix: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> builtins.list[AsyncJob]:
        """Jobs newest first (at most ``limit``, 1 to 1,000), optionally filtered by status,
        fingerprint, suffix or metadata."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= SCAN_LIMIT:
            huge = isinstance(limit, int) and limit.bit_length() > 64
            shown = "a huge integer" if huge else repr(limit)
            raise InvalidParameterError(f"limit must be a whole number from 1 to {SCAN_LIMIT:,}, got {shown}")
        wanted = wanted_metadata(metadata, fingerprint)
        keep = job_filter(status, suffix)

        async def fetch() -> builtins.list[AsyncJob]:
            found = await scan_jobs(self._ft, wanted, keep=keep, want=limit)
            return [AsyncJob(self._ft, raw) for raw in found]

        return await safe_call(self._ft, fetch, what="list fine-tuning jobs")

    async def find(self, fingerprint: str) -> builtins.list[AsyncJob]:
        """Jobs started by foundry-tune with this fingerprint, newest first."""
        return await self.list(fingerprint=fingerprint, limit=SCAN_LIMIT)

    async def wait_all(
        self,
        jobs: Iterable[AsyncJob | str],
        timeout: float | None = None,
        *,
        poll: float | Literal["adaptive"] = "adaptive",
        progress: bool | str | Callable[[builtins.list[AsyncJob]], MaybeAwaitable[None]] | None = "auto",
        stream: TextIO | None = None,
        raise_on_failure: bool = False,
    ) -> builtins.list[AsyncJob]:
        """Wait until every one of several jobs succeeded, failed or was cancelled.

        Each look costs one listing of the project's jobs (newest first, read only as deep as the
        oldest watched job), not one request per job; a job the listing does not show (very old,
        or a service whose listing misbehaves) is retrieved on its own. Ids are resolved by that
        first listing too: an id that is no job raises [`NotFoundError`][NotFoundError].

        A job that disappears while watched (the service answers 404 for it after the first look:
        deleted, or no longer visible to this credential) is not looked at again and is shown as
        ``gone`` in the progress lines; the others are watched until they end, then
        [`JobNotFoundError`][JobNotFoundError] (a [`NotFoundError`][NotFoundError]) names the
        jobs that disappeared, with ``raise_on_failure`` or not. Its ``jobs`` holds every job in
        the order given: the others in their final state, the disappeared ones in their last known
        state.

        ```pycon
        >>> jobs = ft.jobs.wait_all(["ftjob-abc", "ftjob-def"], timeout=3600)
        >>> [job.status.value for job in jobs]
        ['succeeded', 'failed']
        ```

        :param jobs: a list of jobs (from ``start()`` or ``ft.jobs.get()``, updated in place) or
            job ids (anything else raises [`InvalidParameterError`][InvalidParameterError]); the
            same job given twice is watched, and shown in the progress lines, once, and comes back
            at each place it was given (an empty list returns at once).
        :param timeout: seconds to wait at most (None: no limit); then
            [`WaitTimeoutError`][WaitTimeoutError] names the jobs still live, which keep running.
        :param poll: ``"adaptive"`` looks every second while a status changes, backing off to
            15 s while nothing does; a number is a fixed interval in seconds. The service's pacing
            (``Retry-After``, few remaining requests) holds a look back further.
        :param progress: ``"auto"`` (the default: ``FOUNDRY_TUNE_PROGRESS`` may turn it off), any
            display value of [`Job.wait()`][Job.wait] but ``False``/``"off"`` prints one line per
            status change per job (``[2/3] ftjob-def: running``) on ``stream`` (default stderr);
            ``False`` or ``"off"`` prints nothing; a callable is called with the jobs after every
            look (a function, or a coroutine function where the jobs are awaited).
        :param raise_on_failure: ``True`` or ``False``: once every job ended, raise the first failure
            in the given order ([`JobFailedError`][JobFailedError],
            [`JobCancelledError`][JobCancelledError]) instead of returning; by default failed jobs
            are returned like the others.
        :returns: the jobs, in the order given, duplicates included (ids as new job objects; one
            object per job), each in its final state.

        Interrupting stops watching only: the jobs keep running. A reinforcement job's spend cap
        (``max_cost``) is watched by that job's own [`wait()`][Job.wait], not here.
        """
        return await wait_all(self._ft, jobs, timeout, poll=poll, progress=progress, stream=stream,
                              raise_on_failure=raise_on_failure)
