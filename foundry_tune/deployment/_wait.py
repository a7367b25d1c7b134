"""Waiting on a deployment: provisioning, readiness to answer, and removal."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import openai

from foundry_tune.client._errors import is_quota_code, translate
from foundry_tune.errors import DeploymentError, DeploymentQuotaError, WaitTimeoutError

if TYPE_CHECKING:
    from foundry_tune.client import Foundry
    from foundry_tune.deployment._info import DeploymentInfo

__all__ = [
    "PROBE_MESSAGES",
    "ReadinessProbe",
    "ThrottleCount",
    "operation_done",
    "poll_intervals",
    "probe_ready",
    "ready_despite",
    "wait_until",
]

log = logging.getLogger("foundry_tune.deployment")

_OPERATION_FAILED = frozenset({"failed", "canceled", "cancelled"})

# Codes a deployment answers with between provisioning "Succeeded" and serving traffic.
_NOT_READY_CODES = frozenset({"deploymentnotready", "deploymentnotfound", "modelnotready"})


def poll_intervals(initial: float = 1.0, maximum: float = 10.0, factor: float = 1.5) -> Iterator[float]:
    """1s, 1.5s, 2.25s, ... capped at ``maximum``: quick for fast services, gentle for slow ones."""
    delay = initial
    while True:
        yield delay
        delay = min(maximum, delay * factor)


def operation_done(body: Mapping[str, Any] | None, *, name: str, action: str, hint: str = "") -> bool:
    """What an ARM long-running operation's status body (``Azure-AsyncOperation``) says: False
    while it runs, True once it succeeded, or when the service no longer knows it (``body`` None:
    the caller then reads the resource itself). Raises :class:`DeploymentError` (with the
    operation's code and message) when it ended ``Failed`` or ``Canceled``. Shared by sync and async.
    """
    if body is None:
        return True
    status = str(body.get("status") or "").lower()
    if status == "succeeded":
        return True
    if status not in _OPERATION_FAILED:
        return False
    error = body.get("error")
    error = error if isinstance(error, Mapping) else {}
    code = str(error.get("code") or ("ProvisioningFailed" if action == "provisioning" else "DeletionFailed"))
    reason = str(error.get("message") or "Azure gave no reason")
    cls = DeploymentQuotaError if is_quota_code(code) else DeploymentError
    raise cls(f"{action} of deployment {name!r} ended {body.get('status')}: {reason}.{hint}", code=code)


def wait_until(
    ft: Foundry,
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    poll: Iterator[float] | None = None,
) -> None:
    """Call ``check`` until it returns True, sleeping between calls; WaitTimeoutError after ``timeout``."""
    clock, sleep = ft.retry.clock, ft.retry.sleep
    deadline = clock() + timeout
    intervals = poll or poll_intervals()
    while not check():
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeoutError(
                f"{what}: still waiting after {timeout:g}s (nothing was cancelled or deleted)"
            )
        sleep(min(next(intervals), remaining))


class ThrottleCount:
    """Counts 429s in a row during readiness checks: ``throttled_enough`` of them count as ready
    (a throttled gateway and a busy serving deployment look the same). Shared by sync and async."""

    def __init__(self, throttled_enough: int = 3) -> None:
        self._throttled = 0
        self._throttled_enough = throttled_enough

    def throttled(self) -> bool:
        """One more 429: whether that is enough to call the deployment ready."""
        self._throttled += 1
        return self._throttled >= self._throttled_enough

    def answered(self, ready: bool) -> bool:
        """Any other outcome resets the count."""
        self._throttled = 0
        return ready


class ReadinessProbe:
    """Whether the deployment answers inference (one tiny chat call per check).

    404 (``DeploymentNotFound`` as Azure answers right after provisioning, or ``DeploymentNotReady``),
    5xx and dropped connections mean "not yet"; any other answer, even a 400 about the request
    itself, means the deployment is serving. A 429 is ambiguous (a throttled
    gateway or a serving deployment), so only ``throttled_enough`` of them in a row count as ready.
    """

    def __init__(self, ft: Foundry, info: DeploymentInfo, *, throttled_enough: int = 3) -> None:
        self._ft = ft
        self._info = info
        self._count = ThrottleCount(throttled_enough)

    def __call__(self) -> bool:
        try:
            ready = probe_ready(self._ft, self._info)
        except openai.RateLimitError:
            return self._count.throttled()
        return self._count.answered(ready)


PROBE_MESSAGES: list[dict[str, str]] = [{"role": "user", "content": "ping"}]
"""The tiny chat request a readiness check sends (``max_completion_tokens=16``)."""


def probe_ready(ft: Foundry, info: DeploymentInfo) -> bool:
    """One readiness check: True if the deployment answered; raises ``openai.RateLimitError`` on 429."""
    try:
        ft.openai.chat.completions.create(
            model=info.name,
            messages=PROBE_MESSAGES,  # type: ignore[arg-type]
            max_completion_tokens=16,
        )
    except (openai.APIStatusError, openai.APIConnectionError) as exc:
        return ready_despite(exc, info.name)
    return True


def ready_despite(exc: openai.APIStatusError | openai.APIConnectionError, name: str) -> bool:
    """What a failed readiness call says: False = not serving yet; True = serving (the error is
    about the request). Re-raises a 429; raises the translated error for 401/403."""
    if isinstance(exc, openai.APIConnectionError):
        return False
    if isinstance(exc, openai.RateLimitError):
        raise exc
    code = str(exc.code or "").lower()
    if exc.status_code == 404 or code in _NOT_READY_CODES or exc.status_code >= 500:
        log.debug("deployment %s not answering yet (HTTP %s %s)", name, exc.status_code, exc.code)
        return False
    if exc.status_code in (401, 403):
        raise translate(exc, what=f"readiness check of deployment {name!r}") from exc
    return True
