"""A fine-tuning job: status, waiting with progress, events, metrics, checkpoints, control, deploy."""

from __future__ import annotations

import datetime as dt
import html
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TextIO

from foundry_tune.errors import (
    FoundryTuneError,
    InvalidParameterError,
    JobCancelledError,
    JobFailedError,
    NotFoundError,
    RateLimitError,
    RetryBudgetExceededError,
    ServiceError,
    WaitTimeoutError,
)
from foundry_tune.job._calls import Connection, safe_call
from foundry_tune.job._checkpoints import Checkpoint, list_checkpoints
from foundry_tune.job._events import EventTail, JobEvent, list_all_events, openai_fetcher
from foundry_tune.job._fingerprint import FINGERPRINT_KEY
from foundry_tune.job._hints import failure_hint
from foundry_tune.job._metrics import Metrics, metrics_from_csv, metrics_from_events
from foundry_tune.job._progress import ProgressState, make_reporter
from foundry_tune.job._status import JobStatus

if TYPE_CHECKING:
    from foundry_tune.catalog import TrainingType
    from foundry_tune.deployment import Deployment
    from foundry_tune.methods import TuningMethod

__all__ = ["Job", "JobState", "as_dict"]

MIN_POLL = 1.0
MAX_POLL = 30.0


def as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return dict(obj)
    dumped: dict[str, Any] = obj.model_dump(warnings=False)  # openai's grader unions warn on valid data
    return dumped


