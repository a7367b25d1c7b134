"""``ft.jobs``: list, get, attach and find jobs (by fingerprint, suffix or metadata)."""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from foundry_tune._paging import PageGuard
from foundry_tune.job._calls import Connection, safe_call
from foundry_tune.job._fingerprint import FINGERPRINT_KEY
from foundry_tune.job._job import Job
from foundry_tune.job._status import JobStatus

__all__ = ["JobScan", "JobsAPI", "created_by_request", "scan_jobs"]

_SCAN_LIMIT = 1000


def scan_jobs(
    conn: Connection,
    metadata: Mapping[str, str],
    *,
    keep: Callable[[dict[str, Any]], bool] | None = None,
    want: int | None = None,
    limit: int = _SCAN_LIMIT,
    guard: PageGuard | None = None,
) -> list[dict[str, Any]]:
    """Jobs whose metadata contains every pair in ``metadata`` (and that ``keep`` accepts), newest
    first, without retries. Stops after ``want`` matches or ``limit`` jobs scanned.

    The service's ``metadata[k]=v`` filter narrows the listing; the match is checked again here
    because not every service honours the filter. Pages are read one at a time under ``guard``
    (default :meth:`JobScan.guard`): a cursor that does not advance, the page cap or the time bound
    ends the scan with what was found.
    """
    scan = JobScan(metadata, keep=keep, want=want, limit=limit)
    guard = guard or scan.guard()
    after: str | None = None
    while True:
        after = scan.offer_page(conn.openai.fine_tuning.jobs.list(**scan.list_kwargs(after)), guard)
        if after is None:
            return scan.found()


class JobScan:
    """The listing arguments and the matching of :func:`scan_jobs`, shared by the sync and the
    async API: feed each listed job to :meth:`offer` until it returns True."""

    def __init__(self, metadata: Mapping[str, str], *, keep: Callable[[dict[str, Any]], bool] | None = None,
                 want: int | None = None, limit: int = _SCAN_LIMIT) -> None:
        self.metadata = dict(metadata)
        self.keep = keep
        self.want = want
        self.limit = limit
        self.scanned = 0
        self._found: list[dict[str, Any]] = []

    def guard(self, clock: Callable[[], float] = time.monotonic) -> PageGuard:
        """The bounds of the scan. A page without ``has_more`` does not end it (every recorded
        jobs list carries the key; a service that omits it is paged on until a page comes back
        empty or repeated)."""
        return PageGuard("list fine-tuning jobs", missing_has_more="more", clock=clock)

    def list_kwargs(self, after: str | None = None) -> dict[str, Any]:
        """Arguments for one ``fine_tuning.jobs.list`` page (``after``: the previous page's cursor)."""
        # A ``keep`` predicate may reject many jobs: small pages would cost one request per job, and
        # under faults a long scan rarely completes.
        want = self.want
        page_size = 100 if want is None or self.keep is not None else max(1, min(100, want))
        kwargs: dict[str, Any] = {"limit": page_size}
        if self.metadata:
            kwargs["metadata"] = dict(self.metadata)
        if after is not None:
            kwargs["after"] = after
        return kwargs

    def offer_page(self, page: Any, guard: PageGuard) -> str | None:
        """Consider one listed page (``data``, ``has_more``); the cursor of the next page to read,
        or None when the scan is complete (enough found, ``limit`` reached, or ``guard`` ended it)."""
        fresh, after = guard.take(page.data, page.has_more)
        if any(self.offer(job) for job in fresh):
            return None
        return after

    def offer(self, job: Any) -> bool:
        """Consider one listed job; True when the scan is complete."""
        self.scanned += 1
        raw = job.model_dump(warnings=False)
        meta = raw.get("metadata") or {}
        if all(meta.get(k) == v for k, v in self.metadata.items()) and (self.keep is None or self.keep(raw)):
            self._found.append(raw)
            if self.want is not None and len(self._found) >= self.want:
                return True
        return self.scanned >= self.limit

    def found(self) -> list[dict[str, Any]]:
        """The matches, newest first."""
        return sorted(self._found, key=lambda r: r.get("created_at") or 0, reverse=True)


def created_by_request(kwargs: Mapping[str, Any], since: float) -> Callable[[dict[str, Any]], bool]:
    """A ``keep`` predicate for :func:`scan_jobs` that recognises the job a create request made
    on a service that does not store job metadata: same files, suffix and model, created after
    ``since`` (Unix time, minus a margin for clock skew). Jobs that carry foundry-tune's
    fingerprint never match: where metadata is kept, the fingerprint lookup is the exact one."""

    def keep(raw: dict[str, Any]) -> bool:
        if FINGERPRINT_KEY in (raw.get("metadata") or {}):
            return False
        suffix = raw.get("suffix") or raw.get("user_provided_suffix")
        return (
            raw.get("training_file") == kwargs.get("training_file")
            and raw.get("validation_file") == kwargs.get("validation_file")
            and suffix == kwargs.get("suffix")
            and str(raw.get("model") or "").startswith(str(kwargs.get("model")))
            and (raw.get("created_at") or 0) >= since - 300
        )

    return keep


class JobsAPI:
    """Fine-tuning jobs of the connected project (``ft.jobs``)."""

    def __init__(self, ft: Connection) -> None:
        self._ft = ft

    def get(self, job_id: str) -> Job:
        """The job with this id (raises :class:`~foundry_tune.errors.NotFoundError` if there is none)."""
        return Job.attach(self._ft, job_id)

    def attach(self, job_id: str) -> Job:
        """Same as :meth:`get`: pick up a job started elsewhere."""
        return Job.attach(self._ft, job_id)

    def list(
        self,
        *,
        limit: int = 20,
        status: JobStatus | str | Iterable[JobStatus | str] | None = None,
        fingerprint: str | None = None,
        suffix: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> list[Job]:
        """Jobs newest first, optionally filtered by status, fingerprint, suffix or metadata."""
        wanted_meta = dict(metadata or {})
        if fingerprint is not None:
            wanted_meta[FINGERPRINT_KEY] = fingerprint
        statuses: set[JobStatus] | None = None
        if status is not None:
            items = [status] if isinstance(status, (str, JobStatus)) else list(status)
            statuses = {JobStatus(str(s.value if isinstance(s, JobStatus) else s)) for s in items}

        def keep(raw: dict[str, Any]) -> bool:
            job = Job(self._ft, raw)
            if statuses is not None and job.status not in statuses:
                return False
            return suffix is None or job.suffix == suffix

        def fetch() -> list[Job]:
            return [Job(self._ft, raw) for raw in scan_jobs(self._ft, wanted_meta, keep=keep, want=limit)]

        return safe_call(self._ft, fetch, what="list fine-tuning jobs")

    def find(self, fingerprint: str) -> builtins.list[Job]:
        """Jobs started by foundry-tune with this fingerprint, newest first."""
        return self.list(fingerprint=fingerprint, limit=_SCAN_LIMIT)
