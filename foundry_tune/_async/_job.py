"""A fine-tuning job: status, waiting with progress, events, metrics, checkpoints, control, deploy.

The fields (status, tuned model, error, ...) are [`JobState`][JobState]'s;
this module adds what calls the service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TextIO

from foundry_tune._async import _flavour
from foundry_tune._async._calls import safe_call
from foundry_tune._async._listings import event_fetcher, list_all_events, list_checkpoints, poll_events
from foundry_tune._async._spend import SpendWatch, recorded_max_cost
from foundry_tune._async._tournament import CLEANUP_TIMEOUT, compare_checkpoints
from foundry_tune._async._webhooks import wait_via_webhook
from foundry_tune._core import job_state
from foundry_tune._core.checkpoints import Checkpoint, CheckpointComparison, Checkpoints, best_checkpoint
from foundry_tune._core.deployment_body import DEVELOPER_SKU
from foundry_tune._core.deployment_state import CREATE_TIMEOUT
from foundry_tune._core.events import EventTail, JobEvent
from foundry_tune._core.job_state import JobState, as_dict
from foundry_tune._core.metrics import Metrics, metrics_from_csv, metrics_from_events, with_rewards_from
from foundry_tune._core.polling import SPEND_POLL_CAP, Deadline, adaptive_or_fixed, job_schedule
from foundry_tune._core.progress import ProgressState, make_reporter, retries_shown
from foundry_tune._core.retry import time_bound
from foundry_tune._core.status import JobStatus
from foundry_tune._core.webhooks import SAFETY_POLL_SECONDS, WebhookSource, check_webhook_wait
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
    from foundry_tune._async._webhooks import AsyncWebhookReceiver  # noqa: F401 (the docstring's link)
    from foundry_tune.evaluation import ProgressUpdate

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
        self.max_cost: float | None = recorded_max_cost(getattr(ft, "endpoint", None), self._raw)
        """A spend cap in USD that [`wait()`][wait] enforces on a reinforcement job (``None``: none):
        the one ``start(max_cost=...)`` recorded in the job's metadata or, where the service does not
        keep metadata, in this machine's state folder (``FOUNDRY_TUNE_STATE_DIR``)."""

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
        max_cost: float | None = None,
        via: Literal["poll", "webhook"] = "poll",
        receiver: WebhookSource | None = None,
        safety_poll: float = SAFETY_POLL_SECONDS,
    ) -> AsyncJob:
        """Wait until the job succeeds, fails or is cancelled, showing progress.

        ``poll="adaptive"`` looks again after 0.6 times the job's age (the time since it was
        created), at least every second and at most every 60 s, longer while nothing changes, and
        once right after the job's ``estimated_finish``: a job a few seconds old is looked at every
        second, one of an hour every minute, so the end of the job is noticed within one interval
        and a long job costs about two looks a minute (a number: a fixed interval in seconds). The
        service's pacing holds a look back further: ``Retry-After`` and, when few requests remain,
        the rate limit's reset (``x-ratelimit-remaining-requests``), within ``timeout``. Only new
        events are fetched (after the first look, a small page of the newest); each is passed to
        ``on_event`` once, oldest first (a function, or a coroutine function where the job is
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
        service's code, message and a hint; [`SafetyCheckFailedError`][SafetyCheckFailedError], with its
        ``kind`` and harm ``categories``, when the service's safety screening failed the training data
        or the trained model), [`JobCancelledError`][JobCancelledError], or
        [`WaitTimeoutError`][WaitTimeoutError] after ``timeout`` seconds: that bound also cuts short a look
        at the service that hangs or trickles, and any retry inside it.

        A reinforcement job bills by the hour of training: with a cap (``max_cost`` in USD, else the
        job's [`max_cost`][max_cost], set by ``start(max_cost=...)``) the wait meters the time the job
        spends training times its hourly rate and, once that reaches the cap, pauses the job and raises
        [`SpendLimitReachedError`][SpendLimitReachedError] (``by="user"``; within one poll, at most
        30 s of training, past the cap: a wait that meters spend looks at least every 30 s, even
        with a longer fixed ``poll`` or while the service's pacing asks to hold back longer). When
        the service paused the job at its own $5,000 cap, it raises that error with
        ``by="service"`` instead of waiting on the paused job. The error's hint
        says how to resume or deploy the latest checkpoint. Grader tokens are not counted.

        ``via="webhook"`` waits for the service's ``fine_tuning.job.*`` webhook instead of polling:
        ``receiver`` is the [`AsyncWebhookReceiver`][AsyncWebhookReceiver] the service's webhooks reach. The
        job is read once at the start, once when its webhook arrives, and every ``safety_poll``
        seconds (default 300) in case a webhook is lost; ``poll`` is not used, the progress shows
        the state at the start and the outcome, and ``on_event`` gets the job's events once it
        ended; a reinforcement job's ``max_cost`` is checked at each of those reads (a shorter
        ``safety_poll`` keeps it closer). ``via="webhook"`` without a receiver, a receiver
        without it, or another ``via`` is an [`InvalidParameterError`][InvalidParameterError].
        """
        if via != "poll" or receiver is not None:
            return await wait_via_webhook(
                self, timeout, via=via, receiver=receiver, safety_poll=safety_poll, max_cost=max_cost,
                on_event=on_event, progress=progress, stream=stream, raise_on_failure=raise_on_failure)
        check_webhook_wait(via, receiver, safety_poll)
        watch = SpendWatch.for_job(self, max_cost)
        cap = SPEND_POLL_CAP if watch is not None else None  # a spend cap is enforced within one poll
        schedule = adaptive_or_fixed(poll, job_schedule if cap is None else lambda: job_schedule(cap))
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
                if watch is not None:
                    await watch.check(new, reporter, state)  # pauses at a spend cap and raises
                if job_state.wait_is_over(self.status):
                    reporter.close(state)
                    break
                now = clock()
                if deadline.passed(now):
                    reporter.close(state)
                    raise WaitTimeoutError(job_state.wait_timeout_message(
                        self.id, self.status, timeout, f"await AsyncJob.attach(ft, {self.id!r})"))
                age, due = self._age_and_due()
                interval = schedule.next(bool(new), remaining=deadline.remaining(now), age=age, due=due)
                # a metered spend cap is looked at within SPEND_POLL_CAP, whatever the service's pacing asks
                pause = self._ft.pacing.sleep_for(interval, now, deadline.remaining(now), longest=cap)
                await _flavour.sleep(pause)
        except _flavour.INTERRUPTS:
            reporter.note(self.reattach_hint())
            raise
        if raise_on_failure:
            self.raise_for_status()
        return self

    def _age_and_due(self) -> tuple[float | None, float | None]:
        """Seconds since the job was created and until its ``estimated_finish`` (None: unknown), on
        this machine's wall clock (the polling schedule reads them)."""
        wall = self._ft.retry.wall_clock()
        created = self._raw.get("created_at")
        finish = self._raw.get("estimated_finish")
        age = wall - created if isinstance(created, (int, float)) and created > 0 else None
        due = finish - wall if isinstance(finish, (int, float)) and finish > 0 else None
        return age, due

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

    async def checkpoints(self) -> Checkpoints:
        """The checkpoints the job saved, in step order (each can be deployed): a list that prints
        as a table of their metrics ([`Checkpoints`][Checkpoints]: ``to_text()``, ``to_dict()``,
        ``to_pandas()``, ``best()``)."""
        return await list_checkpoints(self._ft, self.id)

    async def best_checkpoint(self, metric: str = "valid_loss", mode: Literal["min", "max"] | None = None
                              ) -> Checkpoint:
        """The checkpoint with the best validation metric, to deploy instead of the last one.

        :param metric: A checkpoint metric: ``valid_loss`` (the default) or
            ``valid_mean_token_accuracy`` read the whole-validation-file figure
            (``full_valid_*``) where the service measured one, else the sampled one; any other
            name (``train_loss``, ``full_valid_loss``) is compared as it is.
        :param mode: ``"min"`` or ``"max"``; by default lowest for a loss, highest otherwise.
        :returns: The best [`Checkpoint`][Checkpoint] (a tie goes to the earlier step).
        :raises CheckpointMetricError: No checkpoint has the metric (a job trained without a
            validation file has no ``valid_*``), or the job has no checkpoint yet.
        """
        return best_checkpoint(await self.checkpoints(), metric, mode, job_id=self.id)

    async def compare_checkpoints(
        self,
        test_data: object,
        metrics: Sequence[object] | object | None = None,
        *,
        checkpoints: int | Sequence[Checkpoint | int] | None = None,
        keep: Literal["winner", "none", "all"] = "none",
        rank_by: str | None = None,
        sku: str = DEVELOPER_SKU,
        capacity: int | None = None,
        concurrency: int = 8,
        limit: int | None = None,
        progress: bool | str | Callable[[ProgressUpdate], MaybeAwaitable[None]] | None = None,
        timeout: float = CREATE_TIMEOUT,
        cleanup_timeout: float = CLEANUP_TIMEOUT,
    ) -> CheckpointComparison:
        """Deploy the job's checkpoints on the Developer tier, evaluate them side by side on
        ``test_data`` with [`evaluate()`][evaluate], and return the report with the winner.

        The final model is the report's first column, so every other column reads as a difference
        from it. Each checkpoint is deployed as ``cmp-<job>-step<N>`` (tagged with the job's id):
        a comparison run again reuses those deployments. Afterwards the deployments go, except
        what ``keep`` asks for. When the comparison fails or is interrupted (Ctrl-C, a cancelled
        task) the deployments this call created are deleted before the error goes on, within
        ``cleanup_timeout`` seconds.

        Every argument is checked, ``test_data`` read and the metrics resolved before the first
        request: a bad one raises (`InvalidParameterError`, `DatasetError`) with nothing deployed.
        After an interruption the clean-up still runs to its end (a second Ctrl-C does not cut it
        short; the interruption is raised once it is done), and what is left after
        ``cleanup_timeout`` is logged at WARNING with the calls that delete it.

        :param test_data: Held-out examples (a Dataset, JSONL path or records), not the training data.
        :param metrics: What [`evaluate()`][evaluate] takes (default: its default metrics).
        :param checkpoints: Which checkpoints: all the job kept (default), the last ``n``, or a
            list of steps or checkpoints.
        :param keep: ``"none"`` (default), ``"winner"`` (its deployment stays, named in
            ``kept``) or ``"all"``.
        :param rank_by: The metric that decides (default: the first metric); ties go to the next
            metrics, then to the later step.
        :param sku: The Developer tier only (``DeveloperTier``, or any spelling of it such as
            ``"developer"``: no hosting fee, 24 h life); any other deployment type raises
            `InvalidParameterError`. To compare on a type that bills by the hour, deploy the
            checkpoints yourself (``job.deploy(checkpoint=..., sku=...)``) and use `evaluate()`.
        :param timeout: Seconds each deployment may take to answer.
        :returns: A [`CheckpointComparison`][CheckpointComparison]: ``report``, ``winner``, ``kept``.
        :raises CheckpointMetricError: The job has no checkpoint yet.
        :raises SafetyCheckFailedError: The job's model failed its safety evaluation (before any request).
        """
        return await compare_checkpoints(
            self, test_data, metrics, checkpoints=checkpoints, keep=keep, rank_by=rank_by, sku=sku,
            capacity=capacity, concurrency=concurrency, limit=limit, progress=progress, timeout=timeout,
            cleanup_timeout=cleanup_timeout)

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

        A job whose model failed the service's safety evaluation raises the model-safety
        [`SafetyCheckFailedError`][SafetyCheckFailedError] before any deployment call; so does a
        deploy the service refuses for that reason.
        """
        job_state.check_deployable(self)
        model = job_state.model_to_deploy(self, checkpoint)
        if model is None:
            await self.refresh()
            job_state.check_deployable(self)
            model = job_state.model_to_deploy(self, checkpoint)
        if model is None:
            raise job_state.nothing_to_deploy(self)
        kwargs = job_state.deploy_kwargs(name, sku, capacity, options)
        # the deployments API re-types a refusal for safety (the model-safety error, this job's id)
        return await self._ft.deployments.create(model, job_id=self.id, **kwargs)
