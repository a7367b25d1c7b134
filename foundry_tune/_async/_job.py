"""A fine-tuning job: status, waiting with progress, events, metrics, checkpoints, control, deploy.

The fields (status, tuned model, error, ...) are [`JobState`][JobState]'s;
this module adds what calls the service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, TextIO

from foundry_tune._async import _flavour
from foundry_tune._async._calls import safe_call
from foundry_tune._async._listings import event_fetcher, list_all_events, list_checkpoints, poll_events
from foundry_tune._core import job_state
from foundry_tune._core.checkpoints import Checkpoint
from foundry_tune._core.events import EventTail, JobEvent
from foundry_tune._core.job_state import JobState, as_dict
from foundry_tune._core.metrics import Metrics, metrics_from_csv, metrics_from_events, with_rewards_from
from foundry_tune._core.polling import Deadline, adaptive_or_fixed, job_schedule
from foundry_tune._core.progress import ProgressState, make_reporter, retries_shown
from foundry_tune._core.retry import time_bound
from foundry_tune._core.status import JobStatus
from foundry_tune._method_kind import MethodKind
from foundry_tune.errors import (
    InvalidParameterError,
    NotFoundError,
    RateLimitError,
    RetryBudgetExceededError,
    ServiceError,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    from foundry_tune._async._deployment import AsyncDeployment
    from foundry_tune._async._flavour import MaybeAwaitable
    from foundry_tune._async._foundry import AsyncFoundry

__all__ = ["AsyncJob"]


class AsyncJob(JobState):
    """A fine-tuning job on the service. Get one from ``builder.start()``, ``ft.jobs.get(id)`` or
    [`attach()`][attach]; it holds the last state seen (call [`refresh()`][refresh] for a new one)."""

    def __init__(self, ft: AsyncFoundry, raw: Any) -> None:
        self._ft = ft
        self._raw = as_dict(raw)
        self._tail: EventTail | None = None
        self.reused = False
        """True when ``start()`` returned this existing job instead of creating a new one."""

    @classmethod
    async def attach(cls, ft: AsyncFoundry, job_id: str) -> AsyncJob:
        """Re-attach to a job by id (after a restart, from another process, in a new notebook)."""
        job_id = job_state.check_job_id(job_id)
        jobs = ft.openai.fine_tuning.jobs
        raw = await safe_call(ft, lambda: jobs.retrieve(job_id), what=f"get job {job_id}")
        return cls(ft, raw)

    async def refresh(self) -> AsyncJob:
        """Fetch the current state; returns ``self``."""
        jobs = self._ft.openai.fine_tuning.jobs
        raw = await safe_call(self._ft, lambda: jobs.retrieve(self.id), what=f"get job {self.id}")
        self._raw = as_dict(raw)
        return self

    # --- watching ------------------------------------------------------------------------------

    async def wait(
        self,
        timeout: float | None = None,
        *,
        poll: float | Literal["adaptive"] = "adaptive",
        on_event: Callable[[JobEvent], MaybeAwaitable[None]] | None = None,
        progress: bool | str | None = "auto",
        stream: TextIO | None = None,
        raise_on_failure: bool = True,
    ) -> AsyncJob:
        """Wait until the job succeeds, fails or is cancelled, showing progress.

        ``poll="adaptive"`` polls every second while events arrive and backs off to 30 s while
        nothing happens (a number: a fixed interval in seconds). Only new events are fetched;
        each is passed to ``on_event`` once (a function, or a coroutine function where the job is
        awaited). ``progress``: ``"auto"`` (live line in a terminal, never wider than it;
        HTML in a notebook; log lines stamped with each event's time otherwise; the environment
        variable ``FOUNDRY_TUNE_PROGRESS`` may turn it ``off`` or force a display), ``True`` (the
        same choice, ignoring the variable), ``"terminal"``, ``"plain"``, ``"notebook"`` or
        ``False`` (nothing). A retry of a look at the service shows in the progress
        (``retrying in 2 s (429)``). Step and loss come from structured ``metrics`` events or from Azure's
        ``Step N: training loss=X`` messages; the ETA from the step rate when the total is known,
        else from the job's ``estimated_finish``.

        Stopping the wait (Ctrl-C, or cancelling the task that waits) stops watching only: the job
        keeps running, and how to re-attach is shown. Raises [`JobFailedError`][JobFailedError] (with the
        service's code, message and a hint), [`JobCancelledError`][JobCancelledError], or
        [`WaitTimeoutError`][WaitTimeoutError] after ``timeout`` seconds: that bound also cuts short a look
        at the service that hangs or trickles, and any retry inside it.
        """
        schedule = adaptive_or_fixed(poll, job_schedule)
        clock = self._ft.retry.clock
        deadline = Deadline.after(timeout, clock())
        if self._tail is None:
            self._tail = EventTail()
        tail = self._tail
        fetch = event_fetcher(self._ft, self.id)
        reporter = make_reporter(progress, stream)
        state = ProgressState(self.id)
        try:
            while True:
                try:
                    with time_bound(deadline.at, clock), retries_shown(state, reporter):
                        await self.refresh()
                        new = await poll_events(tail, fetch, job_id=self.id, clock=clock)
                except (RetryBudgetExceededError, RateLimitError) as exc:
                    # The service or the network is down for longer than one call's retry budget
                    # (a laptop asleep, an outage): the job is unaffected, so keep waiting.
                    if not deadline.passed(clock()):  # else the timeout below says it all
                        reporter.note(f"{self.id}: cannot reach the service ({exc}); still waiting")
                    new = []
                    schedule.back_off()
                state.apply(self.status, new, estimated_finish=self._raw.get("estimated_finish"))
                reporter.update(state, new)
                if on_event is not None:
                    for event in new:
                        await _flavour.call(on_event, event)
                if job_state.wait_is_over(self.status):
                    reporter.close(state)
                    break
                now = clock()
                if deadline.passed(now):
                    reporter.close(state)
                    raise WaitTimeoutError(job_state.wait_timeout_message(
                        self.id, self.status, timeout, f"await AsyncJob.attach(ft, {self.id!r})"))
                await _flavour.sleep(schedule.next(bool(new), remaining=deadline.remaining(now)))
        except _flavour.INTERRUPTS:
            reporter.note(self.reattach_hint())
            raise
        if raise_on_failure:
            self.raise_for_status()
        return self

    def reattach_hint(self) -> str:
        """How to pick this job up again after the watcher stopped (the job keeps running)."""
        attach = _flavour.awaited_chain(f"AsyncJob.attach(ft, {self.id!r})", "wait()")
        return job_state.reattach_hint(self.id, self.status, attach)

    async def events(self) -> list[JobEvent]:
        """Every event of the job so far, oldest first."""
        fetch = event_fetcher(self._ft, self.id)
        return await list_all_events(fetch, job_id=self.id, clock=self._ft.retry.clock)

    async def metrics(self, source: Literal["auto", "events", "results"] = "auto") -> Metrics:
        """Training metrics as typed rows (``.to_pandas()``, ``.plot()``).

        ``"results"`` reads the result CSV a finished job leaves; ``"events"`` reads the job's
        events while it runs: structured ``metrics`` events, or the step lines Azure sends as
        messages (``Step 10: training loss=0.53``); ``"auto"`` prefers the CSV when there is one.
        For a reinforcement job ``"auto"`` always includes the reward columns
        (`train_reward_mean`, `valid_reward_mean`, ...): when the CSV has none they are added
        from the events, by step.
        """
        if source in ("auto", "results") and self.result_files:
            try:
                results = await self._results_csv(self.result_files[0])
            except NotFoundError:
                if source == "results":
                    raise
            else:
                if source == "auto" and self._is_reinforcement() and not results.has_rewards:
                    return with_rewards_from(results, metrics_from_events(await self.events()))
                return results
        elif source == "results":
            raise InvalidParameterError(f"job {self.id} has no result file yet (status {self.status})")
        return metrics_from_events(await self.events())

    def _is_reinforcement(self) -> bool:
        method = self.method
        return method is not None and method.kind is MethodKind.REINFORCEMENT

    async def _results_csv(self, file_id: str) -> Metrics:
        files = self._ft.openai.files
        response = await safe_call(self._ft, lambda: files.content(file_id),
                                   what=f"download result file {file_id}")
        return metrics_from_csv(response.content)

    async def checkpoints(self) -> list[Checkpoint]:
        """The checkpoints the job saved, in step order (each can be deployed)."""
        return await list_checkpoints(self._ft, self.id)

    # --- control -----------------------------------------------------------------------------

    async def cancel(self) -> AsyncJob:
        """Ask the service to cancel the job (returns at once; the status becomes ``cancelling`` /
        ``cancelled``). Cancelling a job that already ended is a no-op."""
        if self.status.is_terminal:
            return self
        jobs = self._ft.openai.fine_tuning.jobs
        try:
            return await self._control("cancel", lambda: jobs.cancel(self.id), job_state.CANCEL_REACHED)
        except ServiceError:
            if self.status.is_terminal:  # it ended after this handle last read it (read again above)
                return self
            raise

    async def pause(self) -> AsyncJob:
        """Pause a running job (Azure); [`resume()`][resume] continues it. Azure answers ``pausing``
        at once and the job becomes ``paused`` a little later."""
        jobs = self._ft.openai.fine_tuning.jobs
        return await self._control("pause", lambda: jobs.pause(self.id), job_state.PAUSE_REACHED)

    async def resume(self) -> AsyncJob:
        """Resume a paused job (Azure answers ``resuming``, then the job is ``running`` again)."""
        jobs = self._ft.openai.fine_tuning.jobs
        return await self._control("resume", lambda: jobs.resume(self.id), job_state.RESUME_REACHED)

    async def _control(
        self, action: str, call: Callable[[], Awaitable[Any]], reached: frozenset[JobStatus]
    ) -> AsyncJob:
        try:
            raw = await safe_call(self._ft, call, what=f"{action} job {self.id}")
        except ServiceError as exc:
            if exc.status in (400, 409):
                await self.refresh()
                if job_state.control_already_applied(exc.status, self.status, reached):
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
        """Deploy the tuned model (or one of its checkpoints) and wait until it answers.

        Delegates to ``ft.deployments.create`` (idempotent by name) and tags the deployment with
        this job's id. ``capacity`` defaults to the deployments API's default.
        """
        model = job_state.model_to_deploy(self, checkpoint)
        if model is None:
            await self.refresh()
            model = job_state.model_to_deploy(self, checkpoint)
        if model is None:
            raise job_state.nothing_to_deploy(self)
        kwargs = job_state.deploy_kwargs(name, sku, capacity, options)
        return await self._ft.deployments.create(model, job_id=self.id, **kwargs)
