"""What a resource holds that bills or counts against a limit, without I/O: uploaded files, tuned
models, deployments with their expiry and hourly cost, which of them are safe to delete (and how),
and the decisions of a file cleanup.

The network layer (``foundry_tune._async._files``, ``_models``, ``_audit``) lists and deletes; this
module decides and renders.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from foundry_tune._core.deployment_info import DeploymentInfo
from foundry_tune._core.lifecycle import (
    MIN_FILE_AGE,
    base_model_of,
    is_library_upload,
    parse_time,
)
from foundry_tune._table import columns
from foundry_tune.errors import FoundryTuneError

__all__ = [
    "FAILED_FILE_STATUSES",
    "AuditReport",
    "Deletable",
    "DeploymentAudit",
    "FileCleanupReport",
    "FileDecision",
    "TunedModel",
    "UploadedFile",
    "cleanup_decision",
    "hosting_rate",
    "idle_deployment_reason",
    "tuned_models_of",
    "uploaded_file",
]

FAILED_FILE_STATUSES = frozenset({"error", "failed"})
"""File statuses of a file the service could not process (or fetch, for an import); no job can use it."""

IDLE_AFTER = dt.timedelta(hours=24)
"""A billed fine-tuned deployment up longer than this is listed as a deletion candidate."""


def _iso(when: dt.datetime | None) -> str | None:
    return None if when is None else when.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _date(when: dt.date | None) -> str | None:
    return None if when is None else when.isoformat()


def _short(when: dt.datetime | None) -> str:
    return "-" if when is None else when.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


@dataclasses.dataclass(frozen=True)
class UploadedFile:
    """One file on the resource, as [`FilesAPI.list()`][foundry_tune._sync._files.FilesAPI.list] shows it.

    ``ours`` says whether foundry-tune uploaded it (its name carries the content hash); ``used_by``
    names the listed jobs that use it (training or validation file) and ``live_jobs`` those of them
    that have not ended (validating, queued, running, paused, ...)."""

    id: str
    filename: str
    bytes: int | None
    created_at: dt.datetime | None
    purpose: str | None
    status: str | None
    ours: bool
    used_by: tuple[str, ...] = ()
    live_jobs: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times in ISO 8601 UTC)."""
        return {"id": self.id, "filename": self.filename, "bytes": self.bytes,
                "created_at": _iso(self.created_at), "purpose": self.purpose, "status": self.status,
                "ours": self.ours, "used_by": list(self.used_by), "live_jobs": list(self.live_jobs)}


def uploaded_file(raw: Mapping[str, Any], users: Sequence[tuple[str, bool]] = ()) -> UploadedFile:
    """An [`UploadedFile`][UploadedFile] from a listed file body and the ``(job id, live)`` pairs of the
    jobs that use it."""
    size = raw.get("bytes")
    name = str(raw.get("filename") or "")
    return UploadedFile(
        id=str(raw.get("id") or ""),
        filename=name,
        bytes=size if isinstance(size, int) and not isinstance(size, bool) else None,
        created_at=parse_time(raw.get("created_at")),
        purpose=None if raw.get("purpose") is None else str(raw.get("purpose")),
        status=None if raw.get("status") is None else str(raw.get("status")),
        ours=is_library_upload(name),
        used_by=tuple(job for job, _ in users),
        live_jobs=tuple(job for job, live in users if live),
    )


@dataclasses.dataclass(frozen=True)
class FileDecision:
    """What a file cleanup does with one file: ``action`` is ``"delete"`` (or, in a dry run, would
    delete), ``"deleted"``, ``"kept"`` or ``"failed"``, and ``reason`` says why."""

    file: UploadedFile
    action: Literal["delete", "deleted", "kept", "failed"]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**self.file.to_dict(), "action": self.action, "reason": self.reason}


