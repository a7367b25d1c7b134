"""``AsyncJob`` and ``AsyncJobsAPI``: the async twins of :class:`foundry_tune.job.Job` and
``ft.jobs``. Fields, progress display, metrics parsing, hints and errors are the sync ones."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TextIO

from foundry_tune._paging import PageGuard
from foundry_tune.aio._calls import safe_call
from foundry_tune.errors import (
    InvalidParameterError,
    NotFoundError,
    RateLimitError,
    RetryBudgetExceededError,
    ServiceError,
    WaitTimeoutError,
)
from foundry_tune.job._checkpoints import Checkpoint, checkpoints_guard, checkpoints_list_kwargs
from foundry_tune.job._events import EventTail, JobEvent
from foundry_tune.job._fingerprint import FINGERPRINT_KEY
from foundry_tune.job._job import MAX_POLL, MIN_POLL, JobState, as_dict
from foundry_tune.job._jobs_api import _SCAN_LIMIT, JobScan
from foundry_tune.job._metrics import Metrics, metrics_from_csv, metrics_from_events
from foundry_tune.job._progress import ProgressState, make_reporter
from foundry_tune.job._status import JobStatus

if TYPE_CHECKING:
    from foundry_tune.aio._deployments import AsyncDeployment
    from foundry_tune.aio._foundry import AsyncFoundry

__all__ = ["AsyncJob", "AsyncJobsAPI", "scan_jobs"]



class AsyncJob(JobState):
    """A fine-tuning job, watched from an event loop. Same fields as :class:`~foundry_tune.job.Job`;
    the methods that call the service are coroutines. Many jobs can be awaited at once:

    >>> await asyncio.gather(*(job.wait(progress=False) for job in jobs))
    """

    def __init__(self, ft: AsyncFoundry, raw: Any) -> None:
        self._ft = ft
        self._raw = as_dict(raw)
        self._tail: EventTail | None = None
        self.reused = False
        """True when ``start()`` returned this existing job instead of creating a new one."""

    @classmethod
    async def attach(cls, ft: AsyncFoundry, job_id: str) -> AsyncJob:
        """Re-attach to a job by id."""
        jobs = ft.openai.fine_tuning.jobs
        raw = await safe_call(ft, lambda: jobs.retrieve(job_id), what=f"get job {job_id}")
        return cls(ft, raw)

    async def refresh(self) -> AsyncJob:
        """Fetch the current state; returns ``self``."""
        raw = await safe_call(self._ft, lambda: self._ft.openai.fine_tuning.jobs.retrieve(self.id),
                              what=f"get job {self.id}")
        self._raw = as_dict(raw)
        return self

    # --- watching ------------------------------------------------------------------------------

    async def _events_page(self, after: str | None, limit: int) -> tuple[list[JobEvent], bool]:
        async def call() -> tuple[list[JobEvent], bool]:
            kwargs: dict[str, Any] = {"limit": limit}
            if after is not None:
                kwargs["after"] = after
            page = await self._ft.openai.fine_tuning.jobs.list_events(self.id, **kwargs)
            return [JobEvent.from_wire(e) for e in page.data], bool(page.has_more)

        return await safe_call(self._ft, call, what=f"list events of {self.id}")

    async def _poll_events(self, tail: EventTail) -> list[JobEvent]:
        new: list[JobEvent] = []
        guard = PageGuard(f"list events of {self.id}", clock=self._ft.retry.clock)
        after: str | None = None
        while True:
            events, has_more = await self._events_page(after, tail.page_size)
            cursor = tail.absorb(events, has_more, new, guard)
            if cursor is None:
                return tail.finish(new)
            after = cursor

    async def wait(
        self,
        timeout: float | None = None,
        *,
        poll: float | Literal["adaptive"] = "adaptive",
        on_event: Callable[[JobEvent], None] | None = None,
        progress: bool | str | None = "auto",
        stream: TextIO | None = None,
        raise_on_failure: bool = True,
    ) -> AsyncJob:
        """Wait until the job succeeds, fails or is cancelled, as :meth:`Job.wait
        <foundry_tune.job.Job.wait>` does (adaptive poll, new events only, progress display).

        Cancelling the awaiting task stops watching only: the job keeps running on the service.
        """
        if poll != "adaptive" and (not isinstance(poll, (int, float)) or poll <= 0):
            raise InvalidParameterError(f"poll must be 'adaptive' or a positive number of seconds: {poll!r}")
        clock = self._ft.retry.clock
        deadline = None if timeout is None else clock() + timeout
        if self._tail is None:
            self._tail = EventTail(None)
        reporter = make_reporter(progress, stream)
        state = ProgressState(self.id)
        interval = MIN_POLL if poll == "adaptive" else float(poll)
        while True:
            try:
                await self.refresh()
                new = await self._poll_events(self._tail)
            except (RetryBudgetExceededError, RateLimitError) as exc:
                # Down for longer than one call's retry budget (an outage): the job is unaffected.
                reporter.note(f"{self.id}: cannot reach the service ({exc}); still waiting")
                new = []
                if poll == "adaptive":
                    interval = MAX_POLL
            state.apply(self.status, new, estimated_finish=self._raw.get("estimated_finish"))
            reporter.update(state, new)
            if on_event is not None:
                for event in new:
                    on_event(event)
            if self.status.is_terminal:
                reporter.close(state)
                break
            now = clock()
            if deadline is not None and now >= deadline:
                reporter.close(state)
                raise WaitTimeoutError(
                    f"fine-tuning job {self.id} is still {self.status} after {timeout:g} s; it keeps "
                    f"running: wait again, or re-attach later with await AsyncJob.attach(ft, {self.id!r})"
                )
            if poll == "adaptive":
                interval = MIN_POLL if new else min(MAX_POLL, interval * 1.5)
            await asyncio.sleep(interval if deadline is None else max(0.0, min(interval, deadline - now)))
        if raise_on_failure:
            self.raise_for_status()
        return self

    async def events(self) -> list[JobEvent]:
        """Every event of the job so far, oldest first."""
        return await self._poll_events(EventTail(None, page_size=100, remember=10**9))

    async def metrics(self, source: Literal["auto", "events", "results"] = "auto") -> Metrics:
        """Training metrics as typed rows (from the result CSV when there is one, else the events:
        structured ``metrics`` events or Azure's ``Step N: training loss=X`` messages)."""
        if source in ("auto", "results") and self.result_files:
            file_id = self.result_files[0]
            try:
                response = await safe_call(self._ft, lambda: self._ft.openai.files.content(file_id),
                                           what=f"download result file {file_id}")
                return metrics_from_csv(response.content)
            except NotFoundError:
                if source == "results":
                    raise
        elif source == "results":
            raise InvalidParameterError(f"job {self.id} has no result file yet (status {self.status})")
        return metrics_from_events(await self.events())

    async def checkpoints(self) -> list[Checkpoint]:
        """The checkpoints the job saved, in step order (each can be deployed)."""

        async def fetch() -> list[Checkpoint]:
            guard = checkpoints_guard(self.id, self._ft.retry.clock)
            found: list[Checkpoint] = []
            after: str | None = None
            while True:
                page = await self._ft.openai.fine_tuning.jobs.checkpoints.list(
                    self.id, **checkpoints_list_kwargs(after))
                fresh, after = guard.take(page.data, page.has_more)
                found.extend(Checkpoint.from_wire(c) for c in fresh)
                if after is None:
                    return found

        found = await safe_call(self._ft, fetch, what=f"list checkpoints of {self.id}")
        return sorted(found, key=lambda c: c.step)

    # --- control -----------------------------------------------------------------------------

    async def cancel(self) -> AsyncJob:
        """Ask the service to cancel the job (a job that already ended is left as it is)."""
        if self.status.is_terminal:
            return self
        jobs = self._ft.openai.fine_tuning.jobs
        return await self._control("cancel", lambda: jobs.cancel(self.id),
                                   {JobStatus.CANCELLING, JobStatus.CANCELLED})

    async def pause(self) -> AsyncJob:
        """Pause a running job (Azure); :meth:`resume` continues it. Azure answers ``pausing``
        at once and the job becomes ``paused`` a little later."""
        jobs = self._ft.openai.fine_tuning.jobs
        return await self._control("pause", lambda: jobs.pause(self.id),
                                   {JobStatus.PAUSING, JobStatus.PAUSED})

    async def resume(self) -> AsyncJob:
        """Resume a paused job (Azure answers ``resuming``, then the job is ``running`` again)."""
        jobs = self._ft.openai.fine_tuning.jobs
        return await self._control("resume", lambda: jobs.resume(self.id),
                                   {JobStatus.RESUMING, JobStatus.RUNNING, JobStatus.QUEUED,
                                    JobStatus.PENDING})

    async def _control(self, action: str, call: Callable[[], Any], reached: set[JobStatus]) -> AsyncJob:
        try:
            raw = await safe_call(self._ft, call, what=f"{action} job {self.id}")
        except ServiceError as exc:
            if exc.status in (400, 409):  # a retried call can find its first attempt applied
                await self.refresh()
                if self.status in reached:
                    return self
            raise
        self._raw = as_dict(raw)
        return self

    # --- deploy ------------------------------------------------------------------------------

    async def deploy(
        self,
        name: str | None = None,
        *,
        sku: str = "GlobalStandard",
        capacity: int | None = None,
        checkpoint: Checkpoint | str | None = None,
        **options: Any,
    ) -> AsyncDeployment:
        """Deploy the tuned model (or a checkpoint) and wait until it answers."""
        if checkpoint is not None:
            model = checkpoint.model if isinstance(checkpoint, Checkpoint) else str(checkpoint)
        else:
            if self.fine_tuned_model is None:
                await self.refresh()
            if self.fine_tuned_model is None:
                raise InvalidParameterError(
                    f"job {self.id} has no fine-tuned model to deploy (status {self.status}); "
                    "wait() for it to succeed, or deploy a checkpoint"
                )
            model = self.fine_tuned_model
        kwargs: dict[str, Any] = {"name": name, "sku": sku, **options}
        if capacity is not None:
            kwargs["capacity"] = capacity
        return await self._ft.deployments.create(model, job_id=self.id, **kwargs)


async def scan_jobs(
    ft: AsyncFoundry,
    metadata: Mapping[str, str],
    *,
    keep: Callable[[dict[str, Any]], bool] | None = None,
    want: int | None = None,
    limit: int = _SCAN_LIMIT,
    guard: PageGuard | None = None,
) -> list[dict[str, Any]]:
    """Jobs whose metadata contains every pair in ``metadata``, newest first, without retries,
    one page at a time under ``guard`` (see :func:`foundry_tune.job._jobs_api.scan_jobs`)."""
    scan = JobScan(metadata, keep=keep, want=want, limit=limit)
    guard = guard or scan.guard(ft.retry.clock)
    after: str | None = None
    while True:
        after = scan.offer_page(await ft.openai.fine_tuning.jobs.list(**scan.list_kwargs(after)), guard)
        if after is None:
            return scan.found()


class AsyncJobsAPI:
    """Fine-tuning jobs of the connected project (``ft.jobs`` on an :class:`AsyncFoundry`)."""

    def __init__(self, ft: AsyncFoundry) -> None:
        self._ft = ft

    async def get(self, job_id: str) -> AsyncJob:
        """The job with this id (raises :class:`~foundry_tune.errors.NotFoundError` if there is none)."""
        return await AsyncJob.attach(self._ft, job_id)

    async def attach(self, job_id: str) -> AsyncJob:
        """Same as :meth:`get`."""
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
        """Jobs newest first, optionally filtered by status, fingerprint, suffix or metadata."""
        wanted_meta = dict(metadata or {})
        if fingerprint is not None:
            wanted_meta[FINGERPRINT_KEY] = fingerprint
        statuses: set[JobStatus] | None = None
        if status is not None:
            items = [status] if isinstance(status, (str, JobStatus)) else builtins.list(status)
            statuses = {JobStatus(str(s.value if isinstance(s, JobStatus) else s)) for s in items}

        def keep(raw: dict[str, Any]) -> bool:
            job = AsyncJob(self._ft, raw)
            if statuses is not None and job.status not in statuses:
                return False
            return suffix is None or job.suffix == suffix

        async def fetch() -> builtins.list[AsyncJob]:
            found = await scan_jobs(self._ft, wanted_meta, keep=keep, want=limit)
            return [AsyncJob(self._ft, raw) for raw in found]

        return await safe_call(self._ft, fetch, what="list fine-tuning jobs")

    async def find(self, fingerprint: str) -> builtins.list[AsyncJob]:
        """Jobs started by foundry-tune with this fingerprint, newest first."""
        return await self.list(fingerprint=fingerprint, limit=_SCAN_LIMIT)
