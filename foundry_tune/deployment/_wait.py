"""Waiting on a deployment: provisioning, readiness to answer, and removal."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import openai

from foundry_tune.client._errors import translate
from foundry_tune.errors import WaitTimeoutError

if TYPE_CHECKING:
    from foundry_tune.client import Foundry
    from foundry_tune.deployment._info import DeploymentInfo

__all__ = ["ReadinessProbe", "poll_intervals", "probe_ready", "wait_until"]

log = logging.getLogger("foundry_tune.deployment")

# Codes a deployment answers with between provisioning "Succeeded" and serving traffic.
_NOT_READY_CODES = frozenset({"deploymentnotready", "deploymentnotfound", "modelnotready"})


def poll_intervals(initial: float = 1.0, maximum: float = 10.0, factor: float = 1.5) -> Iterator[float]:
    """1s, 1.5s, 2.25s, ... capped at ``maximum``: quick for fast services, gentle for slow ones."""
    delay = initial
    while True:
        yield delay
        delay = min(maximum, delay * factor)


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


class ReadinessProbe:
    """Whether the deployment answers inference (one tiny chat call per check).

    404 / DeploymentNotReady, 5xx and dropped connections mean "not yet"; any other answer, even a
    400 about the request itself, means the deployment is serving. A 429 is ambiguous (a throttled
    gateway or a serving deployment), so only ``throttled_enough`` of them in a row count as ready.
    """

    def __init__(self, ft: Foundry, info: DeploymentInfo, *, throttled_enough: int = 3) -> None:
        self._ft = ft
        self._info = info
        self._throttled = 0
        self._throttled_enough = throttled_enough

    def __call__(self) -> bool:
        try:
            ready = probe_ready(self._ft, self._info)
        except openai.RateLimitError:
            self._throttled += 1
            return self._throttled >= self._throttled_enough
        self._throttled = 0
        return ready


def probe_ready(ft: Foundry, info: DeploymentInfo) -> bool:
    """One readiness check: True if the deployment answered; raises ``openai.RateLimitError`` on 429."""
    try:
        ft.openai.chat.completions.create(
            model=info.name,
            messages=[{"role": "user", "content": "ping"}],
            max_completion_tokens=16,
        )
    except openai.APIStatusError as exc:
        if isinstance(exc, openai.RateLimitError):
            raise
        code = str(exc.code or "").lower()
        if exc.status_code == 404 or code in _NOT_READY_CODES or exc.status_code >= 500:
            log.debug("deployment %s not answering yet (HTTP %s %s)", info.name, exc.status_code, exc.code)
            return False
        if exc.status_code in (401, 403):
            raise translate(exc, what=f"readiness check of deployment {info.name!r}") from exc
        return True
    except openai.APIConnectionError:
        return False
    return True
