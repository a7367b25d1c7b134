"""foundry-tune: fine-tuning on Microsoft Foundry, as dependable as calling a function.

The public surface is re-exported here; submodules starting with ``_`` are private.
"""

from foundry_tune import graders
from foundry_tune._method_kind import MethodKind
from foundry_tune._version import __version__
from foundry_tune.aio import AsyncFoundry
from foundry_tune.catalog import ModelInfo, Price, known_models, lookup_model, set_price
from foundry_tune.client import Foundry, RetryPolicy
from foundry_tune.dataset import CostEstimate, Dataset, Issue, TokenStats, ValidationReport, validate_file
from foundry_tune.deployment import Deployment
from foundry_tune.errors import (
    AuthenticationError,
    ConfigurationError,
    DatasetError,
    DatasetValidationError,
    DeploymentError,
    DeploymentQuotaError,
    FoundryTuneError,
    GraderError,
    InvalidParameterError,
    JobCancelledError,
    JobFailedError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    ServiceError,
    UploadError,
    WaitTimeoutError,
)
from foundry_tune.evaluation import EvaluationReport, PromptTemplate, Target, evaluate, metrics
from foundry_tune.job import FineTuneBuilder, Job, JobStatus
from foundry_tune.methods import DPO, Reinforcement, Supervised, TuningMethod
from foundry_tune.sweep import Sweep

__all__ = [
    "DPO",
    "AsyncFoundry",
    "AuthenticationError",
    "ConfigurationError",
    "CostEstimate",
    "Dataset",
    "DatasetError",
    "DatasetValidationError",
    "Deployment",
    "DeploymentError",
    "DeploymentQuotaError",
    "EvaluationReport",
    "FineTuneBuilder",
    "Foundry",
    "FoundryTuneError",
    "GraderError",
    "InvalidParameterError",
    "Issue",
    "Job",
    "JobCancelledError",
    "JobFailedError",
    "JobStatus",
    "MethodKind",
    "ModelInfo",
    "NotFoundError",
    "PermissionDeniedError",
    "Price",
    "PromptTemplate",
    "QuotaExceededError",
    "RateLimitError",
    "Reinforcement",
    "RetryPolicy",
    "ServiceError",
    "Supervised",
    "Sweep",
    "Target",
    "TokenStats",
    "TuningMethod",
    "UploadError",
    "ValidationReport",
    "WaitTimeoutError",
    "__version__",
    "evaluate",
    "graders",
    "known_models",
    "lookup_model",
    "metrics",
    "set_price",
    "validate_file",
]