def cleanup_decision(
    f: UploadedFile, *, now: dt.datetime, older_than: dt.timedelta, jobs_seen_since: dt.datetime | None,
    jobs_complete: bool,
) -> FileDecision:
    """Whether a file cleanup may delete ``f``: only foundry-tune's own uploads, older than
    ``older_than``, that no live job uses. When the job listing was cut short (``jobs_complete``
    False) a job older than the oldest listed one (``jobs_seen_since``) was not seen: a file that such
    a job could use (one created before that) is kept. A file the service could not process (status
    ``error`` or ``failed``, such as a failed URL import) is deletable whatever its age: no job can
    train on it."""
    if not f.ours:
        return FileDecision(f, "kept", "not uploaded by foundry-tune")
    if f.live_jobs:
        return FileDecision(f, "kept", f"used by live job {', '.join(f.live_jobs)}")
    if (f.status or "").lower() in FAILED_FILE_STATUSES:
        return FileDecision(f, "delete", f"the service could not process it (status {f.status}): "
                                         "no job can use it")
    if f.created_at is None:
        return FileDecision(f, "kept", "its creation time is unknown")
    if now - f.created_at < older_than:
        why = "" if older_than != MIN_FILE_AGE else \
            " (a start() may have uploaded it and not created its job yet)"
        return FileDecision(f, "kept", f"younger than {_age(older_than)}{why}")
    if not jobs_complete and (jobs_seen_since is None or f.created_at <= jobs_seen_since):
        return FileDecision(f, "kept", "the job listing was incomplete: an unlisted job may use it")
    if f.used_by:
        return FileDecision(f, "delete", f"its jobs ended ({', '.join(f.used_by)})")
    return FileDecision(f, "delete", "no job uses it")


def _age(delta: dt.timedelta) -> str:
    seconds = delta.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


@dataclasses.dataclass(frozen=True)
class FileCleanupReport:
    """What [`FilesAPI.cleanup()`][foundry_tune._sync._files.FilesAPI.cleanup] did (or, in a dry run,
    would do) with each of foundry-tune's files. ``complete`` is False when a listing was cut short
    (``incomplete`` says which); files it could not judge were kept."""

    dry_run: bool
    decisions: tuple[FileDecision, ...]
    complete: bool = True
    incomplete: tuple[str, ...] = ()

    @property
    def deleted(self) -> list[UploadedFile]:
        """The files deleted (none in a dry run)."""
        return [d.file for d in self.decisions if d.action == "deleted"]

    @property
    def to_delete(self) -> list[UploadedFile]:
        """In a dry run, the files a real run would delete."""
        return [d.file for d in self.decisions if d.action == "delete"]

    @property
    def kept(self) -> list[FileDecision]:
        """The files kept, each with its reason."""
        return [d for d in self.decisions if d.action == "kept"]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"dry_run": self.dry_run, "complete": self.complete, "incomplete": list(self.incomplete),
                "files": [d.to_dict() for d in self.decisions]}

    def __str__(self) -> str:
        if not self.decisions:
            return "no files uploaded by foundry-tune\n"
        rows = [["FILE", "NAME", "CREATED", "ACTION", "REASON"]]
        rows += [[d.file.id, d.file.filename, _short(d.file.created_at), d.action, d.reason]
                 for d in self.decisions]
        text = columns(rows)
        if self.dry_run:
            text += (f"dry run: {len(self.to_delete)} file(s) would be deleted; "
                     "add --yes (dry_run=False) to delete them\n")
        else:
            failed = sum(d.action == "failed" for d in self.decisions)
            text += f"deleted {len(self.deleted)} file(s)" + (f", {failed} failed" if failed else "") + "\n"
        for note in self.incomplete:
            text += f"incomplete: {note}\n"
        return text


@dataclasses.dataclass(frozen=True)
class TunedModel:
    """A fine-tuned model (or one of its checkpoints) of the resource, from its job.

    ``retires`` is the day deployments of the base model's fine-tunes stop and
    ``fine_tuning_retires`` the first day new fine-tuning jobs on it may be refused, where the
    catalog ([`ModelInfo`][ModelInfo]) knows them (else None)."""

    id: str
    base_model: str
    job_id: str
    created_at: dt.datetime | None
    suffix: str | None = None
    checkpoint_step: int | None = None
    """The step of a checkpoint; None for the job's final model."""
    retires: dt.date | None = None
    fine_tuning_retires: dt.date | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"id": self.id, "base_model": self.base_model, "job_id": self.job_id,
                "created_at": _iso(self.created_at), "suffix": self.suffix,
                "checkpoint_step": self.checkpoint_step, "retires": _date(self.retires),
                "fine_tuning_retires": _date(self.fine_tuning_retires)}