class JobState:
    """What a job looked like the last time it was fetched: the read-only fields shared by
    :class:`Job` and :class:`foundry_tune.aio.AsyncJob` (no network calls here)."""

    _raw: dict[str, Any]

    # --- state -------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The job id (``ftjob-...``)."""
        return str(self._raw.get("id", ""))

    @property
    def status(self) -> JobStatus:
        """The status last seen; unknown values are kept (and count as live)."""
        return JobStatus(str(self._raw.get("status") or "unknown"))

    @property
    def model(self) -> str:
        """The base model."""
        return str(self._raw.get("model") or "")

    @property
    def fine_tuned_model(self) -> str | None:
        """The tuned model's id once the job succeeded, else ``None``."""
        value = self._raw.get("fine_tuned_model")
        return str(value) if value else None

    @property
    def suffix(self) -> str | None:
        """The suffix asked for (Azure echoes ``suffix``; OpenAI calls it ``user_provided_suffix``)."""
        value = self._raw.get("suffix") or self._raw.get("user_provided_suffix")
        return str(value) if value else None

    @property
    def metadata(self) -> dict[str, str]:
        """The job's metadata, including foundry-tune's fingerprint key."""
        meta = self._raw.get("metadata") or {}
        return {str(k): str(v) for k, v in meta.items()} if isinstance(meta, dict) else {}

    @property
    def fingerprint(self) -> str | None:
        """The fingerprint ``start()`` tagged the job with, if it was started by foundry-tune."""
        return self.metadata.get(FINGERPRINT_KEY)

    @property
    def training_file(self) -> str | None:
        """Id of the training file."""
        return self._raw.get("training_file") or None

    @property
    def validation_file(self) -> str | None:
        """Id of the validation file, if any."""
        return self._raw.get("validation_file") or None

    @property
    def result_files(self) -> list[str]:
        """Ids of the result files (``results.csv``)."""
        return [str(x) for x in (self._raw.get("result_files") or [])]

    @property
    def created_at(self) -> dt.datetime | None:
        """When the job was created (UTC)."""
        return _time(self._raw.get("created_at"))

    @property
    def finished_at(self) -> dt.datetime | None:
        """When the job finished (UTC), or ``None``."""
        return _time(self._raw.get("finished_at"))

    @property
    def estimated_finish(self) -> dt.datetime | None:
        """When the service expects the job to finish (UTC), if it says; progress derives the ETA from it."""
        return _time(self._raw.get("estimated_finish"))

    @property
    def trained_tokens(self) -> int | None:
        """Billed training tokens, once known."""
        value = self._raw.get("trained_tokens")
        return int(value) if isinstance(value, (int, float)) and value >= 0 else None

    @property
    def error(self) -> tuple[str | None, str | None]:
        """``(code, message)`` of a failed job; ``(None, None)`` otherwise (Azure sends ``error: {}``)."""
        err = self._raw.get("error") or {}
        if not isinstance(err, dict):
            return None, None
        return (err.get("code") or None), (err.get("message") or None)

    @property
    def method(self) -> TuningMethod | None:
        """The training method and hyperparameters as the service reports them.

        Azure often sends no ``method`` (or ``method: null``) and only top-level
        ``hyperparameters``: that is a Supervised job with those values. ``-1`` and ``"auto"``
        read as "auto". ``None`` when the job says nothing about its method."""
        wire = self._raw.get("method")
        if not isinstance(wire, dict) and not isinstance(self._raw.get("hyperparameters"), dict):
            return None
        from foundry_tune.methods import TuningMethod

        try:  # the whole job: its method, with the top-level hyperparameters as the fallback
            return TuningMethod.from_wire({"method": wire,
                                           "hyperparameters": self._raw.get("hyperparameters")})
        except (FoundryTuneError, ValueError, KeyError, TypeError):
            return None

    @property
    def training_type(self) -> TrainingType | None:
        """The training type the service reports (``trainingType``, echoed in any casing:
        ``standard``, ``globalStandard``, ``developerTier``); ``None`` if absent or unknown."""
        value = self._raw.get("trainingType", self._raw.get("training_type"))
        if not isinstance(value, str) or not value:
            return None
        from foundry_tune.catalog import parse_training_type

        try:
            return parse_training_type(value)
        except FoundryTuneError:
            return None

    @property
    def raw(self) -> dict[str, Any]:
        """The last job object received, as a dict."""
        return dict(self._raw)

    def raise_for_status(self) -> None:
        """Raise :class:`JobFailedError` / :class:`JobCancelledError` if the job ended that way."""
        if self.status == JobStatus.FAILED:
            code, message = self.error
            raise JobFailedError(
                job_id=self.id, code=code, service_message=message, hint=failure_hint(code, message)
            )
        if self.status == JobStatus.CANCELLED:
            raise JobCancelledError(f"fine-tuning job {self.id} was cancelled", job_id=self.id)

    # --- display -----------------------------------------------------------------------------

    def __repr__(self) -> str:
        extra = f", fine_tuned_model={self.fine_tuned_model!r}" if self.fine_tuned_model else ""
        name = type(self).__name__
        return f"{name}(id={self.id!r}, status={self.status.value!r}, model={self.model!r}{extra})"

    def _repr_html_(self) -> str:
        rows = [("id", self.id), ("status", self.status.value), ("model", self.model)]
        if self.suffix:
            rows.append(("suffix", self.suffix))
        if self.fine_tuned_model:
            rows.append(("fine-tuned model", self.fine_tuned_model))
        code, message = self.error
        if message:
            rows.append(("error", f"{code}: {message}"))
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                       for k, v in rows)
        return f"<table>{body}</table>"


