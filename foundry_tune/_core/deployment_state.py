"""Deployment state without I/O: what ARM's answers mean, what ``create`` does about a deployment
that already exists, when a provisioning, readiness or deletion wait ends, the tags foundry-tune
writes and which deployments ``cleanup()`` picks. Shared by the sync and async flavours."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from foundry_tune._core.deployment_body import (
    TAG_CREATED_AT,
    TAG_CREATED_BY,
    TAG_CREATED_BY_VALUE,
    TAG_JOB_ID,
)
from foundry_tune._core.deployment_info import FAILED_STATES, DeploymentInfo
from foundry_tune._core.polling import PollSchedule, deployment_schedule
from foundry_tune._core.translate import is_quota_code
from foundry_tune.errors import (
    DeploymentError,
    DeploymentNotFoundError,
    DeploymentQuotaError,
    InvalidParameterError,
    NameInUseError,
)

__all__ = [
    "ARM_RECHECK_EVERY",
    "CREATE_TIMEOUT",
    "DEFAULT_CAPACITY",
    "DEFAULT_SKU",
    "DELETE_TIMEOUT",
    "PROBE_MAX_TOKENS",
    "PROBE_MESSAGES",
    "CreateStep",
    "DeploymentState",
    "Readiness",
    "ThrottleCount",
    "arm_recheck_due",
    "as_messages",
    "check_name_free",
    "create_step",
    "creation_tags",
    "deleted_while_waiting",
    "deletion_schedule",
    "deployment_path",
    "operation_done",
    "provisioned",
    "provisioning_schedule",
    "readiness_of",
    "readiness_schedule",
    "retry_hint",
    "select_for_cleanup",
]

DEFAULT_SKU = "GlobalStandard"
"""The deployment type ``create`` uses unless told otherwise."""
DEFAULT_CAPACITY = 50
"""The capacity (thousands of tokens per minute) ``create`` asks for unless told otherwise."""
CREATE_TIMEOUT = 1800.0
"""Seconds ``create`` / ``wait`` wait for provisioning and the first answer."""
DELETE_TIMEOUT = 600.0
"""Seconds ``delete`` waits until the deployment is gone."""

PROBE_MESSAGES: list[dict[str, str]] = [{"role": "user", "content": "ping"}]
"""The tiny chat request a readiness check sends."""
PROBE_MAX_TOKENS = 16
"""``max_completion_tokens`` of a readiness check."""

# Codes a deployment answers with between provisioning "Succeeded" and serving traffic.
_NOT_READY_CODES = frozenset({"deploymentnotready", "deploymentnotfound", "modelnotready"})


# -- polling -------------------------------------------------------------------------------------


def provisioning_schedule() -> PollSchedule:
    """The provisioning wait's pace: 0.5 s, growing to 15 s."""
    return deployment_schedule(floor=0.5, cap=15.0)


def readiness_schedule() -> PollSchedule:
    """The wait for a provisioned deployment to answer: 0.5 s, growing to 10 s."""
    return deployment_schedule(floor=0.5, cap=10.0)


def deletion_schedule() -> PollSchedule:
    """The wait for a deleted deployment to be gone: 0.5 s, growing to 10 s."""
    return deployment_schedule(floor=0.5, cap=10.0)


# -- names and tags -----------------------------------------------------------------------------


def deployment_path(name: str) -> str:
    """The deployment's ARM path below the account (the name URL-quoted)."""
    return f"/deployments/{quote(name, safe='')}"


def retry_hint(name: str) -> str:
    """What to do before deploying ``name`` again after its provisioning failed."""
    return f" Delete it with ft.deployments.delete({name!r}) before retrying."


def check_name_free(existing: DeploymentInfo | None, name: str, model: str) -> None:
    """Raise [`NameInUseError`][NameInUseError] if deployment ``name`` exists with another model."""
    if existing is not None and existing.model and existing.model != model:
        raise NameInUseError(
            f"deployment name {name!r} is already used by model {existing.model!r}; pick another name "
            f"or delete it first (ft.deployments.delete({name!r}))",
            code="DeploymentNameInUse",
        )


_MAX_TAGS, _MAX_TAG_NAME, _MAX_TAG_VALUE = 50, 512, 256


