"""``ft.jobs``: list, get, attach and find jobs (by fingerprint, suffix or metadata), and the job
scan the builder uses to find a job it started before."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from foundry_tune._async._calls import safe_call
from foundry_tune._async._job import AsyncJob
from foundry_tune._core.paging import PageGuard
from foundry_tune._core.scan import SCAN_LIMIT, JobScan, Keep, job_filter, wanted_metadata
from foundry_tune._core.status import JobStatus
from foundry_tune.errors import InvalidParameterError

if TYPE_CHECKING:
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
