"""Fine-tuning jobs: the builder that starts them once, and the Job you watch, measure and deploy."""

from foundry_tune._core.checkpoints import Checkpoint, CheckpointComparison, Checkpoints
from foundry_tune._core.events import JobEvent
from foundry_tune._core.fingerprint import FINGERPRINT_KEY
from foundry_tune._core.fingerprint import fingerprint as fingerprint
from foundry_tune._core.hints import failure_hint as failure_hint
from foundry_tune._core.metrics import MetricRow, Metrics
from foundry_tune._core.metrics import metrics_from_csv as metrics_from_csv
from foundry_tune._core.metrics import metrics_from_events as metrics_from_events
from foundry_tune._core.plan import Plan, PlannedFile
from foundry_tune._core.spec import TRAINING_TYPES as TRAINING_TYPES
from foundry_tune._core.spec import JobSpec
from foundry_tune._core.status import JobStatus
from foundry_tune._core.upload import DEFAULT_PART_SIZE as DEFAULT_PART_SIZE
from foundry_tune._core.upload import DEFAULT_SINGLE_REQUEST_LIMIT as DEFAULT_SINGLE_REQUEST_LIMIT
from foundry_tune._core.upload import UploadOptions
from foundry_tune._sync._builder import FineTuneBuilder
from foundry_tune._sync._job import Job
from foundry_tune._sync._jobs import JobsAPI
from foundry_tune._sync._webhooks import WebhookReceiver

# The `name as name` imports are internal helpers: importable as before, not in __all__ (issue 11).
__all__ = [
    "FINGERPRINT_KEY",
    "Checkpoint",
    "CheckpointComparison",
    "Checkpoints",
    "FineTuneBuilder",
    "Job",
    "JobEvent",
    "JobSpec",
    "JobStatus",
    "JobsAPI",
    "MetricRow",
    "Metrics",
    "Plan",
    "PlannedFile",
    "UploadOptions",
    "WebhookReceiver",
]
