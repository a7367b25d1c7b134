"""What ``start()`` would do: the result of ``FineTuneBuilder.plan()``."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any, Literal

from foundry_tune._core.redact import redact_json
from foundry_tune.catalog import TrainingType

if TYPE_CHECKING:
    from foundry_tune.dataset import CostEstimate, Issue, IssueGroup, ValidationReport

__all__ = ["Plan", "PlannedFile"]


@dataclasses.dataclass(frozen=True)
class PlannedFile:
    """One file of the plan. ``action``: ``"upload"`` (new), ``"reuse"`` (same content already
    uploaded, ``file_id`` set), ``"use"`` (an uploaded file id given by the caller) or ``"import"``
    (the service fetches it from a URL, ``name``, shown with its query hidden; ``file_id`` set when
    an earlier import of it is reused)."""

    role: str
    name: str
    size_bytes: int | None
    content_hash: str | None
    action: Literal["upload", "reuse", "use", "import"]
    file_id: str | None
    via: Literal["files", "uploads"] | None
    """For uploads: one ``files.create`` request or the multipart Uploads API."""


@dataclasses.dataclass(frozen=True)
class Plan:
    """What ``start()`` would upload and create. Nothing was changed to compute it.

    ``method`` is the wire object that would be sent (secrets included); ``str()`` and ``repr()``
    mask an endpoint grader's header values and URL keys.
    """

    model: str
    method: dict[str, Any]
    training_type: TrainingType | None
    """The training type asked for; ``None``: no ``trainingType`` is sent (the service's default)."""
    suffix: str | None
    seed: int | None
    metadata: dict[str, str]
    fingerprint: str
    files: list[PlannedFile]
    existing_job_id: str | None
    reports: list[ValidationReport]
    estimate: CostEstimate | None
    checks_grader: bool = False
    """Whether ``start()`` asks the service's grader ``validate`` endpoint first (Reinforcement)."""

    @property
    def valid(self) -> bool:
        """Whether the local data passed validation (``start()`` would otherwise stop at once)."""
        return all(r.valid for r in self.reports)

    @property
    def creates_job(self) -> bool:
        """Whether ``start()`` would create a new job (``False``: it returns ``existing_job_id``)."""
        return self.existing_job_id is None

    def __repr__(self) -> str:
        fields = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            fields.append(f"{field.name}={redact_json(value) if field.name == 'method' else value!r}")
        return f"{type(self).__name__}({', '.join(fields)})"

    def __str__(self) -> str:
        lines = [f"plan for {self.model} ({self.method.get('type', '?')}), fingerprint {self.fingerprint}"]
        for report in self.reports:
            lines.append(f"  validation: {report.summary()}")
            for finding in _first_findings(report):
                lines.extend(f"    {line}" for line in str(finding).splitlines())
        if self.checks_grader:
            lines.append("  grader: ask the service's grader validate endpoint before any upload")
        for f in self.files:
            size = "" if f.size_bytes is None else f" ({f.size_bytes:,} bytes)"
            if f.action == "upload":
                how = "Uploads API in parts" if f.via == "uploads" else "one request"
                lines.append(f"  {f.role}: upload {f.name}{size} via {how}")
            elif f.action == "reuse":
                lines.append(f"  {f.role}: reuse {f.file_id} (same content already uploaded){size}")
            elif f.action == "import" and f.file_id:
                lines.append(f"  {f.role}: reuse {f.file_id}, imported before from {f.name}")
            elif f.action == "import":
                lines.append(f"  {f.role}: import {f.name} through the service's file import (not "
                             "validated locally: the service checks the data when it processes the file)")
            else:
                lines.append(f"  {f.role}: use uploaded file {f.file_id}")
        if self.existing_job_id:
            lines.append(f"  job: return existing job {self.existing_job_id} (same fingerprint)")
        else:
            extra = (f", trainingType {self.training_type.wire}" if self.training_type is not None
                     else ", no trainingType (the service's default)")
            method = json.dumps(redact_json(self.method), sort_keys=True)
            lines.append(f"  job: create (method {method}{extra})")
        if self.estimate is not None:
            lines.extend("  estimate: " + line for line in self.estimate.to_text().splitlines())
        return "\n".join(lines)


_FINDINGS_SHOWN = 3
_FILE_TOO_SMALL = ("file.empty", "file.too_few_examples")


def _first_findings(report: ValidationReport) -> list[IssueGroup | Issue]:
    """The first errors of a report, grouped by cause (``report.groups``; one line for a rule broken
    on many lines), a file under the service's minimum number of examples first."""
    errors = sorted((g for g in report.groups if g.severity == "error"),
                    key=lambda g: g.code not in _FILE_TOO_SMALL)
    shown: list[IssueGroup | Issue] = []
    for group in errors:
        shown.extend([group] if group.shown_as_one else group.issues)
    return shown[:_FINDINGS_SHOWN]
