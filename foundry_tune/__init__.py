"""foundry-tune: fine-tuning on Microsoft Foundry, as dependable as calling a function.

The public surface is re-exported here; submodules starting with ``_`` are private.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from foundry_tune._method_kind import MethodKind
from foundry_tune._version import __version__
from foundry_tune.catalog import (
    ModelInfo,
    Price,
    RetirementWarning,
    TrainingType,
    known_models,
    lookup_model,
    parse_training_type,
    set_price,
)
from foundry_tune.errors import (
    AuthenticationError,
    ConfigurationError,
    CostLimitError,
    DataChangedError,
    DatasetError,
    DatasetValidationError,
    DeploymentError,
    DeploymentNotFoundError,
    DeploymentQuotaError,
    FileInUseError,
    FoundryTuneError,
    GraderError,
    InvalidParameterError,
    JobCancelledError,
    JobError,
    JobFailedError,
    JobNotFoundError,
    LocalLockTimeoutError,
    NameInUseError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    RetryBudgetExceededError,
    SafetyCheckFailedError,
    ScanIncompleteError,
    ServiceError,
    ServiceUnreachableError,
    SpendLimitReachedError,
    ToolCallsAnswerError,
    UploadError,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    from foundry_tune import graders
    from foundry_tune._core.audit import AuditReport, FileCleanupReport, TunedModel, UploadedFile
    from foundry_tune._core.file_import import FileURL
    from foundry_tune._core.spend import SpendReport
    from foundry_tune.aio import AsyncFoundry
    from foundry_tune.client import Foundry, RetryPolicy
    from foundry_tune.dataset import CostEstimate, Dataset, Issue, TokenStats, ValidationReport, validate_file
    from foundry_tune.deployment import Deployment
    from foundry_tune.evaluation import EvaluationReport, PromptTemplate, Target, evaluate, metrics
    from foundry_tune.job import FineTuneBuilder, Job, JobStatus, WebhookReceiver
    from foundry_tune.methods import DPO, Reinforcement, Supervised, TuningMethod
    from foundry_tune.sweep import Sweep

# Heavy parts (the openai and azure SDKs, the tokenizer) load on first use, so that
# `foundry-tune validate` and `import foundry_tune.dataset` stay fast and small.
_LAZY: dict[str, tuple[str, str | None]] = {
    "graders": ("foundry_tune.graders", None),
    "AsyncFoundry": ("foundry_tune.aio", "AsyncFoundry"),
    "Foundry": ("foundry_tune.client", "Foundry"),
    "RetryPolicy": ("foundry_tune.client", "RetryPolicy"),
    "CostEstimate": ("foundry_tune.dataset", "CostEstimate"),
    "Dataset": ("foundry_tune.dataset", "Dataset"),
    "FileURL": ("foundry_tune._core.file_import", "FileURL"),
    "Issue": ("foundry_tune.dataset", "Issue"),
    "TokenStats": ("foundry_tune.dataset", "TokenStats"),
    "ValidationReport": ("foundry_tune.dataset", "ValidationReport"),
    "validate_file": ("foundry_tune.dataset", "validate_file"),
    "Deployment": ("foundry_tune.deployment", "Deployment"),
    "EvaluationReport": ("foundry_tune.evaluation", "EvaluationReport"),
    "PromptTemplate": ("foundry_tune.evaluation", "PromptTemplate"),
    "Target": ("foundry_tune.evaluation", "Target"),
    "evaluate": ("foundry_tune.evaluation", "evaluate"),
    "metrics": ("foundry_tune.evaluation", "metrics"),
    "FineTuneBuilder": ("foundry_tune.job", "FineTuneBuilder"),
    "Job": ("foundry_tune.job", "Job"),
    "JobStatus": ("foundry_tune.job", "JobStatus"),
    "WebhookReceiver": ("foundry_tune.job", "WebhookReceiver"),
    "DPO": ("foundry_tune.methods", "DPO"),
    "Reinforcement": ("foundry_tune.methods", "Reinforcement"),
    "Supervised": ("foundry_tune.methods", "Supervised"),
    "TuningMethod": ("foundry_tune.methods", "TuningMethod"),
    "Sweep": ("foundry_tune.sweep", "Sweep"),
    "SpendReport": ("foundry_tune._core.spend", "SpendReport"),
    "AuditReport": ("foundry_tune._core.audit", "AuditReport"),
    "FileCleanupReport": ("foundry_tune._core.audit", "FileCleanupReport"),
    "TunedModel": ("foundry_tune._core.audit", "TunedModel"),
    "UploadedFile": ("foundry_tune._core.audit", "UploadedFile"),
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'foundry_tune' has no attribute {name!r}")
    module = importlib.import_module(target[0])
    value = module if target[1] is None else getattr(module, target[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "DPO",
    "AsyncFoundry",
    "AuditReport",
    "AuthenticationError",
    "ConfigurationError",
    "CostEstimate",
    "CostLimitError",
    "DataChangedError",
    "Dataset",
    "DatasetError",
    "DatasetValidationError",
    "Deployment",
    "DeploymentError",
    "DeploymentNotFoundError",
    "DeploymentQuotaError",
    "EvaluationReport",
    "FileCleanupReport",
    "FileInUseError",
    "FileURL",
    "FineTuneBuilder",
    "Foundry",
    "FoundryTuneError",
    "GraderError",
    "InvalidParameterError",
    "Issue",
    "Job",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "JobNotFoundError",
    "JobStatus",
    "LocalLockTimeoutError",
    "MethodKind",
    "ModelInfo",
    "NameInUseError",
    "NotFoundError",
    "PermissionDeniedError",
    "Price",
    "PromptTemplate",
    "QuotaExceededError",
    "RateLimitError",
    "Reinforcement",
    "RetirementWarning",
    "RetryBudgetExceededError",
    "RetryPolicy",
    "SafetyCheckFailedError",
    "ScanIncompleteError",
    "ServiceError",
    "ServiceUnreachableError",
    "SpendLimitReachedError",
    "SpendReport",
    "Supervised",
    "Sweep",
    "Target",
    "TokenStats",
    "ToolCallsAnswerError",
    "TrainingType",
    "TunedModel",
    "TuningMethod",
    "UploadError",
    "UploadedFile",
    "ValidationReport",
    "WaitTimeoutError",
    "WebhookReceiver",
    "__version__",
    "evaluate",
    "graders",
    "known_models",
    "lookup_model",
    "metrics",
    "parse_training_type",
    "set_price",
    "validate_file",
]