def _retirement(base: str) -> tuple[dt.date | None, dt.date | None]:
    from foundry_tune import catalog

    try:
        info = catalog.lookup_model(base)
    except FoundryTuneError:  # a name the catalog refuses: no dates
        return None, None
    return (None, None) if info is None else (info.retires, info.fine_tuning_retires)


def tuned_models_of(jobs: Iterable[Mapping[str, Any]]) -> list[TunedModel]:
    """The tuned models of listed job bodies: every job with a ``fine_tuned_model`` (succeeded),
    newest first as listed, with the retirement dates of its base model."""
    found: list[TunedModel] = []
    for job in jobs:
        model = job.get("fine_tuned_model")
        if not isinstance(model, str) or not model:
            continue
        base = str(job.get("model") or base_model_of(model))
        retires, ft_retires = _retirement(base)
        suffix = job.get("suffix") or job.get("user_provided_suffix")
        found.append(TunedModel(
            id=model, base_model=base, job_id=str(job.get("id") or ""),
            created_at=parse_time(job.get("finished_at")) or parse_time(job.get("created_at")),
            suffix=None if suffix is None else str(suffix), retires=retires, fine_tuning_retires=ft_retires))
    return found


def hosting_rate(model: str | None, sku: str | None) -> float | None:
    """The hourly hosting fee of a deployment of ``model`` on ``sku`` in USD:
    ``catalog.hosting_per_hour(model, sku)`` for fine-tuned models (0 for the Developer tier);
    None where unknown (a model without a price, provisioned SKUs billed in PTUs) and for base-model
    deployments, which bill per token."""
    from foundry_tune import catalog
    from foundry_tune._core.lifecycle import is_developer_sku, is_fine_tuned_model

    if is_developer_sku(sku):
        return 0.0
    if not model or not sku or not is_fine_tuned_model(model):
        return None
    try:
        return catalog.hosting_per_hour(base_model_of(model), sku)
    except FoundryTuneError:  # a SKU or name the catalog refuses: unknown
        return None


@dataclasses.dataclass(frozen=True)
class DeploymentAudit:
    """One deployment in an [`AuditReport`][AuditReport]: ARM's view, its hourly fee (None where
    unknown), its expiry and inactivity-deletion rules, and how long it has been up."""

    info: DeploymentInfo
    hourly_cost: float | None
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        i = self.info
        return {"name": i.name, "model": i.model, "sku": i.sku, "state": i.provisioning_state,
                "created_by_foundry_tune": i.created_by_foundry_tune, "job_id": i.job_id,
                "created_at": _iso(i.created_at), "fine_tuned": i.is_fine_tuned,
                "developer_tier": i.is_developer_tier, "expires_at": _iso(i.expires_at),
                "inactivity_deletion_at": _iso(i.inactivity_deletion_at), "hourly_cost": self.hourly_cost,
                "note": self.note}


def idle_deployment_reason(d: DeploymentAudit, now: dt.datetime,
                           idle_after: dt.timedelta = IDLE_AFTER) -> str | None:
    """Why deployment ``d`` is worth deleting, or None: failed provisioning (it only holds a slot of
    the resource's deployment quota), or a billed fine-tuned deployment up longer than ``idle_after``
    (foundry-tune cannot see its calls: delete it when nobody uses it)."""
    info = d.info
    if info.failed:
        return f"provisioning {info.provisioning_state}: it serves nothing and holds a deployment slot"
    if not info.is_fine_tuned or info.is_developer_tier or info.created_at is None:
        return None
    up = now - info.created_at
    if up < idle_after:
        return None
    rate = "an unknown hourly fee" if d.hourly_cost is None else f"${d.hourly_cost:,.2f}/h"
    return (f"billing {rate} for {up.total_seconds() / 3600:,.0f} h; foundry-tune cannot see its calls: "
            "delete it if nobody calls it")


