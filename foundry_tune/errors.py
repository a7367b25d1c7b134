"""The exception hierarchy: every error foundry-tune raises derives from
[`FoundryTuneError`][FoundryTuneError].

Errors that come from the service carry its HTTP status, error code, message and request id.
No error message or repr ever includes a credential.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

__all__ = [
    "AuthenticationError",
    "CheckpointMetricError",
    "ConfigurationError",
    "CostLimitError",
    "DataChangedError",
    "DatasetError",
    "DatasetValidationError",
    "DeploymentError",
    "DeploymentNotFoundError",
    "DeploymentQuotaError",
    "FileInUseError",
    "FoundryTuneError",
    "GraderError",
    "InvalidParameterError",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "JobNotFoundError",
    "LocalLockTimeoutError",
    "NameInUseError",
    "NotFoundError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitError",
    "RetryBudgetExceededError",
    "SafetyCheckFailedError",
    "ScanIncompleteError",
    "ServiceError",
    "ServiceUnreachableError",
    "SpendLimitReachedError",
    "ToolCallsAnswerError",
    "UploadError",
    "WaitTimeoutError",
]


class FoundryTuneError(Exception):
    """Base class of every error raised by foundry-tune."""


class ConfigurationError(FoundryTuneError):
    """The connection settings are missing, contradictory or unsafe (e.g. plain http to a remote host)."""


class InvalidParameterError(FoundryTuneError, ValueError):
    """A hyperparameter, suffix, metadata entry or other argument is outside its documented range."""


class DatasetError(FoundryTuneError):
    """A dataset could not be read (missing file, unreadable source)."""


class IssueLike(Protocol):
    """One problem in a report, as [`DatasetValidationError`][DatasetValidationError] exposes it."""

    @property
    def line(self) -> int | None:
        """The 1-based line, or None for the file as a whole."""
        ...

    @property
    def code(self) -> str:
        """A stable machine code such as ``sft.weight_invalid``."""
        ...

    @property
    def message(self) -> str:
        """What to change."""
        ...


class ReportLike(Protocol):
    """What [`DatasetValidationError`][DatasetValidationError] needs from a validation report (the dataset
    validator's report has this shape); errors depend on the shape, not on the dataset package."""

    @property
    def valid(self) -> bool:
        """Whether the data would train."""
        ...

    @property
    def path(self) -> str:
        """The file (or source label) that was validated."""
        ...

    @property
    def examples(self) -> int:
        """How many examples were read."""
        ...

    @property
    def errors(self) -> Sequence[IssueLike]:
        """The problems that stop training, in file order."""
        ...

    @property
    def warnings(self) -> Sequence[IssueLike]:
        """The problems that do not stop training."""
        ...

    def summary(self) -> str:
        """One line: the verdict, the method, the example count and how many problems."""
        ...

    def to_text(self) -> str:
        """The report for a terminal."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready object."""
        ...


class DatasetValidationError(DatasetError):
    """The data would not train. ``report`` lists every problem with its line and code; the
    message names the file, the first errors (line and code), how many more there are and, when
    the data is clearly another method's, the method to use."""

    def __init__(self, report: ReportLike) -> None:
        self.report = report
        # The dataset package's report writes the full message; any other ReportLike, its summary.
        describe = getattr(report, "_failure_text", None)
        super().__init__(describe() if callable(describe) else report.summary())


class GraderError(FoundryTuneError, ValueError):
    """A grader definition is malformed or references fields the data does not have."""


class UploadError(FoundryTuneError):
    """A file could not be uploaded, or the service rejected it while processing it."""

    def __init__(self, message: str, *, file_id: str | None = None, details: str | None = None):
        self.file_id = file_id
        self.details = details
        super().__init__(message)


class ServiceError(FoundryTuneError):
    """The service answered with an error.

    Attributes mirror the official error shape: ``status`` (HTTP status), ``code``, ``message``,
    ``param`` and ``request_id`` (``x-request-id`` / ``apim-request-id``) when the service sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.request_id = request_id
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.message]
        meta = []
        if self.status is not None:
            meta.append(f"status {self.status}")
        if self.code:
            meta.append(f"code {self.code}")
        if self.request_id:
            meta.append(f"request id {self.request_id}")
        if meta:
            parts.append(f"({', '.join(meta)})")
        return " ".join(parts)

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_service_error,
            (type(self), self.message, self.status, self.code, self.param, self.request_id),
        )


def _rebuild_service_error(
    cls: type[ServiceError],
    message: str,
    status: int | None,
    code: str | None,
    param: str | None,
    request_id: str | None,
) -> ServiceError:
    return cls(message, status=status, code=code, param=param, request_id=request_id)


class AuthenticationError(ServiceError):
    """The credential was missing, expired or rejected (HTTP 401)."""


class PermissionDeniedError(ServiceError):
    """The identity lacks a role the call needs (HTTP 403)."""


class NotFoundError(ServiceError):
    """The resource does not exist (HTTP 404)."""


class JobNotFoundError(NotFoundError):
    """Jobs a wait was watching disappeared: the service answered 404 for them after the wait had
    seen them (deleted, or no longer visible to this credential). ``ft.jobs.wait_all()`` raises it
    only once every other watched job ended. ``job_ids``: the ids of the jobs that disappeared;
    ``jobs``: every job of the wait in the order given, each in its final state and the
    disappeared ones in their last known state (not kept by pickling)."""

    def __init__(self, message: str, *, job_ids: Sequence[str] = (), jobs: Sequence[Any] = (),
                 **kwargs: Any) -> None:
        self.job_ids = list(job_ids)
        self.jobs = list(jobs)
        super().__init__(message, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_job_not_found, (self.message, self.job_ids, self.status, self.code))


def _rebuild_job_not_found(message: str, job_ids: list[str], status: int | None,
                           code: str | None) -> JobNotFoundError:
    return JobNotFoundError(message, job_ids=job_ids, status=status, code=code)


class RateLimitError(ServiceError):
    """The service throttled the call (HTTP 429) and the retry budget could not absorb it."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class RetryBudgetExceededError(ServiceError):
    """Retries ran out of time: the last failure is attached as ``__cause__``."""


class QuotaExceededError(ServiceError):
    """A per-resource quota was reached (jobs, deployments or tokens)."""


class JobError(FoundryTuneError):
    """Base class for fine-tuning job outcomes that are not success."""

    def __init__(self, message: str, *, job_id: str | None = None) -> None:
        self.job_id = job_id
        super().__init__(message)


class JobFailedError(JobError):
    """The job failed. ``code`` and ``service_message`` are the service's; ``hint`` says what to do."""

    def __init__(
        self,
        *,
        job_id: str,
        code: str | None,
        service_message: str | None,
        hint: str | None = None,
    ) -> None:
        self.code = code
        self.service_message = service_message
        self.hint = hint
        text = f"fine-tuning job {job_id} failed"
        if code:
            text += f" [{code}]"
        if service_message:
            text += f": {service_message}"
        if hint:
            text += f"\nhint: {hint}"
        super().__init__(text, job_id=job_id)


class JobCancelledError(JobError):
    """The job was cancelled before it finished."""


class ScanIncompleteError(FoundryTuneError):
    """A paged listing hit its page cap or time bound before the service said it was complete
    (raised only where a partial list would be a wrong answer). ``pages`` is how many were read."""

    def __init__(self, message: str, *, pages: int = 0) -> None:
        self.pages = pages
        super().__init__(message)


class WaitTimeoutError(FoundryTuneError, TimeoutError):
    """A wait (job, file processing, deployment readiness) ran past its timeout. Nothing was cancelled."""


class DeploymentError(ServiceError):
    """A deployment could not be created, provisioned, reached or deleted."""


class DeploymentQuotaError(DeploymentError, QuotaExceededError):
    """The resource has no quota left for another (fine-tuned) deployment."""


class NameInUseError(DeploymentError):
    """A deployment with that name already exists for a different model."""


class DeploymentNotFoundError(DeploymentError, NotFoundError):
    """The deployment does not exist."""


class LocalLockTimeoutError(WaitTimeoutError):
    """Another start of the same job (or upload of the same file) on this machine, in this process
    or another, held its local lock longer than the retry budget (``RetryPolicy.total_timeout``).

    ``lock_file`` is the lock file waited for (``None`` when the wait was inside this process).
    Nothing was started; try again once the other start has finished (it then returns its job).
    """

    def __init__(self, message: str, *, lock_file: str | None = None) -> None:
        super().__init__(message)
        self.lock_file = lock_file


class DataChangedError(UploadError, DatasetError):
    """A local data file changed after it was validated (or while it was being uploaded): the bytes
    read for the upload do not have the SHA-256 of the validated ones. Nothing was kept under the
    validated hash; ``source`` names the file. Run the start again: it validates the file as it is
    now and uploads that."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source


class ServiceUnreachableError(RetryBudgetExceededError):
    """No connection could be opened: the port refused it (nothing listening: the emulator or
    service is stopped, or the endpoint is wrong) or the host name does not resolve. Retried only
    briefly (a service restarting), then raised. ``target`` is the ``host:port`` tried; ``code`` is
    ``connection_refused`` or ``name_not_resolved``."""

    def __init__(self, message: str, *, target: str | None = None, **kwargs: Any) -> None:
        self.target = target
        super().__init__(message, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_unreachable, (self.message, self.code, self.target))


def _rebuild_unreachable(message: str, code: str | None, target: str | None) -> ServiceUnreachableError:
    return ServiceUnreachableError(message, code=code, target=target)


class ToolCallsAnswerError(FoundryTuneError):
    """`Deployment.chat()` was asked for text, but the answer only calls tools (it has no text).

    `answer` is the whole message (openai's `ChatCompletionMessage`, with its `tool_calls`), so
    the answer is not lost nor paid for twice; `tool_names` names the functions it called. To get
    the message directly, call `chat(..., message=True)` or `chat_message()`.
    """

    def __init__(self, message: str, *, answer: Any = None, tool_names: Sequence[str] = ()) -> None:
        self.answer = answer
        self.tool_names = tuple(tool_names)
        super().__init__(message)


class CheckpointMetricError(InvalidParameterError):
    """No checkpoint of the job has the metric a pick asked for: most often a validation metric
    (`valid_loss`) of a job trained without a validation file, or a job with no checkpoint yet.

    `metric` is the name asked for, `available` the metric names the checkpoints do have (empty
    when there is no checkpoint) and `job_id` the job."""

    def __init__(self, message: str, *, metric: str = "", available: Sequence[str] = (),
                 job_id: str = "") -> None:
        self.metric = metric
        self.available = tuple(available)
        self.job_id = job_id
        super().__init__(message)


class SafetyCheckFailedError(JobFailedError):
    """The service's safety screening stopped the job: ``kind`` ``"data"`` when the training data
    failed it (the job fails before training; not billed), ``"model"`` when the trained model failed
    its safety evaluation and cannot be deployed (the training run is not billed).

    A [`JobFailedError`][JobFailedError], so existing handlers still catch it. ``categories`` are the
    harm categories the service named, normalised (``hate_fairness``, ``sexual``, ``violence``,
    ``self_harm``); ``code`` and ``service_message`` are the service's; ``hint`` says what to do.
    See https://learn.microsoft.com/azure/ai-foundry/openai/how-to/fine-tuning-safety-evaluation
    """

    def __init__(
        self,
        *,
        job_id: str,
        kind: Literal["data", "model"],
        categories: Sequence[str] = (),
        code: str | None = None,
        service_message: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.kind: Literal["data", "model"] = kind
        self.categories = tuple(categories)
        super().__init__(job_id=job_id, code=code, service_message=service_message, hint=hint)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_safety, (self.job_id or "", self.kind, self.categories, self.code,
                                  self.service_message, self.hint))


def _rebuild_safety(job_id: str, kind: Literal["data", "model"], categories: tuple[str, ...],
                    code: str | None, message: str | None, hint: str | None) -> SafetyCheckFailedError:
    return SafetyCheckFailedError(job_id=job_id, kind=kind, categories=categories, code=code,
                                  service_message=message, hint=hint)


class FileInUseError(FoundryTuneError):
    """A file was not deleted because a job that has not ended (validating, queued, running,
    paused, ...) uses it; ``job_ids`` names those jobs."""

    def __init__(self, message: str, *, file_id: str, job_ids: Sequence[str] = ()) -> None:
        self.file_id = file_id
        self.job_ids = tuple(job_ids)
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_file_in_use, (str(self), self.file_id, self.job_ids))


def _rebuild_file_in_use(message: str, file_id: str, job_ids: tuple[str, ...]) -> FileInUseError:
    return FileInUseError(message, file_id=file_id, job_ids=job_ids)


class SpendLimitReachedError(JobError):
    """A reinforcement job reached a spend cap: the user's ``max_cost`` (``by == "user"``:
    ``wait()`` paused it, or, when the service refused the pause, left it training and says so
    in the message) or the service's own $5,000 cap (``by == "service"``: the service paused it).

    ``accrued`` is the training cost foundry-tune counted (USD, hours x hourly rate; grader tokens
    not included; ``None`` when no rate is known), ``cap`` the cap in USD. ``hint`` says how to
    resume the job or deploy its latest checkpoint (or pause or cancel it by hand).
    """

    def __init__(self, message: str, *, job_id: str, by: Literal["user", "service"], cap: float,
                 accrued: float | None = None, hint: str | None = None) -> None:
        self.by: Literal["user", "service"] = by
        self.cap = cap
        self.accrued = accrued
        self.hint = hint
        self.message = message
        super().__init__(f"{message}\nhint: {hint}" if hint else message, job_id=job_id)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_spend, (self.message, self.job_id or "", self.by, self.cap, self.accrued, self.hint))


def _rebuild_spend(message: str, job_id: str, by: Literal["user", "service"], cap: float,
                   accrued: float | None, hint: str | None) -> SpendLimitReachedError:
    return SpendLimitReachedError(message, job_id=job_id, by=by, cap=cap, accrued=accrued, hint=hint)


class CostLimitError(FoundryTuneError):
    """`start(max_cost=...)` refused to start a job, before any upload or request: its estimated
    training cost exceeds the cap, or it cannot be estimated (no known price).

    ``estimate`` is the estimated training cost in USD (``None`` when it could not be computed),
    ``cap`` the cap given, ``how`` how the estimate was computed (tokens x epochs x price per 1M
    tokens, with the price's training type, date and source) or why there is none."""

    def __init__(self, message: str, *, estimate: float | None = None, cap: float = 0.0,
                 how: str = "") -> None:
        super().__init__(message)
        self.estimate = estimate
        self.cap = cap
        self.how = how

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_cost_limit, (str(self), self.estimate, self.cap, self.how))


def _rebuild_cost_limit(message: str, estimate: float | None, cap: float, how: str) -> CostLimitError:
    return CostLimitError(message, estimate=estimate, cap=cap, how=how)
