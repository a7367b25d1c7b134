"""Lifecycle rules of what a fine-tuning resource holds, without I/O: which uploaded files are
foundry-tune's, which jobs still use a file, when a deployment expires or is deleted for
inactivity, and what a tuned model's base model is.

Service rules and where they come from:

- A Developer-tier deployment has a fixed lifetime of 24 hours: "Developer Tier deployments have a
  fixed lifetime of 24 hours" (https://learn.microsoft.com/azure/ai-foundry/openai/how-to/fine-tune-test),
  "removed automatically after 24 hours regardless of usage"
  (https://learn.microsoft.com/azure/ai-foundry/openai/how-to/fine-tuning-cost-management).
- A fine-tuned model deployment is deleted after 15 days without calls: "if at any time the
  deployment remains inactive for greater than fifteen (15) days, the deployment is deleted ... no
  completions or chat completions calls were made to it during a continuous 15-day period"
  (https://learn.microsoft.com/azure/ai-foundry/openai/how-to/fine-tuning-deploy). ARM does not
  show a deployment's last call and foundry-tune does not record calls, so the date given is the
  earliest one, 15 days after creation; each call pushes it back (inference from the rule).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from foundry_tune._core.deployment_body import DEVELOPER_SKU, normalize_sku
from foundry_tune._core.file_import import is_import_name
from foundry_tune._core.status import JobStatus
from foundry_tune.errors import InvalidParameterError

__all__ = [
    "DEVELOPER_LIFETIME",
    "INACTIVITY_LIMIT",
    "JOB_FILE_KEYS",
    "MIN_FILE_AGE",
    "base_model_of",
    "developer_expires_at",
    "file_users",
    "inactivity_deletion_at",
    "inactivity_note",
    "is_developer_sku",
    "is_fine_tuned_model",
    "is_library_upload",
    "job_is_live",
    "moment",
    "parse_age",
    "parse_time",
]

DEVELOPER_LIFETIME = dt.timedelta(hours=24)
"""How long a Developer-tier deployment lives (fixed, used or not)."""

INACTIVITY_LIMIT = dt.timedelta(days=15)
"""Azure deletes a fine-tuned deployment that received no calls for this long."""

MIN_FILE_AGE = dt.timedelta(hours=1)
"""The default ``older_than`` of a file cleanup: a younger file may belong to a ``start()`` that
uploaded it and has not created its job yet (no job names it then)."""

JOB_FILE_KEYS = ("training_file", "validation_file")
"""The keys of a job body that name the files it uses."""

_LIBRARY_NAME = re.compile(r"\.sha256-[0-9a-f]{32}\.jsonl\Z")
_FT_MARKERS = (".ft-", ":ft-")


def is_library_upload(filename: str | None) -> bool:
    """Whether a file name is one foundry-tune uploads under (``<stem>.sha256-<32 hex>.jsonl``, see
    [`upload_name()`][upload_name])."""
    return bool(filename) and (_LIBRARY_NAME.search(str(filename)) is not None or is_import_name(filename))


def parse_time(value: object) -> dt.datetime | None:
    """A UTC datetime from Unix seconds (``created_at`` of the data plane) or an ISO 8601 string
    (ARM's ``systemData``); None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value <= 0:
            return None
        try:
            return dt.datetime.fromtimestamp(float(value), dt.timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00")
        # ARM writes 7 fractional digits (2026-02-04T04:17:12.9981593Z); fromisoformat takes 6.
        text = re.sub(r"(\.\d{6})\d+", r"\1", text)
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    return None


_AGE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", re.IGNORECASE)
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0, "": 86400.0}


def moment(now: dt.datetime | float | None) -> dt.datetime:
    """``now`` as an aware UTC datetime: a datetime (naive ones taken as UTC), Unix seconds (what
    ``Emulator.now()`` returns), or None for the current time."""
    if now is None:
        return dt.datetime.now(dt.timezone.utc)
    if isinstance(now, dt.datetime):
        return now if now.tzinfo else now.replace(tzinfo=dt.timezone.utc)
    parsed = parse_time(now)
    if parsed is None:
        raise InvalidParameterError(f"now must be a datetime or Unix seconds, got {now!r}")
    return parsed


def parse_age(text: str) -> dt.timedelta:
    """An age such as ``7d``, ``12h``, ``30m``, ``2w`` or ``90s`` (a bare number is days);
    raises ``ValueError`` for anything else."""
    match = _AGE.fullmatch(text or "")
    if match is None:
        raise ValueError(f"not an age: {text!r} (use e.g. 7d, 12h, 30m)")
    return dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2).lower()])