@dataclasses.dataclass(frozen=True)
class Deletable:
    """Something an audit found safe (or worth considering) to delete, with the reason and the
    exact call and command that delete it."""

    kind: Literal["file", "deployment"]
    id: str
    reason: str
    call: str
    command: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class AuditReport:
    """What [`Foundry.audit()`][foundry_tune._sync._foundry.Foundry.audit] found on the resource: tuned
    models (with retirement dates), deployments (with expiry, inactivity deletion and hourly cost),
    uploaded files (with the jobs that use them), and what is safe to delete with the exact call and
    command. ``complete`` is False when a listing was cut short by its page cap or time bound (or
    failed): ``incomplete`` says which, and nothing it could not judge is offered for deletion."""

    generated_at: dt.datetime
    models: tuple[TunedModel, ...]
    deployments: tuple[DeploymentAudit, ...]
    files: tuple[UploadedFile, ...]
    deletable: tuple[Deletable, ...]
    incomplete: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Whether every listing was read to its end."""
        return not self.incomplete

    @property
    def hourly_cost(self) -> float:
        """The known hosting fees of all deployments, in USD per hour (unknown rates count 0)."""
        return sum(d.hourly_cost or 0.0 for d in self.deployments)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``foundry-tune audit --json`` prints)."""
        return {
            "generated_at": _iso(self.generated_at),
            "complete": self.complete,
            "incomplete": list(self.incomplete),
            "hourly_cost": self.hourly_cost,
            "models": [m.to_dict() for m in self.models],
            "deployments": [d.to_dict() for d in self.deployments],
            "files": [f.to_dict() for f in self.files],
            "deletable": [d.to_dict() for d in self.deletable],
        }

    def to_json(self) -> str:
        """[`to_dict()`][to_dict] as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def __str__(self) -> str:
        out = [f"audit of {_short(self.generated_at)} UTC"]
        out.append(f"\ntuned models ({len(self.models)}):")
        if self.models:
            rows = [["MODEL", "BASE", "JOB", "CREATED", "RETIRES", "FT RETIRES"]]
            rows += [[m.id, m.base_model, m.job_id, _short(m.created_at), _date(m.retires) or "-",
                      _date(m.fine_tuning_retires) or "-"] for m in self.models]
            out.append(columns(rows).rstrip("\n"))
        out.append(f"\ndeployments ({len(self.deployments)}), ${self.hourly_cost:,.2f}/h known hosting fees:")
        if self.deployments:
            rows = [["NAME", "SKU", "$/H", "CREATED", "EXPIRY"]]
            rows += [[d.info.name, d.info.sku or "-",
                      "?" if d.hourly_cost is None else f"{d.hourly_cost:,.2f}",
                      _short(d.info.created_at), d.note or "-"] for d in self.deployments]
            out.append(columns(rows).rstrip("\n"))
        ours = [f for f in self.files if f.ours]
        out.append(f"\nfiles uploaded by foundry-tune ({len(ours)} of {len(self.files)} listed):")
        if ours:
            rows = [["FILE", "NAME", "BYTES", "CREATED", "LIVE JOBS"]]
            rows += [[f.id, f.filename, "-" if f.bytes is None else f"{f.bytes:,}", _short(f.created_at),
                      ", ".join(f.live_jobs) or "-"] for f in ours]
            out.append(columns(rows).rstrip("\n"))
        out.append(f"\nsafe to delete ({len(self.deletable)}):")
        for d in self.deletable:
            out.append(f"- {d.kind} {d.id}: {d.reason}\n    {d.call}\n    $ {d.command}")
        if not self.deletable:
            out.append("nothing")
        for note in self.incomplete:
            out.append(f"incomplete: {note}")
        return "\n".join(out) + "\n"
