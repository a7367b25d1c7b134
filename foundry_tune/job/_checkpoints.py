"""Checkpoints a job saved along the way (each one deployable)."""

from __future__ import annotations

import dataclasses
from typing import Any

from foundry_tune.job._calls import Connection, safe_call

__all__ = ["Checkpoint", "list_checkpoints"]


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


def list_checkpoints(conn: Connection, job_id: str) -> list[Checkpoint]:
    """All checkpoints of ``job_id`` (every page), in step order."""

    def fetch() -> list[Checkpoint]:
        pages = conn.openai.fine_tuning.jobs.checkpoints.list(job_id, limit=100)
        return [Checkpoint.from_wire(c) for c in pages]

    found = safe_call(conn, fetch, what=f"list checkpoints of {job_id}")
    return sorted(found, key=lambda c: c.step)