def job_is_live(status: object) -> bool:
    """Whether a job with this status may still read its files: anything not succeeded, failed or
    cancelled (validating, queued, running, paused, ... and statuses foundry-tune does not know)."""
    return JobStatus(str(status or "unknown")).is_live


def file_users(jobs: Iterable[Mapping[str, Any]]) -> dict[str, list[tuple[str, bool]]]:
    """For every file a job of ``jobs`` (listed job bodies) names: ``(job id, live)`` pairs, in
    listing order, each job once (a job may use one file for both training and validation)."""
    users: dict[str, list[tuple[str, bool]]] = {}
    for job in jobs:
        live = job_is_live(job.get("status"))
        user = (str(job.get("id") or ""), live)
        for key in JOB_FILE_KEYS:
            file_id = job.get(key)
            if isinstance(file_id, str) and file_id:
                listed = users.setdefault(file_id, [])
                if user not in listed:
                    listed.append(user)
    return users


def is_developer_sku(sku: str | None) -> bool:
    """Whether a deployment SKU is the Developer tier (``DeveloperTier``, ``Developer``, any casing)."""
    return bool(sku) and normalize_sku(str(sku)) == DEVELOPER_SKU


def is_fine_tuned_model(model: str | None) -> bool:
    """Whether a model id names a fine-tuned model or checkpoint (``<base>.ft-<id>``, OpenAI's
    ``ft:<base>:...``)."""
    text = str(model or "")
    return text.startswith("ft:") or any(marker in text for marker in _FT_MARKERS)


def base_model_of(model: str) -> str:
    """The base model of a fine-tuned model id (``gpt-4.1-mini-2025-04-14.ft-abc`` ->
    ``gpt-4.1-mini-2025-04-14``; ``ft:gpt-4o-mini-2024-07-18:org::id`` -> ``gpt-4o-mini-2024-07-18``);
    any other id unchanged."""
    if model.startswith("ft:"):
        return model.split(":")[1] if model.count(":") >= 1 else model
    for marker in _FT_MARKERS:
        if marker in model:
            return model.split(marker, 1)[0]
    return model


def developer_expires_at(sku: str | None, created: dt.datetime | None) -> dt.datetime | None:
    """When a Developer-tier deployment created at ``created`` is deleted (24 hours later); None for
    other SKUs or an unknown creation time."""
    if created is None or not is_developer_sku(sku):
        return None
    return created + DEVELOPER_LIFETIME


def inactivity_deletion_at(created: dt.datetime | None,
                           last_call: dt.datetime | None = None) -> dt.datetime | None:
    """The earliest time Azure deletes a fine-tuned deployment for inactivity: 15 days after its
    last call when that is known, else 15 days after its creation (a call since then pushes the
    date back)."""
    start = max(t for t in (created, last_call) if t is not None) if (created or last_call) else None
    return None if start is None else start + INACTIVITY_LIMIT


def _day(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def inactivity_note(created: dt.datetime | None, *, last_call: dt.datetime | None = None,
                    now: dt.datetime | None = None) -> str:
    """How Azure's 15-day inactivity rule applies to a fine-tuned deployment, in words that say what
    is known: with ``last_call``, the date; without it, the earliest date, and that calls push it back."""
    now = now or dt.datetime.now(dt.timezone.utc)
    when = inactivity_deletion_at(created, last_call)
    if when is None:
        return "deleted by Azure after 15 days without calls (creation time unknown)"
    if last_call is not None:
        return f"deleted if unused until {_day(when)} (15 days after its last call)"
    if when > now:
        return (f"deleted if unused until {_day(when)} (15 days after creation; calls since then, which "
                "foundry-tune does not see, push it back)")
    return ("deleted after 15 days without calls; it is older than that, so it has had calls, and "
            "foundry-tune does not know the last one")
