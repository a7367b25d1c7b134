"""``AsyncDeploymentsAPI``: create (once per name), get, list, delete and clean up deployments over ARM."""

from __future__ import annotations

import builtins
import datetime as dt
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from foundry_tune._async._deployment import AsyncDeployment, wait_until
from foundry_tune._async._flavour import Lock
from foundry_tune._core.billing import warn_hosting_cost_once
from foundry_tune._core.deploy_safety import refused_deploy
from foundry_tune._core.deployment_body import build_body, default_name, legacy_default_name, validate_name
from foundry_tune._core.deployment_errors import deployment_error
from foundry_tune._core.deployment_info import DeploymentInfo
from foundry_tune._core.deployment_state import (
    CREATE_TIMEOUT,
    DEFAULT_CAPACITY,
    DEFAULT_SKU,
    DELETE_TIMEOUT,
    create_step,
    creation_tags,
    deletion_schedule,
    deployment_path,
    operation_done,
    select_for_cleanup,
)
from foundry_tune._core.retry import check_seconds
from foundry_tune.errors import DeploymentNotFoundError, FoundryTuneError

if TYPE_CHECKING:
    from foundry_tune._async._foundry import AsyncFoundry

__all__ = ["DEFAULT_CAPACITY", "DEFAULT_SKU", "AsyncDeploymentsAPI"]

log = logging.getLogger("foundry_tune.deployment")


