"""Checkpoints a job saved along the way (each one deployable), and the bounds of listing them."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from typing import Any

from foundry_tune._core.paging import PageGuard

__all__ = [
    "CHECKPOINTS_PAGE_SIZE",
    "Checkpoint",
    "checkpoints_guard",
    "checkpoints_list_kwargs",
    "in_step_order",
]


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
    """The bounds of a checkpoint listing. A cursor that does not advance ends it with what was
    read; the page cap or the time bound raises [`ScanIncompleteError`][ScanIncompleteError],
    since a partial list could make the caller pick (and deploy) the wrong checkpoint."""
    return PageGuard(f"list checkpoints of {job_id}", missing_has_more="more", strict=True, clock=clock)


def checkpoints_list_kwargs(after: str | None) -> dict[str, Any]:
    """Arguments of one ``fine_tuning.jobs.checkpoints.list`` page request."""
    kwargs: dict[str, Any] = {"limit": CHECKPOINTS_PAGE_SIZE}
    if after is not None:
        kwargs["after"] = after
    return kwargs


def in_step_order(found: Iterable[Checkpoint]) -> list[Checkpoint]:
    """Checkpoints sorted by training step (the service lists them newest first)."""
    return sorted(found, key=lambda c: c.step)
