"""Job scans without I/O: the listing arguments, which listed jobs match, when a scan is complete.

The network layer (``scan_jobs`` in ``foundry_tune._async._jobs``) reads the pages and feeds them to
a :class:`JobScan`; ``ft.jobs.list`` filters with :func:`job_filter`, and a create whose answer was
lost finds its job with :func:`created_by_request` where the service keeps no metadata.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from foundry_tune._core.fingerprint import FINGERPRINT_KEY
from foundry_tune._core.paging import PageGuard
from foundry_tune._core.status import JobStatus

__all__ = [
    "SCAN_LIMIT",
    "JobScan",
    "Keep",
    "created_by_request",
    "job_filter",
    "wanted_metadata",
]

SCAN_LIMIT = 1000
"""How many jobs a scan reads at most."""

Keep = Callable[[dict[str, Any]], bool]
"""A predicate over a listed job (as a dict)."""


class JobScan:
    """The listing arguments and the matching of a job scan: feed each listed page to
    :meth:`offer_page` until it returns None, then read :meth:`found`."""

    def __init__(self, metadata: Mapping[str, str], *, keep: Keep | None = None,
                 want: int | None = None, limit: int = SCAN_LIMIT) -> None:
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
        """Consider one listed job (an SDK object or a dict); True when the scan is complete."""
        self.scanned += 1
        raw = dict(job) if isinstance(job, dict) else job.model_dump(warnings=False)
        meta = raw.get("metadata") or {}
        if all(meta.get(k) == v for k, v in self.metadata.items()) and (self.keep is None or self.keep(raw)):
            self._found.append(raw)
            if self.want is not None and len(self._found) >= self.want:
                return True
        return self.scanned >= self.limit

    def found(self) -> list[dict[str, Any]]:
        """The matches, newest first."""
        return sorted(self._found, key=lambda r: r.get("created_at") or 0, reverse=True)


def created_by_request(kwargs: Mapping[str, Any], since: float) -> Keep:
    """A ``keep`` predicate that recognises the job a create request made on a service that does
    not store job metadata: same files, suffix and model, created after ``since`` (Unix time,
    minus a margin for clock skew). Jobs that carry foundry-tune's fingerprint never match: where
    metadata is kept, the fingerprint lookup is the exact one."""

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


def wanted_metadata(metadata: Mapping[str, str] | None, fingerprint: str | None) -> dict[str, str]:
    """The metadata pairs a listing asks for: ``metadata`` plus the fingerprint key, if given."""
    wanted = dict(metadata or {})
    if fingerprint is not None:
        wanted[FINGERPRINT_KEY] = fingerprint
    return wanted


def job_filter(
    status: JobStatus | str | Iterable[JobStatus | str] | None = None,
    suffix: str | None = None,
) -> Keep:
    """The ``keep`` predicate of ``ft.jobs.list``: one of the statuses (any spelling, unknown
    statuses kept as they are) and the suffix (Azure's ``suffix`` or OpenAI's
    ``user_provided_suffix``), each only when given."""
    statuses: set[JobStatus] | None = None
    if status is not None:
        items = [status] if isinstance(status, (str, JobStatus)) else list(status)
        statuses = {JobStatus(str(s.value if isinstance(s, JobStatus) else s)) for s in items}

    def keep(raw: dict[str, Any]) -> bool:
        if statuses is not None and JobStatus(str(raw.get("status") or "unknown")) not in statuses:
            return False
        if suffix is None:
            return True
        value = raw.get("suffix") or raw.get("user_provided_suffix")
        return (str(value) if value else None) == suffix

    return keep