class AsyncDeploymentsAPI:
    """Deployments on the project's Foundry resource (``ft.deployments``)."""

    def __init__(self, ft: AsyncFoundry) -> None:
        self.ft = ft
        self._locks: dict[str, Lock] = {}

    # -- reads -------------------------------------------------------------------------------

    async def find_info(self, name: str) -> DeploymentInfo | None:
        """ARM's view of deployment ``name``, or None if it does not exist."""
        name = validate_name(name)
        try:
            body = await self.ft.arm.request("GET", deployment_path(name),
                                                  what=f"get deployment {name!r}", ok_missing=True)
        except FoundryTuneError as exc:
            raise deployment_error(exc, name=name) from exc
        return None if body is None else DeploymentInfo.from_arm(body, name=name)

    async def get_info(self, name: str) -> DeploymentInfo:
        """ARM's view of deployment ``name``; raises [`DeploymentNotFoundError`][DeploymentNotFoundError]."""
        info = await self.find_info(name)
        if info is None:
            raise DeploymentNotFoundError(f"deployment {name!r} not found", status=404)
        return info

    async def get(self, name: str) -> AsyncDeployment:
        """The deployment called ``name``; raises [`DeploymentNotFoundError`][DeploymentNotFoundError]."""
        return AsyncDeployment(self, await self.get_info(name))

    async def list(self, *, created_by_foundry_tune: bool = False) -> builtins.list[AsyncDeployment]:
        """Every deployment on the resource (only the ones foundry-tune created, if asked)."""
        try:
            items = [DeploymentInfo.from_arm(item)
                     async for item in self.ft.arm.list("/deployments", what="list deployments")]
        except FoundryTuneError as exc:
            raise deployment_error(exc, name="*") from exc
        return [AsyncDeployment(self, info) for info in items
                if info.created_by_foundry_tune or not created_by_foundry_tune]

    async def _gone(self, name: str) -> bool:
        return await self.find_info(name) is None

    # -- create ------------------------------------------------------------------------------

    async def create(
        self,
        model: str,
        name: str | None = None,
        *,
        sku: str = DEFAULT_SKU,
        capacity: int = DEFAULT_CAPACITY,
        wait: bool = True,
        timeout: float = CREATE_TIMEOUT,
        ready_check: bool = True,
        job_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        model_version: str = "1",
        model_format: str | None = None,
    ) -> AsyncDeployment:
        """Deploy ``model`` (a fine-tuned model id or a base model) as deployment ``name``.

        Idempotent by name: the default name is derived from the model (``default_name()``: base
        model, the job's suffix, the job id's first 8 characters; a live deployment of the model
        under the name earlier versions derived is reused too), and an existing deployment
        of the same model is reused rather than created again, so a repeated call (or several at
        once on this connection) never creates a second billable deployment. A name taken by
        another model raises [`NameInUseError`][NameInUseError]; no quota left raises
        [`DeploymentQuotaError`][DeploymentQuotaError]; a missing role raises
        [`PermissionDeniedError`][PermissionDeniedError]; failed
        provisioning raises [`DeploymentError`][DeploymentError] with Azure's code and message; a model
        (or checkpoint) the service refuses because it failed its safety evaluation raises the
        model-safety [`SafetyCheckFailedError`][SafetyCheckFailedError] (``kind`` ``"model"``, the harm
        categories, a hint; its ``job_id`` is ``job_id`` or the job the model's name points at). With ``wait``
        it returns once provisioning succeeded and (with ``ready_check``) the deployment answers a
        chat call. The deployment is tagged
        ``created-by: foundry-tune`` (plus the job id) so [`cleanup()`][cleanup] can find it.
        """
        derived = name is None
        name = validate_name(name or default_name(model))
        # Every argument is checked before the first request (nothing is read or created for a bad one).
        check_seconds(timeout, "timeout", zero=False)
        body = build_body(model, sku=sku, capacity=capacity, tags=creation_tags(job_id, tags),
                          model_version=model_version, model_format=model_format)
        if derived:
            name = await self._earlier_name(model, name)
        # One look-then-PUT per name at a time: concurrent creates of one name on this connection
        # see each other's deployment and reuse it instead of sending a second PUT.
        try:
            async with self._locks.setdefault(name, Lock()):
                deployment = await self._create_once(model, name, body, sku=sku, timeout=timeout)
            if wait:
                await deployment.wait(timeout=timeout, ready_check=ready_check)
        except FoundryTuneError as exc:
            refused = refused_deploy(exc, model=model, job_id=job_id)
            if refused is exc:
                raise
            raise refused from exc
        return deployment

    async def _earlier_name(self, model: str, name: str) -> str:
        """``name``, or the name an earlier foundry-tune derived for ``model`` when a live deployment
        of that model already has it: a re-run after an upgrade reuses it instead of paying twice."""
        legacy = legacy_default_name(model)
        if legacy == name:
            return name
        earlier = await self.find_info(legacy)
        if earlier is None or earlier.model != model or earlier.failed or \
                (earlier.provisioning_state or "").lower() == "deleting":
            return name
        log.info("deployment %r of %s was named by an earlier foundry-tune; reusing it", legacy, model)
        return legacy

    async def _create_once(self, model: str, name: str, body: dict[str, Any], *, sku: str,
                           timeout: float) -> AsyncDeployment:
        existing = await self.find_info(name)
        step = create_step(existing, name=name, model=model)
        if step == "wait_gone":
            log.info("deployment %r is being deleted; waiting until it is gone before creating it", name)
            await wait_until(self.ft, lambda: self._gone(name), timeout=timeout,
                             what=f"deletion of deployment {name!r}", schedule=deletion_schedule())
        elif step == "reuse":
            assert existing is not None
            log.info("deployment %r of %s already exists (%s); reusing it", name, model,
                     existing.provisioning_state)
            return AsyncDeployment(self, existing)
        if not self.ft.is_emulator:
            warn_hosting_cost_once(sku)
        try:
            # PUT is idempotent by name, so the retry policy may repeat it safely.
            answer = await self.ft.arm.begin("PUT", deployment_path(name), json=body,
                                                  what=f"create deployment {name!r}")
        except FoundryTuneError as exc:
            raise deployment_error(exc, name=name) from exc
        info = DeploymentInfo.from_arm(answer.body or {}, name=name)
        log.info("deployment %r of %s requested (%s)", name, model, info.provisioning_state)
        return AsyncDeployment(self, info, operation=answer.operation)

    # -- delete ------------------------------------------------------------------------------

    async def delete(self, name: str, *, wait: bool = True, timeout: float = DELETE_TIMEOUT) -> None:
        """Delete deployment ``name`` (already gone is fine); with ``wait`` return once it is gone.

        ARM answers 202 and keeps the deployment ``Deleting`` for a while: the wait follows the
        ``Azure-AsyncOperation`` ARM answered with, if any, then polls until the deployment reads
        404, all within ``timeout`` seconds ([`WaitTimeoutError`][WaitTimeoutError] after that; a failed
        deletion raises [`DeploymentError`][DeploymentError]).
        """
        name = validate_name(name)
        check_seconds(timeout, "timeout", zero=False)
        try:
            answer = await self.ft.arm.begin("DELETE", deployment_path(name),
                                                  what=f"delete deployment {name!r}", ok_missing=True)
        except FoundryTuneError as exc:
            raise deployment_error(exc, name=name) from exc
        if wait:
            clock = self.ft.retry.clock
            deadline = clock() + timeout
            what = f"deletion of deployment {name!r}"
            if answer.operation is not None:
                url = answer.operation

                async def deleted() -> bool:
                    try:
                        body = await self.ft.arm.operation(url, what=f"status of {what}")
                    except FoundryTuneError as exc:
                        raise deployment_error(exc, name=name) from exc
                    return operation_done(body, name=name, action="deletion")

                await wait_until(self.ft, deleted, timeout=timeout, what=what,
                                 schedule=deletion_schedule())
            await wait_until(self.ft, lambda: self._gone(name), timeout=max(0.0, deadline - clock()),
                             what=what, schedule=deletion_schedule())
        log.info("deployment %r deleted", name)

    async def cleanup(
        self,
        *,
        older_than: dt.timedelta | float | None = None,
        job_id: str | None = None,
        dry_run: bool = True,
        wait: bool = True,
    ) -> builtins.list[AsyncDeployment]:
        """Find (and, with ``dry_run=False``, delete) deployments foundry-tune created.

        Only deployments tagged ``created-by: foundry-tune`` are considered, optionally only those
        created more than ``older_than`` ago (a timedelta or seconds) or for one ``job_id``.
        Dry run by default: it returns what it would delete and deletes nothing.
        """
        chosen = select_for_cleanup(await self.list(created_by_foundry_tune=True), older_than=older_than,
                                    job_id=job_id)
        if not dry_run:
            for deployment in chosen:
                await self.delete(deployment.name, wait=wait)
        return chosen

    def __repr__(self) -> str:
        return f"AsyncDeploymentsAPI(account={self.ft.arm_settings.account_name!r})"
