"""Checkpoints a job saved along the way (each one deployable)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from foundry_tune._paging import PageGuard
from foundry_tune.job._calls import Connection, safe_call

__all__ = ["Checkpoint", "checkpoints_guard", "checkpoints_list_kwargs", "list_checkpoints"]


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A model checkpoint: ``model`` is the id to deploy (``fine_tuned_model_checkpoint``)."""

    id: str
    step: int
    model: str
    metrics: dict[str, float]
    created_at: int
    job_id: str

    @classmethod
    def from_wire(cls, obj: Any) -> Checkpoint:
        """Build from an openai ``FineTuningJobCheckpoint`` or a dict, tolerating missing keys."""
        raw: dict[str, Any] = obj if isinstance(obj, dict) else obj.model_dump()
        metrics = raw.get("metrics") or {}
        return cls(
            id=str(raw.get("id", "")),
            step=int(raw.get("step_number") or 0),
            model=str(raw.get("fine_tuned_model_checkpoint") or ""),
            metrics={k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))},
            created_at=int(raw.get("created_at") or 0),
            job_id=str(raw.get("fine_tuning_job_id") or ""),
        )


CHECKPOINTS_PAGE_SIZE = 100
"""Checkpoints asked for per page."""


def checkpoints_guard(job_id: str, clock: Callable[[], float] = time.monotonic) -> PageGuard:
    """The bounds of a checkpoint listing (shared by the sync and async APIs). A cursor that does
    not advance ends it with what was read; the page cap or the time bound raises
    :class:`~foundry_tune.errors.ScanIncompleteError`, since a partial list could make the caller
    pick (and deploy) the wrong checkpoint."""
    return PageGuard(f"list checkpoints of {job_id}", missing_has_more="more", strict=True, clock=clock)


def checkpoints_list_kwargs(after: str | None) -> dict[str, Any]:
    """Arguments of one ``fine_tuning.jobs.checkpoints.list`` page request."""
    kwargs: dict[str, Any] = {"limit": CHECKPOINTS_PAGE_SIZE}
    if after is not None:
        kwargs["after"] = after
    return kwargs


def list_checkpoints(conn: Connection, job_id: str) -> list[Checkpoint]:
    """All checkpoints of ``job_id`` (every page, one at a time under :func:`checkpoints_guard`,
    a fresh one for every attempt of the retry policy), in step order."""

    def fetch() -> list[Checkpoint]:
        bounds = checkpoints_guard(job_id)
        found: list[Checkpoint] = []
        after: str | None = None
        while True:
            page = conn.openai.fine_tuning.jobs.checkpoints.list(job_id, **checkpoints_list_kwargs(after))
            fresh, after = bounds.take(page.data, page.has_more)
            found.extend(Checkpoint.from_wire(c) for c in fresh)
            if after is None:
                return found

    found = safe_call(conn, fetch, what=f"list checkpoints of {job_id}")
    return sorted(found, key=lambda c: c.step)