def creation_tags(job_id: str | None, tags: Mapping[str, str] | None, *,
                  now: dt.datetime | None = None) -> dict[str, str]:
    """The tags a new deployment gets: created by foundry-tune, when (``now``, default the current
    UTC time), from which job, plus ``tags`` (which may override them). ARM's limits hold for the
    result: at most 50 tags, names up to 512 characters and values up to 256, all strings."""
    if tags is not None and not isinstance(tags, Mapping):
        raise InvalidParameterError(f"tags must be a mapping of names to strings, got {type(tags).__name__}")
    for key, value in (tags or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidParameterError(f"tags[{str(key)[:64]!r}]: tag names and values must be strings")
        if not 1 <= len(key) <= _MAX_TAG_NAME or len(value) > _MAX_TAG_VALUE:
            raise InvalidParameterError(f"tags[{key[:64]!r}]: names are 1-{_MAX_TAG_NAME} characters and "
                                        f"values at most {_MAX_TAG_VALUE} (ARM's limits)")
    created = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    result = {
        TAG_CREATED_BY: TAG_CREATED_BY_VALUE,
        TAG_CREATED_AT: created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        **({TAG_JOB_ID: job_id} if job_id else {}),
        **dict(tags or {}),
    }
    if len(result) > _MAX_TAGS:
        raise InvalidParameterError(f"tags: at most {_MAX_TAGS} tags in all on a deployment (ARM's limit), "
                                    f"{len(result)} with foundry-tune's own")
    return result


# -- create ---------------------------------------------------------------------------------------

CreateStep = Literal["put", "reuse", "wait_gone"]
"""What ``create`` does next: PUT the deployment, reuse the existing one, or wait until the one
being deleted is gone (and then PUT)."""


def create_step(existing: DeploymentInfo | None, *, name: str, model: str) -> CreateStep:
    """What ``create(model, name)`` does about ARM's current view of ``name``.

    Nothing there, or a failed deployment of the same model: ``"put"``. A deployment being deleted:
    ``"wait_gone"``. Any other state of the same model (Accepted, Creating, Succeeded, ...):
    ``"reuse"``, so a repeated create never makes a second billable deployment. Another model
    under that name raises [`NameInUseError`][NameInUseError].
    """
    check_name_free(existing, name, model)
    if existing is None:
        return "put"
    state = (existing.provisioning_state or "").lower()
    if state == "deleting":
        return "wait_gone"
    if existing.failed:
        return "put"
    return "reuse"


# -- waits ----------------------------------------------------------------------------------------


def operation_done(body: Mapping[str, Any] | None, *, name: str, action: str, hint: str = "") -> bool:
    """What an ARM long-running operation's status body (``Azure-AsyncOperation``) says.

    False while it runs; True once it succeeded, or when the service no longer knows it (``body``
    None: the caller then reads the resource itself). Raises [`DeploymentError`][DeploymentError] (or
    [`DeploymentQuotaError`][DeploymentQuotaError]) with the operation's code and message when it ended
    ``Failed``
    or ``Canceled``; ``action`` is ``"provisioning"`` or ``"deletion"``.
    """
    if body is None:
        return True
    status = str(body.get("status") or "").lower()
    if status == "succeeded":
        return True
    if status not in FAILED_STATES:
        return False
    error = body.get("error")
    error = error if isinstance(error, Mapping) else {}
    code = str(error.get("code") or ("ProvisioningFailed" if action == "provisioning" else "DeletionFailed"))
    reason = str(error.get("message") or "Azure gave no reason")
    cls = DeploymentQuotaError if is_quota_code(code) else DeploymentError
    raise cls(f"{action} of deployment {name!r} ended {body.get('status')}: {reason}.{hint}", code=code)


def provisioned(info: DeploymentInfo) -> bool:
    """Whether provisioning is over: True once it succeeded, False while it runs; raises
    [`DeploymentError`][DeploymentError] with Azure's code and message once it failed or was canceled."""
    if info.failed:
        raise DeploymentError(
            f"deployment {info.name!r} failed to provision: {info.error_message or 'Azure gave no reason'}"
            f" (state {info.provisioning_state}).{retry_hint(info.name)}",
            code=info.error_code or "ProvisioningFailed",
        )
    return info.succeeded


Readiness = Literal["ready", "not_yet", "throttled", "refused"]
"""What one readiness call said: serving, not serving yet, throttled (429: ambiguous), or refused
(401/403: the caller raises the translated error)."""


def readiness_of(status: int | None, code: object = None) -> Readiness:
    """What a readiness call that answered HTTP ``status`` (None: no answer, the connection failed)
    with error ``code`` says about the deployment.

    404 (``DeploymentNotFound`` as Azure answers right after provisioning), a not-ready code
    (``DeploymentNotReady``, ``ModelNotReady``), 5xx and no answer at all mean "not yet"; 429 is
    "throttled"; 401/403 "refused"; any other answer, even a 400 about the request itself, means
    the deployment is serving. A deleted deployment answers the same 404: the wait tells the two
    apart by reading ARM again now and then (see [`arm_recheck_due()`][arm_recheck_due]).
    """
    if status is None:
        return "not_yet"
    if status == 429:
        return "throttled"
    if status == 404 or str(code or "").lower() in _NOT_READY_CODES or status >= 500:
        return "not_yet"
    if status in (401, 403):
        return "refused"
    return "ready"


ARM_RECHECK_EVERY = 3
"""A readiness wait reads the deployment on ARM again at its first "not ready" answer and every
this many after it: the data plane answers a deleted deployment with the same 404 as one still
warming up, only ARM tells them apart."""


def arm_recheck_due(not_ready: int) -> bool:
    """Whether the readiness wait re-reads ARM after its ``not_ready``-th "not ready" answer (the
    1st, then every [`ARM_RECHECK_EVERY`][ARM_RECHECK_EVERY]-th)."""
    return not_ready % ARM_RECHECK_EVERY == 1 % ARM_RECHECK_EVERY


def deleted_while_waiting(info: DeploymentInfo | None, name: str) -> None:
    """Raise [`DeploymentNotFoundError`][DeploymentNotFoundError] when ARM's view ``info`` (None: not
    there) says deployment ``name`` was deleted (or is being deleted) while a wait was on."""
    if info is None or (info.provisioning_state or "").lower() == "deleting":
        state = "is being deleted" if info is not None else "was deleted"
        raise DeploymentNotFoundError(
            f"deployment {name!r} {state} while waiting for it to answer (ARM no longer lists it as "
            "deployed); deploy it again to use it", status=404, code="DeploymentNotFound")


class ThrottleCount:
    """Turns readiness outcomes into "ready or not": ``throttled_enough`` 429s in a row count as
    ready (a throttled gateway and a busy serving deployment look the same)."""

    def __init__(self, throttled_enough: int = 3) -> None:
        self._throttled = 0
        self._throttled_enough = throttled_enough

    def ready(self, readiness: Readiness) -> bool:
        """Whether the deployment counts as ready after this outcome (any outcome but a 429
        resets the count of 429s)."""
        if readiness == "throttled":
            self._throttled += 1
            return self._throttled >= self._throttled_enough
        self._throttled = 0
        return readiness == "ready"


# -- inference ------------------------------------------------------------------------------------


def as_messages(prompt_or_messages: str | Iterable[Mapping[str, Any]], system: str | None = None
                ) -> list[dict[str, Any]]:
    """A chat ``messages`` list from a prompt string or an existing list of messages, with
    ``system`` as a leading system message if given."""
    if isinstance(prompt_or_messages, str):
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt_or_messages}]
    else:
        messages = [dict(m) for m in prompt_or_messages]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return messages


