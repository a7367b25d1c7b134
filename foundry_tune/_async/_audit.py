"""``ft.audit()``: what the resource holds that bills or counts against a limit, and what is safe to
delete. The listings are bounded; the report says which one was cut short or failed."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import TYPE_CHECKING

from foundry_tune._async._files import Listing, list_files, list_jobs
from foundry_tune._core.audit import (
    IDLE_AFTER,
    AuditReport,
    Deletable,
    DeploymentAudit,
    cleanup_decision,
    hosting_rate,
    idle_deployment_reason,
    tuned_models_of,
    uploaded_file,
)
from foundry_tune._core.lifecycle import MIN_FILE_AGE, file_users, moment
from foundry_tune.errors import FoundryTuneError

if TYPE_CHECKING:
    from foundry_tune._async._foundry import AsyncFoundry

__all__ = ["audit"]

log = logging.getLogger("foundry_tune.files")


async def _deployments(ft: AsyncFoundry, now: dt.datetime, notes: list[str]) -> list[DeploymentAudit]:
    try:
        deployments = await ft.deployments.list()
    except FoundryTuneError as exc:  # no ARM settings, no role: the rest of the audit still holds
        notes.append(f"deployments: not listed ({type(exc).__name__}: {exc})")
        return []
    return [DeploymentAudit(d.info, hosting_rate(d.info.model, d.info.sku), d.info.lifecycle_note(now))
            for d in deployments]


async def audit(ft: AsyncFoundry, *, idle_after: dt.timedelta = IDLE_AFTER,
                now: dt.datetime | float | None = None) -> AuditReport:
    """Gather an [`AuditReport`][AuditReport] (see ``Foundry.audit()``)."""
    now = moment(now)
    try:
        jobs = await list_jobs(ft)
    except FoundryTuneError as exc:  # then no file is offered for deletion (an unlisted job may use it)
        jobs = Listing([], f"jobs: not listed ({type(exc).__name__}: {exc})")
    try:
        files = await list_files(ft)
    except FoundryTuneError as exc:
        files = Listing([], f"files: not listed ({type(exc).__name__}: {exc})")
    notes = [n for n in (jobs.incomplete, files.incomplete) if n]
    users = file_users(jobs.items)
    listed = [uploaded_file(raw, users.get(str(raw.get("id")), ())) for raw in files.items]
    deployments = await _deployments(ft, now, notes)
    deletable: list[Deletable] = []
    for d in deployments:
        reason = idle_deployment_reason(d, now, idle_after)
        if reason is not None:
            name = json.dumps(d.info.name)
            deletable.append(Deletable("deployment", d.info.name, reason, f"ft.deployments.delete({name})",
                                       f"foundry-tune deploy delete {d.info.name}"))
    for f in listed:
        decision = cleanup_decision(f, now=now, older_than=MIN_FILE_AGE, jobs_seen_since=jobs.oldest,
                                    jobs_complete=jobs.incomplete is None)
        if decision.action == "delete":
            deletable.append(Deletable("file", f.id, decision.reason, f"ft.files.delete({json.dumps(f.id)})",
                                       f"foundry-tune files delete {f.id}"))
    for note in notes:
        log.warning("audit: %s", note)
    return AuditReport(generated_at=now, models=tuple(tuned_models_of(jobs.items)),
                       deployments=tuple(deployments), files=tuple(listed), deletable=tuple(deletable),
                       incomplete=tuple(notes))
