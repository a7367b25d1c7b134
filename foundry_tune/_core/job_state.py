"""A job's state without I/O: its fields, what its status means, when a wait ends, what the
control calls lead to, and the texts a wait prints when it stops early."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import TYPE_CHECKING, Any

from foundry_tune._core.checkpoints import Checkpoint
from foundry_tune._core.fingerprint import FINGERPRINT_KEY
from foundry_tune._core.hints import failure_hint
from foundry_tune._core.safety import parse_safety_failure, safety_error
from foundry_tune._core.status import JobStatus
from foundry_tune.errors import (
    FoundryTuneError,
    InvalidParameterError,
    JobCancelledError,
    JobFailedError,
    SafetyCheckFailedError,
)

if TYPE_CHECKING:
    from foundry_tune.catalog import TrainingType
    from foundry_tune.methods import TuningMethod

__all__ = [
    "CANCEL_REACHED",
    "PAUSE_REACHED",
    "RESUME_REACHED",
    "JobState",
    "as_dict",
    "check_deployable",
    "check_job_id",
    "control_already_applied",
    "deploy_kwargs",
    "model_to_deploy",
    "nothing_to_deploy",
    "reattach_hint",
    "unsafe_model_error",
    "wait_is_over",
    "wait_timeout_message",
]

_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")  # fullmatch: "$" also matches before "\n"


def check_job_id(job_id: object) -> str:
    """``job_id`` if it looks like a job id (``ftjob-...``: letters, digits, ``_ . : -``, at most
    128 characters); else [`InvalidParameterError`][InvalidParameterError] naming it."""
    if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        shown = repr(job_id)[:80] if isinstance(job_id, str) else type(job_id).__name__
        raise InvalidParameterError(f"job_id must be a job id such as 'ftjob-abc123' (letters, digits, "
                                    f"'_', '.', ':' or '-'), got {shown}")
    return job_id

CANCEL_REACHED = frozenset({JobStatus.CANCELLING, JobStatus.CANCELLED})
"""Statuses that show a cancel request took effect."""

PAUSE_REACHED = frozenset({JobStatus.PAUSING, JobStatus.PAUSED})
"""Statuses that show a pause request took effect."""

RESUME_REACHED = frozenset({JobStatus.RESUMING, JobStatus.RUNNING, JobStatus.QUEUED, JobStatus.PENDING})
"""Statuses that show a resume request took effect."""


def as_dict(obj: Any) -> dict[str, Any]:
    """A job as the service sent it, as a plain dict (from an openai object or a dict)."""
    if isinstance(obj, dict):
        return dict(obj)
    dumped: dict[str, Any] = obj.model_dump(warnings=False)  # openai's grader unions warn on valid data
    return dumped


class JobState:
    """What a job looked like the last time it was fetched: the read-only fields of
    [`Job`][Job] and [`AsyncJob`][aio.AsyncJob] (no network calls here)."""

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
        """Raise [`JobFailedError`][JobFailedError] / [`JobCancelledError`][JobCancelledError] if the job
        ended that way: [`SafetyCheckFailedError`][SafetyCheckFailedError] (a `JobFailedError`) when
        the service's safety screening failed the training data or the trained model, also for a job
        that reads ``succeeded`` while its error says the model cannot be deployed."""
        code, message = self.error
        if self.status == JobStatus.FAILED:
            unsafe = safety_error(self.id, code, message)
            if unsafe is not None:
                raise unsafe
            raise JobFailedError(
                job_id=self.id, code=code, service_message=message, hint=failure_hint(code, message)
            )
        if self.status == JobStatus.SUCCEEDED:
            refused = unsafe_model_error(self)
            if refused is not None:
                raise refused
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


def wait_is_over(status: JobStatus) -> bool:
    """Whether a wait on a job with this status ends: succeeded, failed or cancelled. Every other
    status, including one this version does not know, is live and the wait goes on."""
    return status.is_terminal


def control_already_applied(
    http_status: int | None, status: JobStatus, reached: frozenset[JobStatus]
) -> bool:
    """Whether a control call (cancel, pause, resume) refused with ``http_status`` had in fact
    taken effect: a retried call can find its own first attempt applied (400/409 answered while
    the job, read again, shows ``status`` among the ``reached`` ones)."""
    return http_status in (400, 409) and status in reached


def model_to_deploy(job: JobState, checkpoint: Checkpoint | str | None) -> str | None:
    """The model id a deploy of ``job`` means: the checkpoint's model when one is given, else the
    job's tuned model (None while the job has none)."""
    if checkpoint is not None:
        return checkpoint.model if isinstance(checkpoint, Checkpoint) else str(checkpoint)
    return job.fine_tuned_model


def unsafe_model_error(job: JobState) -> SafetyCheckFailedError | None:
    """The model-safety error of a job whose error says its model failed the safety evaluation
    (whatever its status), else ``None``: such a model, or any of its checkpoints, is not deployed."""
    code, message = job.error
    finding = parse_safety_failure(code, message)
    if finding is None or finding.kind != "model":
        return None
    return safety_error(job.id, code, message, finding)


def check_deployable(job: JobState) -> None:
    """Raise the model-safety [`SafetyCheckFailedError`][SafetyCheckFailedError] before a deploy of
    a job whose model the service marked as unable to be deployed."""
    refused = unsafe_model_error(job)
    if refused is not None:
        raise refused


def nothing_to_deploy(job: JobState) -> InvalidParameterError:
    """The error of a deploy of a job that has no tuned model yet."""
    return InvalidParameterError(
        f"job {job.id} has no fine-tuned model to deploy (status {job.status}); "
        "wait() for it to succeed, or deploy a checkpoint"
    )


def deploy_kwargs(
    name: str | None, sku: str, capacity: int | None, options: dict[str, Any]
) -> dict[str, Any]:
    """Arguments for ``ft.deployments.create`` (``capacity`` only when given: the API has a default)."""
    kwargs: dict[str, Any] = {"name": name, "sku": sku, **options}
    if capacity is not None:
        kwargs["capacity"] = capacity
    return kwargs


def reattach_hint(job_id: str, status: JobStatus, attach: str) -> str:
    """What a wait prints when it is interrupted: the job goes on, and how to pick it up again
    (``attach``: the code that re-attaches, in the caller's flavour)."""
    return (
        f"Stopped watching. Job {job_id} is still {status} on the service (nothing was cancelled).\n"
        f"Re-attach with: {attach}   or: foundry-tune jobs watch {job_id}"
    )


def wait_timeout_message(job_id: str, status: JobStatus, timeout: float | None, attach: str) -> str:
    """The message of the WaitTimeoutError a wait raises after ``timeout`` seconds."""
    return (
        f"fine-tuning job {job_id} is still {status} after {timeout or 0:g} s; it keeps "
        f"running: wait again, or re-attach later with {attach}"
    )


def _time(value: Any) -> dt.datetime | None:
    if isinstance(value, (int, float)) and value > 0:
        return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc)
    return None
