"""``DeploymentsAPI``: create (idempotently), get, list, delete and clean up deployments over ARM."""

from __future__ import annotations

import builtins
import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, TypeVar

from foundry_tune.deployment._billing import warn_hosting_cost_once
from foundry_tune.deployment._body import (
    TAG_CREATED_AT,
    TAG_CREATED_BY,
    TAG_CREATED_BY_VALUE,
    TAG_JOB_ID,
    build_body,
    default_name,
    validate_name,
)
from foundry_tune.deployment._deployment import Deployment, DeploymentState
from foundry_tune.deployment._errors import deployment_error
from foundry_tune.deployment._info import DeploymentInfo
from foundry_tune.deployment._wait import operation_done, poll_intervals, wait_until
from foundry_tune.errors import DeploymentNotFoundError, FoundryTuneError, NameInUseError

if TYPE_CHECKING:
    from foundry_tune.client import Foundry

__all__ = [
    "DEFAULT_CAPACITY",
    "DEFAULT_SKU",
    "DeploymentsAPI",
    "check_name_free",
    "creation_tags",
    "select_for_cleanup",
]

log = logging.getLogger("foundry_tune.deployment")

DEFAULT_SKU = "GlobalStandard"
DEFAULT_CAPACITY = 50


class DeploymentsAPI:
    """Deployments on the project's Foundry resource (``ft.deployments``)."""

    def __init__(self, foundry: Foundry) -> None:
        self.foundry = foundry

    def _path(self, name: str) -> str:
        from urllib.parse import quote

        return f"/deployments/{quote(name, safe='')}"

    # -- reads -------------------------------------------------------------------------------

    def find_info(self, name: str) -> DeploymentInfo | None:
        """ARM's view of deployment ``name``, or None if it does not exist."""
        try:
            body = self.foundry.arm.request("GET", self._path(name), what=f"get deployment {name!r}",
                                            ok_missing=True)
        except FoundryTuneError as exc:
            raise deployment_error(exc, name=name) from exc
        return None if body is None else DeploymentInfo.from_arm(body, name=name)

    def get_info(self, name: str) -> DeploymentInfo:
        """ARM's view of deployment ``name``; raises :class:`DeploymentNotFoundError`."""
        info = self.find_info(name)
        if info is None:
            raise DeploymentNotFoundError(f"deployment {name!r} not found", status=404)
        return info

    def get(self, name: str) -> Deployment:
        """The deployment called ``name``; raises :class:`DeploymentNotFoundError`."""
        return Deployment(self, self.get_info(name))

    def list(self, *, created_by_foundry_tune: bool = False) -> list[Deployment]:
        """Every deployment on the resource (only the ones foundry-tune created, if asked)."""
        try:
            items = [DeploymentInfo.from_arm(item)
                     for item in self.foundry.arm.list("/deployments", what="list deployments")]
        except FoundryTuneError as exc:
            raise deployment_error(exc, name="*") from exc
        return [Deployment(self, info) for info in items
                if info.created_by_foundry_tune or not created_by_foundry_tune]

    # -- create ------------------------------------------------------------------------------

    def create(
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
    ) -> Deployment:
        """Deploy ``model`` (a fine-tuned model id or a base model) as deployment ``name``.

        Idempotent by name: the default name is derived from the model, and an existing deployment
        of the same model is reused rather than created again, so a repeated call never creates a
        second billable deployment. A name taken by another model raises :class:`NameInUseError`;
        no quota left raises :class:`DeploymentQuotaError`; a missing role raises
        :class:`PermissionDeniedError`; failed provisioning raises :class:`DeploymentError` with
        Azure's code and message. With ``wait`` it returns once provisioning succeeded and (with
        ``ready_check``) the deployment answers a chat call. The deployment is tagged
        ``created-by: foundry-tune`` (plus the job id) so :meth:`cleanup` can find it.
        """
        name = validate_name(name or default_name(model))
        existing = self.find_info(name)
        check_name_free(existing, name, model)
        if existing is not None and (existing.provisioning_state or "").lower() == "deleting":
            log.info("deployment %r is being deleted; waiting until it is gone before creating it", name)
            wait_until(self.foundry, lambda: self.find_info(name) is None, timeout=timeout,
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
            try:
                # PUT is idempotent by name, so the retry policy may repeat it safely.
                answer = self.foundry.arm.begin("PUT", self._path(name), json=body,
                                                what=f"create deployment {name!r}")
            except FoundryTuneError as exc:
                raise deployment_error(exc, name=name) from exc
            info = DeploymentInfo.from_arm(answer.body or {}, name=name)
            operation = answer.operation
            log.info("deployment %r of %s requested (%s)", name, model, info.provisioning_state)
        deployment = Deployment(self, info, operation=operation)
        if wait:
            deployment.wait(timeout=timeout, ready_check=ready_check)
        return deployment

    # -- delete ------------------------------------------------------------------------------

    def delete(self, name: str, *, wait: bool = True, timeout: float = 600.0) -> None:
        """Delete deployment ``name`` (already gone is fine); with ``wait`` return once it is gone.

        ARM answers 202 and keeps the deployment ``Deleting`` for a while: the wait follows the
        ``Azure-AsyncOperation`` ARM answered with, if any, then polls until the deployment reads
        404, all within ``timeout`` seconds (:class:`WaitTimeoutError` after that; a failed
        deletion raises :class:`DeploymentError`).
        """
        try:
            answer = self.foundry.arm.begin("DELETE", self._path(name), what=f"delete deployment {name!r}",
                                            ok_missing=True)
        except FoundryTuneError as exc:
            raise deployment_error(exc, name=name) from exc
        if wait:
            clock = self.foundry.retry.clock
            deadline = clock() + timeout
            what = f"deletion of deployment {name!r}"
            if answer.operation is not None:
                url = answer.operation

                def deleted() -> bool:
                    try:
                        body = self.foundry.arm.operation(url, what=f"status of {what}")
                    except FoundryTuneError as exc:
                        raise deployment_error(exc, name=name) from exc
                    return operation_done(body, name=name, action="deletion")

                wait_until(self.foundry, deleted, timeout=timeout, what=what, poll=poll_intervals(0.5, 10.0))
            wait_until(self.foundry, lambda: self.find_info(name) is None,
                       timeout=max(0.0, deadline - clock()), what=what, poll=poll_intervals(0.5, 10.0))
        log.info("deployment %r deleted", name)

    def cleanup(
        self,
        *,
        older_than: dt.timedelta | float | None = None,
        job_id: str | None = None,
        dry_run: bool = True,
        wait: bool = True,
    ) -> builtins.list[Deployment]:
        """Find (and, with ``dry_run=False``, delete) deployments foundry-tune created.

        Only deployments tagged ``created-by: foundry-tune`` are considered, optionally only those
        created more than ``older_than`` ago (a timedelta or seconds) or for one ``job_id``.
        Dry run by default: it returns what it would delete and deletes nothing.
        """
        chosen = select_for_cleanup(self.list(created_by_foundry_tune=True), older_than=older_than,
                                    job_id=job_id)
        if not dry_run:
            for deployment in chosen:
                self.delete(deployment.name, wait=wait)
        return chosen

    def __repr__(self) -> str:
        return f"DeploymentsAPI(account={self.foundry.arm_settings.account_name!r})"


def check_name_free(existing: DeploymentInfo | None, name: str, model: str) -> None:
    """Raise :class:`NameInUseError` if deployment ``name`` exists with another model (shared by
    the sync and async ``create``)."""
    if existing is not None and existing.model and existing.model != model:
        raise NameInUseError(
            f"deployment name {name!r} is already used by model {existing.model!r}; pick another name "
            f"or delete it first (ft.deployments.get({name!r}).delete())",
            code="DeploymentNameInUse",
        )


def creation_tags(job_id: str | None, tags: Mapping[str, str] | None) -> dict[str, str]:
    """The tags a new deployment gets: created by foundry-tune, when, from which job, plus ``tags``."""
    return {
        TAG_CREATED_BY: TAG_CREATED_BY_VALUE,
        TAG_CREATED_AT: dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **({TAG_JOB_ID: job_id} if job_id else {}),
        **dict(tags or {}),
    }


StateT = TypeVar("StateT", bound=DeploymentState)


def select_for_cleanup(deployments: Iterable[StateT], *, older_than: dt.timedelta | float | None,
                       job_id: str | None) -> builtins.list[StateT]:
    """The deployments ``cleanup()`` would delete: those of ``job_id`` (if given) created more
    than ``older_than`` ago (a timedelta or seconds; if given). Shared by the sync and async API."""
    if isinstance(older_than, (int, float)):
        older_than = dt.timedelta(seconds=older_than)
    now = dt.datetime.now(dt.timezone.utc)
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
