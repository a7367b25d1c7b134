"""The job status enum, tolerant of statuses the service adds later, and the status sets that job
decisions share (every job-state decision compares [`JobStatus`][JobStatus] members, never strings)."""

from __future__ import annotations

import enum
import threading

__all__ = ["WITH_TRAINING_STEPS", "JobStatus"]

_lock = threading.Lock()


class JobStatus(str, enum.Enum):
    """Status of a fine-tuning job.

    OpenAI documents six values; Azure adds ``pending``, ``pausing``, ``paused``, ``resuming`` and
    ``cancelling`` (a pause answers ``pausing`` and a resume ``resuming`` before the job settles:
    recordings of the real service). All of them are live. Any other
    value the service sends becomes a pseudo-member with that value (``JobStatus("new_thing").value
    == "new_thing"``) that counts as live: an unknown status never ends a wait early.
    """

    VALIDATING_FILES = "validating_files"
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    RESUMING = "resuming"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def _missing_(cls, value: object) -> JobStatus | None:
        if not isinstance(value, str):
            return None
        normalized = value.strip().lower()
        for member in cls:
            if member.value == normalized:
                return member
        with _lock:
            known = cls._value2member_map_.get(normalized)
            if isinstance(known, JobStatus):
                return known
            pseudo = str.__new__(cls, normalized)
            pseudo._name_ = normalized.upper()
            pseudo._value_ = normalized
            cls._value2member_map_[normalized] = pseudo
            return pseudo

    @property
    def is_known(self) -> bool:
        """Whether this is one of the documented statuses."""
        return self.name in type(self).__members__

    @property
    def is_terminal(self) -> bool:
        """Succeeded, failed or cancelled: the job will not change any more."""
        return self in _TERMINAL

    @property
    def is_live(self) -> bool:
        """Not terminal: the job is (or may still be) on its way. Unknown statuses count as live."""
        return not self.is_terminal

    def __str__(self) -> str:
        return self.value


_TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

WITH_TRAINING_STEPS = frozenset({
    JobStatus.RUNNING, JobStatus.PAUSING, JobStatus.PAUSED, JobStatus.RESUMING, JobStatus.SUCCEEDED,
})
"""Statuses in which a job has (or had) training steps, so its metrics are worth reading: it has
started training. A job that failed or was cancelled may or may not have trained, and an unknown
status says nothing, so they are not in the set."""
