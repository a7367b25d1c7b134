"""Async deployments: the twins of :class:`foundry_tune.deployment.DeploymentsAPI` and
:class:`~foundry_tune.deployment.Deployment`. ARM bodies, names, tags, state parsing, readiness
rules and errors are the sync module's."""

from __future__ import annotations

import builtins
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import openai

from foundry_tune.deployment._api import (
    DEFAULT_CAPACITY,
    DEFAULT_SKU,
    check_name_free,
    creation_tags,
    select_for_cleanup,
)
from foundry_tune.deployment._billing import warn_hosting_cost_once
from foundry_tune.deployment._body import (
    build_body,
    default_name,
    validate_name,
)
from foundry_tune.deployment._deployment import DeploymentState
from foundry_tune.deployment._errors import deployment_error
from foundry_tune.deployment._inference import as_messages
from foundry_tune.deployment._info import DeploymentInfo
from foundry_tune.deployment._wait import (
    PROBE_MESSAGES,
    ThrottleCount,
    operation_done,
    poll_intervals,
    ready_despite,
)
from foundry_tune.errors import (
    DeploymentError,
    DeploymentNotFoundError,
    FoundryTuneError,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    from foundry_tune.aio._foundry import AsyncFoundry

__all__ = ["AsyncDeployment", "AsyncDeploymentsAPI"]

log = logging.getLogger("foundry_tune.deployment")


async def wait_until(
    ft: AsyncFoundry,
    check: Callable[[], Awaitable[bool]],
    *,
    timeout: float,
    what: str,
    poll: Iterator[float] | None = None,
) -> None:
    """Await ``check`` until it returns True; WaitTimeoutError after ``timeout`` seconds."""
    clock = ft.retry.clock
    deadline = clock() + timeout
    intervals = poll or poll_intervals()
    while not await check():
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeoutError(
                f"{what}: still waiting after {timeout:g}s (nothing was cancelled or deleted)")
        await ft.retry.sleep(min(next(intervals), remaining))


class AsyncDeploymentsAPI:
    """Deployments on the project's Foundry resource (``ft.deployments`` on an AsyncFoundry)."""

    def __init__(self, foundry: AsyncFoundry) -> None:
        self.foundry = foundry

    @staticmethod
    def _path(name: str) -> str:
        return f"/deployments/{quote(name, safe='')}"

    async def find_info(self, name: str) -> DeploymentInfo | None:
        """ARM's view of deployment ``name``, or None if it does not exist."""
        try:
            body = await self.foundry.arm.request("GET", self._path(name), what=f"get deployment {name!r}",
                                                  ok_missing=True)
        except FoundryTuneError as exc:
            raise deployment_error(exc, name=name) from exc
        return None if body is None else DeploymentInfo.from_arm(body, name=name)

    async def get_info(self, name: str) -> DeploymentInfo:
        """ARM's view of deployment ``name``; raises :class:`DeploymentNotFoundError`."""
        info = await self.find_info(name)
        if info is None:
            raise DeploymentNotFoundError(f"deployment {name!r} not found", status=404)
        return info

    async def get(self, name: str) -> AsyncDeployment:
        """The deployment called ``name``; raises :class:`DeploymentNotFoundError`."""
        return AsyncDeployment(self, await self.get_info(name))

    async def list(self, *, created_by_foundry_tune: bool = False) -> builtins.list[AsyncDeployment]:
        """Every deployment on the resource (only the ones foundry-tune created, if asked)."""
        try:
            items = [DeploymentInfo.from_arm(item)
                     async for item in self.foundry.arm.list("/deployments", what="list deployments")]
        except FoundryTuneError as exc:
            raise deployment_error(exc, name="*") from exc
        return [AsyncDeployment(self, info) for info in items
                if info.created_by_foundry_tune or not created_by_foundry_tune]

    async def _gone(self, name: str) -> bool:
        return await self.find_info(name) is None

    async def create(
        self,
        model: str,
        name: str | None = None,
        *,
        sku: str = DEFAULT_SKU,
        capacity: int = DEFAULT_CAPACITY,
        wait: bool = True,
        timeout: float = 1800.0,
        ready_check: bool = True,
        job_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        model_version: str = "1",
        model_format: str | None = None,
    ) -> AsyncDeployment:
        """Deploy ``model`` as deployment ``name``, idempotently by name, as
        :meth:`DeploymentsAPI.create <foundry_tune.deployment.DeploymentsAPI.create>` does."""
        name = validate_name(name or default_name(model))
        existing = await self.find_info(name)
        check_name_free(existing, name, model)
        if existing is not None and (existing.provisioning_state or "").lower() == "deleting":
            await wait_until(self.foundry, lambda: self._gone(name), timeout=timeout,
                             what=f"deletion of deployment {name!r}", poll=poll_intervals(0.5, 10.0))
            existing = None
        operation: str | None = None
        if existing is not None and not existing.failed:
            log.info("deployment %r of %s already exists (%s); reusing it", name, model,
                     existing.provisioning_state)
            info = existing
        else:
            if not self.foundry.is_emulator:
                warn_hosting_cost_once(sku)
            body = build_body(model, sku=sku, capacity=capacity, tags=creation_tags(job_id, tags),
                              model_version=model_version, model_format=model_format)
            try:  # PUT is idempotent by name, so the retry policy may repeat it safely
                answer = await self.foundry.arm.begin("PUT", self._path(name), json=body,
                                                      what=f"create deployment {name!r}")
            except FoundryTuneError as exc:
                raise deployment_error(exc, name=name) from exc
            info = DeploymentInfo.from_arm(answer.body or {}, name=name)
            operation = answer.operation
        deployment = AsyncDeployment(self, info, operation=operation)
        if wait:
            await deployment.wait(timeout=timeout, ready_check=ready_check)
        return deployment

    async def delete(self, name: str, *, wait: bool = True, timeout: float = 600.0) -> None:
        """Delete deployment ``name`` (already gone is fine); with ``wait`` return once it is gone,
        following ARM's ``Azure-AsyncOperation`` first, as
        :meth:`DeploymentsAPI.delete <foundry_tune.deployment.DeploymentsAPI.delete>` does."""
        try:
            answer = await self.foundry.arm.begin("DELETE", self._path(name),
                                                  what=f"delete deployment {name!r}", ok_missing=True)
        except FoundryTuneError as exc:
            raise deployment_error(exc, name=name) from exc
        if wait:
            clock = self.foundry.retry.clock
            deadline = clock() + timeout
            what = f"deletion of deployment {name!r}"
            if answer.operation is not None:
                url = answer.operation

                async def deleted() -> bool:
                    try:
                        body = await self.foundry.arm.operation(url, what=f"status of {what}")
                    except FoundryTuneError as exc:
                        raise deployment_error(exc, name=name) from exc
                    return operation_done(body, name=name, action="deletion")

                await wait_until(self.foundry, deleted, timeout=timeout, what=what,
                                 poll=poll_intervals(0.5, 10.0))
            await wait_until(self.foundry, lambda: self._gone(name), timeout=max(0.0, deadline - clock()),
                             what=what, poll=poll_intervals(0.5, 10.0))

    async def cleanup(
        self,
        *,
        older_than: dt.timedelta | float | None = None,
        job_id: str | None = None,
        dry_run: bool = True,
        wait: bool = True,
    ) -> builtins.list[AsyncDeployment]:
        """Find (and, with ``dry_run=False``, delete) deployments foundry-tune created, as
        :meth:`DeploymentsAPI.cleanup <foundry_tune.deployment.DeploymentsAPI.cleanup>` does
        (a dry run by default)."""
        chosen = select_for_cleanup(await self.list(created_by_foundry_tune=True), older_than=older_than,
                                    job_id=job_id)
        if not dry_run:
            for deployment in chosen:
                await self.delete(deployment.name, wait=wait)
        return chosen

    def __repr__(self) -> str:
        return f"AsyncDeploymentsAPI(account={self.foundry.arm_settings.account_name!r})"


class AsyncDeployment(DeploymentState):
    """A model deployment, used from an event loop (``async with`` deletes it on exit)."""

    def __init__(self, api: AsyncDeploymentsAPI, info: DeploymentInfo, *,
                 operation: str | None = None) -> None:
        self._api = api
        self._info = info
        self._operation = operation

    @property
    def _ft(self) -> AsyncFoundry:
        return self._api.foundry

    async def refresh(self) -> AsyncDeployment:
        """Re-read the deployment from ARM; returns self."""
        self._info = await self._api.get_info(self.name)
        return self

    async def _provisioned(self) -> bool:
        if self._operation is not None:
            try:
                body = await self._ft.arm.operation(self._operation,
                                                    what=f"status of deployment {self.name!r}")
            except FoundryTuneError as exc:
                raise deployment_error(exc, name=self.name) from exc
            hint = f" Delete it with await ft.deployments.delete({self.name!r}) before retrying."
            if not operation_done(body, name=self.name, action="provisioning", hint=hint):
                return False
            self._operation = None
        if not self._info.succeeded:
            await self.refresh()
        if self._info.failed:
            raise DeploymentError(
                f"deployment {self.name!r} failed to provision: "
                f"{self._info.error_message or 'Azure gave no reason'} "
                f"(state {self._info.provisioning_state}). Delete it with "
                f"await ft.deployments.delete({self.name!r}) before retrying.",
                code=self._info.error_code or "ProvisioningFailed",
            )
        return self._info.succeeded

    async def wait(self, *, timeout: float = 1800.0, ready_check: bool = True) -> AsyncDeployment:
        """Wait until provisioning succeeded and (with ``ready_check``) the deployment answers,
        following ARM's ``Azure-AsyncOperation`` right after ``create`` as the sync
        :meth:`Deployment.wait <foundry_tune.deployment.Deployment.wait>` does."""
        clock = self._ft.retry.clock
        started = clock()
        await wait_until(self._ft, self._provisioned, timeout=timeout,
                         what=f"provisioning of deployment {self.name!r}", poll=poll_intervals(0.5, 15.0))
        if ready_check:
            count = ThrottleCount()

            async def answers() -> bool:
                try:
                    await self._ft.openai.chat.completions.create(
                        model=self.name, messages=PROBE_MESSAGES, max_completion_tokens=16)  # type: ignore[arg-type]
                except openai.RateLimitError:
                    return count.throttled()
                except (openai.APIStatusError, openai.APIConnectionError) as exc:
                    return count.answered(ready_despite(exc, self.name))
                return count.answered(True)

            remaining = max(1.0, timeout - (clock() - started))
            await wait_until(self._ft, answers, timeout=remaining, what=f"deployment {self.name!r} to answer",
                             poll=poll_intervals(0.5, 10.0))
        return self

    async def chat(self, prompt_or_messages: str | Iterable[Mapping[str, Any]], *, system: str | None = None,
                   **kwargs: Any) -> str:
        """Chat completion with this deployment; returns the answer's text."""
        messages = as_messages(prompt_or_messages, system)
        completion = await self._ft.retry.call(
            lambda: self._ft.openai.chat.completions.create(model=self.name, messages=messages, **kwargs),  # type: ignore[arg-type]
            what=f"chat with deployment {self.name!r}",
        )
        if not completion.choices:
            return ""
        return completion.choices[0].message.content or ""

    async def responses(self, input: str | list[Any], **kwargs: Any) -> str:
        """Responses API call with this deployment; returns ``output_text``."""
        response = await self._ft.retry.call(
            lambda: self._ft.openai.responses.create(model=self.name, input=input, **kwargs),
            what=f"responses call to deployment {self.name!r}",
        )
        return str(response.output_text)

    async def delete(self, *, wait: bool = True, timeout: float = 600.0) -> None:
        """Delete the deployment; with ``wait`` return only once ARM no longer lists it."""
        await self._api.delete(self.name, wait=wait, timeout=timeout)

    async def __aenter__(self) -> AsyncDeployment:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.delete()
            return
        try:
            await self.delete()
        except Exception:
            log.exception("could not delete deployment %r after the block raised; "
                          "run ft.deployments.cleanup(dry_run=False) to remove leftovers", self.name)


