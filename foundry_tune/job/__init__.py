"""Fine-tuning jobs: the builder that starts them once, and the Job you watch, measure and deploy."""

from foundry_tune.job._builder import TRAINING_TYPES, FineTuneBuilder
from foundry_tune.job._checkpoints import Checkpoint
from foundry_tune.job._events import JobEvent
from foundry_tune.job._fingerprint import FINGERPRINT_KEY, fingerprint
from foundry_tune.job._hints import failure_hint
from foundry_tune.job._job import Job
from foundry_tune.job._jobs_api import JobsAPI
from foundry_tune.job._metrics import MetricRow, Metrics, metrics_from_csv, metrics_from_events
from foundry_tune.job._plan import Plan, PlannedFile
from foundry_tune.job._status import JobStatus
from foundry_tune.job._upload import DEFAULT_PART_SIZE, DEFAULT_SINGLE_REQUEST_LIMIT, UploadOptions

__all__ = [
    "DEFAULT_PART_SIZE",
    "DEFAULT_SINGLE_REQUEST_LIMIT",
    "FINGERPRINT_KEY",
    "TRAINING_TYPES",
    "Checkpoint",
    "FineTuneBuilder",
    "Job",
    "JobEvent",
    "JobStatus",
    "JobsAPI",
    "MetricRow",
    "Metrics",
    "Plan",
    "PlannedFile",
    "UploadOptions",
    "failure_hint",
    "fingerprint",
    "metrics_from_csv",
    "metrics_from_events",
]