class Job(JobState):
    """A fine-tuning job on the service. Get one from ``builder.start()``, ``ft.jobs.get(id)`` or
    :meth:`Job.attach`; it holds the last state seen (call :meth:`refresh` for a new one)."""

    def __init__(self, conn: Connection, raw: Any) -> None:
        self._conn = conn
        self._raw = as_dict(raw)
        self._tail: EventTail | None = None
        self.reused = False
        """True when ``start()`` returned this existing job instead of creating a new one."""

    @classmethod
    def attach(cls, ft: Connection, job_id: str) -> Job:
        """Re-attach to a job by id (after a restart, from another process, in a new notebook)."""
        raw = safe_call(ft, lambda: ft.openai.fine_tuning.jobs.retrieve(job_id), what=f"get job {job_id}")
        return cls(ft, raw)

    def refresh(self) -> Job:
        """Fetch the current state; returns ``self``."""
        jobs = self._conn.openai.fine_tuning.jobs
        raw = safe_call(self._conn, lambda: jobs.retrieve(self.id), what=f"get job {self.id}")
        self._raw = as_dict(raw)
        return self

    # --- watching ------------------------------------------------------------------------------

    def wait(
        self,
        timeout: float | None = None,
        *,
        poll: float | Literal["adaptive"] = "adaptive",
        on_event: Callable[[JobEvent], None] | None = None,
        progress: bool | str | None = "auto",
        stream: TextIO | None = None,
        raise_on_failure: bool = True,
    ) -> Job:
        """Wait until the job succeeds, fails or is cancelled, showing progress.

        ``poll="adaptive"`` polls every second while events arrive and backs off to 30 s while
        nothing happens. Only new events are fetched; each is passed to ``on_event`` once.
        ``progress``: ``"auto"`` (live line in a terminal, HTML in a notebook, log lines
        otherwise), ``"terminal"``, ``"plain"``, ``"notebook"`` or ``False``. Step and loss come
        from structured ``metrics`` events or from Azure's ``Step N: training loss=X`` messages;
        the ETA from the step rate when the total is known, else from the job's ``estimated_finish``.

        Ctrl-C stops watching only: the job keeps running, and how to re-attach is printed.
        Raises :class:`JobFailedError` (with the service's code, message and a hint),
        :class:`JobCancelledError`, or :class:`WaitTimeoutError` after ``timeout`` seconds.
        """
        if poll != "adaptive" and (not isinstance(poll, (int, float)) or poll <= 0):
            raise InvalidParameterError(f"poll must be 'adaptive' or a positive number of seconds: {poll!r}")
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._tail is None:
            self._tail = EventTail(openai_fetcher(self._conn, self.id))
        reporter = make_reporter(progress, stream)
        state = ProgressState(self.id)
        interval = MIN_POLL if poll == "adaptive" else float(poll)
        try:
            while True:
                try:
                    self.refresh()
                    new = self._tail.poll()
                except (RetryBudgetExceededError, RateLimitError) as exc:
                    # The service or the network is down for longer than one call's retry budget
                    # (a laptop asleep, an outage): the job is unaffected, so keep waiting.
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
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    reporter.close(state)
                    raise WaitTimeoutError(
                        f"fine-tuning job {self.id} is still {self.status} after {timeout:g} s; it keeps "
                        f"running: wait again, or re-attach later with Job.attach(ft, {self.id!r})"
                    )
                if poll == "adaptive":
                    interval = MIN_POLL if new else min(MAX_POLL, interval * 1.5)
                sleep_for = interval if deadline is None else max(0.0, min(interval, deadline - now))
                time.sleep(sleep_for)
        except KeyboardInterrupt:
            reporter.note(self.reattach_hint())
            raise
        if raise_on_failure:
            self.raise_for_status()
        return self

    def reattach_hint(self) -> str:
        """How to pick this job up again after the watcher stopped."""
        return (
            f"Stopped watching. Job {self.id} is still {self.status} on the service (nothing was cancelled)."
            "\n"
            f"Re-attach with: Job.attach(ft, {self.id!r}).wait()   or: foundry-tune jobs watch {self.id}"
        )

    def events(self) -> list[JobEvent]:
        """Every event of the job so far, oldest first."""
        return list(list_all_events(openai_fetcher(self._conn, self.id)))

    def metrics(self, source: Literal["auto", "events", "results"] = "auto") -> Metrics:
        """Training metrics as typed rows (``.to_pandas()``, ``.plot()``).

        ``"results"`` reads the result CSV a finished job leaves; ``"events"`` reads the job's
        events while it runs: structured ``metrics`` events, or the step lines Azure sends as
        messages (``Step 10: training loss=0.53``); ``"auto"`` prefers the CSV when there is one.
        """
        if source in ("auto", "results") and self.result_files:
            try:
                return self._results_csv(self.result_files[0])
            except NotFoundError:
                if source == "results":
                    raise
        elif source == "results":
            raise InvalidParameterError(f"job {self.id} has no result file yet (status {self.status})")
        return metrics_from_events(self.events())

    def _results_csv(self, file_id: str) -> Metrics:
        def fetch() -> bytes:
            return self._conn.openai.files.content(file_id).content

        data = safe_call(self._conn, fetch, what=f"download result file {file_id}")
        return metrics_from_csv(data)

    def checkpoints(self) -> list[Checkpoint]:
        """The checkpoints the job saved, in step order (each can be deployed)."""
        return list_checkpoints(self._conn, self.id)

    # --- control -----------------------------------------------------------------------------

    def cancel(self) -> Job:
        """Ask the service to cancel the job (returns at once; the status becomes ``cancelling`` /
        ``cancelled``). Cancelling a job that already ended is a no-op."""
        if self.status.is_terminal:
            return self
        jobs = self._conn.openai.fine_tuning.jobs
        return self._control("cancel", lambda: jobs.cancel(self.id),
                             {JobStatus.CANCELLING, JobStatus.CANCELLED})

    def pause(self) -> Job:
        """Pause a running job (Azure); :meth:`resume` continues it. Azure answers ``pausing``
        at once and the job becomes ``paused`` a little later."""
        jobs = self._conn.openai.fine_tuning.jobs
        return self._control("pause", lambda: jobs.pause(self.id), {JobStatus.PAUSING, JobStatus.PAUSED})

    def resume(self) -> Job:
        """Resume a paused job (Azure answers ``resuming``, then the job is ``running`` again)."""
        jobs = self._conn.openai.fine_tuning.jobs
        return self._control("resume", lambda: jobs.resume(self.id),
                             {JobStatus.RESUMING, JobStatus.RUNNING, JobStatus.QUEUED, JobStatus.PENDING})

    def _control(self, action: str, call: Callable[[], Any], reached: set[JobStatus]) -> Job:
        try:
            raw = safe_call(self._conn, call, what=f"{action} job {self.id}")
        except ServiceError as exc:
            # A retried control call can find its own first attempt already applied.
            if exc.status in (400, 409):
                self.refresh()
                if self.status in reached:
                    return self
            raise
        self._raw = as_dict(raw)
        return self

    # --- deploy ------------------------------------------------------------------------------

    def deploy(
        self,
        name: str | None = None,
        *,
        sku: str = "GlobalStandard",
        capacity: int | None = None,
        checkpoint: Checkpoint | str | None = None,
        **options: Any,
    ) -> Deployment:
        """Deploy the tuned model (or one of its checkpoints) and wait until it answers.

        Delegates to ``ft.deployments.create`` (idempotent by name) and tags the deployment with
        this job's id. ``capacity`` defaults to the deployments API's default.
        """
        if checkpoint is not None:
            model = checkpoint.model if isinstance(checkpoint, Checkpoint) else str(checkpoint)
        else:
            if self.fine_tuned_model is None:
                self.refresh()
            if self.fine_tuned_model is None:
                raise InvalidParameterError(
                    f"job {self.id} has no fine-tuned model to deploy (status {self.status}); "
                    "wait() for it to succeed, or deploy a checkpoint"
                )
            model = self.fine_tuned_model
        kwargs: dict[str, Any] = {"name": name, "sku": sku, **options}
        if capacity is not None:
            kwargs["capacity"] = capacity
        return self._conn.deployments.create(model, job_id=self.id, **kwargs)


def _time(value: Any) -> dt.datetime | None:
    if isinstance(value, (int, float)) and value > 0:
        return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc)
    return None