# -- the read-only view ---------------------------------------------------------------------------


class DeploymentState:
    """What ARM said about a deployment the last time it was read: the read-only fields of
    [`Deployment`][Deployment] and [`AsyncDeployment`][aio.AsyncDeployment]."""

    _info: DeploymentInfo

    @property
    def info(self) -> DeploymentInfo:
        """What ARM said the last time this object looked (see ``refresh()``)."""
        return self._info

    @property
    def name(self) -> str:
        """The deployment name (what inference calls pass as ``model``)."""
        return self._info.name

    @property
    def model(self) -> str | None:
        """The deployed model id, e.g. ``gpt-4.1-mini-2025-04-14.ft-...``."""
        return self._info.model

    @property
    def sku(self) -> str | None:
        """The deployment type (``GlobalStandard``, ``Standard``, ``DeveloperTier``, ...)."""
        return self._info.sku

    @property
    def capacity(self) -> int | None:
        """Capacity units (thousands of tokens per minute)."""
        return self._info.capacity

    @property
    def provisioning_state(self) -> str | None:
        """ARM's ``provisioningState``: Accepted, Creating, Succeeded, Failed, Deleting, ..."""
        return self._info.provisioning_state

    @property
    def tags(self) -> dict[str, str]:
        """The resource tags."""
        return dict(self._info.tags)

    @property
    def job_id(self) -> str | None:
        """The fine-tuning job this deployment was created from, when foundry-tune created it."""
        return self._info.job_id

    @property
    def created_by_foundry_tune(self) -> bool:
        """Whether foundry-tune created it (so ``ft.deployments.cleanup()`` may remove it)."""
        return self._info.created_by_foundry_tune

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, model={self.model!r}, sku={self.sku!r}, "
                f"state={self.provisioning_state!r})")


# -- cleanup --------------------------------------------------------------------------------------

StateT = TypeVar("StateT", bound=DeploymentState)


def select_for_cleanup(deployments: Iterable[StateT], *, older_than: dt.timedelta | float | None,
                       job_id: str | None, now: dt.datetime | None = None) -> list[StateT]:
    """The deployments ``cleanup()`` would delete: those of ``job_id`` (if given) created more than
    ``older_than`` ago (a timedelta or seconds, if given; one without a creation tag is then kept),
    measured from ``now`` (default: the current UTC time)."""
    if isinstance(older_than, (int, float)):
        older_than = dt.timedelta(seconds=older_than)
    now = now or dt.datetime.now(dt.timezone.utc)
    chosen = []
    for deployment in deployments:
        if job_id is not None and deployment.job_id != job_id:
            continue
        if older_than is not None:
            created = deployment.info.created_at
            if created is None or now - created < older_than:
                continue
        chosen.append(deployment)
    return chosen
